"""Equivalence up to layout (issue 16, grader/layout.py): which layouts correspond, and that weights,
gradients and trained state travel through the correspondence, in-process (LocalSubject) and fast."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from assignment.tolerance import close
from grader.checks import CheckFailure, assert_close, random_input, reference_gradients, reference_model
from grader.config import load_config
from grader.layout import assignments, layout_subject, raw_subject
from grader.subject import LocalSubject

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "submissions"
CONFIG = load_config()


def _module(kind: str, name: str):
    spec = importlib.util.spec_from_file_location(f"layout_{kind}_{name}", CORPUS / kind / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_linear_corresponds_to_a_1x1_convolution():
    found = assignments({"fc.0.weight": (4, 8), "fc.2.weight": (8, 4)},
                        {"fc1.weight": (4, 8, 1, 1), "fc2.weight": (8, 4, 1, 1)})
    assert [c.pairs for c in found] == [(("fc.0.weight", "fc1.weight"), ("fc.2.weight", "fc2.weight"))]
    assert found[0].renames() == ["your fc1.weight [4, 8, 1, 1] is the lab's fc.0.weight [4, 8]",
                                  "your fc2.weight [8, 4, 1, 1] is the lab's fc.2.weight [8, 4]"]


@pytest.mark.parametrize("observed", [
    {"fc1.weight": (4, 8), "fc1.bias": (4,), "fc2.weight": (8, 4), "fc2.bias": (8,)},  # extra biases
    {"fc1.weight": (4, 8)},  # a reference tensor without counterpart
    {"fc1.weight": (5, 8), "fc2.weight": (8, 5)},  # another width
    {"fc1.weight": (4, 8), "fc2.weight": (8, 4), "bn.running_mean": (8,)},  # a buffer
])
def test_no_correspondence_without_a_one_to_one_pairing(observed):
    assert assignments({"fc.0.weight": (4, 8), "fc.2.weight": (8, 4)}, observed) == []


def test_ties_give_every_assignment_registration_order_first():
    found = assignments({"a.weight": (4, 4), "b.weight": (4, 4)}, {"x.weight": (4, 4), "y.weight": (4, 4)})
    assert [c.pairs for c in found] == [(("a.weight", "x.weight"), ("b.weight", "y.weight")),
                                       (("a.weight", "y.weight"), ("b.weight", "x.weight"))]


@pytest.mark.parametrize("name, class_name, kwargs", [
    ("layout_se_fc1_fc2", "SEBlock", {"channels": 8, "reduction": 8}),  # a tie: fc1 and fc2 are both [8, 8]
    ("layout_se_fc1_fc2", "CNN_SE", {"reduction": 4}),
    ("layout_se_conv1x1", "SEBlock", {"channels": 5, "reduction": 1}),  # [1, 5, 1, 1] and [5, 1, 1, 1]: a tie
    ("layout_se_pool_in_fc", "SEBlock", {"channels": 6, "reduction": 3}),
    ("layout_base_conv_sequential", "CNN_Base", {"in_channels": 3, "image_size": 32}),
])
def test_weights_and_gradients_go_through_the_correspondence(name, class_name, kwargs):
    subject = layout_subject(LocalSubject(_module("correct", name), CONFIG), CONFIG)
    reference = reference_model(class_name, kwargs, seed=3)
    model = subject.build(class_name, kwargs, seed=4)
    assert subject.layout_of(model).status == "mapped"
    subject.load_state_dict(model, reference.state_dict())
    size = kwargs.get("image_size", 28)
    shape = (2, kwargs["channels"], 3, 3) if class_name == "SEBlock" else (2, kwargs.get("in_channels", 1), size, size)
    x = random_input(shape, 5)
    assert_close(subject.forward(model, x), reference.eval()(x).detach(), name, "the output", CONFIG)
    grad_output = random_input(tuple(reference(x).shape), 6)
    ours, theirs = subject.gradients(model, x, grad_output), reference_gradients(reference, x, grad_output)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert_close(ours[key], theirs[key], name, f"the gradient of {key}", CONFIG)
    assert set(subject.state_dict(model)) == set(reference.state_dict())


def test_strict_policy_and_extra_parameters_give_one_line_pointing_to_the_layout_check():
    strict = replace(CONFIG, layout="strict")
    cases = ((_module("correct", "layout_se_fc1_fc2"), strict), (_module("buggy", "se_mlp_bias"), CONFIG))
    for module, config in cases:
        subject = layout_subject(LocalSubject(module, config), config)
        model = subject.build("SEBlock", {"channels": 8, "reduction": 2})
        assert subject.layout_of(model).status == "none"
        with pytest.raises(CheckFailure) as raised:
            subject.load_state_dict(model, reference_model("SEBlock", {"channels": 8, "reduction": 2}).state_dict())
        assert "\n" not in raised.value.message and "SEBlock: state_dict keys/shapes" in raised.value.message


def test_the_lab_layout_is_passed_through_untouched():
    raw = LocalSubject(_module("correct", "functional"), CONFIG)
    subject = layout_subject(raw, CONFIG)
    assert raw_subject(subject) is raw and layout_subject(subject, CONFIG) is subject
    assert subject.layout_of(subject.build("CNN_SE", {})).status == "same"


class _Renamed(torch.nn.Module):
    """An excitation whose two Linear layers have other names, registered in the other order."""

    swap_activations = False

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.second = torch.nn.Linear(reduction, channels, bias=False)
        self.first = torch.nn.Linear(channels, reduction, bias=False)

    def forward(self, x):
        inner, outer = (torch.sigmoid, torch.relu) if self.swap_activations else (torch.relu, torch.sigmoid)
        return x * outer(self.second(inner(self.first(x.mean((2, 3))))))[:, :, None, None]


class _ReorderedActivations(_Renamed):
    swap_activations = True


@pytest.mark.parametrize("block, agrees", [(_Renamed, True), (_ReorderedActivations, False)])
def test_ties_are_settled_by_the_outputs_and_a_reordered_network_still_fails(block, agrees):
    """Where channels == reduction both Linear weights are [6, 6]: registration order pairs them the wrong
    way round, the outputs pick the right assignment. A mutant that reorders the layers is mapped too,
    but no assignment makes it compute the lab's function, so the checks fail it."""
    subject = layout_subject(LocalSubject(type("M", (), {"SEBlock": block}), CONFIG), CONFIG)
    kwargs = {"channels": 6, "reduction": 6}
    reference = reference_model("SEBlock", kwargs, seed=1)
    model = subject.build("SEBlock", kwargs)
    assert subject.layout_of(model).status == "mapped"
    subject.load_state_dict(model, reference.state_dict())
    x = random_input((2, 6, 3, 3), 2)
    assert close(subject.forward(model, x), reference.eval()(x).detach(), rtol=CONFIG.rtol, atol=CONFIG.atol) == agrees
