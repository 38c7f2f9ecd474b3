"""The machinery behind the hidden checks: metadata, verdict helpers, outcomes and ``run_checks``.

A check is a function in ``grader/hidden/test_*.py`` decorated with :func:`check`; it receives a
*subject* (grader/subject.py) and raises when the submission is wrong. Pytest runs the checks
(``python -m grader grade`` does, through grader/hidden/conftest.py); :func:`run_checks` runs the
very same functions without pytest, e.g. from an otter test file::

    from grader.checks import run_checks
    from grader.subject import LocalSubject
    results = run_checks(LocalSubject(models_module), classes=["SEBlock"])
    # -> [CheckResult(class_name="SEBlock", key="shapes", name="SEBlock: ...", score=3, max_score=3, ...)]

or one check at a time: ``run_check(function, Grading.of(subject, config))``. A check receives the
grading it runs in (grader/grading.py: config, subject, notes), never a global. Every verdict is
computed here, in the grader's process, against ``reference.models``: the subject only ever returns
plain tensors.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable

import torch

from assignment.tolerance import allowance, close
from grader.config import CLASS_ORDER, Config, load_config
from grader.grading import Grading
from grader.operations import INPUT_GRADIENT, seed_cpu
from grader.sandbox.process import SandboxFailure, StudentCodeError

HIDDEN_MODULES = ("grader.hidden.test_cnn_base", "grader.hidden.test_seblock", "grader.hidden.test_cnn_se",
                  "grader.hidden.test_self_attention")


# ------------------------------------------------------------------------------------------- metadata
@dataclass(frozen=True)
class CheckInfo:
    class_name: str
    key: str  # entry of [points.<class_name>] in config.toml
    title: str
    training: bool = False

    @property
    def name(self) -> str:
        return f"{self.class_name}: {self.title}"


def check(class_name: str, key: str, title: str, training: bool = False) -> Callable:
    """Mark a hidden test as a graded check; its points are ``[points.<class_name>] <key>``."""
    if class_name not in CLASS_ORDER:
        raise ValueError(f"unknown class {class_name}")

    def mark(function):
        function.selab_check = CheckInfo(class_name, key, title, training)
        return function

    return mark


def info_of(function) -> CheckInfo | None:
    """The :class:`CheckInfo` of a check function (None for anything else)."""
    return getattr(function, "selab_check", None)


def check_rank(info: CheckInfo) -> tuple[int, int]:
    """Where a check is listed: class by class (the lab's order), then in its ``[points.<class>]`` table's
    order (grader/config.toml names every check once; shared checks are defined in grader/hidden/_common.py,
    so where a function is written says nothing)."""
    keys = _points_order().get(info.class_name, ())
    return CLASS_ORDER.index(info.class_name), keys.index(info.key) if info.key in keys else len(keys)


@lru_cache(maxsize=1)
def _points_order() -> dict[str, tuple[str, ...]]:
    """Each class's check keys in config.toml's order, read once (an override merges values, never reorders;
    it was parsed again for every check: 52 times per grading)."""
    return {name: tuple(table) for name, table in load_config().points.items()}


def collect_checks(modules: Iterable[str] = HIDDEN_MODULES) -> list[Callable]:
    """Every check function, in :func:`check_rank` order."""
    found = []
    for name in modules:
        module = importlib.import_module(name)
        for value in vars(module).values():
            info = info_of(value) if callable(value) else None
            if info is not None:
                found.append((check_rank(info), value))
    return [function for _, function in sorted(found, key=lambda item: item[0])]


# ------------------------------------------------------------------------------------------- failures
class CheckFailure(AssertionError):
    """A verdict against the submission; ``message`` is written for the student."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def fail(message: str):
    raise CheckFailure(message)


def assert_close(observed: torch.Tensor, expected: torch.Tensor, case: str, what: str, config: Config,
                 index_names: tuple[str, ...] = ("sample",)) -> None:
    """``observed`` equals ``expected`` within the configured tolerance; else a readable CheckFailure."""
    if tuple(observed.shape) != tuple(expected.shape):
        fail(f"{case}: {what} has shape {tuple(observed.shape)}, expected {tuple(expected.shape)}")
    observed64, expected64 = observed.double(), expected.double()
    if not torch.isfinite(observed64).all():
        bad = (~torch.isfinite(observed64)).nonzero()[0].tolist()
        fail(f"{case}: {what} contains NaN or infinity (first at index {bad}); expected finite values")
    if close(observed64, expected64, rtol=config.rtol, atol=config.atol):
        return
    error = (observed64 - expected64).abs()
    allowed = allowance(expected64, rtol=config.rtol, atol=config.atol)
    worst = int((error - allowed).argmax())
    index = list(torch.unravel_index(torch.tensor(worst), observed.shape)) if observed.dim() else []
    index = [int(i) for i in index]
    fail(f"{case}: {what} differs from the reference by up to {float(error.max()):.3g} (tolerance "
         f"{config.atol:g} + {config.rtol:g} x |expected|); e.g. at index {index}: expected "
         f"{float(expected64.flatten()[worst]):.6g}, got {float(observed64.flatten()[worst]):.6g}")


# ------------------------------------------------------------------------------------------- reference side
def reference_model(class_name: str, kwargs: dict, seed: int = 0, state: dict | None = None) -> torch.nn.Module:
    """The reference network, seeded like the subject's ``build`` (or loaded with ``state``)."""
    from reference import models as reference_models

    seed_cpu(seed)
    model = getattr(reference_models, class_name)(**kwargs)
    if state is not None:
        model.load_state_dict(state, strict=True)
    return model


def reference_forward(model: torch.nn.Module, x: torch.Tensor, train: bool = False, grad: bool = False) -> torch.Tensor:
    model.train(train)
    with torch.set_grad_enabled(grad):
        return model(x.clone()).detach()


def reference_gradients(model: torch.nn.Module, x: torch.Tensor, grad_output: torch.Tensor) -> dict[str, torch.Tensor]:
    """The reference's gradients, as ``Operations.gradients`` returns them: every parameter's, then the input's."""
    model.train(True)
    model.zero_grad(set_to_none=True)
    leaf = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (model(leaf.clone()) * grad_output).sum().backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    grads[INPUT_GRADIENT] = leaf.grad.detach().clone()
    return grads


def random_input(shape, seed: int, low: float | None = None) -> torch.Tensor:
    """Seeded standard-normal data; with ``low``, magnitudes are pushed to at least ``low`` (no zeros)."""
    generator = torch.Generator().manual_seed(int(seed))
    x = torch.randn(*shape, generator=generator)
    if low is not None:
        x = torch.where(x >= 0, x + low, x - low)
    return x


# ------------------------------------------------------------------------------------------- outcomes
@dataclass
class CheckResult:
    class_name: str
    key: str
    name: str
    max_score: float
    score: float
    passed: bool
    output: str
    internal_error: bool = False
    limit: str | None = None  # reason of a sandbox failure ("timeout", "crash", ...)
    seconds: float = 0.0


def _flaky_inner(error: BaseException) -> BaseException | None:
    for inner in getattr(error, "exceptions", ()) or ():
        if isinstance(inner, (CheckFailure, StudentCodeError, SandboxFailure)):
            return inner
    return None


def outcome(error: BaseException | None, config: Config) -> tuple[bool, str, bool, str | None]:
    """(passed, message for the student, internal grader error?, limit reason) for what a check raised."""
    if error is None:
        return True, "", False, None
    if isinstance(error, CheckFailure):
        return False, error.message, False, None
    if isinstance(error, StudentCodeError):
        if error.kind == "not_implemented":
            return False, error.message + (f"\n(while {error.during})" if error.during else ""), False, None
        lead = f"While {error.during}, your code" if error.during else "Your code"
        if error.kind == "memory":
            return False, (f"{lead} ran out of memory (the limit is {config.limits.memory_mib} MiB):\n"
                           f"{error.message}"), False, None
        from grader.diagnosis import error_hints

        causes = "".join(f"\n— {cause}" for cause in error_hints(error.message, config))
        return False, f"{lead} raised an error:\n{error.message}{causes}", False, None
    if isinstance(error, SandboxFailure):
        return False, error.message, False, error.reason
    name = type(error).__name__
    if isinstance(error, BaseExceptionGroup) and name not in ("Flaky", "FlakyFailure"):
        inner = _flaky_inner(error)  # several distinct failures: report the first verdict
        if inner is not None:
            return outcome(inner, config)
    if name in ("Flaky", "FlakyFailure"):
        inner = _flaky_inner(error)
        text = outcome(inner, config)[1] if inner is not None else "the check failed only some of the times it ran"
        return False, text + "\n(this failure was not reproducible: does your code use randomness or global state?)", \
            False, None
    return False, ("internal grader error while running this check; please tell your instructor "
                   f"({name})"), True, None


def log_internal_error(check_name: str, error: BaseException) -> None:
    """The traceback of a grader bug, for the instructor (the grader's stderr), never for results.json."""
    text = "".join(traceback.format_exception(error))
    print(f"grader: internal error in check {check_name!r}:\n{text}", file=sys.__stderr__, flush=True)


def time_limit(info: CheckInfo | None, config: Config) -> float:
    """The seconds a check may run: the training limit for a training check, else the per-check limit."""
    return config.limits.training_seconds if info is not None and info.training else config.limits.check_seconds


def check_result(info: CheckInfo, grading: Grading, error: BaseException | None, seconds: float) -> CheckResult:
    """What one run of a check comes to: the verdict on what it raised (:func:`outcome`), its points and,
    when it passed, its notes. The one way a run becomes a result, for ``run_check`` and the pytest plugin
    (grader/runner.py) alike."""
    passed, output, internal, limit = outcome(error, grading.config)
    if internal:
        log_internal_error(info.name, error)
    notes = grading.take_notes()
    max_score = float(grading.config.points_for(info.class_name, info.key))
    return CheckResult(info.class_name, info.key, info.name, max_score, max_score if passed else 0.0, passed,
                       notes if passed else output, internal, limit, seconds)


def run_check(function: Callable, grading: Grading) -> CheckResult:
    """Run one check in ``grading`` (``Grading.of(subject, config)``; one grading for all the checks of a
    submission) and turn what happens into a :class:`CheckResult`."""
    info = info_of(function)
    subject = grading.subject
    subject.start_check(time_limit(info, grading.config))
    started = time.monotonic()
    error = None
    grading.take_notes()
    try:
        function(grading)
    except BaseException as raised:  # noqa: B902 - SandboxFailure is a BaseException on purpose
        if isinstance(raised, (KeyboardInterrupt, SystemExit)):
            raise
        error = raised
    finally:
        subject.end_check()
    return check_result(info, grading, error, time.monotonic() - started)


def run_checks(subject, config: Config | None = None, classes: Iterable[str] | None = None) -> list[CheckResult]:
    """Run every hidden check (optionally only those of ``classes``) against ``subject``, in order, in one
    grading under ``config`` (grader/config.toml when None)."""
    grading = Grading.of(subject, config or load_config())
    wanted = set(classes) if classes is not None else set(CLASS_ORDER)
    return [run_check(function, grading) for function in collect_checks()
            if info_of(function).class_name in wanted]


# ------------------------------------------------------------------------------------------- hypothesis
def given(**strategies) -> Callable:
    """``hypothesis.given``, applied when the check runs, under the settings of the grading it runs in
    (``Grading.hypothesis``: that grading's config decides ``max_examples``, whatever was in force when
    grader/hidden was imported). The check seen by pytest and ``run_check`` takes the grading only."""
    import hypothesis

    def decorate(function):
        def run(grading: Grading):
            return grading.hypothesis(hypothesis.given(**strategies)(function))(grading)

        run.__name__, run.__qualname__, run.__doc__ = function.__name__, function.__qualname__, function.__doc__
        run.__module__ = function.__module__
        return run

    return decorate
