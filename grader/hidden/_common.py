"""Shared pieces of the hidden checks: Hypothesis strategies over the lab's configurations, and the
check bodies that are the same for several classes (layout, reference equivalence, gradients,
short training). Every verdict is computed here, in the grader, against ``reference.models``. A check
receives its grading (grader/grading.py): the subject, the config, where to leave notes.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from hypothesis import strategies as st

from assignment import spec
from grader.checks import (CheckFailure, assert_close, check, collect_checks, fail, given, info_of, random_input,
                           reference_forward, reference_gradients, reference_model)
from grader.operations import INPUT_GRADIENT
from grader.layout import LayoutSubject, raw_subject
from grader.diagnosis import explain, gradient_departure, hints_for, layout_hints, localise, reference_recording
from grader.subject import describe_model, shape_text

#: (train, grad) combinations every equivalence check runs.
MODES = ((False, False), (False, True), (True, False), (True, True))
#: num_heads for each image size, from the lab's input layouts.
HEADS = {size: heads for _, size, heads in spec.INPUT_CONFIGS}
#: Constructor arguments of the short-training checks (Fashion-MNIST: 1x28x28, 10 classes).
TRAINING_KWARGS = {
    "CNN_Base": {"in_channels": 1, "num_classes": 10, "image_size": 28},
    "CNN_SE": {"in_channels": 1, "num_classes": 10, "image_size": 28},
    "CNN_SelfAttention": {"in_channels": 1, "num_classes": 10, "image_size": 28, "num_heads": HEADS[28]},
}
#: Configurations whose parameter layout must match the spec exactly.
LAYOUT_CONFIGS = {
    "CNN_Base": ({}, {"in_channels": 3, "image_size": 32}, {"num_classes": 5}),
    "SEBlock": ({"channels": 32}, {"channels": 64, "reduction": 4}, {"channels": 12, "reduction": 3}),
    "CNN_SE": ({}, {"reduction": 4}, {"in_channels": 3, "image_size": 32, "reduction": 8}),
    "CNN_SelfAttention": ({}, {"in_channels": 3, "image_size": 32, "num_heads": HEADS[32]}),
}
CALIBRATION_PATH = Path(__file__).resolve().parent.parent / "calibration.json"


def mode_text(train: bool, grad: bool) -> str:
    return f"{'train' if train else 'eval'} mode, {'with' if grad else 'without'} grad"


@dataclass(frozen=True)
class Case:
    """One drawn configuration: a class, its constructor arguments, a batch size and a seed."""

    class_name: str
    kwargs: dict = field(default_factory=dict)
    batch: int = 2
    height: int = 0
    width: int = 0
    seed: int = 0

    @property
    def label(self) -> str:
        return describe_model(self.class_name, self.kwargs)

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.class_name == "SEBlock":
            return self.batch, self.kwargs["channels"], self.height, self.width
        size = self.kwargs.get("image_size", 28)
        return self.batch, self.kwargs.get("in_channels", 1), size, size

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.class_name == "SEBlock":
            return self.input_shape
        return self.batch, self.kwargs.get("num_classes", 10)

    def on(self, extra: str = "") -> str:
        """e.g. 'SEBlock(channels=3, reduction=1) on a 2x3x1x1 input (eval mode)'."""
        return f"{self.label} on a {shape_text(self.input_shape)} input" + (f" ({extra})" if extra else "")

    def input(self, offset: int = 0, low: float | None = None) -> torch.Tensor:
        return random_input(self.input_shape, self.seed * 7919 + offset, low)


@st.composite
def cnn_cases(draw, class_name: str, min_batch: int = 1) -> Case:
    """1 or 3 input channels, 28 or 32 pixels, 10 or 3 classes (and reduction / heads where they apply)."""
    in_channels = draw(st.sampled_from([1, 3]))
    image_size = draw(st.sampled_from([28, 32]))
    kwargs = {"in_channels": in_channels, "image_size": image_size}
    num_classes = draw(st.sampled_from([10, 3]))
    if num_classes != 10:
        kwargs["num_classes"] = num_classes
    if class_name == "CNN_SE":
        reduction = draw(st.sampled_from([16, 4, 8]))
        if reduction != spec.DEFAULT_REDUCTION:
            kwargs["reduction"] = reduction
    if class_name == "CNN_SelfAttention":
        kwargs["num_heads"] = HEADS[image_size]
    batch = draw(st.integers(min_batch, 4))
    return Case(class_name, kwargs, batch, seed=draw(st.integers(0, 10_000)))


@st.composite
def se_cases(draw, min_batch: int = 1) -> Case:
    """SEBlock over channels 1-16, reduction 1-8, H and W 1-5, batch ``min_batch``-4."""
    kwargs = {"channels": draw(st.integers(1, 16)), "reduction": draw(st.integers(1, 8))}
    return Case("SEBlock", kwargs, draw(st.integers(min_batch, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5)),
                draw(st.integers(0, 10_000)))


# ------------------------------------------------------------------------------------------- check bodies
def check_shapes(subject, case: Case) -> None:
    model = subject.build(case.class_name, case.kwargs, case.seed)
    out = subject.forward(model, case.input())
    if tuple(out.shape) != case.output_shape:
        fail(f"{case.on('eval mode')}: the output has shape {tuple(out.shape)}, expected {case.output_shape}")


def check_layout(grading, class_name: str) -> None:
    """state_dict keys and shapes, and the trainable parameter count, equal the spec's for several configs."""
    subject = grading.subject
    raw = raw_subject(subject)
    for kwargs in LAYOUT_CONFIGS[class_name]:
        label = describe_model(class_name, kwargs)
        expected = spec.state_dict_shapes(class_name, **kwargs)
        model = raw.build(class_name, kwargs)
        state = {key: tuple(value.shape) for key, value in raw.state_dict(model).items()}
        missing = [key for key in expected if key not in state]
        unexpected = [key for key in state if key not in expected]
        wrong = [f"{key} has shape {state[key]}, expected {expected[key]}" for key in expected
                 if key in state and state[key] != expected[key]]
        problems = ([f"missing key(s): {', '.join(missing)}"] if missing else []) + \
                   ([f"unexpected key(s): {', '.join(unexpected)}"] if unexpected else []) + wrong
        if problems:
            fail(layout_message(subject, class_name, kwargs, state, problems, grading.config))
        parameters = raw.parameters(model)
        count = sum(_numel(p.shape) for p in parameters if p.requires_grad)
        expected_count = spec.parameter_count(class_name, **kwargs)
        if count != expected_count:
            fail(f"{label} has {count} trainable parameters, expected {expected_count}")


def layout_message(subject, class_name: str, kwargs: dict, observed: dict, problems: list[str], config) -> str:
    """Why the layout check fails: what to rename when the function is the lab's under another naming
    (grader/layout.py), else what differs, a likely cause, and that the weight checks point here."""
    label = describe_model(class_name, kwargs)
    layout = subject.layout_with(class_name, kwargs, observed) if isinstance(subject, LayoutSubject) else None
    if layout is not None and layout.status == "mapped":
        return (f"{label}.state_dict() names or shapes its parameters differently from the lab: "
                + "; ".join(layout.correspondence.renames()) + ". The other checks graded your model through "
                "this correspondence (only this check's points are lost); rename them as the lab text does, "
                "since the lab's tools load weights by name")
    causes = layout_hints(class_name, kwargs, spec.state_dict_shapes(class_name, **kwargs), observed, config)
    return (f"{label}.state_dict() does not match the lab's layout:\n  " + "\n  ".join(problems[:6])
            + "".join(f"\n  — {cause}" for cause in causes)
            + "\n(keep the attribute names and layer sizes of the lab text: the grader loads weights by name; the "
            f"other checks of {class_name} that exchange weights with the reference point here)")


def _numel(shape) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def load_reference_weights(subject, case: Case):
    """A subject model of ``case`` holding the weights of a seeded reference model (returned too)."""
    reference = reference_model(case.class_name, case.kwargs, case.seed)
    model = subject.build(case.class_name, case.kwargs, case.seed + 1)
    subject.load_state_dict(model, reference.state_dict())
    return model, reference


@contextmanager
def localised(grading, case: Case, key: str, find):
    """A CheckFailure raised inside gains where the model parts from the reference (grader/diagnosis.py)."""
    try:
        yield
    except CheckFailure as failure:
        name = next((info_of(f).name for f in collect_checks()
                     if info_of(f).class_name == case.class_name and info_of(f).key == key), key)
        raise CheckFailure(failure.message + explain(grading, case.class_name, key, name, find)) from None


def check_reference_weights(grading, case: Case) -> None:
    subject, config = grading.subject, grading.config
    model, reference = load_reference_weights(subject, case)
    x = case.input()
    for train, grad in MODES:
        observed = subject.forward(model, x, train=train, grad=grad)
        expected = reference_forward(reference, x, train=train, grad=grad)
        with localised(grading, case, "reference_weights",
                       lambda: localise(subject, model, reference, x, train, config)):
            assert_close(observed, expected, f"{case.on(mode_text(train, grad))} with the reference's weights",
                         "the output", config)


def check_own_weights(grading, case: Case) -> None:
    """The student's freshly initialised weights, loaded into the reference, give the student's outputs."""
    subject, config = grading.subject, grading.config
    model = subject.build(case.class_name, case.kwargs, case.seed)
    state = subject.state_dict(model)
    try:
        reference = reference_model(case.class_name, case.kwargs, state=state)
    except (RuntimeError, ValueError) as error:
        fail(f"{case.label}.state_dict() does not load into the reference architecture: "
             f"{str(error).splitlines()[0][:300]}")
    x = case.input()
    for train in (False, True):
        observed = subject.forward(model, x, train=train)
        expected = reference_forward(reference, x, train=train)
        with localised(grading, case, "own_weights", lambda: localise(subject, model, reference, x, train, config)):
            assert_close(observed, expected, f"{case.on(mode_text(train, False))} with your own initial weights "
                                             "loaded into the reference", "the output", config)


def check_gradients(grading, case: Case) -> None:
    subject, config = grading.subject, grading.config
    model, reference = load_reference_weights(subject, case)
    x = case.input()
    grad_output = random_input(case.output_shape, case.seed * 7919 + 1)
    observed = subject.gradients(model, x, grad_output)
    expected = reference_gradients(reference, x, grad_output)
    where = f"{case.on('train mode')} with the reference's weights, backward of sum(output * random weights)"

    def find():
        found = localise(subject, model, reference, x, True, config)
        if found is not None:
            return found
        theirs = reference_recording(reference, x, True)
        departure = gradient_departure(observed, expected, theirs, config)
        return None if departure is None else (departure, hints_for(departure, theirs, theirs, config))

    with localised(grading, case, "gradients", find):
        _compare_gradients(observed, expected, where, config)


def _compare_gradients(observed, expected, where, config) -> None:
    """Every parameter's gradient, then the input's (a path cut inside the model shows only there)."""
    for name, want in expected.items():
        if name == INPUT_GRADIENT:
            _compare_input_gradient(observed.get(name), want, where, config)
            continue
        if name not in observed:
            fail(f"{where}: your model has no parameter named {name}")
        got = observed[name]
        if got is None:
            fail(f"{where}: no gradient reached {name} (its .grad is None): is it used in forward, and not "
                 "detached or created inside forward?")
        if float(want.abs().max()) > 0 and float(got.abs().max()) == 0:
            fail(f"{where}: the gradient of {name} is zero everywhere, expected a non-zero gradient")
        assert_close(got, want, where, f"the gradient of {name}", config)


def _compare_input_gradient(got, want, where, config) -> None:
    if got is None:
        fail(f"{where}: no gradient flows back to the input: is the output detached (.detach(), .data, "
             "torch.no_grad())?")
    assert_close(got, want, where, "the gradient of the loss with respect to the input (every path from the "
                                   "input to the output must carry gradient, none detached)", config)


# ------------------------------------------------------------------------------------------- shared checks
def equivalence_checks(class_name: str, cases) -> dict:
    """The checks that compare a class with the reference (``cases``: its Hypothesis strategy), as
    ``{test name: check}`` for a hidden module's namespace."""

    @check(class_name, "reference_weights", "same outputs as the reference when given the reference's weights")
    @given(case=cases)
    def test_reference_weights(grading, case):
        check_reference_weights(grading, case)

    @check(class_name, "own_weights", "your initial weights give the same outputs in the reference")
    @given(case=cases)
    def test_own_weights(grading, case):
        check_own_weights(grading, case)

    @check(class_name, "gradients", "every parameter receives the reference's gradient")
    @given(case=cases)
    def test_gradients(grading, case):
        check_gradients(grading, case)

    return {"test_reference_weights": test_reference_weights, "test_own_weights": test_own_weights,
            "test_gradients": test_gradients}


def shared_cnn_checks(class_name: str) -> dict:
    """The checks every CNN shares (shapes, layout, the equivalence checks, the short training), as
    ``{test name: check}``: a hidden module takes them with ``globals().update(shared_cnn_checks(CLASS))``.
    Results list them in the order of the class's ``[points]`` table (grader/checks.py, ``check_rank``)."""

    @check(class_name, "shapes", "output shape [batch, num_classes] for 1 or 3 channels and 28 or 32 pixels")
    @given(case=cnn_cases(class_name))
    def test_shapes(grading, case):
        check_shapes(grading.subject, case)

    @check(class_name, "layout", "state_dict keys/shapes and parameter count match the lab's layout")
    def test_layout(grading):
        check_layout(grading, class_name)

    @check(class_name, "training", "learns Fashion-MNIST in a short training", training=True)
    def test_training(grading):
        check_training(grading, class_name)

    return {"test_shapes": test_shapes, "test_layout": test_layout,
            **equivalence_checks(class_name, cnn_cases(class_name)), "test_training": test_training}


def check_training(grading, class_name: str) -> None:
    from grader.subset import load_subset

    subject, config = grading.subject, grading.config
    training = config.training
    data = load_subset(training.train_images, training.test_images)
    kwargs = TRAINING_KWARGS[class_name]
    label = describe_model(class_name, kwargs)
    state = subject.short_train(class_name, kwargs, training.seed, data.train_images, data.train_labels,
                                training.budget())
    try:
        model = reference_model(class_name, kwargs, state=state)
    except (RuntimeError, ValueError) as error:
        fail(f"the weights of {label} after the short training do not fit the reference architecture: "
             f"{str(error).splitlines()[0][:300]}")
    if not all(torch.isfinite(value).all() for value in state.values()):
        fail(f"{label}: the short training produced NaN or infinite weights")
    accuracy = evaluate(model, data.test_images, data.test_labels)
    threshold = training.threshold[class_name]
    grading.note(f"{accuracy:.1%} accuracy on {len(data.test_labels)} held-out images after the short training "
         f"(at least {threshold:.1%} needed{reference_range(class_name).replace(' (', '; ').rstrip(')')}).")
    if accuracy < threshold:
        fail(f"{label} after the short training ({training.train_images} images, {training.epochs} epoch(s), "
             f"batch {training.batch_size}, AdamW, seed {training.seed}): {accuracy:.1%} accuracy on "
             f"{len(data.test_labels)} held-out Fashion-MNIST images, expected at least {threshold:.1%}"
             f"{reference_range(class_name)}. Does your model learn (initialisation, forward, every layer used)?")


@torch.no_grad()
def evaluate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 200) -> float:
    """Top-1 accuracy in eval mode (channels_last: oneDNN runs these convolutions about twice as fast).

    Batches of 200: a batch of 1000 held ~150 MB of activations in the grader's process (conv1's output
    alone is 100 MB), the largest part of its peak memory; 200 is as fast on CPU.
    """
    model.eval().to(memory_format=torch.channels_last)
    images = images.contiguous(memory_format=torch.channels_last)
    correct = sum(int((model(images[i:i + batch]).argmax(1) == labels[i:i + batch]).sum())
                  for i in range(0, len(labels), batch))
    return correct / len(labels)


def reference_range(class_name: str) -> str:
    try:
        summary = json.loads(CALIBRATION_PATH.read_text())["summary"][class_name]
        return f" (the reference reaches {summary['min']:.1%} to {summary['max']:.1%} over {summary['seeds']} seeds)"
    except (OSError, KeyError, ValueError, TypeError):
        return ""


__all__ = ["Case", "MODES", "TRAINING_KWARGS", "cnn_cases", "se_cases", "check_shapes", "check_layout",
           "check_reference_weights", "check_own_weights", "check_gradients", "check_training",
           "load_reference_weights", "mode_text", "equivalence_checks", "shared_cnn_checks"]
