"""Corpus (correct): a Python loop over the channels for the SE gating, the squeeze with
F.adaptive_avg_pool2d, x.view(x.size(0), -1); attention built sequence-first (batch_first=False)
and fed [64, B, H*W] with permutes.
"""

import torch
import torch.nn.functional as F
from torch import nn


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=(3, 3), stride=1, padding=(1, 1))
        self.conv2 = nn.Conv2d(32, 64, kernel_size=(3, 3), stride=1, padding=(1, 1))
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), kernel_size=2, stride=2))
        x = F.relu(F.max_pool2d(self.conv2(x), kernel_size=2, stride=2))
        x = x.contiguous().view(x.size(0), -1)
        return self.fc(x)


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.channels = channels
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channels, reduction, bias=False), nn.ReLU(),
                                nn.Linear(reduction, channels, bias=False), nn.Sigmoid())

    def forward(self, x):
        gates = self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
        scaled = []
        for channel in range(self.channels):
            scaled.append(x[:, channel] * gates[:, channel].view(-1, 1, 1))
        return torch.stack(scaled, dim=1)


class CNN_SE(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=(3, 3), stride=1, padding=(1, 1))
        self.se1 = SEBlock(32, reduction=reduction)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=(3, 3), stride=1, padding=(1, 1))
        self.se2 = SEBlock(64, reduction=reduction)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = self.se1(F.relu(F.max_pool2d(self.conv1(x), kernel_size=2, stride=2)))
        x = self.se2(F.relu(F.max_pool2d(self.conv2(x), kernel_size=2, stride=2)))
        return self.fc(x.contiguous().view(x.size(0), -1))


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=(3, 3), stride=1, padding=(1, 1))
        self.conv2 = nn.Conv2d(32, 64, kernel_size=(3, 3), stride=1, padding=(1, 1))
        self.attn = nn.MultiheadAttention(embed_dim=(image_size // 4) ** 2, num_heads=num_heads)  # sequence-first
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), kernel_size=2, stride=2))
        x = F.relu(F.max_pool2d(self.conv2(x), kernel_size=2, stride=2))
        b, c, h, w = x.size()
        seq = x.view(b, c, h * w).permute(1, 0, 2)  # [64 tokens, B, H*W]
        attended = self.attn(seq, seq, seq, need_weights=False)[0].permute(1, 0, 2)
        x = x + attended.reshape(b, c, h, w)
        return self.fc(x.contiguous().view(x.size(0), -1))
