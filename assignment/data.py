"""Fashion-MNIST (and CIFAR-10) as preloaded uint8 tensors, offline first.

Fashion-MNIST is looked up in this order:
  1. ``data_dir`` (``--data-dir``) or the ``FASHION_MNIST_DIR`` environment variable;
  2. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
  3. torchvision's own download into ``data/`` (needs the internet).
The four ``.gz`` files are decoded once by torchvision and cached as one ``.pt`` file, so later
runs start in a fraction of a second. Images stay uint8 until a batch is drawn: 60k images are
47 MB instead of 188 MB, and the harness normalises each batch on the fly.
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import datasets

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_MNIST_CLASSES = tuple(datasets.FashionMNIST.classes)
#: Per-channel mean and std of the training images (pixel values in [0, 1]).
NORMALIZATION = {"fashion-mnist": ((0.2860,), (0.3530,)), "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))}


def default_data_root() -> Path:
    """Where downloads and caches go: ``$SELAB_DATA_ROOT`` or ``./data``."""
    return Path(os.environ.get("SELAB_DATA_ROOT", "data"))


@dataclass
class ImageSet:
    """A split as tensors: ``images`` uint8 [N, C, H, W], ``labels`` int64 [N]."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> "ImageSet":
        return ImageSet(self.images[indices], self.labels[indices], self.classes, self.name)

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return NORMALIZATION[self.name]


class DataNotFoundError(RuntimeError):
    """Raised when no source of the data set works; its message lists every way to fix that."""


def _find_raw_files(directory: Path) -> dict[str, Path] | None:
    """The four Fashion-MNIST files (``.gz`` or already extracted) in ``directory`` or a torchvision root below it."""
    for candidate in (directory, directory / "FashionMNIST" / "raw"):
        found = {}
        for name in RAW_FILES:
            for path in (candidate / name, candidate / f"{name}.gz"):
                if path.is_file():
                    found[name] = path
                    break
        if len(found) == len(RAW_FILES):
            return found
    return None


def _stage_raw_files(files: dict[str, Path], root: Path) -> None:
    """Put the extracted files where torchvision's FashionMNIST expects them (``root/FashionMNIST/raw``)."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        target = raw / name
        if target.is_file() and target.stat().st_size > 0:
            continue
        tmp = target.with_suffix(".part")
        opener = gzip.open if source.suffix == ".gz" else open
        with opener(source, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.replace(target)


def _to_image_set(dataset, name: str) -> ImageSet:
    images = torch.as_tensor(dataset.data)
    images = images.unsqueeze(1) if images.ndim == 3 and name == "fashion-mnist" else images.permute(0, 3, 1, 2)
    return ImageSet(images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.long), tuple(dataset.classes), name)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, root: Path | None = None, download: bool = True) -> tuple[ImageSet, ImageSet]:
    """Return (train, test) Fashion-MNIST, 60,000 and 10,000 images of 1x28x28."""
    root = Path(root) if root is not None else default_data_root()
    cache = root / "FashionMNIST" / "tensors.pt"
    if cache.is_file():
        blob = torch.load(cache, weights_only=True)
        return (ImageSet(blob["train_images"], blob["train_labels"], FASHION_MNIST_CLASSES, "fashion-mnist"),
                ImageSet(blob["test_images"], blob["test_labels"], FASHION_MNIST_CLASSES, "fashion-mnist"))

    explicit = data_dir or os.environ.get("FASHION_MNIST_DIR")
    tried = []
    for label, directory in ((f"--data-dir / FASHION_MNIST_DIR ({explicit})", explicit), (f"Debian package dataset-fashion-mnist ({DEBIAN_DIR})", DEBIAN_DIR)):
        if not directory:
            tried.append(f"{label}: not set")
            continue
        files = _find_raw_files(Path(directory))
        if files is None:
            tried.append(f"{label}: the four files {', '.join(f + '.gz' for f in RAW_FILES)} are not there")
            continue
        _stage_raw_files(files, root)
        break
    try:
        train = datasets.FashionMNIST(root, train=True, download=download)
        test = datasets.FashionMNIST(root, train=False, download=download)
    except Exception as error:  # torchvision raises RuntimeError or URLError subclasses offline
        tried.append(f"torchvision download into {root}/: {type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}")
        raise DataNotFoundError(
            "Fashion-MNIST could not be loaded. Tried, in order:\n  - " + "\n  - ".join(tried) +
            "\nFix one of them: pass --data-dir DIR (or set FASHION_MNIST_DIR) to a folder with the four .gz files, "
            "install Debian's package (sudo apt-get install dataset-fashion-mnist), or connect to the internet."
        ) from None
    train_set, test_set = _to_image_set(train, "fashion-mnist"), _to_image_set(test, "fashion-mnist")
    tmp = cache.with_suffix(".part")
    torch.save({"train_images": train_set.images, "train_labels": train_set.labels,
                "test_images": test_set.images, "test_labels": test_set.labels}, tmp)
    tmp.replace(cache)
    return train_set, test_set


def load_cifar10(root: Path | None = None, download: bool = True) -> tuple[ImageSet, ImageSet]:
    """Return (train, test) CIFAR-10 as 3x32x32 uint8 tensors through torchvision (downloads when online)."""
    root = Path(root) if root is not None else default_data_root()
    train = datasets.CIFAR10(root, train=True, download=download)
    test = datasets.CIFAR10(root, train=False, download=download)
    return _to_image_set(train, "cifar10"), _to_image_set(test, "cifar10")


def load_dataset(name: str, data_dir: str | None = None, root: Path | None = None) -> tuple[ImageSet, ImageSet]:
    """(train, test) for ``name`` in {"fashion-mnist", "cifar10"}."""
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir, root)
    if name == "cifar10":
        return load_cifar10(root)
    raise ValueError(f"unknown dataset {name!r}; expected 'fashion-mnist' or 'cifar10'")
