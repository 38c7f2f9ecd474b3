"""Look inside trained models: per-class SE gates and the mean channel-attention map.

Both are computed from the parameters the lab's spec pins (``conv1``, ``conv2``, ``se*.fc.0/2``,
``attn.in_proj_*``) and the lab text's feature layers (convolution, 2x2 max-pool, ReLU), never
from hooks on how ``forward`` happens to call its modules. So every correct implementation,
whatever its style (``F.linear`` on ``fc``'s weights, a Sigmoid outside ``fc``, attention by hand
or through ``self.attn.forward``), gets the reference's plots for the same weights.
``run_probe`` runs one probe and turns any failure into a one-line reason instead of a crash.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from assignment import spec
from assignment.data import ImageSet
from assignment.train import prepare_batch


#: Dimensions of the pinned tensors the probes read (the full shapes are in assignment/spec.py).
_PINNED_DIMS = {"conv1.weight": 4, "conv2.weight": 4, "fc.0.weight": 2, "fc.2.weight": 2, "attn.in_proj_weight": 2}


class _Parameters(dict):
    """The model's state_dict; a missing or reshaped key says which pinned parameter the probe needed."""

    def __missing__(self, key):
        raise KeyError(f"the model has no parameter {key!r}, which the lab's spec pins (assignment/spec.py)")

    def __getitem__(self, key):
        value = super().__getitem__(key)
        dims = next((d for suffix, d in _PINNED_DIMS.items() if key.endswith(suffix)), value.dim())
        if value.dim() != dims:
            raise ValueError(f"the model's {key} has shape {list(value.shape)}, not the {dims}-D tensor the lab's "
                             "spec pins (assignment/spec.py)")
        return value


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return _Parameters({name: value.detach().float() for name, value in model.state_dict().items()})


def _feature_layer(x: torch.Tensor, weights: dict[str, torch.Tensor], conv: str) -> torch.Tensor:
    """The lab's feature layer: ``conv`` (3x3, padding 1), 2x2 max-pool, ReLU."""
    out = F.conv2d(x, weights[f"{conv}.weight"], weights[f"{conv}.bias"], padding=spec.PADDING)
    return F.relu(F.max_pool2d(out, 2))


def _se_gates(x: torch.Tensor, weights: dict[str, torch.Tensor], block: str) -> torch.Tensor:
    """The excitation MLP of ``block`` on the squeezed ``x``: one gate in (0, 1) per sample and channel."""
    hidden = F.relu(F.linear(x.mean((2, 3)), weights[f"{block}.fc.0.weight"]))
    return torch.sigmoid(F.linear(hidden, weights[f"{block}.fc.2.weight"]))


def _batches(model: nn.Module, data: ImageSet, batch_size: int):
    device = next(model.parameters()).device
    for i in range(0, len(data), batch_size):
        yield prepare_batch(data.images[i:i + batch_size], data, device, channels_last=False), data.labels[i:i + batch_size]


@torch.no_grad()
def se_gates_per_class(model: nn.Module, data: ImageSet, batch_size: int = 2000) -> dict[str, torch.Tensor]:
    """Mean gate of every channel for every class: {"se1": [classes, 32], "se2": [classes, 64]}."""
    weights = _params(model)
    num_classes = len(data.classes)
    sums = {"se1": torch.zeros(num_classes, spec.CONV1_CHANNELS), "se2": torch.zeros(num_classes, spec.CONV2_CHANNELS)}
    for x, labels in _batches(model, data, batch_size):
        features = _feature_layer(x, weights, "conv1")
        gates1 = _se_gates(features, weights, "se1")
        features = _feature_layer(features * gates1[:, :, None, None], weights, "conv2")
        gates2 = _se_gates(features, weights, "se2")
        sums["se1"].index_add_(0, labels, gates1.cpu())
        sums["se2"].index_add_(0, labels, gates2.cpu())
    counts = torch.bincount(data.labels, minlength=num_classes).clamp(min=1).unsqueeze(1)
    return {name: total / counts for name, total in sums.items()}


def _num_heads(model: nn.Module, embed: int) -> int:
    """``attn.num_heads`` (nn.MultiheadAttention's attribute), else the lab's default for this embedding size."""
    heads = getattr(model.attn, "num_heads", None)
    if isinstance(heads, int) and heads > 0:
        return heads
    return next(h for _c, size, h in spec.INPUT_CONFIGS if spec.feature_size(size) ** 2 == embed)


@torch.no_grad()
def mean_channel_attention(model: nn.Module, data: ImageSet, batch_size: int = 2000) -> torch.Tensor:
    """Attention weights of ``attn`` averaged over heads and images: [channels, channels], rows sum to 1.

    The tokens are the channels of the second feature layer (each a flattened H*W map); queries and
    keys come from ``attn.in_proj_weight`` / ``in_proj_bias``, as nn.MultiheadAttention computes them.
    """
    weights = _params(model)
    total, count = torch.zeros(spec.CONV2_CHANNELS, spec.CONV2_CHANNELS), 0
    for x, _labels in _batches(model, data, batch_size):
        tokens = _feature_layer(_feature_layer(x, weights, "conv1"), weights, "conv2").flatten(2)  # [B, C, H*W]
        batch, channels, embed = tokens.shape
        heads = _num_heads(model, embed)
        w_q, w_k, _ = weights["attn.in_proj_weight"].chunk(3)
        b_q, b_k, _ = weights["attn.in_proj_bias"].chunk(3)
        queries = F.linear(tokens, w_q, b_q).view(batch, channels, heads, -1).transpose(1, 2)
        keys = F.linear(tokens, w_k, b_k).view(batch, channels, heads, -1).transpose(1, 2)
        scores = queries @ keys.transpose(-1, -2) / math.sqrt(embed // heads)
        total += scores.softmax(-1).mean(1).sum(0).cpu()
        count += batch
    return total / count


def run_probe(name: str, probe: Callable[[], torch.Tensor | dict]) -> tuple[object | None, str | None]:
    """(result, None), or (None, why) when the probe cannot run on this model; the why is printed too."""
    try:
        return probe(), None
    except Exception as error:  # noqa: BLE001 - a probe explains, it never ends a run
        detail = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        why = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        if isinstance(error, NotImplementedError):
            why = f"not implemented yet: {detail}"
        print(f"probe {name} skipped: {why}", flush=True)
        return None, why
