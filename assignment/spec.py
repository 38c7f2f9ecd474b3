"""The lab's API in one place: names, defaults and the parameter layout every model must have.

Stubs, reference, public tests, hidden tests and docs all read these facts from here, so a
change to the spec is a change in one file. Nothing here is part of the solution: it is what
the lab text and its instructions already tell students.
"""

from __future__ import annotations

CONV1_CHANNELS = 32
CONV2_CHANNELS = 64
KERNEL_SIZE = 3
PADDING = 1
DEFAULT_REDUCTION = 16
DEFAULT_NUM_HEADS = 7  # (28 // 4) ** 2 = 49 = 7 * 7; use 8 for 3x32x32 inputs (embed_dim 64)

#: Short names used on the command line -> class names in models.py.
MODEL_KEYS = {"base": "CNN_Base", "se": "CNN_SE", "attn": "CNN_SelfAttention"}
CLASS_NAMES = ("CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention")

#: Input layouts every network must support: (in_channels, image_size, num_heads for attention).
INPUT_CONFIGS = ((1, 28, 7), (3, 32, 8))


def feature_size(image_size: int) -> int:
    """Side of the last feature map: two 2x2 max-pools floor-divide the image side by 4."""
    return image_size // 4


def flat_features(image_size: int) -> int:
    """Inputs of the final ``fc`` layer: 64 channels of ``feature_size`` squared pixels."""
    return CONV2_CHANNELS * feature_size(image_size) ** 2


def _conv(prefix: str, cin: int, cout: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (cout, cin, KERNEL_SIZE, KERNEL_SIZE), f"{prefix}.bias": (cout,)}


def _se(prefix: str, channels: int, reduction: int) -> dict[str, tuple[int, ...]]:
    # fc = Sequential(Linear(C, r, bias=False), ReLU, Linear(r, C, bias=False), Sigmoid): indices 0 and 2.
    return {f"{prefix}fc.0.weight": (reduction, channels), f"{prefix}fc.2.weight": (channels, reduction)}


def state_dict_shapes(class_name: str, **kwargs) -> dict[str, tuple[int, ...]]:
    """Every ``state_dict`` key of ``class_name(**kwargs)`` and its tensor shape.

    >>> state_dict_shapes("SEBlock", channels=32)["fc.0.weight"]
    (16, 32)
    """
    if class_name == "SEBlock":
        return _se("", kwargs["channels"], kwargs.get("reduction", DEFAULT_REDUCTION))
    in_channels = kwargs.get("in_channels", 1)
    num_classes = kwargs.get("num_classes", 10)
    image_size = kwargs.get("image_size", 28)
    shapes = _conv("conv1", in_channels, CONV1_CHANNELS) | _conv("conv2", CONV1_CHANNELS, CONV2_CHANNELS)
    if class_name == "CNN_SE":
        reduction = kwargs.get("reduction", DEFAULT_REDUCTION)
        shapes |= _se("se1.", CONV1_CHANNELS, reduction) | _se("se2.", CONV2_CHANNELS, reduction)
    elif class_name == "CNN_SelfAttention":
        embed = feature_size(image_size) ** 2
        shapes |= {
            "attn.in_proj_weight": (3 * embed, embed),
            "attn.in_proj_bias": (3 * embed,),
            "attn.out_proj.weight": (embed, embed),
            "attn.out_proj.bias": (embed,),
        }
    elif class_name != "CNN_Base":
        raise KeyError(f"unknown class {class_name!r}; expected one of {CLASS_NAMES}")
    return shapes | {"fc.weight": (num_classes, flat_features(image_size)), "fc.bias": (num_classes,)}


def parameter_count(class_name: str, **kwargs) -> int:
    """Number of trainable parameters of ``class_name(**kwargs)``, derived from its state_dict layout."""
    total = 0
    for shape in state_dict_shapes(class_name, **kwargs).values():
        size = 1
        for dim in shape:
            size *= dim
        total += size
    return total
