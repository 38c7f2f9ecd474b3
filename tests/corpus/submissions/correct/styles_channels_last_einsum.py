"""Corpus (correct): the SE block computed channels-last (permute to [B, H, W, C] and back), the
gating as an einsum; torch.max_pool2d and clamp(min=0) for the ReLU; keyword-argument attention
whose tokens come from x.view(b, c, -1), added with torch.add.
"""

import torch
from torch import nn


def layer(conv, x):
    return torch.max_pool2d(conv(x), 2).clamp(min=0)


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        side = image_size // 4
        self.conv1 = nn.Conv2d(in_channels=in_channels, out_channels=32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(in_channels=32, out_channels=64, kernel_size=3, padding=1)
        self.fc = nn.Linear(in_features=64 * side * side, out_features=num_classes)

    def forward(self, x):
        x = layer(self.conv2, layer(self.conv1, x))
        return self.fc(x.reshape(len(x), -1))


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.fc = nn.Sequential(nn.Linear(channels, reduction, bias=False), nn.ReLU(),
                                nn.Linear(reduction, channels, bias=False), nn.Sigmoid())

    def forward(self, x):
        nhwc = x.permute(0, 2, 3, 1)  # channels last
        gates = self.fc(nhwc.mean(dim=(1, 2)))  # [B, C]
        return torch.einsum("bhwc,bc->bhwc", nhwc, gates).permute(0, 3, 1, 2)


class CNN_SE(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        side = image_size // 4
        self.conv1 = nn.Conv2d(in_channels=in_channels, out_channels=32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(in_channels=32, out_channels=64, kernel_size=3, padding=1)
        self.se1 = SEBlock(channels=32, reduction=reduction)
        self.se2 = SEBlock(channels=64, reduction=reduction)
        self.fc = nn.Linear(in_features=64 * side * side, out_features=num_classes)

    def forward(self, x):
        x = self.se2(layer(self.conv2, self.se1(layer(self.conv1, x))))
        return self.fc(x.reshape(len(x), -1))


class CNN_SelfAttention(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        side = image_size // 4
        self.conv1 = nn.Conv2d(in_channels=in_channels, out_channels=32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(in_channels=32, out_channels=64, kernel_size=3, padding=1)
        self.attn = nn.MultiheadAttention(embed_dim=side * side, num_heads=num_heads, dropout=0.0, batch_first=True)
        self.fc = nn.Linear(in_features=64 * side * side, out_features=num_classes)

    def forward(self, x):
        x = layer(self.conv2, layer(self.conv1, x))
        b, c, h, w = x.shape
        tokens = x.view(b, c, -1)
        attended, _ = self.attn(query=tokens, key=tokens, value=tokens, need_weights=False)
        return self.fc(torch.add(x, attended.reshape(b, c, h, w)).reshape(b, -1))
