"""The Gradescope autograder: ``python -m grader autograder --out dist/autograder.zip``.

Zip root (Gradescope unpacks it into ``/autograder/source``):

- ``setup.sh``: run once when Gradescope builds the image; installs Python packages (nothing is
  downloaded at grading time), creates the unprivileged sandbox user and makes the source
  readable by root only (``chmod -R go-rwx``); ``SELAB_SKIP_INSTALL=1`` installs nothing and only
  checks the interpreter (the repository's tests run it that way);
- ``run_autograder``: run per submission; ``python -m grader grade $ROOT/submission --out
  $ROOT/results/results.json --sandbox-user USER``; the grader copies only the upload's models.py
  and runs it in a child process as USER, who cannot read the grader's files: inside the bubblewrap
  jail (grader/sandbox/bwrap.py) when the container allows it (setup.sh installs bubblewrap), else
  as USER alone (Docker containers usually refuse the namespaces bwrap needs); results.json's
  top-level output says which ("Protection in force: ...") and run_autograder prints it to the log;
- ``requirements.txt``: the project's dependencies (from pyproject.toml);
- ``grader/`` (with ``hidden/``, ``config.toml`` and the Fashion-MNIST subset in ``data/``; without the
  otter path, the packaging code and the mutation analysis, which grading never imports),
  ``reference/`` and the lab's non-stub ``assignment/`` modules.

Both scripts take the root from ``$GRADESCOPE_ROOT`` (default ``/autograder``), so the tests can
run them in a simulated root.
"""

from __future__ import annotations

from pathlib import Path

from grader.packaging.archive import write_zip
from grader.packaging.project import NOT_FOR_GRADING, requirements_txt, runtime_files

TEMPLATES = Path(__file__).resolve().parent / "templates" / "gradescope"
SCRIPTS = ("setup.sh", "run_autograder")
#: Not needed on Gradescope: otter's support (grader/otter), the packaging code (its scripts are at the zip root),
#: the mutants.
LEAVE_OUT = ("grader/otter", *NOT_FOR_GRADING)


def autograder_entries() -> dict[str, bytes | str | Path]:
    """Archive name -> content of every file in the Gradescope zip."""
    entries: dict[str, bytes | str | Path] = dict(runtime_files(LEAVE_OUT))
    for script in SCRIPTS:
        entries[script] = TEMPLATES / script
    entries["requirements.txt"] = requirements_txt()
    return entries


def build_autograder(out: Path) -> Path:
    """Write the Gradescope autograder zip to ``out`` and return its path."""
    return write_zip(Path(out), autograder_entries(), executable=SCRIPTS)
