"""Fashion-MNIST from every source in order, one clear error when none works, and CIFAR-10 decoding."""

import gzip
import os
import pickle
import struct
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torchvision import datasets

from assignment import data


def write_idx(path, array: np.ndarray) -> None:
    """Write ``array`` in the gzipped IDX format of (Fashion-)MNIST."""
    type_code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_fashion_dir(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


@pytest.fixture
def offline(monkeypatch):
    """No network: torchvision's download fails like it does offline."""
    def refuse(*args, **kwargs):
        raise URLError("network is unreachable (test)")
    monkeypatch.setattr(datasets.mnist, "download_and_extract_archive", refuse)


def test_debian_package_gives_the_real_data_set(tmp_path):
    train, test = data.load_fashion_mnist(root=tmp_path)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert test.labels[:5].tolist() == [9, 2, 1, 1, 6]  # the first test labels of Fashion-MNIST
    assert (tmp_path / "FashionMNIST" / "tensors.pt").is_file(), "decoded tensors should be cached"
    again, _ = data.load_fashion_mnist(root=tmp_path)
    assert torch.equal(again.images, train.images)


def test_explicit_folder_comes_first(tmp_path, tiny_fashion_dir, offline):
    train, test = data.load_fashion_mnist(data_dir=tiny_fashion_dir, root=tmp_path / "root")
    assert len(train) == 12 and len(test) == 5


def test_environment_variable_names_the_folder(tmp_path, tiny_fashion_dir, offline, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tiny_fashion_dir))
    train, _ = data.load_fashion_mnist(root=tmp_path / "root")
    assert len(train) == 12


def test_no_source_gives_one_error_naming_all_three_ways(tmp_path, offline, monkeypatch):
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(data.DataNotFoundError) as error:
        data.load_fashion_mnist(root=tmp_path / "root")
    message = str(error.value)
    for way in ("--data-dir", "FASHION_MNIST_DIR", "dataset-fashion-mnist", "internet"):
        assert way in message, f"the error should mention {way!r}:\n{message}"


def test_cifar10_batches_decode_to_3x32x32(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    # Our files cannot have the official MD5s: accept any file that exists, keep the rest of torchvision's path.
    monkeypatch.setattr(datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    train, test = data.load_cifar10(root=tmp_path, download=False)
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert train.images.dtype == torch.uint8 and train.classes[3] == "class3"
    with open(folder / "data_batch_1", "rb") as f:
        raw = pickle.load(f)["data"][0]
    assert torch.equal(train.images[0].flatten(), torch.from_numpy(raw))
