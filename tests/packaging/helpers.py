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
