"""Corpus (layout only): the SE excitation as 1x1 Conv2d layers (no bias) on the [B, C, 1, 1] squeeze.

fc.0.weight is [r, C, 1, 1] where the lab has the Linear's [r, C]: the same function.
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
        return self.fc(x.flatten(1))


class SEBlock(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, reduction, kernel_size=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(reduction, channels, kernel_size=1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.avg_pool(x))


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
