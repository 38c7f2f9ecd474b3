"""The Gradescope autograder, run the way Gradescope runs it, in a simulated root.

The zip is unpacked into ``$ROOT/source``, ``setup.sh`` runs with ``SELAB_SKIP_INSTALL=1`` (this
venv already has every package), ``run_autograder`` is copied to ``$ROOT/run_autograder`` and run
once per submission with ``GRADESCOPE_ROOT=$ROOT``; results.json is validated with the grader's own
schema check. The student's code runs as the unprivileged user setup.sh creates, so this needs
root (CI runs as root; elsewhere the sandbox tests are skipped, saying why).

The simulated root itself (and why it runs on a throwaway venv of the system's Python) is
``helpers.GradescopeRoot``, reusable by other suites (e.g. the hostile corpus).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.packaging.helpers import GradescopeRoot, class_scores, grader_files_probe, submissions
from grader.config import CLASS_ORDER, load_config
from grader.packaging.archive import REPO_ROOT
from grader.packaging.gradescope import build_autograder
from grader.results import validate
from grader.sandbox.process import RUNTIME_FILES

SANDBOX_USER = "selab-sandbox"  # setup.sh's default, deliberately not passed to the scripts


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    return build_autograder(tmp_path_factory.mktemp("gradescope") / "autograder.zip")


def test_zip_root_holds_the_scripts_the_grader_and_the_data(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    for name in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[name].external_attr >> 16) == 0o755, f"{name} is not executable"
    for name in ("requirements.txt", "grader/config.toml", "grader/__main__.py", "grader/hidden/conftest.py",
                 "grader/data/fashion-mnist-subset.npz", "reference/models.py", "assignment/spec.py"):
        assert name in infos, f"{name} missing from the autograder zip"
    assert [n for n in infos if n.startswith("grader/hidden/test_")], "no hidden suites in the autograder zip"
    for source in RUNTIME_FILES.values():  # what the sandboxed child is made of (grader/sandbox/process.py)
        name = source.relative_to(REPO_ROOT).as_posix()
        assert name in infos, f"{name}, copied into the child's folder, is missing from the autograder zip"
    assert "assignment/models.py" not in infos, "the students' stub is not a grading input"
    assert not [n for n in infos if n.startswith(("tests/", "grader/otter/", "grader/packaging/", "grader/mutants/"))]
    assert not [n for n in infos if "__pycache__" in n or n.endswith(".pyc")]
    assert build_autograder(tmp_path / "again.zip").read_bytes() == autograder_zip.read_bytes(), "not reproducible"


@pytest.fixture(scope="module")
def gradescope(autograder_zip):
    """A simulated Gradescope root after setup.sh (see helpers.GradescopeRoot)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: setup.sh creates the sandbox user and the grader drops to it")
    with GradescopeRoot(autograder_zip) as simulated:
        yield simulated


def test_setup_sh_creates_the_user_and_locks_the_source(gradescope):
    setup = gradescope.setup
    assert setup.returncode == 0, f"setup.sh failed:\n{setup.stdout}\n{setup.stderr}"
    assert "installing nothing" in setup.stdout
    subprocess.run(["id", "-u", SANDBOX_USER], check=True, capture_output=True)
    readable = [str(p) for p in (gradescope.root / "source").rglob("*") if p.stat().st_mode & 0o077]
    assert not readable, f"files of the grader still open to group/others: {readable[:5]}"


def _grade(gradescope: GradescopeRoot, files: dict[str, str]) -> dict:
    run, doc = gradescope.grade(files)
    assert run.returncode == 0, f"run_autograder exit {run.returncode}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert doc is not None, "run_autograder wrote no results.json"
    validate(doc)  # the grader's own schema check
    assert all(test["name"].split(": ", 1)[0] in CLASS_ORDER for test in doc["tests"])
    assert doc["score"] == pytest.approx(sum(test["score"] for test in doc["tests"]))
    return doc


def test_untouched_stubs_score_0_saying_not_implemented_yet(gradescope):
    doc = _grade(gradescope, {"models.py": submissions()["stubs"]})
    assert doc["score"] == 0
    assert all("not implemented yet" in test["output"] for test in doc["tests"]), doc["output"]


def test_buggy_submission_loses_points_where_it_is_wrong_only(gradescope):
    # A zip-style upload: models.py in a folder, next to files that must be ignored.
    doc = _grade(gradescope, {"work/models.py": submissions()["half_done_se_no_sigmoid"],
                              "work/conftest.py": "raise SystemExit('conftest.py must never be imported')\n"})
    config = load_config()
    scores = class_scores(doc)
    assert scores["CNN_Base"] == config.class_points("CNN_Base")
    assert 0 < scores["SEBlock"] < config.class_points("SEBlock")
    assert scores["CNN_SE"] == scores["CNN_SelfAttention"] == 0




def test_reference_scores_100_and_cannot_read_the_graders_files(gradescope):
    """The reference plus an attack at import: it keeps 100 only if no read of $ROOT/source succeeds.

    (One grading for both facts: the attack fails the import, hence every check, the moment a
    read succeeds or the probe itself is broken, and then says which in the output.)
    """
    doc = _grade(gradescope, {"models.py": submissions()["reference"] + grader_files_probe(str(gradescope.root))})
    text = json.dumps(doc)
    assert "LEAK" not in text, f"the sandbox user read the grader's files:\n{doc['output']}"
    assert "CONTROL-UNREADABLE" not in text and "PROBE-BROKEN" not in text, doc["output"]
    assert doc["score"] == load_config().total_points == 100, doc["output"]
