"""FLOPs of one training step, counted from the layer shapes of a real forward pass.

Convention (one multiply-add = 2 FLOPs; bias adds, activations, pooling, softmax and the
optimizer are not counted, as is usual for achieved-FLOP/s figures):

forward, per layer
    Conv2d               2 * N * C_out * H_out * W_out * (C_in / groups) * k_h * k_w
    Linear               2 * rows * in_features * out_features        (rows = every leading dim)
    MultiheadAttention   with L query tokens, S key tokens, embedding E, batch N:
                         2*N*(L + 2*S)*E*E   q, k, v input projections
                       + 2*N*L*S*E           scores Q K^T   (summed over heads: h * L*S*E/h)
                       + 2*N*L*S*E           weights x V
                       + 2*N*L*E*E           output projection
backward, per layer
    2 x forward (gradient w.r.t. the weights and w.r.t. the input), except a layer whose input
    needs no gradient (the first conv: the image), whose backward is 1 x forward.
    For CNN_Base, forward + backward is then 2.94 x forward instead of the rounder 3 x forward.

``tests/bench`` checks these totals against ``torch.utils.flop_counter.FlopCounterMode``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerFlops:
    name: str
    kind: str
    forward: int  # FLOPs of the forward pass for the whole batch
    input_needs_grad: bool

    @property
    def backward(self) -> int:
        return self.forward * (2 if self.input_needs_grad else 1)


def _conv_flops(module: nn.Conv2d, out: torch.Tensor) -> int:
    n, c_out, h, w = out.shape
    k_h, k_w = module.kernel_size
    return 2 * n * c_out * h * w * (module.in_channels // module.groups) * k_h * k_w


def _linear_flops(module: nn.Linear, x: torch.Tensor) -> int:
    rows = x.numel() // x.shape[-1]
    return 2 * rows * module.in_features * module.out_features


def _attention_flops(module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor) -> int:
    batch_dim = 0 if module.batch_first else 1
    token_dim = 1 - batch_dim
    n, length, source, embed = query.shape[batch_dim], query.shape[token_dim], key.shape[token_dim], module.embed_dim
    projections = 2 * n * (length + 2 * source) * embed * embed + 2 * n * length * embed * embed
    attention = 2 * (2 * n * length * source * embed)
    return projections + attention


def layer_flops(model: nn.Module, example: torch.Tensor) -> list[LayerFlops]:
    """One entry per Conv2d / Linear / MultiheadAttention call in ``model(example)``, in call order.

    Runs one forward pass with autograd on (so "does the input need a gradient" is what training
    sees); Linear layers owned by a MultiheadAttention are counted inside the attention entry.
    """
    inside_attention = {id(m) for a in model.modules() if isinstance(a, nn.MultiheadAttention) for m in a.modules()
                        if m is not a}
    names = {id(m): name for name, m in model.named_modules()}
    found: list[LayerFlops] = []

    def hook(module, args, kwargs, output):
        first = args[0] if args else next(iter(kwargs.values()))
        if isinstance(module, nn.Conv2d):
            flops = _conv_flops(module, output)
        elif isinstance(module, nn.MultiheadAttention):
            key = args[1] if len(args) > 1 else kwargs["key"]
            flops = _attention_flops(module, first, key)
        else:
            flops = _linear_flops(module, first)
        found.append(LayerFlops(names[id(module)], type(module).__name__, flops, bool(first.requires_grad)))

    handles = [m.register_forward_hook(hook, with_kwargs=True) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear, nn.MultiheadAttention)) and id(m) not in inside_attention]
    was_training = model.training
    try:
        model.train()
        with torch.enable_grad():
            model(example)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return found


@dataclass(frozen=True)
class StepFlops:
    forward: int  # per image
    training: int  # forward + backward, per image

    @property
    def backward_ratio(self) -> float:
        return (self.training - self.forward) / self.forward


def flops_per_image(model: nn.Module, in_channels: int = 1, image_size: int = 28, batch: int = 2) -> StepFlops:
    """Forward and training (forward + backward) FLOPs per image of ``model`` on ``in_channels x image_size^2``."""
    example = torch.zeros(batch, in_channels, image_size, image_size)
    layers = layer_flops(model, example)
    forward = sum(layer.forward for layer in layers)
    training = forward + sum(layer.backward for layer in layers)
    return StepFlops(forward // batch, training // batch)
