"""End to end: ``python -m grader grade`` on the reference, the stubs, broken and hostile uploads, and
``grade-all`` on a small class. Each run is a real subprocess, exactly as on Gradescope."""

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from grader.config import CLASS_ORDER
from grader.results import validate

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "models.py"
STUBS = ROOT / "assignment" / "models.py"
GRADER_WORDS = ("Traceback", "grader/", "site-packages", "selab_", "hypothesis", "_pytest")


def grade(upload: Path, out: Path, *extra: str, timeout: float = 600) -> tuple[int, dict, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SELAB_GRADER_CONFIG", None)
    started = time.monotonic()
    command = [sys.executable, "-m", "grader", "grade", str(upload), "--out", str(out), *extra]
    code = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=timeout).returncode
    doc = json.loads(out.read_text())
    validate(doc)
    return code, doc, time.monotonic() - started


def class_scores(doc: dict) -> dict:
    return {c: sum(t["score"] for t in doc["tests"] if t["name"].startswith(f"{c}: ")) for c in CLASS_ORDER}


def failing_outputs(doc: dict) -> list[str]:
    return [t["output"] for t in doc["tests"] if t["status"] == "failed"]


@pytest.fixture(scope="module")
def fast_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "fast.toml"
    path.write_text("[limits]\nimport_seconds = 12\n")  # a hanging import costs 12 s, not the default 30
    return path


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    return grade(REFERENCE, tmp_path_factory.mktemp("reference") / "results.json")


def test_reference_scores_100(reference_run):
    code, doc, seconds = reference_run
    assert code == 0 and doc["score"] == 100, doc["output"]
    assert all(t["status"] == "passed" for t in doc["tests"])
    assert len(doc["tests"]) == 26 and all(t["visibility"] == "visible" for t in doc["tests"])
    assert any("accuracy" in t["output"] for t in doc["tests"] if "short training" in t["name"])
    print(f"reference graded in {seconds:.1f} s")


def test_same_submission_twice_gives_the_same_results(reference_run, tmp_path):
    _, first, _ = reference_run
    _, second, _ = grade(REFERENCE, tmp_path / "again.json")
    strip = lambda doc: [(t["name"], t["score"], t["status"], t["output"]) for t in doc["tests"]]  # noqa: E731
    assert strip(first) == strip(second)  # accuracies included: training is deterministic


def test_untouched_stubs_score_zero_without_grader_error(tmp_path):
    code, doc, _ = grade(STUBS, tmp_path / "results.json")
    assert code == 0 and doc["score"] == 0
    assert all("not implemented yet" in output for output in failing_outputs(doc))
    assert "Internal grader error" not in doc["output"]
    assert not any(word in output for output in failing_outputs(doc) for word in GRADER_WORDS[2:])


def test_zip_extras_are_ignored(tmp_path):
    """conftest.py / sitecustomize.py / .pth / pytest.ini that would fake a pass must have no effect."""
    upload = tmp_path / "upload.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        archive.write(STUBS, "models.py")
        archive.writestr("deeper/models.py", REFERENCE.read_text())  # not the shallowest: ignored
        archive.writestr("conftest.py", "import pytest\n@pytest.hookimpl(hookwrapper=True)\n"
                                        "def pytest_runtest_makereport(item, call):\n"
                                        "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n")
        archive.writestr("sitecustomize.py", "print('PWNED sitecustomize')\n")
        archive.writestr("evil.pth", "import os; print('PWNED pth')\n")
        archive.writestr("pytest.ini", "[pytest]\naddopts = -p no:python\n")
    code, doc, _ = grade(upload, tmp_path / "results.json")
    assert code == 0 and doc["score"] == 0
    assert "PWNED" not in json.dumps(doc)
    assert "upload.zip:models.py" in doc["output"] and "deeper/models.py" in doc["output"]


def test_syntax_error_shows_the_students_own_traceback(tmp_path):
    broken = tmp_path / "models.py"
    broken.write_text(REFERENCE.read_text() + "\ndef broken(:\n    pass\n")
    code, doc, _ = grade(broken, tmp_path / "results.json")
    assert code == 0 and doc["score"] == 0
    for output in failing_outputs(doc):
        assert "SyntaxError" in output and 'File "models.py", line' in output
        assert not any(word in output for word in GRADER_WORDS)


def test_import_hang_and_import_exit_are_reported_in_plain_words(tmp_path, fast_config):
    hang = tmp_path / "hang" / "models.py"
    hang.parent.mkdir()
    hang.write_text("import time\ntime.sleep(3600)\n")
    code, doc, seconds = grade(hang, tmp_path / "hang.json", "--config", str(fast_config))
    assert code == 0 and doc["score"] == 0 and seconds < 90
    assert all("time limit for starting (12 s)" in output for output in failing_outputs(doc))
    exits = tmp_path / "exit" / "models.py"
    exits.parent.mkdir()
    exits.write_text("import os\nos._exit(3)\n")
    code, doc, _ = grade(exits, tmp_path / "exit.json")  # default limits: a slow start is no hang here
    assert code == 0 and doc["score"] == 0
    assert all("exited (status 3)" in output for output in failing_outputs(doc))


def test_a_crash_in_one_class_costs_only_that_class(tmp_path):
    source = REFERENCE.read_text().replace(
        "        b, c, h, w = x.shape\n", "        b, c, h, w = x.shape\n        import os; os._exit(7)\n")
    crash = tmp_path / "models.py"
    crash.write_text(source)
    code, doc, _ = grade(crash, tmp_path / "results.json")
    assert code == 0
    scores = class_scores(doc)
    assert scores["CNN_Base"] == 20 and scores["SEBlock"] == 30 and scores["CNN_SE"] == 25, doc["output"]
    attention = [t for t in doc["tests"] if t["name"].startswith("CNN_SelfAttention: ")]
    assert scores["CNN_SelfAttention"] == 3  # the layout check needs no forward pass
    assert all("exited (status 7)" in t["output"] for t in attention if t["status"] == "failed")


def test_grade_all_writes_grades_report_and_histogram(tmp_path):
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    (class_dir / "alice.py").write_text(STUBS.read_text())
    (class_dir / "bob").mkdir()
    (class_dir / "bob" / "models.py").write_text("this is not python\n")
    with zipfile.ZipFile(class_dir / "carol.zip", "w") as archive:
        archive.writestr("notes.txt", "forgot models.py")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "grader", "grade-all", str(class_dir), "--out", str(out), "--jobs", "2"]
    code = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, timeout=600).returncode
    assert code == 0
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[0].split(",") == ["submission", "score", *CLASS_ORDER, "status", "seconds", "protection"]
    assert sorted(row.split(",")[0] for row in rows[1:]) == ["alice.py", "bob", "carol.zip"]
    assert all(row.split(",")[1] == "0.0" or row.split(",")[1] == "0" for row in rows[1:])
    assert (out / "score-histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "Failure rate per test" in report and "100%" in report
    for name in ("alice.py", "bob", "carol.zip"):
        validate(json.loads((out / name / "results.json").read_text()))
