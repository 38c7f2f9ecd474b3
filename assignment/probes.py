"""Look inside trained models: per-class SE gates and the mean channel-attention map.

Both work through forward hooks on the pinned attributes (``se1.fc``, ``se2.fc``, ``attn``), so
they read any implementation that follows the API, the student's included.
"""

from __future__ import annotations

import torch
from torch import nn

from assignment.data import ImageSet
from assignment.train import prepare_batch


@torch.no_grad()
def se_gates_per_class(model: nn.Module, data: ImageSet, batch_size: int = 2000) -> dict[str, torch.Tensor]:
    """Mean gate of every channel for every class: {"se1": [classes, 32], "se2": [classes, 64]}."""
    device = next(model.parameters()).device
    captured: dict[str, list[torch.Tensor]] = {"se1": [], "se2": []}
    hooks = [getattr(model, name).fc.register_forward_hook(
        lambda _m, _i, out, name=name: captured[name].append(out.detach().reshape(out.shape[0], -1).cpu()))
        for name in captured]
    model.eval()
    try:
        for i in range(0, len(data), batch_size):
            model(prepare_batch(data.images[i:i + batch_size], data, device, channels_last=False))
    finally:
        for hook in hooks:
            hook.remove()
    num_classes = len(data.classes)
    result = {}
    for name, chunks in captured.items():
        gates = torch.cat(chunks)
        sums = torch.zeros(num_classes, gates.shape[1]).index_add_(0, data.labels, gates)
        result[name] = sums / torch.bincount(data.labels, minlength=num_classes).clamp(min=1).unsqueeze(1)
    return result


@torch.no_grad()
def mean_channel_attention(model: nn.Module, data: ImageSet, batch_size: int = 2000) -> torch.Tensor:
    """Attention weights of ``model.attn`` averaged over heads and images: [channels, channels], rows sum to 1."""
    device = next(model.parameters()).device
    inputs: list[torch.Tensor] = []
    hook = model.attn.register_forward_pre_hook(lambda _m, args, kwargs=None: inputs.append(args[0].detach()))
    model.eval()
    total, count = None, 0
    try:
        for i in range(0, len(data), batch_size):
            inputs.clear()
            model(prepare_batch(data.images[i:i + batch_size], data, device, channels_last=False))
            tokens = inputs[0]
            _, weights = model.attn(tokens, tokens, tokens, need_weights=True, average_attn_weights=True)
            batch_sum = weights.sum(0).cpu()
            total = batch_sum if total is None else total + batch_sum
            count += weights.shape[0]
    finally:
        hook.remove()
    return total / count
