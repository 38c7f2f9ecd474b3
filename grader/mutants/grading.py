"""Verdicts for mutants, from the real grader: one warm process forks one grading per mutant.

Why fork: ``python -m grader grade`` spends ~2 s of every submission importing torch, pytest,
hypothesis and the grader, and loading the Fashion-MNIST subset. This process does that once; each
fork then runs :func:`grader.runner.grade` itself (sandboxed child, limits, pytest over the hidden
suite: the same code path as a student's grading) in mutation mode (:class:`grader.runner.Focus`:
the mutated class's checks only, stopping at the first lost point). A fork's state dies with it, so
no mutant's grading can affect another's. No threads are started here before forking.
"""

from __future__ import annotations

import importlib
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

WARM_MODULES = ("torch", "numpy", "pytest", "hypothesis", "grader.checks", "grader.subject", "grader.runner",
                "grader.results", "grader.localise", "grader.sandbox.process")


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


def warm_up(config: Config) -> None:
    """Import what every grading imports, and load the subset, once, before any fork."""
    for name in WARM_MODULES:
        importlib.import_module(name)
    from grader.subset import load_subset

    load_subset(config.training.train_images, config.training.test_images)


def _grade_in_fork(mutant: Mutant, folder: Path, config: Config) -> None:
    """The forked child: grade the mutant as a submission, then leave without running the parent's code."""
    code = 1
    try:
        log = os.open(folder / "grader.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        from grader.runner import Focus, grade

        path = folder / "models.py"
        path.write_text(mutant.source)
        code = grade(path, folder / "results.json", config, focus=Focus(graded_classes(mutant)))
    except BaseException:  # noqa: B902 - report, never return into the parent's loop
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


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
    pending = list(enumerate(mutants))
    running: dict[int, tuple[int, Mutant, Path, float]] = {}
    verdicts: dict[int, Verdict] = {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            index, mutant = pending.pop(0)
            folder = work / folder_name(mutant)
            folder.mkdir(parents=True, exist_ok=True)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _grade_in_fork(mutant, folder, config)
            running[pid] = (index, mutant, folder, time.monotonic())
        pid, status = os.wait()
        if pid not in running:
            continue
        index, mutant, folder, started = running.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        verdicts[index] = verdict_from(mutant, folder, code, config, time.monotonic() - started)
        if progress is not None:
            progress(verdicts[index])
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
