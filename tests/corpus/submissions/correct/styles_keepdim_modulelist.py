"""Corpus (correct): the squeeze as x.mean((-2, -1), keepdim=True) squeezed back, gates applied with
unsqueeze; F.relu before F.max_pool2d; x.size()-based shapes; attention computed in one line with
x.flatten(2) tokens and unflatten back.
"""

import torch
import torch.nn.functional as F
from torch import nn


def block(conv, x):
    return F.max_pool2d(F.relu(conv(x)), 2)


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1)
        self.fc = nn.Linear(64 * (image_size // 2 // 2) ** 2, num_classes)

    def forward(self, x):
        x = block(self.conv2, block(self.conv1, x))
        return self.fc(x.view(-1, x.size(1) * x.size(2) * x.size(3)))


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channels, reduction, bias=False), nn.ReLU(),
                                nn.Linear(reduction, channels, bias=False), nn.Sigmoid())

    def forward(self, x):
        squeezed = x.mean(dim=(-2, -1), keepdim=True).squeeze(-1).squeeze(-1)
        return x * self.fc(squeezed).unsqueeze(-1).unsqueeze(-1)


class CNN_SE(CNN_Base):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__(in_channels, num_classes, image_size)
        self.se1 = SEBlock(32, reduction)
        self.se2 = SEBlock(64, reduction)

    def forward(self, x):
        x = self.se2(block(self.conv2, self.se1(block(self.conv1, x))))
        return self.fc(x.view(-1, x.size(1) * x.size(2) * x.size(3)))


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1)
        self.attn = nn.MultiheadAttention((image_size // 4) ** 2, num_heads, batch_first=True)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = block(self.conv2, block(self.conv1, x))
        x = x + self.attn(x.flatten(2), x.flatten(2), x.flatten(2), need_weights=False)[0].unflatten(2, x.shape[2:])
        return self.fc(x.flatten(1))
