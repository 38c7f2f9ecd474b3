"""``grade-all`` (grader/classroom): warm grading is ``grade``, submission by submission; regrades show
what changed; a Gradescope export keeps who submitted what; the report says what the class got wrong.

Every grading runs three short trainings (~10 s), so one class is graded once per module and the
asserts share it: a hostile submission between two honest ones, graded warm by ``grade-all --jobs 1``
(so the hostile one runs right before the next) and each alone by a cold ``python -m grader grade``.
"""

import csv
import json
import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.classroom import mistakes, regrade
from grader.classroom.grading import class_scores
from grader.classroom.inputs import entries, gradescope_students
from grader.config import CLASS_ORDER
from grader.results import validate

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "models.py"
STUBS = ROOT / "assignment" / "models.py"
NO_SIGMOID = ROOT / "tests" / "corpus" / "submissions" / "buggy" / "se_no_sigmoid.py"
TRAINING_CHECK = "CNN_SE: learns Fashion-MNIST in a short training"

# At import, before a correct solution: SIGKILL every ancestor that looks like the grader (never the
# test runner), leave a setsid'd daemon spinning a CPU with the run token in its command line (one
# core less for the next grading if it survived), and write a file outside its folder.
HOSTILE = '''
import os, signal, subprocess, sys
TOKEN = "{token}"
pid = os.getppid()
while pid > 1:
    try:
        cmdline = open(f"/proc/{{pid}}/cmdline", "rb").read()
        parent = int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])
    except Exception:
        break
    if b"grader" in cmdline and b"pytest" not in cmdline:
        try:
            os.kill(pid, signal.SIGKILL)
        except Exception:
            pass
    pid = parent
subprocess.Popen([sys.executable, "-c", "while True: pass", TOKEN], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    open("/tmp/selab-warm-" + TOKEN, "w").write("left for the next submission")
except OSError:
    pass
'''


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SELAB_GRADER_CONFIG", None)
    return env


def _grader(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _token_processes(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and token.encode() in open(f"/proc/{entry}/cmdline", "rb").read():
                found.append(int(entry))
        except OSError:
            pass
    return found


def _tests(doc: dict) -> list[tuple]:
    return [(t["name"], t["score"], t["status"], t["output"]) for t in doc["tests"]]


def _previous_grading(folder: Path, docs: dict[str, dict]) -> Path:
    """An earlier grade-all OUTDIR, as grade-all writes it (grades.csv + <name>/results.json)."""
    folder.mkdir()
    with open(folder / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "score", *CLASS_ORDER, "status", "seconds", "protection"])
        for name, doc in docs.items():
            (folder / name).mkdir()
            (folder / name / "results.json").write_text(json.dumps(doc))
            writer.writerow([name, doc["score"], *class_scores(doc).values(), "ok", "1.0", ""])
    return folder


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The class graded alone (cold ``grade``, two at a time) and then warm (``grade-all --jobs 1``)."""
    token = "selab-warm-" + secrets.token_hex(6)
    root = tmp_path_factory.mktemp("warm-class")
    inbox = root / "class"
    (inbox / "a_reference").mkdir(parents=True)
    (inbox / "a_reference" / "models.py").write_text(REFERENCE.read_text())
    (inbox / "b_hostile.py").write_text(HOSTILE.format(token=token) + REFERENCE.read_text())
    (inbox / "c_no_sigmoid.py").write_text(NO_SIGMOID.read_text())
    names = ["a_reference", "b_hostile.py", "c_no_sigmoid.py"]

    def alone(name: str) -> dict:
        out = root / "alone" / name / "results.json"
        done = _grader("grade", str(inbox / name), "--out", str(out))
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(out.read_text())

    with ThreadPoolExecutor(2) as pool:
        cold = dict(zip(names, pool.map(alone, names)))
    assert not _token_processes(token), "the cold grading left the hostile daemon running"
    # The previous grading: the reference had failed its CNN_SE training, c is unchanged, b is new, d gone.
    old_reference = json.loads(json.dumps(cold["a_reference"]))
    for test in old_reference["tests"]:
        if test["name"] == TRAINING_CHECK:
            old_reference["score"] -= test["score"]
            test.update(score=0, status="failed")
    previous = _previous_grading(root / "previous", {"a_reference": old_reference,
                                                     "c_no_sigmoid.py": cold["c_no_sigmoid.py"],
                                                     "d_gone": cold["c_no_sigmoid.py"]})
    out = root / "warm"
    started = time.monotonic()
    done = _grader("grade-all", str(inbox), "--out", str(out), "--jobs", "1", "--previous", str(previous))
    seconds = time.monotonic() - started
    leftovers = _token_processes(token)
    for pid in leftovers:
        os.kill(pid, 9)
    warm = {name: json.loads((out / name / "results.json").read_text()) for name in names}
    yield {"cold": cold, "warm": warm, "out": out, "done": done, "leftovers": leftovers, "token": token,
           "seconds": seconds}
    Path("/tmp/selab-warm-" + token).unlink(missing_ok=True)


def test_warm_grading_equals_grading_each_alone(graded_class):
    done, cold, warm = graded_class["done"], graded_class["cold"], graded_class["warm"]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for name in cold:
        validate(warm[name])
        assert warm[name]["score"] == cold[name]["score"], name
        assert _tests(warm[name]) == _tests(cold[name]), name
        assert warm[name]["output"] == cold[name]["output"], name
    assert [cold[n]["score"] for n in sorted(cold)] == [100, 100, 62]  # the hostile import changed nothing


def test_the_hostile_submission_left_nothing_behind(graded_class):
    assert graded_class["leftovers"] == [], "a process of the hostile submission outlived its grading"
    assert not Path("/tmp/selab-warm-" + graded_class["token"]).exists()
    rows = list(csv.DictReader(open(graded_class["out"] / "grades.csv")))
    assert [(r["submission"], r["status"]) for r in rows] == [("a_reference", "ok"), ("b_hostile.py", "ok"),
                                                              ("c_no_sigmoid.py", "ok")]
    log = (graded_class["out"] / "b_hostile.py" / "grader.log").read_text()
    assert log.startswith("Score: 100/100"), log[-2000:]  # grade's own summary, written by the fork


def test_regrade_writes_changes_csv_and_report_section(graded_class):
    out = graded_class["out"]
    rows = {r["submission"]: r for r in csv.DictReader(open(out / "changes.csv"))}
    assert set(rows) == {"a_reference", "b_hostile.py", "d_gone"}  # c_no_sigmoid.py is unchanged
    up = rows["a_reference"]
    assert (up["kind"], up["old_score"], up["new_score"], up["change"]) == ("changed", "93", "100", "+7")
    assert up["CNN_SE"] == "18 -> 25" and up["CNN_Base"] == up["SEBlock"] == ""
    assert up["flipped"] == f"{TRAINING_CHECK} (failed -> passed)"
    assert (rows["b_hostile.py"]["kind"], rows["b_hostile.py"]["old_score"]) == ("new", "")
    assert (rows["d_gone"]["kind"], rows["d_gone"]["new_score"]) == ("gone", "")
    report = (out / "report.md").read_text()
    assert "## Changes since the previous grading" in report
    assert "2 submission(s) in both; 1 went up (by 7 points on average, 7 to 7), 0 went down" in report
    assert f"| a_reference | 93 -> 100 | CNN_SE 18 -> 25 | {TRAINING_CHECK} (failed -> passed) |" in report


def test_report_says_what_the_class_got_wrong(graded_class):
    report = (graded_class["out"] / "report.md").read_text()
    section = report.split("## What the class got wrong", 1)[1].split("\n## ", 1)[0]
    no_sigmoid = "your excitation has no Sigmoid at its end, so the gates are not in (0, 1)"
    assert f"| SEBlock | fc.3 | {no_sigmoid} | 1 |" in section
    assert f"| CNN_SE | se1.fc.3 | {no_sigmoid} | 1 |" in section
    assert section.count("\n| ") == 3  # header + the two rows: the correct submissions depart nowhere


def test_a_bad_previous_folder_is_refused_before_grading(tmp_path):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "alice.py").write_text(STUBS.read_text())
    done = _grader("grade-all", str(tmp_path / "class"), "--out", str(tmp_path / "out"),
                   "--previous", str(tmp_path / "nowhere"), timeout=120)
    assert done.returncode == 2 and "no readable grades.csv" in done.stderr
    assert not (tmp_path / "out" / "alice.py").exists()


# ------------------------------------------------------------------ what the class got wrong, from results

def _doc(*outputs: str) -> dict:
    return {"score": 0, "tests": [{"name": "SEBlock: x", "score": 0, "status": "failed", "output": o}
                                  for o in outputs]}


def test_mistakes_count_students_once_most_frequent_first():
    softmax = "your gates sum to 1 over the channels: softmax instead of sigmoid?"
    where = "SEBlock first departs from the reference at fc.3: its input agrees (everything up to fc.2 agrees)"
    pool = ("CNN_SE first departs from the reference at se1: its input is [1, 32, 28, 28] (everything up to conv1 "
            "agrees) — does se1 run after the max-pool?")
    docs = [_doc(f"Outputs differ.\n{where} — {softmax}", f"Gradients differ.\n{where} — {softmax}"),
            _doc(f"Outputs differ.\n{where} — {softmax}", pool), _doc(pool), _doc(where), _doc("Passed.")]
    rows = [(m.class_name, m.module, m.causes, n) for m, n in mistakes.tally(docs)]
    assert rows == [("SEBlock", "fc.3", (softmax,), 2),  # ties in the lab's class order
                    ("CNN_SE", "se1", ("does se1 run after the max-pool?",), 2), ("SEBlock", "fc.3", (), 1)]
    lines = mistakes.section(docs)
    assert "| SEBlock | fc.3 | (no specific cause found) | 1 |" in lines


def test_no_mistakes_reads_as_such():
    assert "No submission departs from the reference in a localised check." in mistakes.section([_doc("Passed.")])


# ------------------------------------------------------------------ regrade differences, from results

def _results(statuses: dict[str, str]) -> dict:
    tests = [{"name": name, "score": 5 if status == "passed" else 0, "max_score": 5, "status": status, "output": ""}
             for name, status in statuses.items()]
    return {"score": sum(t["score"] for t in tests), "tests": tests}


def test_compare_reports_score_changes_flips_and_membership():
    gates, shapes = "SEBlock: gates", "CNN_SE: shapes"
    before = {"up": _results({gates: "failed", shapes: "passed"}), "down": _results({gates: "passed"}),
              "same": _results({gates: "passed"}), "error_then": None, "gone": _results({gates: "passed"})}
    after = {"up": _results({gates: "passed", shapes: "passed"}), "down": _results({gates: "failed"}),
             "same": _results({gates: "passed"}), "error_then": _results({gates: "passed"}),
             "new": _results({gates: "failed"})}
    changes = {c.name: c for c in regrade.compare(before, after)}
    assert set(changes) == {"up", "down", "error_then", "gone", "new"}
    assert (changes["up"].delta, changes["up"].classes()) == (5, {"SEBlock": (0, 5)})
    assert changes["up"].flipped() == ["SEBlock: gates (failed -> passed)"]
    assert changes["down"].delta == -5
    assert changes["error_then"].delta is None and changes["error_then"].flipped() == [
        "SEBlock: gates (absent -> passed)"]
    assert (changes["gone"].kind, changes["new"].kind) == ("gone", "new")
    summary = regrade.section(list(changes.values()), 4, Path("old"))[2]
    assert "1 went up (by 5 points on average, 5 to 5), 1 went down (by 5 points" in summary
    assert "1 new, 1 no longer present" in summary


# ------------------------------------------------------------------ Gradescope "Export Submissions" layout

# Mirrors Gradescope's export: Ruby-symbol keys (":submitters:"), a group submission, a Ruby-tagged
# value and a per-submission :history:, one "submission_<id>" folder per submission.
METADATA = """\
submission_271001:
  :submitters:
  - :name: Ada Lovelace
    :sid: '20240001'
    :email: ada@example.edu
  :created_at: 2026-11-30 21:14:03.118276000 -08:00
  :score: 0.0
  :status: processed
  :history: []
submission_271002:
  :submitters:
  - :name: Alan Turing
    :sid: '20240002'
    :email: alan@example.edu
  - :name: Grace Hopper
    :sid: '20240003'
    :email: grace@example.edu
  :created_at: 2026-12-01 09:02:45.550911000 -08:00
  :score: !ruby/object:BigDecimal 18:0.0
  :status: processed
  :results: !ruby/hash:ActiveSupport::HashWithIndifferentAccess
    score: 0.0
  :history:
  - :id: 270998
    :created_at: 2026-11-29 10:00:00.000000000 -08:00
"""


def _export(folder: Path) -> Path:
    folder.mkdir()
    (folder / "submission_metadata.yml").write_text(METADATA)
    (folder / "submission_271001").mkdir()
    (folder / "submission_271001" / "models.py").write_text(STUBS.read_text())
    (folder / "submission_271002" / "src").mkdir(parents=True)
    (folder / "submission_271002" / "src" / "models.py").write_text("this is not python\n")
    return folder


def test_gradescope_metadata_gives_each_folder_its_students(tmp_path):
    export = _export(tmp_path / "export")
    students = gradescope_students(export / "submission_metadata.yml")
    assert students["submission_271001"] == {"name": "Ada Lovelace", "email": "ada@example.edu", "sid": "20240001"}
    assert students["submission_271002"] == {"name": "Alan Turing; Grace Hopper",
                                             "email": "alan@example.edu; grace@example.edu",
                                             "sid": "20240002; 20240003"}
    found = entries(export)
    assert [(e.name, e.path.name, e.student["sid"]) for e in found] == [
        ("submission_271001", "submission_271001", "20240001"),
        ("submission_271002", "submission_271002", "20240002; 20240003")]


def test_grade_all_on_a_gradescope_export_keeps_who_submitted(tmp_path):
    export = _export(tmp_path / "export")
    out = tmp_path / "out"
    done = _grader("grade-all", str(export), "--out", str(out), "--jobs", "2")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert list(rows[0])[:5] == ["submission", "name", "email", "sid", "score"]
    assert [(r["submission"], r["name"], r["email"], r["sid"], float(r["score"])) for r in rows] == [
        ("submission_271001", "Ada Lovelace", "ada@example.edu", "20240001", 0.0),
        ("submission_271002", "Alan Turing; Grace Hopper", "alan@example.edu; grace@example.edu",
         "20240002; 20240003", 0.0)]
    stub = json.loads((out / "submission_271001" / "results.json").read_text())
    assert all("not implemented yet" in t["output"] for t in stub["tests"] if t["status"] == "failed")
