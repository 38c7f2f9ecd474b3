"""A small, seeded, deterministic training loop for the lab's networks.

Why these choices, for ~50k-parameter CNNs on 28x28 images and a CPU:
- AdamW with a one-cycle schedule (warm-up then cosine decay) converges in 15 epochs without
  tuning per model, so the comparison measures the architectures, not the learning rate;
- batch 256 keeps two CPU cores busy (larger batches were slower per image and hurt accuracy);
- random horizontal flips (label-preserving for clothes) cut the train/test gap at no cost;
- data live in memory as uint8 tensors, batches are flipped as uint8 and normalised on the fly, and
  conv layers run in ``channels_last`` layout, which oneDNN executes about twice as fast on CPU;
- on CPUs with native bfloat16 arithmetic (AVX512-BF16 or AMX) the forward pass runs under bf16
  autocast (``precision="auto"``): ~1.7x faster for CNN_Base at the same 15-epoch accuracy (see
  docs/performance.md, "Levers"). Attention layers stay fp32 (assignment/precision.py);
- evaluation uses small batches (``EVAL_BATCH_SIZE``) so each batch's activations stay in cache.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from assignment.data import ImageSet
from assignment.precision import resolve_precision, training_precision

#: Images per evaluation batch. Small on purpose: CNN_Base's first layer makes 100 KB of activations
#: per image, so 256 images stay in the CPU's caches while 2000 (200 MB) ran 2-4x slower per image.
EVAL_BATCH_SIZE = 256


@dataclass
class TrainConfig:
    epochs: int = 15
    batch_size: int = 256
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule
    weight_decay: float = 5e-4
    augment: bool = True  # random horizontal flips
    seed: int = 0
    eval_batch_size: int = EVAL_BATCH_SIZE
    device: str = "auto"  # "auto" picks cuda, then mps, then cpu
    channels_last: bool = True
    progress: bool = True
    #: "auto": bf16 autocast for training on a CPU with native bf16 arithmetic, fp32 everywhere else;
    #: "fp32" (the plain path) or "bf16" force one. Evaluation always runs in fp32.
    precision: str = "auto"


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float  # training time of this epoch, evaluation excluded
    images_per_second: float


@dataclass
class History:
    config: dict
    epochs: list[EpochStats] = field(default_factory=list)

    @property
    def final_accuracy(self) -> float:
        return self.epochs[-1].test_accuracy

    @property
    def train_seconds(self) -> float:
        return sum(e.seconds for e in self.epochs)

    def to_dict(self) -> dict:
        return {"config": self.config, "epochs": [asdict(e) for e in self.epochs]}


def seed_everything(seed: int) -> None:
    """Seed every generator a model's initialisation or training could draw from."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(device: str = "auto") -> torch.device:
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def supports_channels_last(model: nn.Module, data: ImageSet, device: torch.device) -> bool:
    """Switch ``model`` to channels_last unless its forward needs contiguous tensors.

    The lab text flattens with ``x.view(x.size(0), -1)``, which is correct but fails on channels_last
    feature maps; such a model trains in the default layout instead (slower, same results).
    """
    model.to(memory_format=torch.channels_last)
    try:
        with torch.no_grad():
            model(prepare_batch(data.images[:2], data, device, channels_last=True))
        return True
    except RuntimeError:
        model.to(memory_format=torch.contiguous_format)
        return False


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, with the fused single-kernel update where this torch build offers it for the device."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # old torch, or a device without a fused kernel
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def prepare_batch(images: torch.Tensor, data: ImageSet, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 [B, C, H, W] -> normalised float32 on ``device``."""
    mean, std = data.mean_std
    x = images.to(device, non_blocking=True).float().div_(255)
    x.sub_(torch.tensor(mean, device=device).view(1, -1, 1, 1)).div_(torch.tensor(std, device=device).view(1, -1, 1, 1))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip a random half of the batch left-right; the draw comes from the seeded ``generator``.

    Works on any dtype; the harness flips the uint8 images, before normalisation (4x fewer bytes).
    """
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)


@torch.no_grad()
def predict(model: nn.Module, data: ImageSet, batch_size: int = EVAL_BATCH_SIZE, device: torch.device | None = None,
            channels_last: bool = True) -> torch.Tensor:
    """Predicted class of every image, in eval mode."""
    device = device or next(model.parameters()).device
    model.eval()
    predictions = [model(prepare_batch(data.images[i:i + batch_size], data, device, channels_last)).argmax(1).cpu()
                   for i in range(0, len(data), batch_size)]
    return torch.cat(predictions)


def evaluate(model: nn.Module, data: ImageSet, batch_size: int = EVAL_BATCH_SIZE, device: torch.device | None = None,
             channels_last: bool = True) -> float:
    """Top-1 accuracy in [0, 1]."""
    return (predict(model, data, batch_size, device, channels_last) == data.labels).float().mean().item()


def train_model(model: nn.Module, train: ImageSet, test: ImageSet, config: TrainConfig, desc: str = "train") -> History:
    """Train ``model`` in place and return its per-epoch history (loss, accuracies, speed)."""
    device = pick_device(config.device)
    model.to(device)
    channels_last = config.channels_last and supports_channels_last(model, train, device)
    generator = torch.Generator().manual_seed(config.seed)
    precision = resolve_precision(config.precision, device)
    optimizer = make_optimizer(model, config)
    steps_per_epoch = (len(train) + config.batch_size - 1) // config.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, epochs=config.epochs,
                                                   steps_per_epoch=steps_per_epoch)
    history = History(config=asdict(config) | {"precision_used": precision})
    bar = tqdm(total=config.epochs * steps_per_epoch, desc=desc, disable=not config.progress, leave=False,
               unit="batch", dynamic_ncols=True)
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        start = time.perf_counter()
        for i in range(0, len(train), config.batch_size):
            index = order[i:i + config.batch_size]
            images = random_flip(train.images[index], generator) if config.augment else train.images[index]
            x = prepare_batch(images, train, device, channels_last)
            y = train.labels[index].to(device, non_blocking=True)
            with training_precision(model, precision, device.type):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach() * len(index)
            correct += (logits.detach().argmax(1) == y).sum()
            bar.update()
        seconds = time.perf_counter() - start
        stats = EpochStats(epoch, loss_sum.item() / len(train), correct.item() / len(train),
                           evaluate(model, test, config.eval_batch_size, device, channels_last),
                           seconds, len(train) / seconds)
        history.epochs.append(stats)
        bar.set_postfix(loss=f"{stats.train_loss:.3f}", test_acc=f"{stats.test_accuracy:.2%}")
    bar.close()
    return history
