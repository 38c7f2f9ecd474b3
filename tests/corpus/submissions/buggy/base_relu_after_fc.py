"""Corpus (buggy): CNN_Base applies ReLU to the logits of fc.

The reference solution with this one change; see tests/corpus/manifest.toml.
"""

import torch
import torch.nn.functional as F
from torch import nn


def conv_pool_relu(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """One feature layer of the lab: convolution, 2x2 max-pool, then ReLU (in that order)."""
    return F.relu(F.max_pool2d(conv(x), 2))


class CNN_Base(nn.Module):
    """Two conv layers (32 then 64 channels, 3x3, padding 1) and a linear classifier."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = conv_pool_relu(self.conv1, x)  # [B, 32, S/2, S/2]
        x = conv_pool_relu(self.conv2, x)  # [B, 64, S/4, S/4]
        return F.relu(self.fc(x.flatten(1)))


class SEBlock(nn.Module):
    """Squeeze-and-Excitation: rescale each channel by a gate in (0, 1) computed from the sample itself.

    As in the lab text, ``reduction`` is the *hidden width* of the excitation MLP
    (channels -> reduction -> channels), not the SENet paper's ratio C/r.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, reduction, bias=False),
            nn.ReLU(),
            nn.Linear(reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.shape
        squeezed = self.avg_pool(x).view(b, c)  # squeeze: one mean per channel
        gates = self.fc(squeezed).view(b, c, 1, 1)  # excitation: one weight per channel
        return x * gates  # recalibration


class CNN_SE(nn.Module):
    """CNN_Base with an SE block rescaling the output of each feature layer."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, reduction: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.se1 = SEBlock(32, reduction)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.se2 = SEBlock(64, reduction)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se1(conv_pool_relu(self.conv1, x))
        x = self.se2(conv_pool_relu(self.conv2, x))
        return self.fc(x.flatten(1))


class CNN_SelfAttention(nn.Module):
    """CNN_Base with multi-head self-attention *across channels*, added residually.

    Each of the 64 channels of the last feature map is one token whose embedding is its
    flattened H*W map, so attention mixes channels, never pixels.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, num_heads: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.attn = nn.MultiheadAttention(embed_dim=(image_size // 4) ** 2, num_heads=num_heads, batch_first=True)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = conv_pool_relu(self.conv1, x)
        x = conv_pool_relu(self.conv2, x)
        b, c, h, w = x.shape
        tokens = x.reshape(b, c, h * w)  # one token per channel
        attended, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        x = x + attended.reshape(b, c, h, w)  # reshape: the eval fast path may return non-contiguous tensors
        return self.fc(x.flatten(1))
