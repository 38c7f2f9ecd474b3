"""Read grader/config.toml, the one source of truth for points, thresholds, budgets and limits.

Overrides never need a code edit: a partial TOML file given with ``--config FILE`` or the
``SELAB_GRADER_CONFIG`` environment variable is merged over the defaults, key by key; an unknown
key is an error (a typo must not silently leave a limit at its default).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("config.toml")
ENV_VAR = "SELAB_GRADER_CONFIG"
CLASS_ORDER = ("CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention")
TRAINED_CLASSES = ("CNN_Base", "CNN_SE", "CNN_SelfAttention")
ISOLATION_MODES = ("auto", "none")
#: [grading] layout: "map" grades a renamed layout by its function (grader/layout.py), "strict" by name only.
LAYOUT_POLICIES = ("map", "strict")


class ConfigError(ValueError):
    """The configuration (default file or an override) is malformed."""


@dataclass(frozen=True)
class Limits:
    check_seconds: float
    training_seconds: float
    submission_seconds: float
    import_seconds: float
    memory_mib: int
    output_kib: int
    file_mib: int
    models_py_kib: int
    processes: int
    message_mib: int


@dataclass(frozen=True)
class Training:
    train_images: int
    test_images: int
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    seed: int
    threads: int
    precision: str = "auto"  # assignment/precision.py: "auto" (bf16 autocast where native), "fp32" or "bf16"
    threshold: dict[str, float] = field(default_factory=dict)

    def budget(self) -> dict[str, Any]:
        """The arguments of the child's ``short_train`` besides class, data and seed."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "weight_decay": self.weight_decay, "precision": self.precision}


@dataclass(frozen=True)
class Config:
    points: dict[str, dict[str, int]]
    training: Training
    max_examples: int
    rtol: float
    atol: float
    limits: Limits
    sandbox_user: str
    isolation: str
    parallel_training: bool | str = "auto"  # True, False or "auto" (see use_parallel_training)
    cpu_share: float | str = "auto"  # CPUs of one submission, or "auto" (see submission_cpus)
    sources: tuple[str, ...] = ()
    feedback: dict | None = None  # [feedback] of config.toml, read by grader/results.py and grader/diagnosis.py
    layout: str = "map"  # [grading] layout, one of LAYOUT_POLICIES

    def points_for(self, class_name: str, key: str) -> int:
        try:
            return self.points[class_name][key]
        except KeyError:
            raise ConfigError(f"config.toml has no points for [points.{class_name}] {key}") from None

    def use_parallel_training(self) -> bool:
        """Whether a second child runs the short trainings: "auto" = only with two or more usable CPUs.

        On one CPU (Gradescope's half vCPU, `taskset -c 0`) a second child gains no time and costs a
        whole Python + torch process of memory.
        """
        if self.parallel_training == "auto":
            return usable_cpus() >= 2
        return bool(self.parallel_training)

    def submission_cpus(self, concurrent: int = 1) -> float:
        """The CPU share of one submission (0 = none): "auto" = the usable CPUs divided by the ``concurrent``
        submissions graded at once, and at least one CPU (what the time limits are calibrated for)."""
        if self.cpu_share == "auto":
            return max(1.0, usable_cpus() / max(1, concurrent))
        return float(self.cpu_share)

    @property
    def total_points(self) -> int:
        return sum(sum(per_class.values()) for per_class in self.points.values())

    def class_points(self, class_name: str) -> int:
        return sum(self.points.get(class_name, {}).values())

    def with_limits(self, **changes) -> "Config":
        return replace(self, limits=replace(self.limits, **changes))

    def with_sandbox(self, user: str | None = None, isolation: str | None = None) -> "Config":
        return replace(self, sandbox_user=self.sandbox_user if user is None else user,
                       isolation=self.isolation if isolation is None else _isolation(isolation))


def _merge(base: dict, override: dict, where: str) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"unknown setting {where}{key} (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}{key} must be a table")
            merged[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            merged[key] = value
    return merged


def _typed(cls, table: dict, where: str):
    values = {}
    for f in fields(cls):
        if f.name not in table:
            raise ConfigError(f"missing setting {where}{f.name}")
        value = table[f.name]
        if f.type in ("int", "float") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{where}{f.name} must be a number, got {value!r}")
        if f.type == "int" and value != int(value):
            raise ConfigError(f"{where}{f.name} must be an integer, got {value!r}")
        values[f.name] = int(value) if f.type == "int" else float(value) if f.type == "float" else value
        if f.type in ("int", "float") and values[f.name] < 0:
            raise ConfigError(f"{where}{f.name} must not be negative, got {value!r}")
    return cls(**values)


def _isolation(value: str) -> str:
    if value not in ISOLATION_MODES:
        raise ConfigError(f"sandbox.isolation must be one of {ISOLATION_MODES}, got {value!r}")
    return value


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read grader configuration {path}: {error}") from None


def load_config(override: str | os.PathLike | None = None) -> Config:
    """The default configuration, with ``override`` (or ``$SELAB_GRADER_CONFIG``) merged over it."""
    raw = _read(DEFAULT_PATH)
    sources = [str(DEFAULT_PATH)]
    override = override or os.environ.get(ENV_VAR) or None
    if override:
        raw = _merge(raw, _read(Path(override)), "")
        sources.append(str(override))
    points = {}
    for class_name, table in raw["points"].items():
        if class_name not in CLASS_ORDER:
            raise ConfigError(f"[points.{class_name}]: unknown class (expected one of {CLASS_ORDER})")
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"points.{class_name}.{key} must be a non-negative integer, got {value!r}")
        points[class_name] = dict(table)
    training_table = dict(raw["training"])
    thresholds = training_table.pop("threshold")
    for class_name in TRAINED_CLASSES:
        value = thresholds.get(class_name)
        if not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(f"training.threshold.{class_name} must be an accuracy in [0, 1], got {value!r}")
    training = replace(_typed(Training, training_table | {"threshold": None}, "training."),
                       threshold={k: float(v) for k, v in thresholds.items()})
    from assignment.precision import PRECISIONS  # the lab's training loop and the short training share them

    if training.precision not in PRECISIONS:
        raise ConfigError(f"training.precision must be one of {PRECISIONS}, got {training.precision!r}")
    sandbox = raw["sandbox"]
    if not isinstance(sandbox.get("user"), str):
        raise ConfigError("sandbox.user must be a string (\"\" for none)")
    if not (isinstance(sandbox.get("parallel_training"), bool) or sandbox.get("parallel_training") == "auto"):
        raise ConfigError("sandbox.parallel_training must be true, false or \"auto\"")
    layout = raw.get("grading", {}).get("layout", "map")
    if layout not in LAYOUT_POLICIES:
        raise ConfigError(f"grading.layout must be one of {LAYOUT_POLICIES}, got {layout!r}")
    share = sandbox.get("cpu_share", "auto")
    if share != "auto" and (isinstance(share, bool) or not isinstance(share, (int, float)) or share < 0):
        raise ConfigError(f"sandbox.cpu_share must be \"auto\" or a number of CPUs >= 0, got {share!r}")
    return Config(
        points=points,
        training=training,
        max_examples=_typed(_MaxExamples, raw["hypothesis"], "hypothesis.").max_examples,
        rtol=float(raw["tolerance"]["rtol"]),
        atol=float(raw["tolerance"]["atol"]),
        limits=_typed(Limits, raw["limits"], "limits."),
        sandbox_user=sandbox["user"],
        isolation=_isolation(sandbox["isolation"]),
        parallel_training=sandbox["parallel_training"],
        cpu_share=share,
        sources=tuple(sources),
        feedback=dict(raw.get("feedback", {})),
        layout=layout,
    )


@dataclass(frozen=True)
class _MaxExamples:
    max_examples: int


def usable_cpus() -> float:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (containers)."""
    count = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    quotas = []
    try:  # cgroup v2: "max 100000" or "50000 100000"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            quotas.append(int(quota) / int(period))
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        if quota > 0:
            quotas.append(quota / int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text()))
    except (OSError, ValueError):
        pass
    return min([count, *quotas])
