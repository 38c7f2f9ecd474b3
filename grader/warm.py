"""Many gradings from one warm process: import and load once, then fork one grading per item.

Why: a cold ``python -m grader grade`` spends ~2 s of every submission starting Python, importing
torch, pytest, hypothesis and the grader, and loading the Fashion-MNIST subset. :func:`warm_up`
does that once; :func:`fork_each` then runs each grading in its own fork of this process, so every
grading is :func:`grader.runner.grade` as ``grade`` runs it (its own sandboxed children, jail,
limits, pytest session and verdict state) and its memory dies with it: nothing one grading does
reaches the next. Student code never runs in a fork itself, only in the sandboxed children each fork
starts. Used by ``grade-all`` (grader/classroom) and ``mutants`` (grader/mutants/grading.py).
The caller must not have started threads before forking (a fork copies only the forking thread).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from grader.config import Config

WARM_MODULES = ("torch", "numpy", "pytest", "hypothesis", "grader.checks", "grader.subject", "grader.runner",
                "grader.results", "grader.diagnosis", "grader.sandbox.process")
Item = TypeVar("Item")


def warm_up(config: Config) -> None:
    """Import what every grading imports, and load the subset, once, before any fork."""
    for name in WARM_MODULES:
        importlib.import_module(name)
    from grader.subset import load_subset

    load_subset(config.training.train_images, config.training.test_images)


def log_to(path: Path) -> None:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path``."""
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def _child(item, run: Callable[[object], int]) -> None:
    """The fork: run one grading, then leave without ever returning into the parent's code."""
    code = 1
    try:
        code = run(item)
    except BaseException:  # noqa: B902 - report, never return into the parent's loop
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def fork_each(items: Sequence[Item], jobs: int, run: Callable[[Item], int],
              done: Callable[[int, Item, int, float], None]) -> None:
    """Run ``run(item)`` in a fork of this process per item, ``jobs`` at a time.

    ``run`` returns the fork's exit status; ``done(index, item, status, seconds)`` is called in this
    process as each fork ends (status as ``os.waitstatus_to_exitcode``: negative for a signal).
    """
    pending = list(enumerate(items))
    running: dict[int, tuple[int, Item, float]] = {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            index, item = pending.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(item, run)
            running[pid] = (index, item, time.monotonic())
        pid, status = os.wait()
        if pid not in running:
            continue
        index, item, started = running.pop(pid)
        done(index, item, os.waitstatus_to_exitcode(status), time.monotonic() - started)
