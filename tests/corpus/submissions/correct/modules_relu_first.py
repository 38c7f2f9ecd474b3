"""Corpus (correct): parameter-free layers as modules, ReLU *before* max-pool, SE MLP in a ModuleList.

ReLU and max-pool commute exactly (ReLU is monotone), so relu-then-pool is the same function
as the lab's pool-then-relu. Extra parameter-free modules (MaxPool2d, ReLU, Flatten) add no
state_dict entries, and a ModuleList named ``fc`` keeps the keys ``fc.0.weight``/``fc.2.weight``.
"""

import torch
from torch import nn


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        return self.fc(self.flatten(x))


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.ModuleList(
            [nn.Linear(channels, reduction, bias=False), nn.ReLU(), nn.Linear(reduction, channels, bias=False), nn.Sigmoid()]
        )

    def forward(self, x):
        y = self.avg_pool(x).flatten(1)
        for layer in self.fc:
            y = layer(y)
        return x * y[:, :, None, None]


class CNN_SE(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.se1 = SEBlock(32, reduction)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.se2 = SEBlock(64, reduction)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.se1(self.pool(self.relu(self.conv1(x))))
        x = self.se2(self.pool(self.relu(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.attn = nn.MultiheadAttention((image_size // 4) ** 2, num_heads, batch_first=True)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        tokens = torch.flatten(x, 2)  # [B, 64, H*W]: one token per channel
        attended = self.attn(tokens, tokens, tokens, need_weights=False)[0]
        x = torch.add(x, attended.reshape(x.shape))
        return self.fc(torch.flatten(x, 1))
