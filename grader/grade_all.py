"""``python -m grader grade-all DIR --out OUTDIR [--jobs N]``: a whole class, then a class report.

Every entry of DIR (a ``.py`` file, a folder or a ``.zip``; hidden entries are skipped) is one
submission, graded by its own ``python -m grader grade`` process (so one submission can never
affect another's grading), ``--jobs`` at a time. Written to OUTDIR:

- ``<name>/results.json`` and ``<name>/grader.log`` per submission (``<name>``: the entry's name
  with characters other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``);
- ``grades.csv``: submission, score, one column per class, status (``ok`` / ``grader-error``), seconds;
- ``report.md``: score statistics, per-class means, and each test's failure rate;
- ``score-histogram.png``: the distribution of scores.
"""

from __future__ import annotations

import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from grader.config import CLASS_ORDER

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Graded:
    name: str
    source: Path
    exit_code: int = 0
    seconds: float = 0.0
    doc: dict | None = None
    class_scores: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "ok" if self.exit_code == 0 and self.doc is not None else "grader-error"


def _safe_names(entries: list[Path]) -> list[str]:
    names, seen = [], set()
    for entry in entries:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", entry.name).lstrip(".") or "submission"
        name, counter = base, 1
        while name in seen:
            counter += 1
            name = f"{base}-{counter}"
        seen.add(name)
        names.append(name)
    return names


def _grade_one(entry: Path, name: str, out: Path, extra: list[str], jobs: int) -> Graded:
    from grader.sandbox.process import CONCURRENT_VAR

    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / "results.json"
    paths = [str(PROJECT_ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), **{CONCURRENT_VAR: str(max(1, jobs))})  # the CPU share
    started = time.monotonic()
    with open(folder / "grader.log", "wb") as log:
        code = subprocess.run([sys.executable, "-m", "grader", "grade", str(entry), "--out", str(results), *extra],
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                              cwd=PROJECT_ROOT).returncode
    graded = Graded(name, entry, code, time.monotonic() - started)
    try:
        graded.doc = json.loads(results.read_text())
    except (OSError, ValueError):
        graded.doc = None
    if graded.doc is not None:
        for class_name in CLASS_ORDER:
            graded.class_scores[class_name] = sum(t["score"] for t in graded.doc.get("tests", [])
                                                  if t["name"].startswith(f"{class_name}: "))
    return graded


def _write_csv(graded: list[Graded], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "score", *CLASS_ORDER, "status", "seconds", "protection"])
        for g in graded:
            score = g.doc["score"] if g.doc else ""
            writer.writerow([g.name, score, *(g.class_scores.get(c, "") for c in CLASS_ORDER), g.status,
                             f"{g.seconds:.1f}", protection_of(g.doc)])


def protection_of(doc: dict | None) -> str:
    """The "Protection in force: ..." line of a results.json output ("" when absent)."""
    for line in (doc or {}).get("output", "").splitlines():
        if line.startswith(PROTECTION):
            return line[len(PROTECTION):].strip()
    return ""


PROTECTION = "Protection in force:"
UNSAFE_WORDS = "graded without isolation"


def _histogram(scores: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=100)
    axis.hist(scores, bins=range(0, 105, 5), color="#4c72b0", edgecolor="white")
    axis.set_xlabel("score (out of 100)")
    axis.set_ylabel("submissions")
    axis.set_title(f"Scores of {len(scores)} submissions")
    axis.set_xlim(0, 100)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _report(graded: list[Graded], path: Path, histogram: Path) -> None:
    docs = [g.doc for g in graded if g.doc]
    scores = [d["score"] for d in docs]
    lines = ["# Class report", "", f"Submissions: {len(graded)} ({sum(g.status == 'ok' for g in graded)} graded "
             f"without grader error).", ""]
    unsafe = [g.name for g in graded if UNSAFE_WORDS in protection_of(g.doc)]
    if unsafe:
        lines += [f"**WARNING: {len(unsafe)} submission(s) {UNSAFE_WORDS} (--unsafe-no-sandbox): student code ran "
                  "as the grader's user and could read the solution.**", ""]
    if scores:
        lines += [f"Score: mean {statistics.fmean(scores):.1f}, median {statistics.median(scores):g}, "
                  f"min {min(scores):g}, max {max(scores):g}.", "", f"![score histogram]({histogram.name})", "",
                  "| class | mean score | max |", "|---|---|---|"]
        for class_name in CLASS_ORDER:
            values = [g.class_scores.get(class_name, 0) for g in graded if g.doc]
            top = max((sum(t["max_score"] for t in d["tests"] if t["name"].startswith(f"{class_name}: "))
                       for d in docs), default=0)
            lines.append(f"| {class_name} | {statistics.fmean(values):.1f} | {top:g} |")
        failures: dict[str, list[int]] = {}
        for d in docs:
            for test in d["tests"]:
                counts = failures.setdefault(test["name"], [0, 0])
                counts[0] += test["status"] == "failed"
                counts[1] += 1
        lines += ["", "## Failure rate per test", "", "| test | failed | rate |", "|---|---|---|"]
        for name, (failed, total) in sorted(failures.items(), key=lambda item: -item[1][0] / item[1][1]):
            lines.append(f"| {name} | {failed}/{total} | {failed / total:.0%} |")
    errors = [g.name for g in graded if g.status != "ok"]
    if errors:
        lines += ["", "## Grader errors (see <name>/grader.log)", ""] + [f"- {name}" for name in errors]
    path.write_text("\n".join(lines) + "\n")


def grade_all(directory: Path, out: Path, jobs: int = 1, config: str | None = None, sandbox_user: str | None = None,
              isolation: str | None = None, unsafe_no_sandbox: bool = False) -> int:
    from grader.config import load_config
    from grader.sandbox.process import NoIsolation, SandboxSettings, protection

    settings = load_config(config).with_sandbox(user=sandbox_user, isolation=isolation)
    try:  # refuse once, before grading anything, where no sandbox can be set up (fail closed)
        protection(SandboxSettings.from_config(settings, unsafe_no_sandbox))
    except NoIsolation as refusal:
        print(refusal, file=sys.stderr)
        return 2
    entries = sorted(p for p in Path(directory).iterdir() if not p.name.startswith("."))
    out.mkdir(parents=True, exist_ok=True)
    extra = (["--config", str(Path(config).resolve())] if config else []) + \
            (["--sandbox-user", sandbox_user] if sandbox_user is not None else []) + \
            (["--isolation", isolation] if isolation else []) + \
            (["--unsafe-no-sandbox"] if unsafe_no_sandbox else [])
    names = _safe_names(entries)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        graded = list(pool.map(lambda pair: _grade_one(pair[0].resolve(), pair[1], out, extra, jobs), zip(entries, names)))
    _write_csv(graded, out / "grades.csv")
    histogram = out / "score-histogram.png"
    _histogram([g.doc["score"] for g in graded if g.doc], histogram)
    _report(graded, out / "report.md", histogram)
    for g in graded:
        print(f"{g.name:40s} {g.doc['score'] if g.doc else '-':>6} {g.status:12s} {g.seconds:6.1f} s")
    print(f"wrote {out / 'grades.csv'}, {out / 'report.md'}, {histogram}")
    return 0 if all(g.status == "ok" for g in graded) else 1
