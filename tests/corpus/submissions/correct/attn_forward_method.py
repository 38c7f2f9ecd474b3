"""Corpus (correct): self.attn.forward(...) and self.se1.forward(...) instead of calling the modules.

Calling .forward directly skips the modules' hooks (a style some tutorials use), so nothing that
watches attn or the SE blocks through hooks sees them run. The attention module is built
sequence-first (nn.MultiheadAttention's default) and fed [64, B, H*W] tokens; the classifier is
an explicit x.view flatten.
"""

import torch
import torch.nn as nn


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = self.relu(self.pool(self.conv1(x)))
        x = self.relu(self.pool(self.conv2(x)))
        x = x.reshape(x.size(0), -1)
        return self.fc(x)


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
        b, c = x.shape[0], x.shape[1]
        w = self.fc.forward(self.avg_pool.forward(x).reshape(b, c))
        return x * w.reshape(b, c, 1, 1)


class CNN_SE(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()
        self.se1 = SEBlock(32, reduction)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.se2 = SEBlock(64, reduction)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = self.se1.forward(self.relu(self.pool(self.conv1(x))))
        x = self.se2.forward(self.relu(self.pool(self.conv2(x))))
        return self.fc(x.reshape(x.size(0), -1))


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.attn = nn.MultiheadAttention(embed_dim=(image_size // 4) ** 2, num_heads=num_heads)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = self.relu(self.pool(self.conv1(x)))
        x = self.relu(self.pool(self.conv2(x)))
        b, c, h, w = x.shape
        seq = x.reshape(b, c, h * w).permute(1, 0, 2)  # [channels, batch, H*W]: sequence first
        out, _ = self.attn.forward(seq, seq, seq)
        x = x + out.permute(1, 0, 2).reshape(b, c, h, w)
        return self.fc(x.reshape(b, -1))
