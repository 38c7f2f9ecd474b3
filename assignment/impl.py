"""Pick which models.py runs: the student's (``assignment``) or the instructor's (``reference``)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from torch import nn

from assignment import spec

IMPLEMENTATIONS = ("assignment", "reference")


def default_impl() -> str:
    """``$SELAB_IMPL`` when set (public tests use it), else the student's own code."""
    return os.environ.get("SELAB_IMPL", "assignment")


def load_models(impl: str | None = None) -> ModuleType:
    impl = impl or default_impl()
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {IMPLEMENTATIONS}")
    try:
        return importlib.import_module(f"{impl}.models")
    except ModuleNotFoundError as error:
        if impl == "reference" and error.name in ("reference", "reference.models"):
            raise SystemExit("The reference solution is not part of the student handout; use --impl assignment.") from None
        raise


def build_model(key: str, impl: str | None = None, **kwargs) -> nn.Module:
    """Instantiate ``key`` ("base", "se", "attn" or a class name) from the chosen implementation."""
    class_name = spec.MODEL_KEYS.get(key, key)
    return getattr(load_models(impl), class_name)(**kwargs)
