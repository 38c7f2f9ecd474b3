"""The otter path: its zip, its test files, and the same per-class scores as ``python -m grader grade``.

Each submission is graded both ways at once (two processes): ``otter run -a otter-autograder.zip
models.py`` (the student's script executed in a Jupyter kernel, the grader's checks run in that
kernel through LocalSubject) and ``python -m grader grade models.py`` (sandboxed child).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from otter.test_files import ExceptionTestFile

from grader.checks import collect_checks, info_of
from grader.config import CLASS_ORDER, load_config
from grader.otter.build import build_otter, otter_tests
from tests.packaging.helpers import QUIET_ENV, ROOT, class_scores, submissions


@pytest.fixture(scope="module")
def otter_zip(tmp_path_factory) -> Path:
    return build_otter(tmp_path_factory.mktemp("otter") / "otter-autograder.zip")


def test_one_otter_test_file_per_class_with_the_graders_checks_and_points(tmp_path):
    config = load_config()
    for file_name, text in otter_tests().items():
        (tmp_path / file_name).write_text(text)
    files = {path.stem: ExceptionTestFile.from_file(str(path)) for path in sorted(tmp_path.glob("*.py"))}
    assert sorted(files) == sorted(CLASS_ORDER)
    for class_name, test_file in files.items():
        checks = [info_of(f) for f in collect_checks() if info_of(f).class_name == class_name]
        assert test_file.name == class_name
        assert [case.name for case in test_file.test_cases] == [info.name for info in checks]
        assert [case.points for case in test_file.test_cases] == [config.points_for(class_name, i.key) for i in checks]
        assert sum(case.points for case in test_file.test_cases) == config.class_points(class_name)


def test_otter_zip_holds_the_tests_and_the_grader_support_files(otter_zip, tmp_path):
    names = set(zipfile.ZipFile(otter_zip).namelist())
    assert {f"tests/{name}" for name in otter_tests()} == {n for n in names if n.startswith("tests/")}
    for required in ("run_autograder", "setup.sh", "otter_config.json", "environment.yml", "files/grader/config.toml",
                     "files/grader/otter/bridge.py", "files/grader/hidden/conftest.py", "files/reference/models.py",
                     "files/grader/data/fashion-mnist-subset.npz", "files/assignment/spec.py"):
        assert required in names, f"{required} missing from the otter zip"
    assert not [n for n in names if n.startswith(("files/grader/packaging/", "files/grader/mutants/"))]
    assert "files/grader/otter/build.py" not in names, "the zip's builder is not needed to grade"
    assert "files/assignment/models.py" not in names
    # otter's submission finder rejects more than one top-level .py file: support files are folders only.
    assert not [n for n in names if n.startswith("files/") and n.count("/") == 1]
    assert build_otter(tmp_path / "again.zip").read_bytes() == otter_zip.read_bytes(), "not reproducible"


def _otter_class_scores(results: dict) -> dict[str, float]:
    return {test["name"]: float(test["score"]) for test in results["tests"] if test["name"] in CLASS_ORDER}


@pytest.mark.parametrize("name", list(submissions()))
def test_otter_and_the_grader_give_the_same_per_class_scores(otter_zip, name, tmp_path):
    (tmp_path / "otter").mkdir()
    submission = tmp_path / "models.py"
    submission.write_text(submissions()[name])
    env = {**os.environ, **QUIET_ENV}
    env.pop("SELAB_GRADER_CONFIG", None)
    otter = subprocess.Popen([sys.executable, "-m", "otter", "run", "-a", str(otter_zip), "-o", str(tmp_path / "otter"),
                              "--no-logo", str(submission)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    grade = subprocess.run([sys.executable, "-m", "grader", "grade", str(submission), "--out",
                            str(tmp_path / "grader.json")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    otter_output, _ = otter.communicate(timeout=400)
    assert grade.returncode == 0, grade.stdout + grade.stderr
    assert otter.returncode == 0, otter_output[-3000:]
    by_grader = class_scores(json.loads((tmp_path / "grader.json").read_text()))
    otter_results = json.loads((tmp_path / "otter" / "results.json").read_text())
    by_otter = _otter_class_scores(otter_results)
    assert by_otter == by_grader, (f"per-class scores differ for {name}: otter {by_otter}, grader {by_grader}\n"
                                   + "\n".join(t["output"][:800] for t in otter_results["tests"]))
    total = load_config().total_points
    expected_total = {"reference": total, "stubs": 0}.get(name)
    if expected_total is not None:
        assert sum(by_otter.values()) == expected_total
    else:
        assert 0 < sum(by_otter.values()) < total
