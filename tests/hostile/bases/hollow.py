"""Hostile corpus base "hollow": the reference's modules (right parameters), forward returning zeros.

It earns only the points that look at structure (parameter counts, state_dict keys and shapes,
output shapes). Attacks that try to win points they did not earn are pasted after this base:
they must score no more than the hollow base alone (their "clean twin").
"""

import torch
from torch import nn


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        return torch.zeros(x.shape[0], self.fc.out_features)


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
        return torch.zeros_like(x)


class CNN_SE(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.se1 = SEBlock(32, reduction)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.se2 = SEBlock(64, reduction)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        return torch.zeros(x.shape[0], self.fc.out_features)


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.attn = nn.MultiheadAttention(embed_dim=(image_size // 4) ** 2, num_heads=num_heads, batch_first=True)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        return torch.zeros(x.shape[0], self.fc.out_features)
