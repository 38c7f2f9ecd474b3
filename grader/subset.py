"""The fixed Fashion-MNIST subset bundled with the grader for the short-training checks.

``python -m grader build-subset`` writes ``grader/data/fashion-mnist-subset.npz`` (gitignored: data
are never committed) from the official Fashion-MNIST files, found as the lab's own loader finds them
(``--data-dir``/``$FASHION_MNIST_DIR``, else Debian's ``dataset-fashion-mnist``). The subset is
class-balanced and chosen by a fixed seed, so every build is byte-identical; its digest is recorded
in ``grader/calibration.json`` so thresholds are never applied to other data. Grading builds it on
demand when it is missing.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).with_name("data")
SUBSET_PATH = DATA_DIR / "fashion-mnist-subset.npz"
TRAIN_PER_CLASS = 600  # 6,000 training images: room to raise [training] train_images without a rebuild
TEST_PER_CLASS = 300   # 3,000 held-out test images
SELECTION_SEED = 20240601


class SubsetError(RuntimeError):
    """The subset is missing and cannot be built, or is not the one the thresholds were calibrated on."""


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format: big-endian header, then uint8 data) as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = data[0:2], data[2], data[3]
    if zero != b"\0\0" or dtype_code != 0x08:
        raise SubsetError(f"{path} is not an IDX file of unsigned bytes")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _raw_files(data_dir: str | os.PathLike | None) -> dict[str, Path]:
    from assignment.data import DEBIAN_DIR, RAW_FILES  # the lab loader's own source of truth

    candidates = [Path(d) for d in (data_dir, os.environ.get("FASHION_MNIST_DIR")) if d] + [DEBIAN_DIR]
    for directory in candidates:
        for folder in (directory, directory / "FashionMNIST" / "raw"):
            found = {}
            for name in RAW_FILES:
                for path in (folder / f"{name}.gz", folder / name):
                    if path.is_file():
                        found[name] = path
                        break
            if len(found) == len(RAW_FILES):
                return found
    raise SubsetError("Fashion-MNIST files not found in " + ", ".join(map(str, candidates)) +
                      "; pass --data-dir DIR or install Debian's dataset-fashion-mnist")


def _pick(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    order = rng.permutation(len(labels))
    chosen = np.concatenate([order[labels[order] == c][:per_class] for c in range(10)])
    return chosen[rng.permutation(len(chosen))]  # shuffled: any prefix is (nearly) class-balanced


def build_subset(data_dir: str | os.PathLike | None = None, out: Path = SUBSET_PATH) -> Path:
    """Write the subset (deterministic) and return its path."""
    from assignment.data import NORMALIZATION

    files = _raw_files(data_dir)
    train_x, train_y = _read_idx(files["train-images-idx3-ubyte"]), _read_idx(files["train-labels-idx1-ubyte"])
    test_x, test_y = _read_idx(files["t10k-images-idx3-ubyte"]), _read_idx(files["t10k-labels-idx1-ubyte"])
    rng = np.random.default_rng(SELECTION_SEED)
    train_idx, test_idx = _pick(train_y, TRAIN_PER_CLASS, rng), _pick(test_y, TEST_PER_CLASS, rng)
    mean, std = NORMALIZATION["fashion-mnist"]
    arrays = {
        "train_images": train_x[train_idx][:, None].copy(), "train_labels": train_y[train_idx].astype(np.int64),
        "test_images": test_x[test_idx][:, None].copy(), "test_labels": test_y[test_idx].astype(np.int64),
        "mean": np.array(mean, dtype=np.float64), "std": np.array(std, dtype=np.float64),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    tmp.replace(out)
    return out


@dataclass(frozen=True)
class Subset:
    """Normalised float32 images [N, 1, 28, 28] and int64 labels, plus the digest of the raw arrays."""

    train_images: "torch.Tensor"  # noqa: F821
    train_labels: "torch.Tensor"  # noqa: F821
    test_images: "torch.Tensor"  # noqa: F821
    test_labels: "torch.Tensor"  # noqa: F821
    digest: str


def digest_of(arrays) -> str:
    sha = hashlib.sha256()
    for key in ("train_images", "train_labels", "test_images", "test_labels", "mean", "std"):
        sha.update(key.encode())
        sha.update(np.ascontiguousarray(arrays[key]).tobytes())
    return sha.hexdigest()[:16]


def ensure_subset(path: Path = SUBSET_PATH) -> Path:
    """The subset's path, building it first when it is missing."""
    path = Path(path)
    if not path.is_file():
        build_subset(out=path)
    return path


@lru_cache(maxsize=4)
def _load(path: str, mtime: float, train_images: int, test_images: int) -> Subset:
    import torch

    with np.load(path) as raw:
        arrays = {key: raw[key] for key in raw.files}
    if train_images > len(arrays["train_labels"]) or test_images > len(arrays["test_labels"]):
        raise SubsetError(f"the subset has {len(arrays['train_labels'])} training and {len(arrays['test_labels'])} "
                          f"test images; the configuration asks for {train_images} and {test_images}")
    mean, std = arrays["mean"].reshape(1, -1, 1, 1), arrays["std"].reshape(1, -1, 1, 1)

    def normalise(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((images.astype(np.float32) / 255 - mean) / std).astype(np.float32))

    return Subset(normalise(arrays["train_images"][:train_images]),
                  torch.from_numpy(arrays["train_labels"][:train_images].copy()),
                  normalise(arrays["test_images"][:test_images]),
                  torch.from_numpy(arrays["test_labels"][:test_images].copy()),
                  digest_of(arrays))


def load_subset(train_images: int, test_images: int, path: Path = SUBSET_PATH) -> Subset:
    """The first ``train_images``/``test_images`` images of the subset (built on demand), normalised."""
    path = ensure_subset(path)
    return _load(str(path), path.stat().st_mtime, int(train_images), int(test_images))
