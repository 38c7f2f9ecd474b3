"""The handout as students get it, on the Python and package versions they may have (issue 17).

    make student-matrix                      # or: .venv/bin/python tests/e2e/student_matrix.py [--cells oldest]

Builds the handout (``python -m grader handout``), then for each cell unzips it into a fresh folder,
makes a fresh venv with that cell's interpreter and runs ``pip install -r requirements.txt``:

* ``oldest``: Python 3.10 with the oldest release of every requirement that requirements.txt allows
  (a constraints file pins each ``>=`` floor), then the same torch with NumPy 2 (the floors are
  chosen so that pip may pick NumPy 2 beside them);
* ``newest``: Python 3.13 with the newest releases (``PIP_CONSTRAINT`` points at an empty file, so a
  machine-wide pip cap on torch does not apply: the cell gets what students get).

In each cell, as a student would: the public tests on the untouched stubs (every failure says "not
implemented yet"), on the reference and on correct corpus variants written differently (all pass);
the notebook executed headless by Jupyter with the smallest training (every cell runs, every plot
exists); the compare CLI's short run. Prints a table and, last, ``N passed, 0 failed``. Wheels and
venvs go under ``--work`` (default /var/tmp/selab-student-matrix), never into the repository.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from grader.packaging.handout import TOP_FOLDER  # noqa: E402 - the folder the handout zip unpacks to
#: Correct models.py files the public tests must pass on: the reference and corpus variants in other styles.
SOLUTIONS = {
    "reference": REPO / "reference" / "models.py",
    "attn_by_hand": REPO / "tests/corpus/submissions/correct/attn_by_hand.py",
    "attn_forward_method": REPO / "tests/corpus/submissions/correct/attn_forward_method.py",
    "se_sigmoid_outside": REPO / "tests/corpus/submissions/correct/se_sigmoid_outside.py",
}
#: The models.py the notebook and the compare CLI run on: a correct variant that never calls attn.
RUN_SOLUTION = REPO / "tests/corpus/submissions/correct/attn_sdpa.py"
SMALLEST_TRAINING = {"SELAB_EPOCHS": "1", "SELAB_TRAIN_LIMIT": "256", "SELAB_SEEDS": "1"}
PLOTS = ("learning_curves.png", "se_gates.png", "attention_map.png")
REPORTED = ("torch", "torchvision", "numpy", "matplotlib", "tqdm", "pytest", "jupyterlab", "nbconvert")


@dataclass(frozen=True)
class Cell:
    name: str
    python: str  # "3.10"
    pins: str  # "oldest" or "newest"


CELLS = (Cell("oldest", "3.10", "oldest"), Cell("newest", "3.13", "newest"))


@dataclass
class Row:
    cell: str
    check: str
    ok: bool
    seconds: float
    detail: str = ""


def find_python(version: str) -> str:
    """An interpreter of ``version`` found offline: on PATH, in pyenv's versions, or Debian's /usr/bin."""
    candidates = [shutil.which(f"python{version}") or ""]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")), reverse=True)
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    raise SystemExit(f"student-matrix: no Python {version} found (PATH, ~/.pyenv/versions, /usr/bin). Install one "
                     f"offline-friendly way: `pyenv install {version}`, or Debian's python{version} package "
                     "in an mmdebstrap chroot of a release that ships it.")


def floors(requirements: Path) -> str:
    """A constraints file pinning every ``name>=X`` requirement to ``name==X`` (the oldest allowed)."""
    pins = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            lowest = [spec.version for spec in requirement.specifier if spec.operator == ">="]
            if lowest:
                pins.append(f"{requirement.name}=={lowest[0]}")
    return "\n".join(pins) + "\n"


class Runner:
    """Runs one cell's commands in its handout folder and collects the table's rows."""

    def __init__(self, cell: Cell, folder: Path, env: dict[str, str], rows: list[Row], log: Path):
        self.cell, self.folder, self.env, self.rows, self.log = cell, folder, env, rows, log

    def sh(self, command: list[str], timeout: int = 1800, **env) -> subprocess.CompletedProcess:
        run = subprocess.run(command, cwd=self.folder, env={**self.env, **env}, capture_output=True, text=True,
                             timeout=timeout)
        with self.log.open("a") as log:
            log.write(f"\n$ {' '.join(command)}  (exit {run.returncode})\n{run.stdout[-20000:]}\n{run.stderr[-20000:]}\n")
        return run

    def check(self, name: str, step) -> bool:
        started = time.perf_counter()
        try:
            detail = step()
            ok = True
        except (AssertionError, subprocess.SubprocessError, OSError) as error:
            ok, detail = False, str(error)[-600:]
        self.rows.append(Row(self.cell.name, name, ok, time.perf_counter() - started, detail or ""))
        print(f"  [{'pass' if ok else 'FAIL'}] {self.cell.name}: {name} ({time.perf_counter() - started:.0f} s)"
              + (f"  {detail}" if detail else ""), flush=True)
        return ok

    @property
    def python(self) -> str:
        return str(self.folder / ".venv" / "bin" / "python")

    def use_models(self, source: Path) -> None:
        shutil.copy(source, self.folder / "assignment" / "models.py")

    def public_tests(self, expect: str) -> str:
        """pytest as the README says (``pytest``, configured by pytest.ini); ``expect`` "pass" or "stubs"."""
        report = self.folder / "public.xml"
        run = self.sh([self.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
                      timeout=900)
        cases = {case.get("name"): case.find("failure") for case in ET.parse(report).getroot().iter("testcase")}
        failed = {name: (f.get("message", "") + (f.text or "")) for name, f in cases.items() if f is not None}
        assert len(cases) >= 20, f"collected only {len(cases)} public tests"
        if expect == "pass":
            assert run.returncode == 0 and not failed, f"exit {run.returncode}; failing: {sorted(failed)[:5]}"
            return f"{len(cases)} passed"
        unclear = [name for name in cases if "not implemented yet" not in failed.get(name, "")]
        assert run.returncode == 1 and not unclear, f"not 'not implemented yet': {unclear[:5]}"
        assert "Traceback" not in run.stdout, "a stub failure printed a traceback"
        return f"{len(cases)} failed, each 'not implemented yet'"

    def notebook(self) -> str:
        """Jupyter executes assignment/lab.ipynb headless (its own install cell included)."""
        out = self.folder / "runs" / "notebook"
        executed = self.folder / "executed.ipynb"
        jupyter = str(self.folder / ".venv" / "bin" / "jupyter")
        run = self.sh([jupyter, "nbconvert", "--to", "notebook", "--execute", "assignment/lab.ipynb",
                       "--output-dir", str(self.folder), "--output", executed.stem,
                       "--ExecutePreprocessor.timeout=1200"], SELAB_NOTEBOOK_OUT=str(out), **SMALLEST_TRAINING)
        assert run.returncode == 0, f"nbconvert exit {run.returncode}: {run.stderr[-500:]}"
        cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
        errors = [o.get("ename") for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors and all(c.get("execution_count") for c in cells), f"cells failed or did not run: {errors}"
        images = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
        missing = [p for p in PLOTS if not (out / p).is_file()]
        assert not missing and images == len(PLOTS), f"missing plots {missing}; {images} images shown"
        return f"{len(cells)} code cells ran, {images} plots shown"

    def compare(self, models: str = "base,se,attn") -> str:
        out = self.folder / "runs" / f"smoke-{models.replace(',', '-')}"
        run = self.sh([self.python, "-m", "assignment.compare", "--models", models, "--epochs", "1",
                       "--train-limit", "256", "--no-progress", "--out", str(out)], timeout=900)
        assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-500:]}"
        wanted = ["results.json", "results.md", "learning_curves.png"]
        wanted += [p for key, p in (("se", "se_gates.png"), ("attn", "attention_map.png")) if key in models.split(",")]
        missing = [name for name in wanted if not (out / name).is_file()]
        assert not missing, f"missing {missing}"
        return f"wrote {len(wanted)} files"


def versions(runner: Runner) -> str:
    code = ("import importlib.metadata as m, platform; print('Python ' + platform.python_version() + ', ' + ', '.join("
            f"n + ' ' + m.version(n) for n in {REPORTED!r}))")
    run = runner.sh([runner.python, "-c", code])
    assert run.returncode == 0, run.stderr[-300:]
    return run.stdout.strip()


def run_cell(cell: Cell, handout: Path, work: Path, rows: list[Row]) -> None:
    python = find_python(cell.python)
    root = work / cell.name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with zipfile.ZipFile(handout) as archive:
        archive.extractall(root)
    folder = root / TOP_FOLDER
    constraints = root / "constraints.txt"
    constraints.write_text(floors(folder / "requirements.txt") if cell.pins == "oldest" else "")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SELAB_", "VIRTUAL_ENV", "PYTHON"))}
    env |= {"PIP_CONSTRAINT": str(constraints), "PIP_DISABLE_PIP_VERSION_CHECK": "1", "MPLBACKEND": "Agg",
            "PIP_CACHE_DIR": str(work / "pip-cache"),  # the wheels, kept for the next run (a cache never picks versions)
            "PATH": f"{folder / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"}
    runner = Runner(cell, folder, env, rows, root / "log.txt")
    print(f"{cell.name}: Python {cell.python} ({python}), {cell.pins} versions, in {folder}", flush=True)

    def install() -> str:
        assert runner.sh([python, "-m", "venv", ".venv"]).returncode == 0, "venv failed"
        run = runner.sh([runner.python, "-m", "pip", "install", "-r", "requirements.txt"], timeout=3600)
        assert run.returncode == 0, f"pip exit {run.returncode}: {run.stderr[-800:]}"
        return versions(runner)

    if not runner.check("pip install -r requirements.txt", install):
        return
    runner.check("public tests on the stubs", lambda: runner.public_tests("stubs"))
    for name, source in SOLUTIONS.items():
        runner.use_models(source)
        runner.check(f"public tests on {name}", lambda: runner.public_tests("pass"))
    runner.use_models(RUN_SOLUTION)
    runner.check(f"notebook headless ({RUN_SOLUTION.stem})", runner.notebook)
    runner.check(f"compare CLI short run ({RUN_SOLUTION.stem})", runner.compare)
    if cell.pins == "oldest":
        def numpy2() -> str:
            unpinned = root / "no-constraints.txt"
            unpinned.write_text("")
            run = runner.sh([runner.python, "-m", "pip", "install", "numpy>=2"], PIP_CONSTRAINT=str(unpinned))
            assert run.returncode == 0, f"pip exit {run.returncode}: {run.stderr[-500:]}"
            probe = runner.sh([runner.python, "-c", "import numpy, torch, matplotlib.pyplot; "
                               "assert torch.from_numpy(numpy.ones(3)).sum() == 3; torch.ones(2).numpy()"])
            assert probe.returncode == 0, probe.stderr[-500:]
            return versions(runner)

        if runner.check("oldest torch with NumPy 2: install", numpy2):
            runner.use_models(SOLUTIONS["reference"])
            runner.check("oldest torch with NumPy 2: public tests on reference", lambda: runner.public_tests("pass"))
            runner.use_models(RUN_SOLUTION)
            runner.check("oldest torch with NumPy 2: compare CLI (se,attn)", lambda: runner.compare("se,attn"))


def print_table(rows: list[Row]) -> None:
    width = max(len(row.check) for row in rows)
    print(f"\n| cell | {'check'.ljust(width)} | result | s | detail |\n|---|{'-' * (width + 2)}|---|---:|---|")
    for row in rows:
        print(f"| {row.cell} | {row.check.ljust(width)} | {'pass' if row.ok else 'FAIL'} | {row.seconds:.0f} | "
              f"{row.detail.replace('|', '/')} |")
    failed = sum(not row.ok for row in rows)
    print(f"\n{len(rows) - failed} passed, {failed} failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/selab-student-matrix"))
    parser.add_argument("--cells", default=",".join(cell.name for cell in CELLS))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    handout = args.work / "handout.zip"
    build = subprocess.run([sys.executable, "-m", "grader", "handout", "--out", str(handout)], cwd=REPO)
    if build.returncode:
        raise SystemExit("student-matrix: building the handout failed")
    rows: list[Row] = []
    started = time.perf_counter()
    for cell in CELLS:
        if cell.name in args.cells.split(","):
            run_cell(cell, handout, args.work, rows)
    print(f"\nstudent-matrix: {(time.perf_counter() - started) / 60:.1f} min; logs in {args.work}/<cell>/log.txt")
    print_table(rows)
    return 0 if rows and all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
