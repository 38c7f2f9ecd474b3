"""Helpers of the packaging tests: run Python the way a student's machine would, and shared submissions.

The repository may be installed in this venv in editable mode (``make setup`` does), which would
make ``reference`` and ``grader`` importable from anywhere and let an unpacked handout "work" only
because the repository is on this machine. :func:`run_as_student` runs Python isolated (``-I``) and
removes every route back into the repository before running anything, and checks that it did.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The shared 2-core machine: one thread per process avoids oversubscription (10x slower otherwise).
QUIET_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}

_PRELUDE = r"""
import importlib.util, os, runpy, sys
repo = {repo!r}
sys.meta_path[:] = [f for f in sys.meta_path
                    if "__editable__" not in (getattr(f, "__module__", "") or "") + type(f).__module__]
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != repo]
sys.path_importer_cache.clear()
leaks = [name for name in ("reference", "grader") if importlib.util.find_spec(name) is not None]
if leaks:
    sys.exit(f"TEST ENVIRONMENT LEAK: {{leaks}} importable outside the repository")
mode, target, *args = sys.argv[1:]
sys.argv = [target, *args]
if mode == "module":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    sys.path.insert(0, os.getcwd())  # what `python -c` does
    exec(compile(target, "<string>", "exec"), {{"__name__": "__main__"}})
"""


def run_as_student(mode: str, target: str, *args: str, cwd: Path, timeout: float = 300,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m target args`` (mode "module") or ``python -c target`` (mode "code") in ``cwd``,
    isolated from the repository."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SELAB_", "PYTHON"))}
    prelude = _PRELUDE.format(repo=os.path.realpath(ROOT))
    return subprocess.run([sys.executable, "-I", "-c", prelude, mode, target, *args], cwd=cwd,
                          env={**clean, **QUIET_ENV, **(env or {})}, capture_output=True, text=True, timeout=timeout)


# --- submissions shared by the Gradescope and otter tests ------------------------------------------

def _class_segments(text: str) -> tuple[dict[str, str], list[str]]:
    """(class name -> source, module-level function sources) of a models.py."""
    import ast

    tree = ast.parse(text)
    classes = {n.name: ast.get_source_segment(text, n) for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = [ast.get_source_segment(text, n) for n in tree.body if isinstance(n, ast.FunctionDef)]
    return classes, functions


def partly_done(written: tuple[str, ...], replace: tuple[tuple[str, str], ...] = ()) -> str:
    """The stubs with the classes in ``written`` taken from the reference, then ``replace`` applied
    (a student half-way through; each replacement must apply, so a changed reference fails loudly)."""
    stub_text = (ROOT / "assignment/models.py").read_text()
    stub_classes, stub_functions = _class_segments(stub_text)
    ref_classes, ref_functions = _class_segments((ROOT / "reference/models.py").read_text())
    parts = ["import torch\nimport torch.nn.functional as F\nfrom torch import nn",
             *stub_functions, *ref_functions,
             *[ref_classes[name] if name in written else stub_classes[name] for name in stub_classes]]
    text = "\n\n\n".join(parts) + "\n"
    for old, new in replace:
        assert text.count(old) == 1, f"replacement {old!r} does not apply exactly once"
        text = text.replace(old, new)
    return text


def submissions() -> dict[str, str]:
    """Name -> models.py text: the reference, the untouched stubs, and two buggy half-done ones (cheap to grade)."""
    return {
        "reference": (ROOT / "reference/models.py").read_text(),
        "stubs": (ROOT / "assignment/models.py").read_text(),
        # CNN_Base right, SEBlock without its sigmoid, CNN_SE and CNN_SelfAttention not written yet.
        "half_done_se_no_sigmoid": partly_done(("CNN_Base", "SEBlock"), (("            nn.Sigmoid(),\n", ""),)),
        # CNN_Base and CNN_SelfAttention written, but the attention output replaces the features
        # instead of being added to them; SEBlock and CNN_SE not written yet.
        "half_done_attention_no_residual": partly_done(("CNN_Base", "CNN_SelfAttention"), (
            ("x = x + attended.reshape(b, c, h, w)", "x = attended.reshape(b, c, h, w)"),)),
    }


def class_scores(results: dict) -> dict[str, float]:
    """Class -> points earned, from a Gradescope results.json of the grader (tests named "<Class>: ...")."""
    scores: dict[str, float] = {}
    for test in results["tests"]:
        class_name = test["name"].split(": ", 1)[0]
        scores[class_name] = scores.get(class_name, 0.0) + float(test["score"])
    return scores


# --- a simulated Gradescope root ----------------------------------------------------------------

#: Any download attempt at grading time goes to a closed port and fails.
OFFLINE_ENV = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "PIP_NO_INDEX": "1"}


def gradescope_like_python(folder: Path) -> Path:
    """A venv on an interpreter every user may run, seeing this venv's packages.

    Gradescope's interpreter is readable by every user; this machine's venv interpreter lives under
    /root (mode 700), which no unprivileged user can enter. So: a venv made from the system's Python
    of the same version, whose site-packages is (a symlink to) this venv's.
    """
    import shutil
    import sysconfig

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = shutil.which(f"python{version}", path="/usr/bin:/usr/local/bin:/bin")
    if base is None:
        raise RuntimeError(f"no system python{version} outside /root to build a Gradescope-like interpreter from")
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True)
    site_packages = folder / "lib" / f"python{version}" / "site-packages"
    shutil.rmtree(site_packages)
    site_packages.symlink_to(sysconfig.get_paths()["purelib"], target_is_directory=True)
    return folder / "bin" / "python"


class GradescopeRoot:
    """An autograder zip installed the way Gradescope installs it, in a throwaway root (needs root).

    ``with GradescopeRoot(zip_path) as gs:`` unpacks the zip into ``$ROOT/source``, runs setup.sh with
    ``SELAB_SKIP_INSTALL=1`` (its result in ``gs.setup``), and copies run_autograder to ``$ROOT``;
    ``gs.grade({"models.py": text})`` fills ``$ROOT/submission``, runs ``$ROOT/run_autograder`` with
    ``GRADESCOPE_ROOT=$ROOT`` and returns (its CompletedProcess, results.json as a dict or None).
    ``$ROOT/control.txt`` is readable by every user (for probes that must tell "denied" from "absent").
    """

    def __init__(self, autograder_zip: Path):
        self.autograder_zip = Path(autograder_zip)

    def __enter__(self) -> "GradescopeRoot":
        import shutil
        import tempfile
        import zipfile

        if os.geteuid() != 0:
            raise PermissionError("a simulated Gradescope root needs root (sandbox user, privilege drop)")
        self.scratch = Path(tempfile.mkdtemp(prefix="selab-gradescope-"))
        try:
            self.scratch.chmod(0o755)  # like /autograder: the sandbox user may traverse it
            python = gradescope_like_python(self.scratch / "venv")
            self.root = self.scratch / "autograder"
            for sub in ("source", "submission", "results"):
                (self.root / sub).mkdir(parents=True)
            self.root.chmod(0o755)
            with zipfile.ZipFile(self.autograder_zip) as archive:
                archive.extractall(self.root / "source")
            (self.root / "control.txt").write_text("readable by everyone\n")
            (self.root / "control.txt").chmod(0o644)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SELAB_", "PYTHON"))}
            self.env = {**env, **QUIET_ENV, "GRADESCOPE_ROOT": str(self.root), "SELAB_PYTHON": str(python)}
            self.setup = subprocess.run(["bash", str(self.root / "source/setup.sh")],
                                        env={**self.env, "SELAB_SKIP_INSTALL": "1"},
                                        capture_output=True, text=True, timeout=300)
            shutil.copy(self.root / "source/run_autograder", self.root / "run_autograder")  # as Gradescope does
            (self.root / "run_autograder").chmod(0o755)
        except BaseException:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc) -> None:
        import shutil

        shutil.rmtree(self.scratch, ignore_errors=True)

    def grade(self, files: dict[str, str | bytes], timeout: float = 400) -> tuple[subprocess.CompletedProcess, dict | None]:
        import json
        import shutil

        if self.setup.returncode != 0:
            raise RuntimeError(f"setup.sh failed:\n{self.setup.stdout}\n{self.setup.stderr}")
        shutil.rmtree(self.root / "submission")
        (self.root / "submission").mkdir()
        for name, content in files.items():
            path = self.root / "submission" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        results = self.root / "results" / "results.json"
        results.unlink(missing_ok=True)
        run = subprocess.run([str(self.root / "run_autograder")], env={**self.env, **OFFLINE_ENV},
                             capture_output=True, text=True, timeout=timeout)
        return run, json.loads(results.read_text()) if results.is_file() else None


_READER = '''
import os

ROOT = {root!r}


def _probe():
    """Raise (so the import fails and the score is 0) if anything of the grader can be read.

    Refused (the sandbox user) and absent (the bubblewrap jail does not show $ROOT at all) are both
    safe; the control read of a file the child must see (torch's own) proves the probe can read.
    """
    import torch
    try:
        open(torch.__file__).read(10)
    except OSError as error:
        raise RuntimeError(f"CONTROL-UNREADABLE: {{error}}") from None
    for path in ("source/reference/models.py", "source/grader/config.toml", "source/grader/hidden/conftest.py",
                 "source/grader/data/fashion-mnist-subset.npz"):
        try:
            with open(os.path.join(ROOT, path), "rb") as handle:
                data = handle.read(300)
        except (PermissionError, FileNotFoundError):
            continue
        except OSError as error:
            raise RuntimeError(f"PROBE-BROKEN {{path}}: {{error}}") from None
        raise RuntimeError(f"LEAK {{path}}: {{data!r}}")
    try:
        listing = os.listdir(os.path.join(ROOT, "source"))
    except (PermissionError, FileNotFoundError):
        return
    raise RuntimeError(f"LEAK listing of source/: {{listing}}")


_probe()
'''


def grader_files_probe(root: str) -> str:
    """Code to paste after a submission: its import fails (score 0) if the child can read or list anything of
    ``root``/source. Refused and absent both pass; a control read of torch's own file proves the probe works."""
    return _READER.format(root=root)
