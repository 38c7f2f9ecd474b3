"""Grading speed and memory: ``python -m grader grade`` on the reference, and ``grade-all`` throughput.

Each run is a fresh ``python -m grader`` process tree (what an instructor or Gradescope runs),
timed from outside and memory-sampled over the whole tree (see bench.memory).
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.memory import TreeRun, run_tree

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SUBMISSION = ROOT / "reference" / "models.py"


def _grade_command(python: str, submission: Path, out: Path, core: int | None) -> list[str]:
    pin = ["taskset", "-c", str(core)] if core is not None else []
    return [*pin, python, "-m", "grader", "grade", str(submission), "--out", str(out)]


def _score(results: Path) -> float | None:
    try:
        return float(json.loads(results.read_text())["score"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _failure(run: TreeRun, what: str) -> dict:
    tail = " | ".join(line for line in run.output.strip().splitlines()[-3:])
    return {"available": False, "reason": f"{what} exited {run.returncode}: {tail[-300:]}"}


def grade_reference(python: str, repeats: int = 5, core: int | None = None, timeout: float = 600) -> dict:
    """Grade the reference ``repeats`` times: median wall seconds, peak memory of the process tree, score."""
    if core is not None and shutil.which("taskset") is None:
        return {"available": False, "reason": "taskset (util-linux) is not installed"}
    runs, scores = [], []
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        for i in range(repeats):
            out = Path(tmp) / f"results-{i}.json"
            run = run_tree(_grade_command(python, REFERENCE_SUBMISSION, out, core), cwd=str(ROOT), timeout=timeout)
            if run.returncode != 0 or not out.is_file():
                return _failure(run, "python -m grader grade")
            runs.append(run)
            scores.append(_score(out))
    return {
        "available": True,
        "repeats": repeats,
        "pinned_core": core,
        "wall_seconds": [r.wall_seconds for r in runs],
        "median_seconds": statistics.median(r.wall_seconds for r in runs),
        "peak_rss_mib": max(r.peak_rss_mib for r in runs),
        "peak_pss_mib": max(r.peak_pss_mib for r in runs),
        "max_processes": max(r.max_processes for r in runs),
        "scores": scores,
    }


def grade_all_rate(python: str, submissions: int = 4, jobs: int = 2, timeout: float = 900) -> dict:
    """Submissions per minute of ``grade-all --jobs`` over ``submissions`` copies of the reference."""
    with tempfile.TemporaryDirectory(prefix="bench-grade-all-") as tmp:
        inbox = Path(tmp) / "submissions"
        for i in range(submissions):
            folder = inbox / f"student{i:02d}"
            folder.mkdir(parents=True)
            shutil.copy(REFERENCE_SUBMISSION, folder / "models.py")
        out = Path(tmp) / "graded"
        start = time.perf_counter()
        run = run_tree([python, "-m", "grader", "grade-all", str(inbox), "--out", str(out), "--jobs", str(jobs)],
                       cwd=str(ROOT), timeout=timeout)
        wall = time.perf_counter() - start
        if run.returncode != 0:
            return _failure(run, "python -m grader grade-all")
        scores = [_score(path) for path in sorted(out.glob("*/results.json"))]
    return {
        "available": True,
        "submissions": submissions,
        "jobs": jobs,
        "scores": scores,
        "wall_seconds": wall,
        "per_minute": submissions / wall * 60,
        "peak_rss_mib": run.peak_rss_mib,
        "peak_pss_mib": run.peak_pss_mib,
    }
