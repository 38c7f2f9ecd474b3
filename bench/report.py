"""The issue's targets as data, checked against a results dict, and the table ``python -m bench`` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from assignment import spec

#: The precision the harness uses by default; targets are judged on it (the plain fp32 path is shown too).
DEFAULT_PRECISION = "auto"


@dataclass(frozen=True)
class Target:
    name: str
    unit: str
    threshold: float
    at_least: bool  # True: measured >= threshold; False: measured <= threshold
    measure: Callable[[dict], float | None]


def _default(results: dict) -> dict | None:
    precisions = results.get("training", {}).get("precisions", {})
    return precisions.get(DEFAULT_PRECISION) or next(iter(precisions.values()), None)


def _model(results: dict, key: str, field: str, precision: str | None = None) -> float | None:
    """A model's figure on the default path, or on ``precision`` ("fp32": the plain path)."""
    entry = (results.get("training", {}).get("precisions", {}).get(precision) if precision
             else _default(results))
    return entry["models"][key].get(field) if entry else None


def _grading(results: dict, section: str, field: str) -> float | None:
    entry = results.get("grading", {}).get(section, {})
    return entry.get(field) if entry.get("available") else None


def _full_minutes(results: dict) -> float | None:
    default = _default(results)
    if not default:
        return None
    overhead = results.get("training_memory", {}).get("fixed_overhead_seconds", 0.0)
    return (default["full_comparison"]["seconds"] + overhead) / 60


#: Rate targets are judged like for like: the fp32 path against the fp32 matmul rate; the ratios on the
#: plain fp32 path and on the default (bf16 where native) path, both shown.
TARGETS = (
    Target("CNN_Base training, fp32 path, >= 70% of the same-run fp32 matmul rate", "fraction", 0.70, True,
           lambda r: _model(r, "base", "fraction_of_fp32_limit", "fp32")),
    Target("CNN_Base training, bf16 path, >= 70% of the same-run bf16 matmul rate", "fraction", 0.70, True,
           lambda r: _model(r, "base", "fraction_of_bf16_limit")),
    Target("CNN_SE throughput >= 0.90 x CNN_Base, fp32 path", "ratio", 0.90, True,
           lambda r: _model(r, "se", "throughput_over_base", "fp32")),
    Target("CNN_SE throughput >= 0.90 x CNN_Base, default path", "ratio", 0.90, True,
           lambda r: _model(r, "se", "throughput_over_base")),
    Target("CNN_SelfAttention throughput >= 0.80 x CNN_Base, fp32 path", "ratio", 0.80, True,
           lambda r: _model(r, "attn", "throughput_over_base", "fp32")),
    Target("CNN_SelfAttention throughput >= 0.80 x CNN_Base, default path", "ratio", 0.80, True,
           lambda r: _model(r, "attn", "throughput_over_base")),
    Target("full 3-model 15-epoch comparison <= 8 min", "min", 8.0, False, _full_minutes),
    Target("grading one submission <= 30 s (median of 5)", "s", 30.0, False,
           lambda r: _grading(r, "reference", "median_seconds")),
    Target("grading peak memory, all processes (PSS), 2 cores <= 700 MiB", "MiB", 700.0, False,
           lambda r: _grading(r, "reference", "peak_pss_mib")),
    Target("grading peak memory, all processes (PSS), one core (Gradescope-like) <= 700 MiB", "MiB", 700.0, False,
           lambda r: _grading(r, "one_core", "peak_pss_mib")),
    Target("grading pinned to one core <= 2 min", "s", 120.0, False, lambda r: _grading(r, "one_core", "median_seconds")),
)


def evaluate_targets(results: dict) -> list[dict]:
    """One entry per target: measured value (None when not measured) and whether it is met."""
    checked = []
    for target in TARGETS:
        value = target.measure(results)
        met = None if value is None else (value >= target.threshold if target.at_least else value <= target.threshold)
        checked.append({"target": target.name, "unit": target.unit, "threshold": target.threshold,
                        "measured": value, "met": met})
    return checked


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "not available"
    if unit == "fraction":
        return f"{value:.0%}"
    if unit == "ratio":
        return f"{value:.2f}x"
    return f"{value:.1f} {unit}".strip()


def render(results: dict) -> str:
    """Markdown: machine, limit, per-model table, full comparison, memory, grading, targets."""
    m = results["machine"]
    lines = [f"Machine: {m['cpu']}, {m['usable_cpus']:g} usable CPUs, {m['torch_threads']} torch threads, "
             f"torch {m['torch']} ({m['cpu_capability']}, native bf16: {'yes' if m['native_bf16'] else 'no'})", ""]
    training = results.get("training")
    if training:
        limit = training["limit"]
        lines.append(f"Limit: fp32 torch.mm {limit['fp32_gflops']:.0f} GFLOP/s"
                     + (f"; bf16 torch.mm {limit['bf16_gflops']:.0f} GFLOP/s" if "bf16_gflops" in limit else ""))
        lines += ["", "| model | precision | train img/s | GFLOP/s | % of fp32 mm | vs CNN_Base (img/s) | "
                      "vs CNN_Base (FLOP/s) | eval img/s | MFLOP/img (train) |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for precision, entry in training["precisions"].items():
            for key, row in entry["models"].items():
                lines.append(
                    f"| {spec.MODEL_KEYS[key]} | {precision} ({entry['precision_used']}) | {row['images_per_second']:.0f} | "
                    f"{row['gflops']:.1f} | {row['fraction_of_fp32_limit']:.0%} | "
                    f"{_fmt(row.get('throughput_over_base'), 'ratio') if key != 'base' else '1'} | "
                    f"{_fmt(row.get('gflops_over_base'), 'ratio') if key != 'base' else '1'} | "
                    f"{training['evaluation'][key]['images_per_second']:.0f} | "
                    f"{training['flops_per_image'][key]['training'] / 1e6:.2f} |")
        lines.append("")
        overhead = results.get("training_memory", {}).get("fixed_overhead_seconds")
        for precision, entry in training["precisions"].items():
            seconds = entry["full_comparison"]["seconds"] + (overhead or 0)
            lines.append(f"Full comparison, {precision} ({entry['precision_used']}): {seconds / 60:.1f} min "
                         f"(extrapolated from the timed epochs" + (f", + {overhead:.0f} s measured start-up/probes/plots)"
                                                                   if overhead is not None else ")"))
    memory = results.get("training_memory")
    if memory:
        lines.append(f"Training peak memory ({memory['command']}): {memory['peak_pss_mib']:.0f} MiB PSS, "
                     f"{memory['peak_rss_mib']:.0f} MiB RSS")
    grading = results.get("grading", {})
    reference = grading.get("reference", {})
    if reference.get("available"):
        lines.append(f"Grading the reference ({grading['python']}): median {reference['median_seconds']:.1f} s of "
                     f"{reference['repeats']}, score {reference['scores']}, peak {reference['peak_pss_mib']:.0f} MiB PSS / "
                     f"{reference['peak_rss_mib']:.0f} MiB RSS over up to {reference['max_processes']} processes")
        for name, label in (("grade_all", "grade-all"), ("one_core", "pinned to one core")):
            entry = grading.get(name)
            if entry and entry.get("available"):
                lines.append(f"Grading {label}: " + (
                    f"{entry['per_minute']:.1f} submissions/min ({entry['submissions']} in {entry['wall_seconds']:.0f} s, "
                    f"--jobs {entry['jobs']}, peak {entry['peak_pss_mib']:.0f} MiB PSS)" if name == "grade_all"
                    else f"{entry['median_seconds']:.1f} s, peak {entry['peak_pss_mib']:.0f} MiB PSS"))
            elif entry:
                lines.append(f"Grading {label}: not available ({entry.get('reason')})")
    else:
        lines.append(f"Grading: not available ({reference.get('reason', 'not run')})")
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for t in results.get("targets", []):
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "NO")
        lines.append(f"| {t['target']} | {_fmt(t['measured'], t['unit'])} | {met} |")
    return "\n".join(lines)
