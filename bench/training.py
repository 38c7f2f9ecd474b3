"""Training and evaluation throughput of the reference models through the lab's own harness.

Every figure comes from ``assignment.train.train_model`` / ``evaluate`` (what students and
``assignment.compare`` run): an "epoch" here is a slice of Fashion-MNIST's training set, timed by
the harness itself (its ``EpochStats.images_per_second`` excludes evaluation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from assignment import spec
from assignment.compare import model_kwargs
from assignment.data import ImageSet
from assignment.impl import build_model
from assignment.train import TrainConfig, evaluate, seed_everything, train_model
from bench.flops import flops_per_image

DATASET = "fashion-mnist"


@dataclass
class TrainingSample:
    key: str
    precision: str  # as asked: "fp32" or "auto"
    precision_used: str  # what the harness resolved it to: "fp32" or "bf16"
    images_per_second: float


def reference_model(key: str) -> torch.nn.Module:
    return build_model(key, "reference", **model_kwargs(key, DATASET))


def training_flops(key: str) -> dict:
    """Per-image FLOPs of ``key``'s reference model (see bench.flops for the formula)."""
    flops = flops_per_image(reference_model(key), *spec.INPUT_CONFIGS[0][:2])
    return {"forward": flops.forward, "training": flops.training, "backward_over_forward": flops.backward_ratio}


def train_throughput(key: str, precision: str, train: ImageSet, test: ImageSet, seed: int = 0) -> TrainingSample:
    """Train a fresh reference ``key`` for one epoch over ``train``; the harness's images/s."""
    seed_everything(seed)
    model = reference_model(key)
    config = TrainConfig(epochs=1, seed=seed, precision=precision, device="cpu", progress=False)
    history = train_model(model, train, test, config, desc=key)
    return TrainingSample(key, precision, history.config["precision_used"], history.epochs[0].images_per_second)


def eval_throughput(key: str, test: ImageSet) -> float:
    """Images/s of ``evaluate`` (fp32, the harness's evaluation batch, CPU) on a fresh reference ``key``."""
    model = reference_model(key).to(memory_format=torch.channels_last)
    start = time.perf_counter()
    evaluate(model, test)
    return len(test) / (time.perf_counter() - start)


def training_memory(python: str, train_limit: int, cwd: str) -> dict:
    """Peak memory of a real ``python -m assignment.compare`` run (all three models, one epoch on a slice).

    The slice only shortens the epoch: the full data set is loaded, batches are full-sized and the
    probes and plots run, so the peak is that of a full comparison.
    """
    import json
    import tempfile
    from pathlib import Path

    from bench.memory import run_tree

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        run = run_tree([python, "-m", "assignment.compare", "--impl", "reference", "--epochs", "1", "--seeds", "1",
                        "--train-limit", str(train_limit), "--no-progress", "--out", tmp], cwd=cwd)
        if run.returncode != 0:
            raise RuntimeError(f"assignment.compare failed ({run.returncode}):\n{run.output}")
        results = json.loads((Path(tmp) / "results.json").read_text())
    return {"command": f"python -m assignment.compare --impl reference --epochs 1 --train-limit {train_limit}",
            "wall_seconds": run.wall_seconds, "train_seconds": sum(m["train_seconds"]["mean"] for m in results["models"].values()),
            "peak_rss_mib": run.peak_rss_mib, "peak_pss_mib": run.peak_pss_mib}
