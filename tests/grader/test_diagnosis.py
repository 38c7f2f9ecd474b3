"""Localisation (issue 12): every buggy corpus entry that breaks equivalence is placed at the right module,
every hint fires on the corpus entry that proves it, and correct variants are never localised nor hinted.

In-process (LocalSubject) and on one fixed case per class, so the whole corpus, extended tier included,
runs in seconds; tests/corpus/test_corpus.py checks the same phrase in real gradings (core tier).
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest
import torch

from assignment import spec
from assignment.localise import PHRASE, first_departure, record
from grader.checks import random_input, reference_gradients, reference_model
from grader.config import load_config
from grader.checks import outcome
from grader.layout import layout_subject
from grader.diagnosis import (error_hints, gradient_departure, hints, hints_for, layout_hints, localise,
                             reference_recording, sentence)
from grader.subject import LocalSubject

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
MANIFEST = tomllib.loads((CORPUS / "manifest.toml").read_text())
CONFIG = load_config()
DEFAULTS = {"SEBlock": {"channels": 8, "reduction": 2}, "CNN_SelfAttention": {"num_heads": 7}}


def _module(kind: str, name: str):
    spec = importlib.util.spec_from_file_location(f"corpus_{kind}_{name}", CORPUS / "submissions" / kind / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _input(class_name: str, kwargs: dict) -> torch.Tensor:
    if class_name == "SEBlock":
        return random_input((2, kwargs["channels"], 3, 3), 5)
    size = kwargs.get("image_size", 28)
    return random_input((2, kwargs.get("in_channels", 1), size, size), 5)


def localised(kind: str, name: str, class_name: str, kwargs: dict | None = None):
    """(departure, hint names) for one class of one corpus file, as the checks find them; None when it agrees."""
    kwargs = kwargs or DEFAULTS.get(class_name, {})
    subject = layout_subject(LocalSubject(_module(kind, name), CONFIG), CONFIG)
    reference = reference_model(class_name, kwargs, seed=3)
    model = subject.build(class_name, kwargs, seed=4)
    subject.load_state_dict(model, reference.state_dict())
    x = _input(class_name, kwargs)
    for train in (False, True):
        found = localise(subject, model, reference, x, train, CONFIG)
        if found is not None:
            return found
    grad_output = random_input(tuple(reference(x).shape), 6)
    expected = reference_gradients(reference, x, grad_output)
    theirs = reference_recording(reference, x, True)
    departure = gradient_departure(subject.gradients(model, x, grad_output), expected, theirs, CONFIG)
    return None if departure is None else (departure, hints_for(departure, theirs, theirs, CONFIG))


CASES = [(name, cls, module) for name, entry in sorted(MANIFEST["buggy"].items())
         for cls, module in entry.get("localised", {}).items()]


@pytest.mark.parametrize("name, class_name, module", CASES, ids=[f"{n}-{c}" for n, c, _ in CASES])
def test_buggy_entry_is_localised_at_the_right_module(name, class_name, module):
    entry = MANIFEST["buggy"][name]
    kwargs = entry.get("localised_config") or None
    found = localised("buggy", name, class_name, kwargs and ({"num_heads": 8} | kwargs))
    assert found is not None, f"{name} ({entry['why']}): no departure found in {class_name}"
    text = sentence(class_name, *found, CONFIG)
    assert found[0].module == module and f"{PHRASE} {module}:" in text, f"{name}: expected {module}, got: {text}"


@pytest.mark.parametrize("hint", sorted(name for name, hint in hints().items() if "kind" not in hint))
def test_each_hint_fires_on_the_corpus_entry_that_proves_it(hint):
    proof = hints()[hint]["proof"]
    entry = MANIFEST["buggy"][proof]
    fired = []
    for class_name in entry.get("localised", {}):
        found = localised("buggy", proof, class_name, entry.get("localised_config"))
        fired += found[1] if found else []
    assert hint in fired, f"hint {hint!r} does not fire on {proof}; hints that fired: {fired}"


@pytest.mark.parametrize("hint", sorted(name for name, hint in hints().items() if hint.get("kind") == "layout"))
def test_each_layout_hint_fires_on_the_corpus_entry_that_proves_it(hint):
    """Layout hints read the two state_dict layouts: the proof entry shows its cause in every class it breaks."""
    from grader.hidden._common import LAYOUT_CONFIGS

    proof = hints()[hint]["proof"]
    module = _module("buggy", proof)
    for class_name in MANIFEST["buggy"][proof]["loses"]:
        kwargs = LAYOUT_CONFIGS[class_name][0]
        observed = {k: tuple(v.shape) for k, v in getattr(module, class_name)(**kwargs).state_dict().items()}
        texts = layout_hints(class_name, kwargs, spec.state_dict_shapes(class_name, **kwargs), observed, CONFIG)
        assert any(hints()[hint]["text"].split("{module}")[-1][:30] in text for text in texts), \
            f"{hint} does not fire on {proof} ({class_name}): {texts}"


@pytest.mark.parametrize("hint", sorted(name for name, hint in hints().items() if hint.get("kind") == "layout"))
@pytest.mark.parametrize("name", sorted(MANIFEST["correct"]))
def test_layout_hints_never_fire_on_correct_variants(hint, name):
    from grader.hidden._common import LAYOUT_CONFIGS

    module = _module("correct", name)
    for class_name, configs in LAYOUT_CONFIGS.items():
        observed = {k: tuple(v.shape) for k, v in getattr(module, class_name)(**configs[0]).state_dict().items()}
        assert not layout_hints(class_name, configs[0], spec.state_dict_shapes(class_name, **configs[0]), observed,
                                 CONFIG)


@pytest.mark.parametrize("hint", sorted(name for name, hint in hints().items() if hint.get("kind") == "error"))
def test_each_error_hint_fires_on_the_corpus_entry_that_proves_it(hint):
    """Error hints match torch's own message: the proof entry raises it, and the student reads the hint."""
    proof = hints()[hint]["proof"]
    subject = LocalSubject(_module("buggy", proof), CONFIG)
    class_name = MANIFEST["buggy"][proof]["loses"][0]
    model = subject.build(class_name, DEFAULTS.get(class_name, {}))
    with pytest.raises(Exception) as raised:
        subject.forward(model, _input(class_name, DEFAULTS.get(class_name, {})))
    assert error_hints(raised.value.message, CONFIG) == [hints()[hint]["text"]]
    assert hints()[hint]["text"] in outcome(raised.value, CONFIG)[1]


@pytest.mark.parametrize("name", sorted(MANIFEST["correct"]))
@pytest.mark.parametrize("class_name", ["CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention"])
def test_correct_variants_get_no_localisation(name, class_name):
    assert localised("correct", name, class_name) is None


def test_the_child_and_the_student_helper_record_alike():
    """Operations.record (child, and the reference in the grader) and assignment.localise.record (public tests) agree."""
    model = reference_model("CNN_SE", {})
    x = _input("CNN_SE", {})
    ours, theirs = reference_recording(model, x, False), record(model, x)
    assert ours["order"] == theirs["order"] and ours["types"] == theirs["types"]
    assert first_departure(ours, theirs) is None and first_departure(theirs, ours) is None


def test_a_departure_between_two_modules_is_named_at_the_later_ones_input():
    """A missing ReLU between conv2 and se2 shows at se2's input (conv2 agrees)."""
    model = reference_model("CNN_SE", {})
    x = _input("CNN_SE", {})
    theirs = record(model, x)
    yours = {key: dict(value) if isinstance(value, dict) else list(value) for key, value in theirs.items()}
    yours["inputs"]["se2"] = yours["inputs"]["se2"] - 1.0
    yours["outputs"][""] = yours["outputs"][""] + 1.0
    departure = first_departure(yours, theirs)
    assert departure.module == "se2" and departure.where == "input" and departure.previous == "conv2"


def test_visibility_per_check_comes_from_config(tmp_path):
    from grader.results import visibility

    override = tmp_path / "my.toml"
    override.write_text('[feedback.visibility.CNN_SE]\ntraining = "after_due_date"\n')
    config = load_config(override)
    assert visibility(config, "CNN_SE", "training") == "after_due_date"
    assert visibility(config, "CNN_SE", "shapes") == visibility(CONFIG, "CNN_SE", "training") == "visible"
    override.write_text('[feedback]\ndefault_visibility = "public"\n')
    with pytest.raises(ValueError, match="visibility"):
        visibility(load_config(override), "CNN_SE", "shapes")


def test_the_localisation_and_the_checks_judge_by_one_rule():
    # A small value far from a large one: a tolerance scaled by the largest value would call it agreeing,
    # while the check fails it. One element-wise rule (assignment/tolerance.py) for both.
    from assignment.localise import differs
    from grader.checks import CheckFailure, assert_close

    expected = torch.tensor([100.0, 0.0])
    observed = torch.tensor([100.0, 5 * CONFIG.atol])
    assert differs(observed, expected, CONFIG.atol, CONFIG.rtol)
    with pytest.raises(CheckFailure):
        assert_close(observed, expected, "case", "the output", CONFIG)
    within = expected + 0.5 * (CONFIG.atol + CONFIG.rtol * expected.abs())
    assert not differs(within, expected, CONFIG.atol, CONFIG.rtol)
    assert_close(within, expected, "case", "the output", CONFIG)
