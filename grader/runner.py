"""Grade one upload: take its models.py, run the hidden suite against a sandboxed child, write results.json.

Timeline of ``python -m grader grade`` (wall time matters: students wait for it):
1. the child for the checks is spawned first, so its Python + torch import overlaps the grader's own;
2. a second child starts the three short trainings at once (``RemoteSubject.prefetch_training``),
   running on the other core while the checks run;
3. pytest runs grader/hidden in this process; every verdict is computed here;
4. every child process is killed, then results.json is written (atomically) — nothing the
   submission did can touch it afterwards.
The exit status is 0 whenever grading completed (whatever the score), 1 on an internal error (a
valid results.json saying so is written anyway). SELAB_GRADER_TIMINGS=1 prints each check's duration
to stderr.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.config import TRAINED_CLASSES, Config
from grader.submission import SubmissionError, prepare_submission

HIDDEN = Path(__file__).resolve().parent / "hidden"


@dataclass(frozen=True)
class Focus:
    """Mutation mode (``python -m grader mutants``): grade only ``classes``' checks and stop at the first
    check that loses points. A verdict there needs one lost point, not a full score; every check that
    does run runs exactly as in ``grade``. Students' grading never uses it."""

    classes: tuple[str, ...]
    stop_at_first_loss: bool = True


class _Only:
    """Deselects every check outside the focused classes."""

    def __init__(self, classes: tuple[str, ...]):
        self.classes = classes

    def pytest_collection_modifyitems(self, session, config, items):
        from grader.checks import info_of

        keep, drop = [], []
        for item in items:
            info = info_of(getattr(item, "function", None))
            (keep if info is not None and info.class_name in self.classes else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep


class GradingPlugin:
    """Hands this grading (grader/grading.py) to grader/hidden, whose ``grading`` fixture finds this plugin
    among the registered ones, and turns each hidden test's report into a CheckResult
    (``checks.check_result``, as ``run_check`` does)."""

    def __init__(self, grading):
        self.grading = grading
        self.results = []

    def pytest_runtest_setup(self, item):
        self.grading.take_notes()

    def pytest_runtest_makereport(self, item, call):
        from grader.checks import check_result, info_of

        info = info_of(getattr(item, "function", None))
        if info is None or call.when not in ("setup", "call"):
            return
        error = call.excinfo.value if call.excinfo is not None else None
        if call.when == "setup" and error is None:
            return
        self.results.append(check_result(info, self.grading, error, call.duration))


def run_suite(subject, config: Config, focus: Focus | None = None) -> list:
    """Run grader/hidden with pytest, in this process, against ``subject`` (all of it unless ``focus``), in
    one grading under ``config``."""
    from grader.grading import Grading

    collector = GradingPlugin(Grading.of(subject, config))
    plugins = [collector]
    options = []
    if focus is not None:
        plugins.append(_Only(focus.classes))
        options = ["-x"] if focus.stop_at_first_loss else []
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # no third-party plugin takes part in grading
    try:
        pytest.main([str(HIDDEN), "-c", str(HIDDEN / "pytest.ini"), "--rootdir", str(HIDDEN),
                     "-p", "no:terminal", "-p", "no:cacheprovider", *options], plugins=plugins)
    finally:
        if previous is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous
    return collector.results


def _prefetch_training(subject, config: Config, sandbox) -> None:
    """Start the three short trainings in the second child (the training checks pick the results up)."""
    from grader.hidden._common import TRAINING_KWARGS
    from grader.subset import load_subset

    try:
        data = load_subset(config.training.train_images, config.training.test_images)
    except Exception:  # noqa: BLE001 - the training checks report the problem themselves
        sandbox.stop()
        return
    jobs = [(name, TRAINING_KWARGS[name], config.training.seed) for name in TRAINED_CLASSES]
    subject.prefetch_training(jobs, data.train_images, data.train_labels, config.training.budget(), sandbox)


def grade(upload: str | os.PathLike, out: str | os.PathLike, config: Config, unsafe_no_sandbox: bool = False,
          focus: Focus | None = None) -> int:
    """Grade ``upload`` and write results.json to ``out``; return the process exit status.

    Raises NoIsolation, before anything is graded or written, when no sandbox can be set up and
    ``unsafe_no_sandbox`` is false (fail closed: the CLI prints why and what to do)."""
    from grader.sandbox.process import Sandbox, SandboxSettings, protection

    settings = SandboxSettings.from_config(config, unsafe_no_sandbox)
    in_force = f"Protection in force: {protection(settings)[0]}"
    started = time.monotonic()
    problem, internal, results, notes = None, False, None, []
    printed, dropped, events = "", 0, []
    submission = subject = first = trainer = None
    try:
        try:
            submission = prepare_submission(upload, config.limits.models_py_kib << 10)
        except SubmissionError as error:
            problem = (f"Nothing was graded: {error}. Upload your models.py (on its own, in a folder or in a zip).")
        if submission is not None:
            notes = [f"Graded file: {submission.origin}"] + submission.notes + [in_force]
            first = Sandbox(submission.models_py, settings)
            first.start()  # before torch is imported here: the imports overlap
            parallel = config.use_parallel_training() and focus is None  # mutants run in parallel jobs instead
            trainer = Sandbox(submission.models_py, settings) if parallel else None
            if trainer is not None:
                trainer.start()
            import torch

            from grader.subject import RemoteSubject

            torch.set_num_threads(1)  # the cores belong to the children
            subject = RemoteSubject(submission.models_py, config, sandbox=first)
            if trainer is not None:
                _prefetch_training(subject, config, trainer)
                trainer = None  # the subject owns it now
            first = None
            results = run_suite(subject, config, focus)
    except Exception as error:  # noqa: BLE001 - still write a valid results.json
        internal = True
        problem = f"Internal grader error ({type(error).__name__}: {error}); please tell your instructor."
    finally:
        for sandbox in (first, trainer):  # started, but never handed over (an error came first)
            if sandbox is not None:
                sandbox.stop()
        if subject is not None:
            subject.close()
            printed, dropped = subject.captured_output()
            events = subject.events
        if submission is not None:
            submission.cleanup()
    return _finish(out, config, started, results, problem, internal, notes, printed, dropped, events, focus)


def _finish(out, config: Config, started: float, results, problem, internal, notes, printed, dropped, events,
            focus: Focus | None = None) -> int:
    from grader import results as results_json
    from grader.checks import collect_checks, info_of

    checks = collect_checks()
    if focus is not None:
        checks = [c for c in checks if info_of(c).class_name in focus.classes]
    rank = {info_of(c).name: i for i, c in enumerate(checks)}
    if results is None:
        results = results_json.not_graded(checks, config, problem or "Not graded: internal grader error.")
    else:
        results = sorted(results, key=lambda r: rank.get(r.name, len(rank)))  # report in the lab's order
        expected = set(rank)
        got = {r.name for r in results}
        stopped = focus is not None and focus.stop_at_first_loss and any(not r.passed for r in results)
        if got - expected or (expected - got and not stopped):
            internal = True
            problem = (problem or "") + f"Internal grader error: checks not reported: {sorted(expected - got)}"
            names = {r.name for r in results}
            results = results + [r for r in results_json.not_graded(checks, config,
                                                                     "Not graded: internal grader error.")
                                 if r.name not in names]
        if any(r.internal_error for r in results):
            internal = True
            problem = problem or "Internal grader error in at least one check; please tell your instructor."
    if os.environ.get("SELAB_GRADER_TIMINGS"):
        import sys

        for r in results:
            print(f"{r.seconds:7.2f}s  {'pass' if r.passed else 'FAIL'}  {r.name}", file=sys.stderr)
    output = results_json.summary(results, notes, printed, dropped, events, config.limits.output_kib, problem)
    doc = results_json.document(results, time.monotonic() - started, output, config)
    results_json.write(doc, out)
    return 1 if internal else 0
