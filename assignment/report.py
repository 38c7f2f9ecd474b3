"""Turn a comparison's results into results.json, a Markdown table and PNG plots.

Re-render a finished run without retraining: ``python -m assignment.report runs/NAME``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _pm(summary: dict | None, scale: float = 100.0, digits: int = 2, sign: bool = False) -> str:
    if not summary:
        return "—"
    mean = f"{summary['mean'] * scale:+.{digits}f}" if sign else f"{summary['mean'] * scale:.{digits}f}"
    std = "n/a" if summary["std"] is None else f"{summary['std'] * scale:.{digits}f}"
    return f"{mean} ± {std}"


def markdown_table(results: dict) -> str:
    seeds = len(results["seeds"])
    lines = [
        f"Dataset: {results['dataset']} ({results['train_images']} train / {results['test_images']} test images), "
        f"{results['epochs']} epochs, {seeds} seed{'s' if seeds != 1 else ''}, implementation: {results['impl']}, "
        f"device: {results['machine']['device']}.",
        "",
        "| model | parameters | test accuracy % (mean ± std) | vs base, paired (pp) | train time s / run | images/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for entry in results["models"].values():
        lines.append(f"| {entry['class']} | {entry['parameters']:,} | {_pm(entry['accuracy'])} | "
                     f"{_pm(entry.get('diff_vs_base'), sign=True)} | {_pm(entry['train_seconds'], 1, 0)} | "
                     f"{_pm(entry['images_per_second'], 1, 0)} |")
    lines += ["", f"Wall time: {results['wall_seconds'] / 60:.1f} min. Command: `{results['command']}`", ""]
    lines += [f"Probe {name} skipped: {why}" for name, why in results.get("probes_skipped", {}).items()]
    return "\n".join(lines)


def plot_learning_curves(results: dict, path: Path) -> None:
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for entry in results["models"].values():
        for index, run in enumerate(entry["runs"]):
            epochs = [e["epoch"] for e in run["history"]["epochs"]]
            label = entry["class"] if index == 0 else None
            color = {"CNN_Base": "C0", "CNN_SE": "C1", "CNN_SelfAttention": "C2"}.get(entry["class"])
            ax_loss.plot(epochs, [e["train_loss"] for e in run["history"]["epochs"]], color=color, alpha=0.8, label=label)
            ax_acc.plot(epochs, [100 * e["test_accuracy"] for e in run["history"]["epochs"]], color=color, alpha=0.8, label=label)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Training loss (one line per seed)")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy (one line per seed)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_se_gates(results: dict, path: Path) -> None:
    """Top: mean gate per (class, channel). Bottom: the same minus each channel's mean over classes,
    which isolates what the gates do *per class* (the attention effect)."""
    gates = {name: np.asarray(results["se_gates"][name]) for name in ("se1", "se2")}
    fig, axes = plt.subplots(2, 2, figsize=(14, 8), sharey=True, gridspec_kw={"width_ratios": [1, 2]})
    spread = max(np.abs(g - g.mean(0)).max() for g in gates.values()) or 1e-3
    for column, (name, values) in enumerate(gates.items()):
        top = axes[0, column].imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        bottom = axes[1, column].imshow(values - values.mean(0), aspect="auto", cmap="RdBu_r", vmin=-spread, vmax=spread)
        axes[0, column].set(title=f"{name}: mean gate per class (seed 0)")
        axes[1, column].set(title=f"{name}: gate minus the channel's mean over classes", xlabel="channel")
    for row in range(2):
        axes[row, 0].set_yticks(range(len(results["classes"])), results["classes"])
    fig.colorbar(top, ax=axes[0], label="gate (0 = channel off, 1 = kept)")
    fig.colorbar(bottom, ax=axes[1], label="class-specific part of the gate")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_attention_map(results: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(results["attention_map"], cmap="magma")
    ax.set(xlabel="key channel", ylabel="query channel", title="CNN_SelfAttention: mean channel attention (seed 0)")
    fig.colorbar(image, ax=ax, label="attention weight")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_tables(results: dict, out: Path) -> dict[str, Path]:
    """Write results.json and results.md (before any plot: a failing plot never loses a run)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    paths["json"].write_text(json.dumps(results, indent=1))
    paths["markdown"].write_text(markdown_table(results))
    return paths


def write_plots(results: dict, out: Path) -> dict[str, Path]:
    """Write every plot the results allow (no SE gates without CNN_SE, ...); return their paths."""
    plots = {"learning_curves": plot_learning_curves, "se_gates": plot_se_gates, "attention_map": plot_attention_map}
    paths = {}
    for name, plot in plots.items():
        if name == "learning_curves" or name in results:
            paths[name] = out / f"{name}.png"
            plot(results, paths[name])
    return paths


def write_outputs(results: dict, out: Path) -> dict[str, Path]:
    """Write results.json, results.md and every plot the results allow; return their paths."""
    return write_tables(results, out) | write_plots(results, out)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/latest")
    print(write_outputs(json.loads((folder / "results.json").read_text()), folder)["markdown"].read_text())
