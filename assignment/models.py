"""Channel attention lab: YOUR models. Fill in every TODO; do not rename classes or attributes.

Four networks, in the order of the lab text:

  CNN_Base           two conv layers + a linear classifier (no attention)
  SEBlock            Squeeze-and-Excitation: channel-wise gates in (0, 1)
  CNN_SE             CNN_Base with an SEBlock after each conv layer
  CNN_SelfAttention  CNN_Base with nn.MultiheadAttention over *channels* (not pixels)

Rules the tests and the grader rely on:
  * Keep the class names, constructor arguments and attribute names (conv1, conv2, fc, se1, se2,
    avg_pool, attn): the grader loads the reference weights into your model by these names.
  * This file must be self-contained: import only torch (and the standard library).
  * Shapes in comments use B = batch size, C = channels, S = image side (28 for Fashion-MNIST).

Each TODO raises NotImplementedError until you replace it, so `pytest` tells you which piece is
"not implemented yet". Run `pytest tests/public -q` after each step.
"""

import torch
import torch.nn.functional as F
from torch import nn


def todo(what: str):
    """Placeholder for code you have to write. Delete the call once you have written it."""
    raise NotImplementedError(f"not implemented yet: {what}")


class CNN_Base(nn.Module):
    """Baseline CNN: two layers of [conv 3x3 (padding 1) -> max-pool 2 -> ReLU], then one Linear.

    conv1: in_channels -> 32 channels;  conv2: 32 -> 64 channels.
    Each max-pool halves the side, so the last feature map is 64 x (S // 4) x (S // 4).
    """

    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        # TODO 1: create the two convolutions and the classifier.
        #   self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        #   self.conv2: 32 -> 64 channels, same kernel size and padding
        #   self.fc: Linear from the flattened feature map (64 * (image_size // 4) ** 2 values) to num_classes
        todo("CNN_Base.__init__: create self.conv1, self.conv2 and self.fc (TODO 1 in assignment/models.py)")

    def forward(self, x):
        # x: [B, in_channels, S, S]
        # TODO 2: layer 1 = relu(max_pool2d(conv1(x), 2))  -> [B, 32, S/2, S/2]
        #         layer 2 = the same with conv2            -> [B, 64, S/4, S/4]
        #         flatten to [B, 64 * (S//4)**2] (x.flatten(1) or x.reshape(x.size(0), -1)), then fc -> [B, num_classes]
        todo("CNN_Base.forward: conv -> max-pool -> ReLU twice, flatten, fc (TODO 2 in assignment/models.py)")


class SEBlock(nn.Module):
    """Squeeze-and-Excitation block: learns one weight in (0, 1) per channel and rescales x with it.

    ``reduction`` is the *hidden width* of the excitation MLP (channels -> reduction -> channels),
    as in the lab text; it is not the C/r ratio of the SENet paper.

    Squeeze:      global average pooling, [B, C, H, W] -> [B, C]
    Excitation:   the MLP self.fc, [B, C] -> gates [B, C] in (0, 1)
    Recalibrate:  x * gates viewed as [B, C, 1, 1]
    Each sample's gates must come from that sample alone.
    """

    def __init__(self, channels, reduction=16):
        super().__init__()
        # TODO 3: the squeeze, a global average pooling layer with output size 1 x 1.
        self.avg_pool = todo("SEBlock.__init__: set self.avg_pool = nn.AdaptiveAvgPool2d(1) (TODO 3 in assignment/models.py)")
        self.fc = nn.Sequential(  # Excitation (given by the lab text)
            nn.Linear(channels, reduction, bias=False),
            nn.ReLU(),
            nn.Linear(reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c, _, _ = x.size()  # b = batch size, c = channels
        # TODO 4: y = self.avg_pool(x) viewed as [b, c]; y = self.fc(y); y = y.view(b, c, 1, 1); return x * y
        todo("SEBlock.forward: squeeze with avg_pool, excite with fc, return x * gates (TODO 4 in assignment/models.py)")


class CNN_SE(nn.Module):
    """CNN_Base with an SEBlock after each layer: conv -> max-pool -> ReLU -> SE, twice, then fc."""

    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        # TODO 5: as CNN_Base, plus the two SE blocks:
        #   self.conv1 (in_channels -> 32), self.se1 = SEBlock(32, reduction),
        #   self.conv2 (32 -> 64),          self.se2 = SEBlock(64, reduction),
        #   self.fc (64 * (image_size // 4) ** 2 -> num_classes)
        todo("CNN_SE.__init__: create conv1, se1, conv2, se2 and fc (TODO 5 in assignment/models.py)")

    def forward(self, x):
        # TODO 6: x = se1(relu(max_pool2d(conv1(x), 2))); x = se2(relu(max_pool2d(conv2(x), 2))); flatten; fc
        todo("CNN_SE.forward: layer 1 -> se1 -> layer 2 -> se2 -> flatten -> fc (TODO 6 in assignment/models.py)")


class CNN_SelfAttention(nn.Module):
    """CNN_Base with multi-head self-attention across the 64 channels, added back residually.

    After the two layers the feature map is [B, 64, H, W] with H = W = image_size // 4. Treat each
    channel as one token whose embedding is its flattened H*W map: tokens [B, 64, H*W]. Attention
    then mixes channels, never pixels.
    """

    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        # TODO 7: conv1, conv2 and fc as in CNN_Base, and
        #   self.attn = nn.MultiheadAttention(embed_dim=(image_size // 4) ** 2, num_heads=num_heads, batch_first=True)
        todo("CNN_SelfAttention.__init__: create conv1, conv2, attn and fc (TODO 7 in assignment/models.py)")

    def forward(self, x):
        # TODO 8: the two layers as in CNN_Base -> x: [B, 64, H, W]
        #   tokens = x.reshape(B, 64, H * W)
        #   out, _ = self.attn(tokens, tokens, tokens)
        #   x = x + out.reshape(B, 64, H, W)      (residual; use reshape, not view)
        #   flatten, fc
        todo("CNN_SelfAttention.forward: layers, channel tokens, attention, residual, fc (TODO 8 in assignment/models.py)")
