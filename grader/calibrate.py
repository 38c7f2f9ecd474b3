"""``python -m grader calibrate``: where the short-training thresholds come from, reproducibly.

The reference networks are trained with exactly the grading budget and code path
(``grader.operations.Operations.short_train``, the function the child runs, here called in-process
with the same torch thread count) for seeds 0..N-1 — each seed changes both the initialisation and
the batch order — and evaluated on the same held-out images as in grading. With ``precision =
"auto"`` every seed is trained in fp32 and, where this CPU has native bf16, in bf16 too: graders on
CPUs without bf16 run fp32, so the thresholds must hold for both. The suggested threshold for each
network, over all those trainings, is

    floor_to_0.01(min over seeds - margin),   margin = max(DEFAULT_MARGIN, 4 x standard deviation)

so a correct model whose layers are created in another order (a different random init: just another
draw from this distribution) passes with room to spare, while a model that never learns (10 %) fails.
Figures go to grader/calibration.json (small, committed); ``--write-config`` also writes the
thresholds into config.toml's [training.threshold] table.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from pathlib import Path

from grader.config import DEFAULT_PATH, TRAINED_CLASSES, Config

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
DEFAULT_MARGIN = 0.08


def suggested_threshold(accuracies: list[float], margin: float) -> float:
    spread = max(margin, 4 * statistics.pstdev(accuracies))
    return math.floor((min(accuracies) - spread) * 100) / 100


def _rounded(summary: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()}


def write_thresholds(thresholds: dict[str, float], path: Path = DEFAULT_PATH) -> None:
    """Rewrite the values of config.toml's [training.threshold] table, keeping its comments."""
    text = path.read_text()
    start = text.index("[training.threshold]")
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    table = text[start:end]
    for class_name, value in thresholds.items():
        table, count = re.subn(rf"(?m)^{class_name}\s*=\s*[0-9.]+", f"{class_name} = {value:.2f}", table)
        if count != 1:
            raise ValueError(f"[training.threshold] in {path} has no single line for {class_name}")
    path.write_text(text[:start] + table + text[end:])


def calibrate(config: Config, seeds: int, margin: float | None, out: str | None, write_config: bool) -> int:
    import torch

    from grader.hidden._common import TRAINING_KWARGS, evaluate
    from grader.checks import reference_model
    from grader.subject import LocalSubject
    from grader.subset import load_subset
    from reference import models as reference_models

    from assignment.precision import resolve_precision

    margin = DEFAULT_MARGIN if margin is None else margin
    training = config.training
    arithmetics = sorted({"fp32", resolve_precision(training.precision, torch.device("cpu"))}
                         if training.precision == "auto" else {training.precision})
    torch.set_num_threads(training.threads)
    data = load_subset(training.train_images, training.test_images)
    subject = LocalSubject(reference_models, config)
    runs = {arithmetic: {name: {"accuracy": [], "seconds": []} for name in TRAINED_CLASSES}
            for arithmetic in arithmetics}
    for seed in range(seeds):
        for arithmetic in arithmetics:
            budget = training.budget() | {"precision": arithmetic}
            for name in TRAINED_CLASSES:
                started = time.perf_counter()
                state = subject.short_train(name, TRAINING_KWARGS[name], seed, data.train_images, data.train_labels,
                                            budget)
                runs[arithmetic][name]["seconds"].append(time.perf_counter() - started)
                runs[arithmetic][name]["accuracy"].append(evaluate(reference_model(name, TRAINING_KWARGS[name],
                                                                                   state=state),
                                                                   data.test_images, data.test_labels))
            print(f"seed {seed:2d} {arithmetic}: " + "  ".join(
                f"{name} {runs[arithmetic][name]['accuracy'][-1]:.4f} ({runs[arithmetic][name]['seconds'][-1]:.1f} s)"
                for name in TRAINED_CLASSES), flush=True)

    def summarise(values: list[float], times: list[float]) -> dict:
        return {"seeds": seeds, "min": min(values), "mean": statistics.fmean(values), "std": statistics.pstdev(values),
                "max": max(values), "train_seconds_mean": statistics.fmean(times)}

    accuracy = {name: [v for a in arithmetics for v in runs[a][name]["accuracy"]] for name in TRAINED_CLASSES}
    summary = {name: summarise(accuracy[name], [t for a in arithmetics for t in runs[a][name]["seconds"]])
               for name in TRAINED_CLASSES}
    by_precision = {a: {name: summarise(r["accuracy"], r["seconds"]) for name, r in runs[a].items()}
                    for a in arithmetics}
    thresholds = {name: suggested_threshold(values, margin) for name, values in accuracy.items()}
    report = {
        "command": f"python -m grader calibrate --seeds {seeds}"
                   + (f" --margin {margin}" if margin != DEFAULT_MARGIN else ""),
        "rule": "threshold = floor_to_0.01(min over seeds - max(margin, 4 * std))",
        "margin": margin,
        "budget": {"train_images": training.train_images, "test_images": training.test_images,
                   "epochs": training.epochs, "batch_size": training.batch_size,
                   "learning_rate": training.learning_rate, "weight_decay": training.weight_decay,
                   "threads": training.threads, "grading_seed": training.seed, "precision": training.precision},
        "arithmetics": arithmetics,
        "subset_digest": data.digest,
        "torch": torch.__version__,
        "accuracy": {name: [round(v, 4) for v in values] for name, values in accuracy.items()},
        "summary": {name: _rounded(s) for name, s in summary.items()},
        "by_precision": {a: {name: _rounded(s) for name, s in per.items()} for a, per in by_precision.items()},
        "suggested_threshold": thresholds,
        "config_threshold": dict(training.threshold),
    }
    path = Path(out) if out else CALIBRATION_PATH
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    for name in TRAINED_CLASSES:
        s = summary[name]
        print(f"{name:18s} min {s['min']:.4f} mean {s['mean']:.4f} std {s['std']:.4f} max {s['max']:.4f} "
              f"-> threshold {thresholds[name]:.2f} (config: {training.threshold[name]:.2f})")
    if write_config:
        write_thresholds(thresholds)
        print(f"updated [training.threshold] in {DEFAULT_PATH}")
    return 0
