"""The otter-grader autograder: ``python -m grader otter --out dist/otter-autograder.zip``.

Stages, in a temporary folder, one otter test file per class of the grader's check list (written
here from one template, :data:`TEST_FILE`; each runs the grader's own hidden checks of its class
through ``grader/otter/bridge.py``, beside this file) and the support files every check needs (the grader,
the reference, the lab's non-stub modules, the configuration and the Fashion-MNIST subset), then runs
``otter generate`` there. Otter stores support files under
``files/`` and copies them next to the submission before grading, so ``import grader`` works in
the grading kernel. The zip is then rewritten with fixed timestamps so that builds are reproducible.

Grade one submission with ``otter run -a dist/otter-autograder.zip models.py``. What this path does
not protect against is in docs/instructors.md ("Otter").
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from string import Template

from grader.packaging.archive import write_zip
from grader.packaging.project import NOT_FOR_GRADING, RUNTIME_TREES, requirements_txt, runtime_files

#: Not needed to grade with otter: this builder, the packaging code and the mutation analysis.
LEAVE_OUT = ("grader/otter/build.py", *NOT_FOR_GRADING)
OTTER_CONFIG = {"lang": "python", "show_all_public": True}  # students see every class's feedback


#: The otter test file of one class (exception-based, ``OK_FORMAT = False``): the files of the classes
#: differ only in ``$name``, so they are written from the check list when the zip is built.
TEST_FILE = Template('''"""Otter test file for $name: the grader's own $name checks, points from grader/config.toml."""

OK_FORMAT = False

from otter.test_files import test_case  # noqa: E402

from grader.otter.bridge import checks_of, run_in_kernel  # noqa: E402

name = "$name"


def _case(check):
    def run(env):
        run_in_kernel(check, env)
    return run


for _index, (_check, _title, _points) in enumerate(checks_of(name)):
    globals()[f"case_{_index}"] = test_case(name=_title, points=_points)(_case(_check))
''')


class OtterGenerateError(RuntimeError):
    """``otter generate`` failed; the message holds its output."""


def otter_tests() -> dict[str, str]:
    """File name -> text of the otter test file of every class that has checks, in the grader's class order."""
    from grader.checks import collect_checks, info_of  # imports the hidden suites: only when a zip is built

    classes = dict.fromkeys(info_of(function).class_name for function in collect_checks())
    return {f"{name}.py": TEST_FILE.substitute(name=name) for name in classes}


def stage(folder: Path) -> None:
    """Lay out in ``folder`` what ``otter generate`` reads: tests/, the support trees, requirements, config."""
    for name, source in runtime_files(LEAVE_OUT).items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (folder / "tests").mkdir()
    for file_name, text in otter_tests().items():
        (folder / "tests" / file_name).write_text(text)
    (folder / "requirements.txt").write_text(requirements_txt())
    (folder / "otter_config.json").write_text(json.dumps(OTTER_CONFIG, indent=2) + "\n")


def build_otter(out: Path) -> Path:
    """Write the otter autograder zip to ``out`` (via ``otter generate``) and return its path."""
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="selab-otter-") as tmp:
        folder = Path(tmp)
        stage(folder)
        generated = folder / "otter-autograder.zip"
        command = [sys.executable, "-m", "otter", "generate", "--tests-dir", "tests", "--output-path", generated.name,
                   "--config", "otter_config.json", "--requirements", "requirements.txt", "--no-environment",
                   *RUNTIME_TREES]
        run = subprocess.run(command, cwd=folder, capture_output=True, text=True)
        if run.returncode != 0 or not generated.is_file():
            raise OtterGenerateError(f"otter generate failed (exit {run.returncode}):\n{run.stdout}{run.stderr}")
        with zipfile.ZipFile(generated) as archive:
            entries = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    return write_zip(out, entries, executable=[name for name in ("run_autograder", "setup.sh") if name in entries])
