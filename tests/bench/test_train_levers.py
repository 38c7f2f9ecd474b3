"""The speed levers kept in assignment/train.py change speed, not behaviour."""

import pytest
import torch

from assignment.precision import attention_in_fp32, cpu_has_native_bf16, resolve_precision, training_precision
from assignment.train import random_flip
from reference.models import CNN_SelfAttention


def test_precision_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert resolve_precision("auto", cuda) == "fp32", "GPUs keep the plain path"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", cpu)


def test_attention_runs_in_fp32_inside_bf16_autocast_and_hooks_go_away():
    torch.manual_seed(0)
    model = CNN_SelfAttention()
    seen = {}
    model.attn.register_forward_hook(lambda m, args, out: seen.update(input=args[0].dtype, output=out[0].dtype))
    model.conv2.register_forward_hook(lambda m, args, out: seen.update(conv=out.dtype))
    x = torch.randn(4, 1, 28, 28)
    with training_precision(model, "bf16", "cpu"):
        logits = model(x)
    assert seen == {"conv": torch.bfloat16, "input": torch.float32, "output": torch.float32}
    assert torch.is_autocast_enabled("cpu") is False
    logits.float().sum().backward()  # gradients flow through the fp32 island
    assert all(p.grad is not None for p in model.parameters())
    assert not model.attn._forward_pre_hooks, "attention_in_fp32 must remove its hooks"


def test_fp32_island_is_inert_without_autocast():
    torch.manual_seed(0)
    model = CNN_SelfAttention().eval()
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        plain = model(x)
        with attention_in_fp32(model, "cpu"):
            hooked = model(x)
    assert torch.equal(plain, hooked)


def test_flipping_uint8_images_equals_flipping_normalised_ones():
    images = torch.randint(0, 256, (16, 1, 5, 5), dtype=torch.uint8)
    flipped_first = random_flip(images, torch.Generator().manual_seed(1)).float().sub(0.3).div(0.4)
    flipped_last = random_flip(images.float().sub(0.3).div(0.4), torch.Generator().manual_seed(1))
    assert torch.equal(flipped_first, flipped_last)
