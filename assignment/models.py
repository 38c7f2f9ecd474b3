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
  * Shapes use B = batch size, C = channels, S = image side (28 for Fashion-MNIST).
  * The comments give the lab text's skeletons; `???` and `...` are the parts you decide.

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
    fc: Linear from the flattened map (64 * (S // 4) ** 2 values) to num_classes logits.
    Input [B, in_channels, S, S] -> output [B, num_classes].
    """

    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        # TODO 1 (the lab text's skeleton):
        #   self.conv1 = nn.Conv2d(  ??? kernel_size=, padding=)
        #   self.conv2 = nn.Conv2d(  ??? kernel_size=, padding=)
        #   self.fc = nn.Linear(  ??? , num_classes)
        todo("CNN_Base.__init__: create self.conv1, self.conv2 and self.fc (TODO 1 in assignment/models.py)")

    def forward(self, x):
        # TODO 2 (the lab text's skeleton):
        #   x = F.relu(...
        #   x = ...
        #   x = x.view(x.size(0), -1)
        #   return self.fc(x)
        todo("CNN_Base.forward: conv -> max-pool -> ReLU twice, flatten, fc (TODO 2 in assignment/models.py)")


class SEBlock(nn.Module):
    """Squeeze-and-Excitation block: learns one weight in (0, 1) per channel and rescales x with it.

    ``reduction`` is the *hidden width* of the excitation MLP (channels -> reduction -> channels),
    as in the lab text; it is not the C/r ratio of the SENet paper.

    avg_pool:     the squeeze, global average pooling: [B, C, H, W] -> one mean per channel, [B, C]
    fc:           the excitation, nn.Sequential of Linear(channels, reduction, bias=False), ReLU,
                  Linear(reduction, channels, bias=False), Sigmoid: [B, C] -> gates [B, C] in (0, 1)
    Recalibrate:  x * gates viewed as [B, C, 1, 1]; output shape = input shape.
    Each sample's gates must come from that sample alone.
    """

    def __init__(self, channels, reduction=16):
        super().__init__()
        # TODO 3: the squeeze (GAP), called AdaptiveAvgPool2d in PyTorch.
        self.avg_pool = todo("SEBlock.__init__: set self.avg_pool, the squeeze (TODO 3 in assignment/models.py)")
        self.fc = nn.Sequential(  # Excitation (given by the lab text)
            nn.Linear(channels, reduction, bias=False),
            nn.ReLU(),
            nn.Linear(reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c, _, _ = x.size()  # b = batch size, c = channels
        # TODO 4 (the lab text's skeleton):
        #   y = ...  # GAP
        #   y = ...  # FC
        #   y = y.view(b, c, 1, 1)
        #   return x * y  # apply the weights to each channel
        todo("SEBlock.forward: squeeze with avg_pool, excite with fc, rescale x by the gates (TODO 4 in assignment/models.py)")


class CNN_SE(nn.Module):
    """CNN_Base with an SEBlock after each layer: conv -> max-pool -> ReLU -> SE, twice, then fc.

    conv1, conv2 and fc as in CNN_Base; se1 = SEBlock over the 32 channels of layer 1,
    se2 = SEBlock over the 64 channels of layer 2, both with hidden width ``reduction``.
    Input [B, in_channels, S, S] -> output [B, num_classes].
    """

    def __init__(self, in_channels=1, num_classes=10, image_size=28, reduction=16):
        super().__init__()
        # TODO 5 (the lab text's skeleton):
        #   self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        #   self.se1 = ???
        #   self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        #   self.se2 = ???
        #   self.fc = nn.Linear(  ??? , num_classes)
        todo("CNN_SE.__init__: create conv1, se1, conv2, se2 and fc (TODO 5 in assignment/models.py)")

    def forward(self, x):
        # TODO 6 (the lab text's skeleton):
        #   x = ???
        #   x = ???
        #   x = ???
        #   x = ???
        #   x = x.view(x.size(0), -1)  # batch size: x.size(0)
        #   return self.fc(x)
        todo("CNN_SE.forward: layer 1 -> se1 -> layer 2 -> se2 -> flatten -> fc (TODO 6 in assignment/models.py)")


class CNN_SelfAttention(nn.Module):
    """CNN_Base with multi-head self-attention across the 64 channels, added back residually.

    After the two layers the feature map is [B, 64, H, W] with H = W = image_size // 4. Treat each
    channel as one token whose embedding is its flattened H*W map: tokens [B, 64, H*W]. Attention
    then mixes channels, never pixels.

    conv1, conv2 and fc as in CNN_Base; attn = nn.MultiheadAttention with embed_dim = H*W and
    ``num_heads`` heads, taking its tokens batch first ([B, 64, H*W]). Its output, back in the
    feature map's shape, is added to the feature map before the flatten and fc.
    Input [B, in_channels, S, S] -> output [B, num_classes].
    """

    def __init__(self, in_channels=1, num_classes=10, image_size=28, num_heads=7):
        super().__init__()
        todo("CNN_SelfAttention.__init__: create conv1, conv2, attn and fc (TODO 7 in assignment/models.py)")

    def forward(self, x):
        todo("CNN_SelfAttention.forward: layers, channel tokens, attention, residual, fc (TODO 8 in assignment/models.py)")
