"""Run the grader's own hidden checks inside an otter grading kernel.

Otter executes the student's ``models.py`` in a Jupyter kernel, then runs each test file of the
zip's ``tests/`` (one per class, written by ``grader/otter/build.py``) in that kernel with the
kernel's globals as ``env``. This module turns the checks of one class (the very functions of
``grader/hidden``, found by ``grader.checks``) into otter test cases whose points come from
``grader/config.toml``: no check logic lives here.

The submission is reached through ``grader.subject.LocalSubject``: the classes the student's
script defined in ``env``, called in this process (no sandbox, no limits; see docs/instructors.md,
"Otter").
"""

from __future__ import annotations

import types
from collections.abc import Callable
from functools import lru_cache

from grader.checks import collect_checks, info_of, run_check
from grader.config import CLASS_ORDER, Config, load_config
from grader.grading import Grading
from grader.subject import LocalSubject


@lru_cache(maxsize=1)
def config() -> Config:
    return load_config()


def checks_of(class_name: str) -> list[tuple[Callable, str, float]]:
    """(check function, test name, points) of every check of ``class_name``, in the grader's order."""
    if class_name not in CLASS_ORDER:
        raise ValueError(f"unknown class {class_name!r}; expected one of {CLASS_ORDER}")
    found = []
    for function in collect_checks():
        info = info_of(function)
        if info.class_name == class_name:
            found.append((function, info.name, float(config().points_for(info.class_name, info.key))))
    return found


def _source_file(env: dict) -> str:
    """Where the kernel compiled the student's script, so their traceback frames can be kept."""
    for class_name in CLASS_ORDER:
        for member in vars(env.get(class_name, object)).values():
            code = getattr(member, "__code__", None)
            if code is not None:
                return code.co_filename
    return "models.py"


def subject_for(env: dict) -> LocalSubject:
    """A LocalSubject over the student's classes as the executed script left them in ``env``."""
    module = types.SimpleNamespace(**{name: env[name] for name in CLASS_ORDER if name in env})
    return LocalSubject(module, config(), _source_file(env))


def run_in_kernel(function: Callable, env: dict) -> None:
    """Run one hidden check against the student's classes, in a grading of its own (as before: otter runs
    each check on a fresh subject); raise AssertionError with its feedback if it fails."""
    import torch

    torch.set_num_threads(config().training.threads)  # as in the sandbox: the same numbers, the same verdicts
    result = run_check(function, Grading.of(subject_for(env), config()))
    if result.internal_error:
        raise RuntimeError(result.output)
    if not result.passed:
        raise AssertionError(result.output)
