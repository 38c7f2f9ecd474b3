"""Where two runs of a network first part: the first submodule whose input or output differs.

A *recording* is what one forward pass fed to and got from each named submodule (``record``):
``{"order": [names in call order], "types": {...}, "inputs": {name: tensor}, "outputs": {name: tensor}}``,
the network's own output under the name ``""``. ``first_departure(yours, theirs)`` walks the second
recording's call order and names the first module whose input differs (a difference *between* two
modules, e.g. a missing ReLU, shows at the input of the later one); a module whose input agrees but
whose output does not is searched inside for a deeper culprit. ``spec_departure`` does the same
against the shapes the lab's spec fixes (the public tests use it; the grader compares with the
reference). Tools read the phrase "first departs from the reference at <module>".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from assignment import spec
from assignment.recorder import first_tensor, hooked
from assignment.tolerance import ATOL, RTOL, close

PHRASE = "first departs from the reference at"
MAX_HOOKED = 200  # submodules a recording hooks (the lab's networks have about 15)


def record(model: torch.nn.Module, x: torch.Tensor, train: bool = False, partial: bool = False) -> dict:
    """One forward pass of ``model`` on ``x`` with hooks on every named submodule (first call of each).

    With ``partial``, a forward that raises still returns what was recorded before it raised (its
    output is then None): a crash at ``fc`` still shows what ``fc`` received.
    """

    def keep(value):
        tensor = first_tensor(value)
        return None if tensor is None else tensor.detach().float().clone()

    with hooked(list(model.named_modules())[:MAX_HOOKED], keep) as recording:
        try:
            model.train(train)
            with torch.no_grad():
                recording["outputs"][""] = keep(model(x.clone()))
        except Exception:
            if not partial:
                raise
            recording["outputs"][""] = None
    return recording


def shape(tensor) -> list[int] | None:
    return None if tensor is None else [int(d) for d in tensor.shape]


def differs(observed, expected, atol: float = ATOL, rtol: float = RTOL) -> bool:
    """Shapes or values differ (the one rule of assignment/tolerance.py, as the grader's checks judge)."""
    if observed is None or expected is None:
        return (observed is None) != (expected is None)
    if observed.shape != expected.shape:
        return True
    if not torch.isfinite(observed).all():
        return bool(torch.isfinite(expected).all())
    return not close(observed, expected, rtol=rtol, atol=atol)


@dataclass
class Departure:
    """Where a run parts from another: ``module`` and ``where`` ("input", "output", "missing", "gradient")."""

    module: str
    where: str
    observed: torch.Tensor | None = None
    expected: torch.Tensor | None = None
    previous: str | None = None  # the last module that agrees, if any
    detail: str = ""  # for "gradient": the parameter

    def describe(self, class_name: str, against: str = "the reference") -> str:
        """The sentence for the student, e.g. "CNN_SE first departs from the reference at se1: ..."."""
        head = f"{class_name} {PHRASE.replace('the reference', against)} {self.module}: "
        theirs = "the reference's" if against == "the reference" else "the spec's"
        after = f" (everything up to {self.previous} agrees)" if self.previous else ""
        if self.where == "missing":
            return head + f"{against} runs {self.module} here, your forward never calls it{after}"
        if self.where == "raised":
            return head + f"its input has the expected shape {shape(self.expected)}, but it raised on it: " \
                          f"check the sizes {self.module} is built with{after}"
        if self.where == "gradient":
            return head + (f"the forward pass agrees everywhere, but in the backward pass the gradient of "
                           f"{self.detail} differs ({_gradient_text(self.observed, self.expected)})")
        what = "the network's output" if self.module == "forward" else f"its {self.where}"
        if self.module == "forward":
            last = f" (the last one called is {self.previous})" if self.previous else ""
            head += f"every submodule agrees{last}, so the difference lies in forward's own code; "
            after = ""
        if self.observed is None or self.expected is None or self.observed.shape != self.expected.shape:
            return head + f"{what} is {shape(self.observed)}, {theirs} is {shape(self.expected)}{after}"
        if self.where == "output" and self.module != "forward":
            head += "its input agrees, "
        return head + f"{what} has the right shape {shape(self.expected)} but differs by up to " \
                      f"{_worst(self.observed, self.expected)}{after}"


def _worst(observed: torch.Tensor, expected: torch.Tensor) -> str:
    error = (observed.double() - expected.double()).abs()
    index = int(error.argmax())
    where = [int(i) for i in torch.unravel_index(torch.tensor(index), observed.shape)] if observed.dim() else []
    return (f"{float(error.max()):.3g} (e.g. at index {where}: {float(expected.flatten()[index]):.4g} expected, "
            f"{float(observed.flatten()[index]):.4g} yours)")


def _gradient_text(observed, expected) -> str:
    if observed is None:
        return "none reaches it: its .grad is None"
    if expected is not None and observed.shape == expected.shape:
        return f"by up to {_worst(observed, expected)}"
    return f"shape {shape(observed)}, expected {shape(expected)}"


def _parent(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def _scan(scope: str, yours: dict, theirs: dict, atol: float, rtol: float) -> Departure | None:
    missing, previous = None, None
    for name in (n for n in theirs["order"] if _parent(n) == scope):
        if name not in yours["inputs"]:
            missing = missing or Departure(name, "missing", previous=previous)
            continue
        if differs(yours["inputs"][name], theirs["inputs"][name], atol, rtol):
            return missing or Departure(name, "input", yours["inputs"][name], theirs["inputs"][name], previous)
        if differs(yours["outputs"].get(name), theirs["outputs"].get(name), atol, rtol):
            deeper = _scan(name, yours, theirs, atol, rtol)
            return missing or deeper or Departure(name, "output", yours["outputs"].get(name),
                                                  theirs["outputs"].get(name), previous)
        missing, previous = None, name  # a module skipped before one that agrees did not matter
    return missing


def first_departure(yours: dict, theirs: dict, atol: float = ATOL, rtol: float = RTOL) -> Departure | None:
    """The first module (in ``theirs``' call order) where ``yours`` parts from ``theirs``; None if they agree."""
    if not differs(yours["outputs"].get(""), theirs["outputs"].get(""), atol, rtol):
        return None  # same result by another road (e.g. F.conv2d on the modules' weights): nothing to place
    found = _scan("", yours, theirs, atol, rtol)
    if found is not None:
        return found
    called = [n for n in theirs["order"] if _parent(n) == ""]
    return Departure("forward", "output", yours["outputs"].get(""), theirs["outputs"].get(""),
                     called[-1] if called else None)


# ------------------------------------------------------------------------------ against the spec alone
def spec_input_shapes(class_name: str, batch: int, **kwargs) -> dict[str, list[int]]:
    """The input shape of each top-level module the lab's text fixes, in the order forward runs them."""
    size = kwargs.get("image_size", 28)
    half, quarter = size // 2, spec.feature_size(size)
    shapes = {"conv1": [batch, kwargs.get("in_channels", 1), size, size]}
    if class_name == "CNN_SE":
        shapes["se1"] = [batch, spec.CONV1_CHANNELS, half, half]
    shapes["conv2"] = [batch, spec.CONV1_CHANNELS, half, half]
    if class_name == "CNN_SE":
        shapes["se2"] = [batch, spec.CONV2_CHANNELS, quarter, quarter]
    if class_name == "CNN_SelfAttention":
        shapes["attn"] = [batch, spec.CONV2_CHANNELS, quarter * quarter]  # tokens are channels
    shapes["fc"] = [batch, spec.flat_features(size)]
    return shapes


def _accepted_shapes(name: str, expected: list[int]) -> list[list[int]]:
    """``attn`` may be built batch-first or not (the lab text leaves it open): [B, C, S] or [C, B, S]."""
    return [expected, [expected[1], expected[0], *expected[2:]]] if name == "attn" else [expected]


def spec_departure(recording: dict, class_name: str, batch: int, **kwargs) -> Departure | None:
    """The first top-level module whose input shape is not the spec's, or that a failing forward never calls.

    A module the forward never calls is no departure when the network's output has the spec's shape:
    the same function can use the module's weights without calling it (``F.linear(x, self.fc.weight, ...)``,
    attention by hand from ``attn.in_proj_weight``); the outputs and the parameter layout judge it.
    """
    output = recording["outputs"].get("")
    failed = shape(output) != [batch, kwargs.get("num_classes", 10)]
    previous = None
    for name, expected in spec_input_shapes(class_name, batch, **kwargs).items():
        if name not in recording["inputs"]:
            if not failed:
                continue
            return Departure(name, "missing", previous=previous)
        observed = recording["inputs"][name]
        if shape(observed) not in _accepted_shapes(name, expected):
            return Departure(name, "input", observed, torch.empty(expected), previous)
        if recording["outputs"].get(name) is None and output is None:
            return Departure(name, "raised", observed, torch.empty(expected), previous)
        previous = name
    return None


def where_it_departs(model: torch.nn.Module, class_name: str, x: torch.Tensor, **kwargs) -> str:
    """One sentence for a failing public test: where the model first leaves the spec's shapes ("" if nowhere)."""
    try:
        found = spec_departure(record(model, x, partial=True), class_name, len(x), **kwargs)
    except Exception:  # noqa: BLE001 - the test's own assertion says what failed; this only adds where
        return ""
    return "" if found is None else found.describe(class_name, against="the lab's spec") + "."
