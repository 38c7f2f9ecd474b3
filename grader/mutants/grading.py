"""Verdicts for mutants, from the real grader: one warm process forks one grading per mutant.

The forks come from :mod:`grader.warm` (the same machinery as ``grade-all``): each runs
:func:`grader.runner.grade` itself (sandboxed child, limits, pytest over the hidden suite: the same
code path as a student's grading) in mutation mode (:class:`grader.runner.Focus`: the mutated
class's checks only, stopping at the first lost point). A fork's state dies with it, so no mutant's
grading can affect another's. No threads are started here before forking.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.config import CLASS_ORDER, Config
from grader.mutants.operators import MODULE, REFERENCE, Mutant
from grader.warm import fork_each, log_to, warm_up


@dataclass
class Verdict:
    mutant: Mutant
    verdict: str  # killed | survived | equivalent | error
    score: float = 0.0  # points earned in the checks that ran (mutated class; every class for "(module)")
    max_score: float = 0.0  # those classes' points
    lost: list[str] = field(default_factory=list)  # checks of those classes that lost points
    seconds: float = 0.0
    why: str = ""  # first line of the first lost check's feedback, or the equivalence check's reason

    def as_json(self) -> dict:
        m = self.mutant
        return {"id": m.id, "class": m.cls, "operator": m.operator, "line": m.line, "diff": m.diff,
                "verdict": self.verdict, "score": self.score, "max_score": self.max_score, "lost": self.lost,
                "seconds": round(self.seconds, 2), "why": self.why}


def graded_classes(mutant: Mutant) -> tuple[str, ...]:
    """The classes whose checks decide a mutant's verdict: its own, or all for a shared helper."""
    return tuple(CLASS_ORDER) if mutant.cls == MODULE else (mutant.cls,)


def folder_name(mutant: Mutant) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", mutant.id)


def _grade_in_fork(mutant: Mutant, folder: Path, config: Config) -> int:
    """In the fork: grade the mutant as a submission (its log in ``folder``)."""
    log_to(folder / "grader.log")
    from grader.runner import Focus, grade

    path = folder / "models.py"
    path.write_text(mutant.source)
    return grade(path, folder / "results.json", config, focus=Focus(graded_classes(mutant)))


def verdict_from(mutant: Mutant, folder: Path, status: int, config: Config, seconds: float) -> Verdict:
    classes = graded_classes(mutant)
    points = float(sum(config.class_points(c) for c in classes))
    try:
        doc = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError):
        doc = None
    if status != 0 or doc is None:
        why = (folder / "grader.log").read_text(errors="replace")[-400:] if (folder / "grader.log").exists() else ""
        return Verdict(mutant, "error", 0.0, points, [], seconds, f"grader exit status {status}: {why}")
    tests = [t for t in doc["tests"] if t["name"].split(": ", 1)[0] in classes]
    lost = [t["name"] for t in tests if t["score"] < t["max_score"]]
    score = float(sum(t["score"] for t in tests))
    why = next((t.get("output", "").strip().splitlines()[0] for t in tests
                if t["score"] < t["max_score"] and t.get("output", "").strip()), "")
    return Verdict(mutant, "killed" if lost else "survived", score, points, lost, seconds, why)


def grade_mutants(mutants: list[Mutant], work: Path, config: Config, jobs: int, progress=None) -> list[Verdict]:
    """Grade every mutant (``jobs`` forks at a time); verdicts in the order of ``mutants``."""
    config = replace(config, parallel_training=False)  # the jobs are the parallelism
    warm_up(config)
    folders = [work / folder_name(mutant) for mutant in mutants]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    verdicts: dict[int, Verdict] = {}

    def done(index: int, mutant: Mutant, code: int, seconds: float) -> None:
        verdicts[index] = verdict_from(mutant, folders[index], code, config, seconds)
        if progress is not None:
            progress(verdicts[index])

    fork_each(mutants, jobs, lambda mutant: _grade_in_fork(mutant, work / folder_name(mutant), config), done)
    return [verdicts[i] for i in range(len(mutants))]


def check_equivalence(verdict: Verdict, folder: Path, timeout: float = 600) -> Verdict:
    """A survivor's differential check, in a fresh interpreter (grader/mutants/equivalence.py)."""
    started = time.monotonic()
    path = folder / "models.py"
    if not path.exists():
        path.write_text(verdict.mutant.source)
    root = str(REFERENCE.parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    try:
        done = subprocess.run([sys.executable, "-m", "grader.mutants.equivalence", str(REFERENCE), str(path),
                               verdict.mutant.cls], capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=root)
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as error:
        answer = {"equivalent": False, "reason": f"the differential check did not finish ({error})"}
    seconds = verdict.seconds + time.monotonic() - started
    if answer["equivalent"]:
        return replace(verdict, verdict="equivalent", why=answer["reason"], seconds=seconds)
    return replace(verdict, why=f"not equivalent: {answer['reason']}", seconds=seconds)


def check_survivors(verdicts: list[Verdict], work: Path, jobs: int) -> list[Verdict]:
    """Run the differential check on every survivor, ``jobs`` at a time (subprocesses, from threads)."""
    survivors = [i for i, v in enumerate(verdicts) if v.verdict == "survived"]
    out = list(verdicts)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for i, checked in zip(survivors, pool.map(lambda i: check_equivalence(verdicts[i], work /
                                                                              folder_name(verdicts[i].mutant)),
                                                  survivors)):
            out[i] = checked
    return out
