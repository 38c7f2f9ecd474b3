"""Corpus (correct): every module is created in a different order from the reference.

The state_dict keys are the same, but the random initialisation differs (the RNG is consumed
in another order), so this proves the short-training check accepts any correct model, not
only the reference's exact starting point.
"""

import torch
import torch.nn.functional as F
from torch import nn


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc(x.flatten(1))


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, reduction, bias=False),
            nn.ReLU(),
            nn.Linear(reduction, channels, bias=False),
            nn.Sigmoid(),
        )
        self.avg_pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        b, c, _, _ = x.shape
        y = self.fc(self.avg_pool(x).view(b, c))
        return x * y.view(b, c, 1, 1)


class CNN_SE(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        self.se2 = SEBlock(64, reduction)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)
        self.se1 = SEBlock(32, reduction)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)

    def forward(self, x):
        x = self.se1(F.relu(F.max_pool2d(self.conv1(x), 2)))
        x = self.se2(F.relu(F.max_pool2d(self.conv2(x), 2)))
        return self.fc(x.flatten(1))


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim=(image_size // 4) ** 2, num_heads=num_heads, batch_first=True)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        b, c, h, w = x.shape
        tokens = x.reshape(b, c, h * w)
        attended, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        x = x + attended.reshape(b, c, h, w)
        return self.fc(x.flatten(1))
