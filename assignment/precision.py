"""The arithmetic of a training forward pass: plain fp32, or bf16 autocast where the CPU has it natively.

Shared by the lab's training loop (assignment/train.py) and the grader's short training (copied into
the sandboxed child as ``selab_precision.py``), so both train the same way. Standalone on purpose:
imports nothing but the standard library and torch.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

#: Values of a training's ``precision``: "auto" is bf16 autocast on a CPU with native bf16
#: arithmetic and fp32 everywhere else; "fp32" (the plain path) or "bf16" force one.
PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX tiles).

    Elsewhere bf16 is emulated and slower than fp32; older torch builds lack the probes: False.
    """
    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(probe is not None and probe() for probe in probes)


def resolve_precision(precision: str, device: torch.device) -> str:
    """The arithmetic training will use on ``device``: "bf16" or "fp32" (see ``PRECISIONS``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    return precision


@contextmanager
def attention_in_fp32(model: nn.Module, device_type: str):
    """Inside an autocast region, run every ``nn.MultiheadAttention`` of ``model`` in fp32.

    Why: CPU autocast sends ``scaled_dot_product_attention`` to bf16, and the CPU flash-attention
    backward in bf16 is ~3x slower than in fp32 for this lab's 64 tokens and head size 7; the
    attention model then trains slower than without autocast. Kept in fp32 (inputs cast up,
    autocast paused for the module), attention costs what it costs in fp32 and the conv layers
    around it still gain. The model's code is untouched: this works through forward hooks.
    """
    paused: list = []

    def enter(_module, args, kwargs):
        pause = torch.autocast(device_type, enabled=False)
        pause.__enter__()
        paused.append(pause)
        up = lambda v: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v  # noqa: E731
        return tuple(up(a) for a in args), {k: up(v) for k, v in kwargs.items()}

    def leave(_module, _args, _kwargs, _output):
        if paused:
            paused.pop().__exit__(None, None, None)

    handles = []
    for module in model.modules():
        if isinstance(module, nn.MultiheadAttention):
            handles.append(module.register_forward_pre_hook(enter, with_kwargs=True))
            handles.append(module.register_forward_hook(leave, with_kwargs=True, always_call=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        while paused:
            paused.pop().__exit__(None, None, None)


@contextmanager
def training_precision(model: nn.Module, precision: str, device_type: str):
    """The arithmetic of one training forward pass: as written for "fp32"; bf16 autocast for "bf16"."""
    if precision != "bf16":
        yield
        return
    with torch.autocast(device_type, dtype=torch.bfloat16), attention_in_fp32(model, device_type):
        yield
