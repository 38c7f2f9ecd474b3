"""Grade a class: one fork of a warm process per submission (grader/warm.py), ``jobs`` at a time.

Each fork runs ``grade``'s whole contract (:func:`grader.cli.grade_upload`: a sandboxed child, jail,
limits, its own pytest session and verdict state, the emergency results.json on an internal error)
with its stdout and stderr in ``<name>/grader.log``; nothing of one submission's grading is left in
the parent for the next. With more than one job the jobs are the parallelism, so each grading runs
its short trainings in its one child (``parallel_training`` off), saving a Python + torch start.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.classroom.inputs import Entry
from grader.config import CLASS_ORDER, Config
from grader.sandbox.process import CONCURRENT_VAR
from grader.warm import fork_each, log_to, warm_up


@dataclass
class Graded:
    entry: Entry
    exit_code: int = 0
    seconds: float = 0.0
    doc: dict | None = None
    class_scores: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def status(self) -> str:
        return "ok" if self.exit_code == 0 and self.doc is not None else "grader-error"


def class_scores(doc: dict) -> dict[str, float]:
    """Points per class of a results.json document (tests are named "<Class>: ...")."""
    return {c: sum(t["score"] for t in doc.get("tests", []) if t["name"].startswith(f"{c}: ")) for c in CLASS_ORDER}


def read_results(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _grade_in_fork(entry: Entry, folder: Path, config: Config, unsafe_no_sandbox: bool) -> int:
    log_to(folder / "grader.log")
    from grader.cli import grade_upload

    return grade_upload(entry.path.resolve(), folder / "results.json", lambda: config, unsafe_no_sandbox)


def grade_entries(entries: list[Entry], out: Path, config: Config, jobs: int, unsafe_no_sandbox: bool = False,
                  progress=None) -> list[Graded]:
    """Grade every entry into ``out/<name>/``; results in the order of ``entries``."""
    if jobs > 1:
        config = replace(config, parallel_training=False)
    warm_up(config)
    for entry in entries:
        (out / entry.name).mkdir(parents=True, exist_ok=True)
        (out / entry.name / "results.json").unlink(missing_ok=True)  # a stale file must not pass for a grading
    graded: dict[int, Graded] = {}

    def done(index: int, entry: Entry, code: int, seconds: float) -> None:
        doc = read_results(out / entry.name / "results.json")
        graded[index] = Graded(entry, code, seconds, doc, class_scores(doc) if doc is not None else {})
        if progress is not None:
            progress(graded[index])

    previous = os.environ.get(CONCURRENT_VAR)
    os.environ[CONCURRENT_VAR] = str(max(1, jobs))  # each fork's CPU share: the usable CPUs / jobs (sandbox/process.py)
    try:
        fork_each(entries, jobs, lambda entry: _grade_in_fork(entry, out / entry.name, config, unsafe_no_sandbox), done)
    finally:
        if previous is None:
            os.environ.pop(CONCURRENT_VAR, None)
        else:
            os.environ[CONCURRENT_VAR] = previous
    return [graded[i] for i in range(len(entries))]
