"""Corpus (correct): the SE block's Sigmoid applied outside fc, with torch.sigmoid.

fc is Linear -> ReLU -> Linear (indices 0 and 2 keep the spec's parameter names; a Sigmoid has no
parameters), and forward squashes fc's output with torch.sigmoid, so fc's own output is the
pre-sigmoid logit of the gate. The squeeze is a mean over H and W; attention is called with
need_weights=True and its weights discarded.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        out = F.relu(F.max_pool2d(self.conv1(x), 2, 2))
        out = F.relu(F.max_pool2d(self.conv2(out), 2, 2))
        out = out.view(out.size(0), -1)
        return self.fc(out)


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, reduction, bias=False),
            nn.ReLU(),
            nn.Linear(reduction, channels, bias=False),
        )

    def forward(self, x):
        squeeze = x.mean(dim=[2, 3])
        excitation = torch.sigmoid(self.fc(squeeze))
        return x * excitation[:, :, None, None]


class CNN_SE(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1, 1)
        self.se1 = SEBlock(32, reduction=reduction)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1)
        self.se2 = SEBlock(64, reduction=reduction)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        out = self.se1(F.relu(F.max_pool2d(self.conv1(x), 2, 2)))
        out = self.se2(F.relu(F.max_pool2d(self.conv2(out), 2, 2)))
        return self.fc(out.view(out.size(0), -1))


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1)
        self.attn = nn.MultiheadAttention((image_size // 4) ** 2, num_heads, batch_first=True)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        out = F.relu(F.max_pool2d(self.conv1(x), 2, 2))
        out = F.relu(F.max_pool2d(self.conv2(out), 2, 2))
        b, c, h, w = out.shape
        tokens = out.view(b, c, h * w)
        attended, _weights = self.attn(tokens, tokens, tokens)
        out = out + attended.contiguous().view(b, c, h, w)
        return self.fc(out.view(b, -1))
