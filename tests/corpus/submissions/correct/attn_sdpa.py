"""Corpus (correct): attention through F.scaled_dot_product_attention on self.attn's projections.

The in-projection is split into its query/key/value blocks and applied with F.linear, the heads go
through the fused F.scaled_dot_product_attention kernel, and the output projection is F.linear on
attn.out_proj's parameters: self.attn itself is never called. Elsewhere: nn.Flatten, a
ReLU-then-pool order (they commute) and an SE gate broadcast with unsqueeze.
"""

import torch
from torch import nn
from torch.nn import functional as F


class CNN_Base(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=(3, 3), padding=(1, 1))
        self.conv2 = nn.Conv2d(32, 64, kernel_size=(3, 3), padding=(1, 1))
        side = image_size // 4
        self.fc = nn.Linear(64 * side * side, num_classes)
        self.flatten = nn.Flatten()

    def features(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), kernel_size=2)
        return F.max_pool2d(torch.relu(self.conv2(x)), kernel_size=2)

    def forward(self, x):
        return self.fc(self.flatten(self.features(x)))


class SEBlock(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channels, reduction, bias=False), nn.ReLU(),
                                nn.Linear(reduction, channels, bias=False), nn.Sigmoid())

    def forward(self, x):
        s = self.avg_pool(x).flatten(1)
        g = self.fc(s)
        return x * g.unsqueeze(-1).unsqueeze(-1)


class CNN_SE(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, reduction: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=(3, 3), padding=(1, 1))
        self.se1 = SEBlock(32, reduction)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=(3, 3), padding=(1, 1))
        self.se2 = SEBlock(64, reduction)
        side = image_size // 4
        self.fc = nn.Linear(64 * side * side, num_classes)

    def forward(self, x):
        x = self.se1(F.max_pool2d(torch.relu(self.conv1(x)), kernel_size=2))
        x = self.se2(F.max_pool2d(torch.relu(self.conv2(x)), kernel_size=2))
        return self.fc(x.flatten(1))


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, num_heads: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=(3, 3), padding=(1, 1))
        self.conv2 = nn.Conv2d(32, 64, kernel_size=(3, 3), padding=(1, 1))
        side = image_size // 4
        self.attn = nn.MultiheadAttention(embed_dim=side * side, num_heads=num_heads, batch_first=True)
        self.fc = nn.Linear(64 * side * side, num_classes)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), kernel_size=2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), kernel_size=2)
        B, C, H, W = x.shape
        tokens = x.flatten(2)  # [B, C, H*W]: every channel is a token
        heads = self.attn.num_heads
        w_q, w_k, w_v = self.attn.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.attn.in_proj_bias.chunk(3)

        def split(t):
            return t.reshape(B, C, heads, -1).permute(0, 2, 1, 3)

        q, k, v = split(F.linear(tokens, w_q, b_q)), split(F.linear(tokens, w_k, b_k)), split(F.linear(tokens, w_v, b_v))
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.permute(0, 2, 1, 3).reshape(B, C, H * W)
        out = F.linear(out, self.attn.out_proj.weight, self.attn.out_proj.bias)
        return self.fc((x + out.reshape(B, C, H, W)).flatten(1))
