"""Hidden checks of CNN_SelfAttention (points in grader/config.toml, [points.CNN_SelfAttention])."""

import torch

from assignment.tolerance import close
from grader.checks import check, fail, given
from grader.hidden._common import cnn_cases, shared_cnn_checks
from grader.checks import reference_model

CLASS = "CNN_SelfAttention"

globals().update(shared_cnn_checks(CLASS))


def renumber_channels(state: dict, permutation: torch.Tensor) -> dict:
    """The same network with conv2's 64 output channels renumbered (and fc's inputs renumbered to match)."""
    state = {key: value.clone() for key, value in state.items()}
    state["conv2.weight"] = state["conv2.weight"][permutation]
    state["conv2.bias"] = state["conv2.bias"][permutation]
    fc = state["fc.weight"]
    state["fc.weight"] = fc.reshape(fc.shape[0], len(permutation), -1)[:, permutation].reshape(fc.shape)
    return state


@check(CLASS, "channel_tokens", "attention treats each of the 64 channels as one token (not pixels)")
@given(case=cnn_cases(CLASS))
def test_channel_tokens(grading, case):
    # Attention over channel tokens is permutation-equivariant across channels, so renumbering conv2's
    # output channels (and fc's inputs to match) cannot change the logits; attention over pixels, or
    # any other mixing, would. The reference is checked too, so a failure is never the grader's.
    subject, config = grading.subject, grading.config
    reference = reference_model(case.class_name, case.kwargs, case.seed)
    state = reference.state_dict()
    permutation = torch.randperm(64, generator=torch.Generator().manual_seed(case.seed))
    renumbered = renumber_channels(state, permutation)
    x = case.input()
    model = subject.build(case.class_name, case.kwargs, case.seed)
    subject.load_state_dict(model, state)
    before = subject.forward(model, x)
    subject.load_state_dict(model, renumbered)
    after = subject.forward(model, x)
    expected = reference_model(case.class_name, case.kwargs, state=renumbered).eval()(x).detach()
    assert close(expected, reference.eval()(x).detach(), rtol=config.rtol, atol=config.atol), "internal: reference"
    if tuple(before.shape) != tuple(after.shape) or not torch.isfinite(before).all():
        fail(f"{case.on('eval mode')}: the output has shape {tuple(before.shape)} or is not finite")
    if not close(after, before, rtol=config.rtol, atol=config.atol):
        difference = float((after.double() - before.double()).abs().max())
        fail(f"{case.on('eval mode')}: renumbering the 64 channels of conv2 (and fc's inputs to match) changed "
             f"the output by up to {difference:.3g}. Attention across channels treats each channel's H*W map as "
             "one token, so the order of the channels cannot matter; does your attention mix pixels "
             "(tokens = positions, embedding = channels) instead?")
