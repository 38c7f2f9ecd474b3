"""Corpus (correct): padding='same', one shared nn.MaxPool2d attribute with ReLU before pooling,
torch.flatten; the SE squeeze as x.mean((2, 3)) and the gating with expand_as; tokens via x.flatten(2)
and the residual added with reshape_as.
"""

import torch
import torch.nn.functional as F
from torch import nn


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding="same")
        self.conv2 = nn.Conv2d(32, 64, 3, padding="same")
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(64 * (image_size // 4) * (image_size // 4), num_classes)

    def features(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        return self.pool(F.relu(self.conv2(x)))

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channels, reduction, bias=False), nn.ReLU(inplace=True),
                                nn.Linear(reduction, channels, bias=False), nn.Sigmoid())

    def forward(self, x):
        b, c = x.shape[:2]
        w = self.fc(x.mean((2, 3))).view(b, c, 1, 1)
        return x * w.expand_as(x)


class CNN_SE(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding="same")
        self.se1 = SEBlock(32, reduction)
        self.conv2 = nn.Conv2d(32, 64, 3, padding="same")
        self.se2 = SEBlock(64, reduction)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(64 * (image_size // 4) * (image_size // 4), num_classes)

    def forward(self, x):
        x = self.se1(self.pool(F.relu(self.conv1(x))))
        x = self.se2(self.pool(F.relu(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding="same")
        self.conv2 = nn.Conv2d(32, 64, 3, padding="same")
        self.pool = nn.MaxPool2d(2, 2)
        self.attn = nn.MultiheadAttention((image_size // 4) ** 2, num_heads, batch_first=True)
        self.fc = nn.Linear(64 * (image_size // 4) * (image_size // 4), num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv2(self.pool(F.relu(self.conv1(x))))))
        tokens = x.flatten(2)
        out, _ = self.attn(tokens, tokens, tokens)
        return self.fc(torch.flatten(x + out.reshape_as(x), 1))
