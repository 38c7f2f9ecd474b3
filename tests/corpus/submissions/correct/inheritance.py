"""Corpus (correct): the CNNs share code by inheritance and a ``features`` hook.

CNN_SE and CNN_SelfAttention subclass CNN_Base (so conv1, conv2 and fc are registered first,
then se1/se2 or attn: a different registration order and initialisation than the reference),
and override one hook method each. The SE gates use ``torch.sigmoid`` through the module.
"""

import torch
import torch.nn.functional as F
from torch import nn


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)

    def after_layer(self, index, x):
        """Hook run after each feature layer; the baseline leaves the features alone."""
        return x

    def after_features(self, x):
        return x

    def forward(self, x):
        for index, conv in enumerate((self.conv1, self.conv2)):
            x = self.after_layer(index, F.relu(F.max_pool2d(conv(x), 2)))
        return self.fc(torch.flatten(self.after_features(x), start_dim=1))


class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.fc = nn.Sequential(
            nn.Linear(channels, reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        gates = self.fc(self.avg_pool(x).squeeze(-1).squeeze(-1))
        return x * gates.unsqueeze(-1).unsqueeze(-1)


class CNN_SE(CNN_Base):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__(in_channels, num_classes, image_size)
        self.se1 = SEBlock(32, reduction)
        self.se2 = SEBlock(64, reduction)

    def after_layer(self, index, x):
        return (self.se1, self.se2)[index](x)


class CNN_SelfAttention(CNN_Base):
    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__(in_channels, num_classes, image_size)
        self.attn = nn.MultiheadAttention(embed_dim=(image_size // 4) ** 2, num_heads=num_heads, batch_first=True)

    def after_features(self, x):
        tokens = x.flatten(2)
        attended, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return x + attended.reshape_as(x)
