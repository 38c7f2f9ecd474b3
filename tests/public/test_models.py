"""What every network must do: shapes, the SE gate range, parameter layout, and one training step.

The expected numbers come from assignment/spec.py, the lab's API in one place.
"""

import pytest
import torch
import torch.nn.functional as F

from assignment import spec
from assignment.localise import spec_input_shapes, where_it_departs
from assignment.tolerance import close

# (class name, constructor kwargs) for Fashion-MNIST (1x28x28) and CIFAR-style (3x32x32) inputs.
NETWORKS = [
    (name, {"in_channels": c, "image_size": s, **({"num_heads": h} if name == "CNN_SelfAttention" else {})})
    for name in ("CNN_Base", "CNN_SE", "CNN_SelfAttention")
    for c, s, h in spec.INPUT_CONFIGS
]
NETWORK_IDS = [f"{name}-{kw['in_channels']}x{kw['image_size']}" for name, kw in NETWORKS]


def describe(name, kwargs):
    return f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


@pytest.mark.parametrize("name, kwargs", NETWORKS, ids=NETWORK_IDS)
@pytest.mark.parametrize("train", [True, False], ids=["train-mode", "eval-mode"])
def test_network_output_shape(models, name, kwargs, train):
    model = getattr(models, name)(**kwargs).train(train)
    x = torch.randn(5, kwargs["in_channels"], kwargs["image_size"], kwargs["image_size"])
    try:
        with torch.set_grad_enabled(train):
            logits = model(x)
    except RuntimeError as error:  # a shape error: say which module got the wrong input
        where = where_it_departs(model, name, x, **kwargs)
        raise AssertionError(f"{describe(name, kwargs)} raised {error}" + (f"\n{where}" if where else "")) from None
    assert tuple(logits.shape) == (5, 10), (
        f"{describe(name, kwargs)} on a batch of 5 images of shape {tuple(x.shape[1:])}: expected logits of shape "
        f"(5, 10), got {tuple(logits.shape)}. Check the flatten and the input size of self.fc. "
        + where_it_departs(model, name, x, **kwargs)
    )


@pytest.mark.parametrize("name, kwargs", NETWORKS, ids=NETWORK_IDS)
def test_each_module_receives_the_shape_the_lab_gives_it(models, name, kwargs):
    """conv1, se1, conv2, se2, attn and fc each get the input shape the lab's text fixes (assignment/spec.py)."""
    model = getattr(models, name)(**kwargs).eval()
    x = torch.randn(2, kwargs["in_channels"], kwargs["image_size"], kwargs["image_size"])
    where = where_it_departs(model, name, x, **kwargs)
    assert not where, (
        f"{describe(name, kwargs)} on a batch of 2: {where} (the lab's shapes: "
        f"{', '.join(f'{m} {s}' for m, s in spec_input_shapes(name, 2, **kwargs).items())})"
    )


@pytest.mark.parametrize("name, kwargs", NETWORKS, ids=NETWORK_IDS)
def test_parameter_layout_matches_spec(models, name, kwargs):
    model = getattr(models, name)(**kwargs)
    got = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    expected = spec.state_dict_shapes(name, **kwargs)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = {key: (expected[key], got[key]) for key in set(expected) & set(got) if expected[key] != got[key]}
    assert not (missing or extra or wrong), (
        f"{describe(name, kwargs)}: parameter names/shapes differ from the spec. Missing: {missing or 'none'}; "
        f"unexpected: {extra or 'none'}; wrong shape (expected, got): {wrong or 'none'}. "
        "Keep the attribute names of the lab text (conv1, conv2, fc, se1, se2, attn)."
    )
    count = sum(p.numel() for p in model.parameters())
    assert count == spec.parameter_count(name, **kwargs), (
        f"{describe(name, kwargs)}: expected {spec.parameter_count(name, **kwargs):,} parameters, got {count:,}."
    )


@pytest.mark.parametrize("channels, reduction", [(32, 16), (64, 16), (3, 1), (8, 4)])
def test_seblock_rescales_each_channel_by_a_gate_in_0_1(models, channels, reduction):
    block = models.SEBlock(channels, reduction)
    assert sum(p.numel() for p in block.parameters()) == spec.parameter_count("SEBlock", channels=channels, reduction=reduction), (
        f"SEBlock({channels}, reduction={reduction}): wrong number of parameters; the excitation MLP is "
        "Linear(channels, reduction, bias=False) -> ReLU -> Linear(reduction, channels, bias=False) -> Sigmoid."
    )
    x = torch.rand(4, channels, 6, 5) + 0.5  # strictly positive, so out / x is the gate
    out = block(x)
    assert out.shape == x.shape, f"SEBlock must keep the input shape {tuple(x.shape)}; got {tuple(out.shape)}."
    gates = out / x
    assert close(gates, gates[:, :, :1, :1]), (
        "SEBlock: every pixel of a channel must be multiplied by the same gate (one weight per sample and channel); "
        "output / input varies across the H x W positions of a channel."
    )
    assert bool((gates > 0).all() and (gates < 1).all()), (
        f"SEBlock: gates must lie strictly in (0, 1) (a Sigmoid); observed range [{gates.min():.3f}, {gates.max():.3f}]."
    )


@pytest.mark.parametrize("name, kwargs", NETWORKS[::2], ids=NETWORK_IDS[::2])
def test_one_batch_training_step(models, name, kwargs):
    model = getattr(models, name)(**kwargs).train()
    x = torch.randn(16, kwargs["in_channels"], kwargs["image_size"], kwargs["image_size"])
    y = torch.arange(16) % 10
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = F.cross_entropy(model(x), y)
    first.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum()]
    assert not no_grad, f"{describe(name, kwargs)}: these parameters received no (finite, non-zero) gradient: {no_grad}."
    optimizer.step()
    for _ in range(19):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    assert loss.item() < first.item(), (
        f"{describe(name, kwargs)}: 20 Adam steps on one batch should lower the loss; it went from "
        f"{first.item():.3f} to {loss.item():.3f}."
    )
