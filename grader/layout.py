"""Equivalence up to layout (issue 16): grade the function a student wrote, not how its parameters are named.

A student whose ``state_dict`` differs from the lab's only in names or in size-1 dimensions (``self.fc1``
instead of ``fc[0]``, a 1x1 ``Conv2d`` instead of a ``Linear``, an ``nn.Sequential`` around conv + ReLU +
pool) computes the same function; the layout check takes its points, the functional checks should not.
:class:`LayoutSubject` wraps the subject the checks get (grader/subject.py, remote or local) and, where a
*correspondence* exists, translates by name: weights go into the student's model mapped, state dicts,
gradients and recordings come back mapped. The correspondence is computed here, in the grader, from the
child's ``state_dict`` (names and shapes, buffers included); the child only ever receives tensors.

A correspondence pairs every reference tensor with one student tensor, one-to-one, with the same shape up
to size-1 dimensions, registration order breaking ties. Where ties leave several assignments (e.g. an SE
block whose hidden width equals its channels), each is tried with the reference's weights and the first
under which the outputs agree is kept (the registration-order one when none does: the checks then fail on
the function). A student tensor with no counterpart (biases, BatchNorm, a learnable scale) or a reference
tensor with none means no correspondence: another function class, graded as before ("strict").
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import torch

from assignment.localise import differs
from grader.checks import fail, reference_forward, reference_model
from grader.operations import INPUT_GRADIENT

#: At most this many assignments are tried for one configuration (ties are rare and small in the lab).
MAX_ASSIGNMENTS = 24


def canonical(shape) -> tuple[int, ...]:
    """A shape without its size-1 dimensions: Linear (r, C) and 1x1 Conv2d (r, C, 1, 1) are both (r, C)."""
    return tuple(int(d) for d in shape if int(d) != 1)


def shape_text(shape) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


@dataclass(frozen=True)
class Correspondence:
    """Reference key -> student key, with both shapes (a reshape translates between them)."""

    pairs: tuple[tuple[str, str], ...]
    reference_shapes: dict = field(hash=False, compare=False)
    student_shapes: dict = field(hash=False, compare=False)

    def to_student(self, state: dict) -> dict:
        return {mine: state[theirs].reshape(self.student_shapes[mine]) for theirs, mine in self.pairs}

    def to_reference(self, state: dict) -> dict:
        """Student tensors under the reference's names (missing or None values are kept as None)."""
        out = {}
        for theirs, mine in self.pairs:
            value = state.get(mine)
            out[theirs] = None if value is None else value.reshape(self.reference_shapes[theirs])
        return out

    def renames(self) -> list[str]:
        """What to rename, e.g. "your fc1.weight [16, 32] is the lab's fc.0.weight"."""
        return [f"your {mine} {shape_text(self.student_shapes[mine])} is the lab's {theirs}"
                + ("" if tuple(self.student_shapes[mine]) == tuple(self.reference_shapes[theirs])
                   else f" {shape_text(self.reference_shapes[theirs])}")
                for theirs, mine in self.pairs if theirs != mine
                or tuple(self.student_shapes[mine]) != tuple(self.reference_shapes[theirs])]

    def modules(self) -> dict[str, str]:
        """Student module -> reference module, from the owners of the paired tensors."""
        owner = lambda key: key.rsplit(".", 1)[0] if "." in key else ""  # noqa: E731
        return {owner(mine): owner(theirs) for theirs, mine in self.pairs if owner(mine) != owner(theirs)}


def assignments(expected: dict, observed: dict) -> list[Correspondence]:
    """Every correspondence between ``expected`` (reference key -> shape, registration order) and
    ``observed`` (the student's), registration order first; empty when there is none."""
    if len(expected) != len(observed):
        return []
    groups: dict[tuple, tuple[list, list]] = {}
    for key, shape in expected.items():
        groups.setdefault(canonical(shape), ([], []))[0].append(key)
    for key, shape in observed.items():
        if canonical(shape) not in groups:
            return []
        groups[canonical(shape)][1].append(key)
    if any(len(theirs) != len(mine) for theirs, mine in groups.values()):
        return []
    choices = [[list(zip(theirs, order)) for order in itertools.permutations(mine)] for theirs, mine in groups.values()]
    if math.prod(len(c) for c in choices) > MAX_ASSIGNMENTS:
        choices = [c[:1] for c in choices]  # registration order only
    return [Correspondence(tuple(sorted((pair for group in combo for pair in group),
                                        key=lambda p: list(expected).index(p[0]))), dict(expected), dict(observed))
            for combo in itertools.product(*choices)]


@dataclass(frozen=True)
class Layout:
    """How a student's class (for one set of constructor arguments) lines up with the reference's."""

    status: str  # "same": the lab's layout; "mapped": a correspondence; "none": no correspondence (or strict)
    correspondence: Correspondence | None = None
    expected: dict = field(default_factory=dict, hash=False, compare=False)
    observed: dict = field(default_factory=dict, hash=False, compare=False)


def layout_pointer(class_name: str) -> str:
    """The one line every check but the layout check gives when weights cannot be exchanged."""
    from grader.checks import collect_checks, info_of

    name = next((info_of(f).name for f in collect_checks()
                 if info_of(f).class_name == class_name and info_of(f).key == "layout"), f"{class_name}: layout")
    return (f"not checked: your {class_name}'s parameters cannot be matched with the lab's, so the grader cannot "
            f"exchange weights with the reference; the check \"{name}\" says what differs")


class LayoutSubject:
    """The subject the checks get: the raw subject (``raw``), translated where the layouts correspond.

    Every operation not translated here (forward, start_check, release, ...) is the raw subject's.
    """

    def __init__(self, subject, config):
        self.raw = subject
        self.config = config
        self._layouts: dict[tuple, Layout] = {}
        self._models: dict = {}  # ModelRef -> (class_name, kwargs)

    def __getattr__(self, name):
        return getattr(self.raw, name)

    # ------------------------------------------------------------------ the correspondence
    @staticmethod
    def _key(class_name: str, kwargs: dict) -> tuple:
        return class_name, tuple(sorted(kwargs.items()))

    def layout_of(self, ref) -> Layout:
        class_name, kwargs = self._models.get(ref, (ref.class_name, {}))
        if self._key(class_name, kwargs) not in self._layouts:
            observed = {name: tuple(value.shape) for name, value in self.raw.state_dict(ref).items()}
            return self.layout_with(class_name, kwargs, observed)
        return self._layouts[self._key(class_name, kwargs)]

    def layout_with(self, class_name: str, kwargs: dict, observed: dict) -> Layout:
        """The layout of ``class_name(**kwargs)`` whose state_dict has the shapes ``observed`` (cached)."""
        key = self._key(class_name, kwargs)
        if key not in self._layouts:
            self._layouts[key] = self._work_out(class_name, kwargs, observed)
        return self._layouts[key]

    def layout_for(self, class_name: str, kwargs: dict, seed: int = 0) -> Layout:
        key = self._key(class_name, kwargs)
        if key not in self._layouts:
            ref = self.build(class_name, kwargs, seed)
            try:
                self.layout_of(ref)
            finally:
                self.release(ref)
        return self._layouts[key]

    def _work_out(self, class_name: str, kwargs: dict, observed: dict) -> Layout:
        reference = reference_model(class_name, kwargs)
        expected = {name: tuple(value.shape) for name, value in reference.state_dict().items()}
        if observed == expected:
            return Layout("same", None, expected, observed)
        found = assignments(expected, observed) if self.config.layout == "map" else []
        if not found:
            return Layout("none", None, expected, observed)
        chosen = found[0] if len(found) == 1 else self._agreeing(class_name, kwargs, reference, found)
        return Layout("mapped", chosen, expected, observed)

    def _agreeing(self, class_name: str, kwargs: dict, reference, found: list[Correspondence]) -> Correspondence:
        """The first assignment under which the student's outputs agree with the reference's."""
        from grader.hidden._common import Case  # the checks' own input shapes

        case = Case(class_name, dict(kwargs), 2, 3, 3, seed=1)
        x = case.input()
        expected = reference_forward(reference.eval(), x)
        probe = self.raw.build(class_name, kwargs, 0)
        try:
            for candidate in found:
                self.raw.load_state_dict(probe, candidate.to_student(reference.state_dict()))
                observed = self.raw.forward(probe, x)
                if not differs(observed, expected, self.config.atol, self.config.rtol):
                    return candidate
        finally:
            self.raw.release(probe)
        return found[0]

    def _exchangeable(self, ref) -> Layout:
        layout = self.layout_of(ref)
        if layout.status == "none":
            fail(f"{ref.label}: {layout_pointer(ref.class_name)}")
        return layout

    # ------------------------------------------------------------------ translated operations
    def build(self, class_name: str, kwargs: dict, seed: int = 0):
        ref = self.raw.build(class_name, kwargs, seed)
        self._models[ref] = (class_name, dict(kwargs))
        return ref

    def release(self, ref) -> None:
        self._models.pop(ref, None)
        self.raw.release(ref)

    def load_state_dict(self, ref, state: dict) -> None:
        layout = self._exchangeable(ref)
        self.raw.load_state_dict(ref, state if layout.status == "same" else layout.correspondence.to_student(state))

    def state_dict(self, ref) -> dict:
        layout = self._exchangeable(ref)
        state = self.raw.state_dict(ref)
        return state if layout.status == "same" else layout.correspondence.to_reference(state)

    def parameters(self, ref):
        return self.raw.parameters(ref)

    def gradients(self, ref, x: torch.Tensor, grad_output: torch.Tensor) -> dict:
        grads = self.raw.gradients(ref, x, grad_output)
        layout = self.layout_of(ref)
        if layout.status != "mapped":
            return grads
        return layout.correspondence.to_reference(grads) | {INPUT_GRADIENT: grads.get(INPUT_GRADIENT)}

    def record(self, ref, x: torch.Tensor, train: bool = False) -> dict:
        recording = self.raw.record(ref, x, train)
        layout = self.layout_of(ref)
        return recording if layout.status != "mapped" else renamed(recording, layout.correspondence.modules())

    def short_train(self, class_name: str, kwargs: dict, seed: int, images, labels, budget: dict) -> dict:
        state = self.raw.short_train(class_name, kwargs, seed, images, labels, budget)
        layout = self.layout_for(class_name, kwargs, seed)
        if layout.status == "none":
            from grader.subject import describe_model

            fail(f"{describe_model(class_name, kwargs)}: {layout_pointer(class_name)}")
        return state if layout.status == "same" else layout.correspondence.to_reference(state)


def renamed(recording: dict, modules: dict[str, str]) -> dict:
    """A recording under the reference's module names (the student's other modules keep theirs unless a
    mapped name takes their place), so the localisation of a mapped model names the lab's modules."""
    def rename(name: str) -> str:
        for mine in sorted(modules, key=len, reverse=True):
            if name == mine or name.startswith(mine + "."):
                return modules[mine] + name[len(mine):]
        return name

    taken = set(modules.values())
    keep = lambda name: rename(name) != name or name not in taken  # noqa: E731
    order = [rename(n) for n in recording["order"] if keep(n)]
    pick = lambda table: {rename(k): v for k, v in table.items() if keep(k)}  # noqa: E731
    return {"order": order, "types": pick(recording["types"]), "inputs": pick(recording["inputs"]),
            "outputs": pick(recording["outputs"])}


def layout_subject(subject, config) -> LayoutSubject:
    """The one LayoutSubject of ``subject`` (made on first use and kept on it; a LayoutSubject is returned
    as it is), so every path that runs a check (``grader.grading.Grading.of``: pytest, run_check, the otter
    bridge) shares its layouts."""
    if isinstance(subject, LayoutSubject):
        return subject
    wrapped = getattr(subject, "_layout_subject", None)
    if wrapped is None:
        wrapped = subject._layout_subject = LayoutSubject(subject, config)
    return wrapped


def raw_subject(subject):
    """The untranslated subject (the layout check judges the student's own names)."""
    return getattr(subject, "raw", subject) if isinstance(subject, LayoutSubject) else subject


__all__ = ["Correspondence", "Layout", "LayoutSubject", "assignments", "canonical", "layout_pointer",
           "layout_subject", "raw_subject"]
