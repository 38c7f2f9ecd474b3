"""The short training's bf16 autocast is the grader's speed-up, never the student's problem."""

import importlib.util
from pathlib import Path

import torch

from grader.operations import Operations, _usable_precision

ROOT = Path(__file__).resolve().parents[2]
# A correct CNN_Base whose forward writes its logits into a float32 buffer it made itself: fine in fp32,
# "Index put requires the source and destination dtypes match" under bf16 autocast.
OWN_BUFFER = '''
import torch
from torch import nn


class CNN_Base(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.fc = nn.Linear(4 * image_size * image_size, num_classes)

    def forward(self, x):
        logits = torch.zeros(x.shape[0], self.fc.out_features)
        logits.index_put_((torch.arange(x.shape[0]),), self.fc(torch.relu(self.conv(x)).flatten(1)))
        return logits
'''


def operations(source: str, tmp_path: Path) -> Operations:
    path = tmp_path / "models.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("precision_subject", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Operations(module, str(path))


def data(count: int = 128):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(count, 1, 28, 28, generator=generator), torch.randint(0, 10, (count,), generator=generator)


def test_a_forward_that_breaks_under_autocast_is_trained_in_fp32(tmp_path):
    ops = operations(OWN_BUFFER, tmp_path)
    model = ops._model(ops.build("CNN_Base", {}, 0))
    images, labels = data()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        try:
            model(images[:2])
        except RuntimeError as error:
            assert "dtype" in str(error)
        else:
            raise AssertionError("the example must break under autocast, or it proves nothing")
    assert _usable_precision(model, images[:2], "bf16") == "fp32"
    budget = {"epochs": 1, "batch_size": 32, "learning_rate": 0.004, "weight_decay": 0.0005}
    in_bf16 = ops.short_train("CNN_Base", {}, 0, images, labels, precision="bf16", **budget)
    in_fp32 = ops.short_train("CNN_Base", {}, 0, images, labels, precision="fp32", **budget)
    assert all(torch.equal(in_bf16[name], in_fp32[name]) for name in in_fp32), "the fallback is the fp32 training"


def test_the_reference_trains_in_bf16_when_asked(tmp_path):
    ops = operations((ROOT / "reference" / "models.py").read_text(), tmp_path)
    model = ops._model(ops.build("CNN_SelfAttention", {}, 0))
    images, labels = data()
    assert _usable_precision(model, images[:2], "bf16") == "bf16"
    budget = {"epochs": 1, "batch_size": 32, "learning_rate": 0.004, "weight_decay": 0.0005}
    in_bf16 = ops.short_train("CNN_SelfAttention", {}, 0, images, labels, precision="bf16", **budget)
    in_fp32 = ops.short_train("CNN_SelfAttention", {}, 0, images, labels, precision="fp32", **budget)
    assert all(torch.isfinite(value).all() for value in in_bf16.values())
    assert any(not torch.equal(in_bf16[name], in_fp32[name]) for name in in_fp32), "bf16 must really be used"
