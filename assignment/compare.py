"""The lab's experiment: train CNN_Base, CNN_SE and CNN_SelfAttention over several seeds and compare.

    python -m assignment.compare --impl reference --models base,se,attn --epochs 15 --seeds 3 --out runs/full

Writes ``results.json`` (everything, including per-epoch histories) and ``results.md`` (the table)
into ``--out`` as soon as training ends, then runs the probes (SE gates, attention map; one that
cannot run says why and is skipped) and writes the plots (``learning_curves.png``, ``se_gates.png``,
``attention_map.png``): no run is ever lost to a probe or a plot.
Every model of a seed starts from ``seed`` (same data order, same flips), so the per-seed
difference to the baseline is a paired comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from assignment import spec
from assignment.data import ImageSet, load_dataset
from assignment.impl import IMPLEMENTATIONS, build_model, default_impl
from assignment.probes import mean_channel_attention, run_probe, se_gates_per_class
from assignment.precision import PRECISIONS, resolve_precision
from assignment.train import TrainConfig, pick_device, seed_everything, train_model

#: Environment variable that caps the training images per epoch (the notebook's and CI's tiny budget).
TRAIN_LIMIT_ENV = "SELAB_TRAIN_LIMIT"


def summarize(values: list[float]) -> dict:
    """Mean and sample standard deviation (None for a single value: one seed has no spread)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values), "values": values}


def model_kwargs(key: str, dataset: str) -> dict:
    in_channels, image_size, num_heads = spec.INPUT_CONFIGS[0 if dataset == "fashion-mnist" else 1]
    kwargs = {"in_channels": in_channels, "image_size": image_size}
    if key == "attn":
        kwargs["num_heads"] = num_heads
    return kwargs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, default=default_impl(), help="whose models.py to train")
    parser.add_argument("--models", default="base,se,attn", help=f"comma-separated subset of {','.join(spec.MODEL_KEYS)}")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (0, 1, ..., N-1)")
    parser.add_argument("--out", default="runs/latest", help="output folder")
    parser.add_argument("--dataset", choices=("fashion-mnist", "cifar10"), default="fashion-mnist")
    parser.add_argument("--data-dir", default=None, help="folder with the four Fashion-MNIST .gz files")
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default=TrainConfig.precision,
                        help="training arithmetic: auto = bf16 autocast on CPUs with native bf16, else fp32; "
                             "fp32 = the plain path")
    parser.add_argument("--train-limit", type=int, default=int(os.environ.get(TRAIN_LIMIT_ENV, 0)) or None,
                        help=f"use only the first N training images (also ${TRAIN_LIMIT_ENV}); for smoke runs")
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bars")
    args = parser.parse_args(argv)
    args.command = "python -m assignment.compare " + shlex.join(sys.argv[1:] if argv is None else argv)
    args.model_keys = [key.strip() for key in args.models.split(",") if key.strip()]
    unknown = [key for key in args.model_keys if key not in spec.MODEL_KEYS]
    if unknown or not args.model_keys:
        parser.error(f"--models: unknown {unknown}; choose from {','.join(spec.MODEL_KEYS)}")
    return args


def run(args: argparse.Namespace) -> tuple[dict, dict[str, torch.nn.Module], ImageSet]:
    """Train every model for every seed: (results, {key: the seed-0 model}, the test set) for the probes."""
    started = time.perf_counter()
    train, test = load_dataset(args.dataset, args.data_dir)
    if args.train_limit:
        train = train.subset(torch.arange(min(args.train_limit, len(train))))
    results: dict = {
        "command": args.command,  # the argv given, so a run from the notebook records a runnable command
        "impl": args.impl, "dataset": args.dataset, "epochs": args.epochs, "seeds": list(range(args.seeds)),
        "train_images": len(train), "test_images": len(test), "classes": list(test.classes),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(pick_device(args.device)),
                    "precision": args.precision, "arithmetic": resolve_precision(args.precision, pick_device(args.device))},
        "models": {},
    }
    trained: dict[str, torch.nn.Module] = {}
    for key in args.model_keys:
        results["models"][key] = {"class": spec.MODEL_KEYS[key], "runs": []}
    for seed in range(args.seeds):
        for key in args.model_keys:
            config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
                                 device=args.device, precision=args.precision, progress=not args.no_progress)
            seed_everything(seed)
            model = build_model(key, args.impl, **model_kwargs(key, args.dataset))
            history = train_model(model, train, test, config, desc=f"{spec.MODEL_KEYS[key]} seed {seed}")
            entry = results["models"][key]
            entry["parameters"] = sum(p.numel() for p in model.parameters())
            entry["runs"].append({"seed": seed, "final_accuracy": history.final_accuracy,
                                  "train_seconds": history.train_seconds,
                                  "images_per_second": len(train) * args.epochs / history.train_seconds,
                                  "history": history.to_dict()})
            print(f"{spec.MODEL_KEYS[key]:<18} seed {seed}: test accuracy {history.final_accuracy:.2%} "
                  f"({history.train_seconds:.0f} s)", flush=True)
            if seed == 0:
                trained[key] = model
    base_runs = results["models"].get("base", {}).get("runs")
    for key, entry in results["models"].items():
        entry["accuracy"] = summarize([r["final_accuracy"] for r in entry["runs"]])
        entry["train_seconds"] = summarize([r["train_seconds"] for r in entry["runs"]])
        entry["images_per_second"] = summarize([r["images_per_second"] for r in entry["runs"]])
        if base_runs and key != "base":
            entry["diff_vs_base"] = summarize([r["final_accuracy"] - b["final_accuracy"] for r, b in zip(entry["runs"], base_runs)])
    results["wall_seconds"] = time.perf_counter() - started
    return results, trained, test


def add_probes(results: dict, trained: dict[str, torch.nn.Module], test: ImageSet) -> None:
    """Seed 0's SE gates per class and mean attention map; a probe that cannot run leaves its reason."""
    probes = {"se_gates": ("se", lambda model: {k: v.tolist() for k, v in se_gates_per_class(model, test).items()}),
              "attention_map": ("attn", lambda model: mean_channel_attention(model, test).tolist())}
    for name, (key, probe) in probes.items():
        if key in trained:
            value, why = run_probe(name, lambda: probe(trained[key]))
            if why is None:
                results[name] = value
            else:
                results.setdefault("probes_skipped", {})[name] = why


def experiment(args: argparse.Namespace) -> dict[str, Path]:
    """Train, write results.json and results.md at once, then add the probes and the plots; return the paths."""
    from assignment.report import write_plots, write_tables  # matplotlib is imported only when results exist

    results, trained, test = run(args)
    out = Path(args.out)
    paths = write_tables(results, out)
    add_probes(results, trained, test)
    paths |= write_tables(results, out)
    return paths | write_plots(results, out)


def main(argv: list[str] | None = None) -> None:
    paths = experiment(parse_args(argv))
    print()
    print(paths["markdown"].read_text())
    print("Written: " + ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
