"""Corpus (correct): the same modules, but forward written with torch.nn.functional on their weights.

No module is *called* except through its parameters: F.conv2d / F.linear, a mean over H and W
instead of calling avg_pool, torch.sigmoid, einsum for the recalibration, and
F.multi_head_attention_forward (the slow, unfused path) for attention.
"""

import torch
import torch.nn.functional as F
from torch import nn


def feature_layer(conv, x):
    return F.relu(F.max_pool2d(F.conv2d(x, conv.weight, conv.bias, padding=1), kernel_size=2, stride=2))


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = feature_layer(self.conv2, feature_layer(self.conv1, x))
        return F.linear(x.reshape(x.shape[0], -1), self.fc.weight, self.fc.bias)


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, reduction, bias=False),
            nn.ReLU(),
            nn.Linear(reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        squeezed = x.mean(dim=(2, 3))
        hidden = F.relu(F.linear(squeezed, self.fc[0].weight))
        gates = torch.sigmoid(F.linear(hidden, self.fc[2].weight))
        return torch.einsum("bchw,bc->bchw", x, gates)


class CNN_SE(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.se1 = SEBlock(32, reduction)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.se2 = SEBlock(64, reduction)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = self.se1.forward(feature_layer(self.conv1, x))
        x = self.se2.forward(feature_layer(self.conv2, x))
        return F.linear(x.reshape(x.shape[0], -1), self.fc.weight, self.fc.bias)


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.attn = nn.MultiheadAttention(embed_dim=(image_size // 4) ** 2, num_heads=num_heads, batch_first=True)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = feature_layer(self.conv2, feature_layer(self.conv1, x))
        b, c, h, w = x.shape
        tokens = x.reshape(b, c, h * w).transpose(0, 1)  # functional API is sequence-first: [64, B, H*W]
        attn = self.attn
        attended, _ = F.multi_head_attention_forward(
            tokens, tokens, tokens, attn.embed_dim, attn.num_heads,
            attn.in_proj_weight, attn.in_proj_bias, None, None, False, 0.0,
            attn.out_proj.weight, attn.out_proj.bias, training=self.training, need_weights=False,
        )
        x = x + attended.transpose(0, 1).reshape(b, c, h, w)
        return F.linear(x.reshape(b, -1), self.fc.weight, self.fc.bias)
