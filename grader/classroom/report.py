"""A graded class on disk: grades.csv, score-histogram.png and report.md."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from grader.classroom import mistakes
from grader.classroom.grading import Graded
from grader.classroom.inputs import STUDENT_FIELDS
from grader.config import CLASS_ORDER

PROTECTION = "Protection in force:"
UNSAFE_WORDS = "graded without isolation"


def protection_of(doc: dict | None) -> str:
    """The "Protection in force: ..." line of a results.json output ("" when absent)."""
    for line in (doc or {}).get("output", "").splitlines():
        if line.startswith(PROTECTION):
            return line[len(PROTECTION):].strip()
    return ""


def write_csv(graded: list[Graded], path: Path, with_students: bool) -> None:
    """One row per submission; ``with_students`` (a Gradescope export) adds name, email, sid after its name."""
    students = list(STUDENT_FIELDS) if with_students else []
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", *students, "score", *CLASS_ORDER, "status", "seconds", "protection"])
        for g in graded:
            score = g.doc["score"] if g.doc else ""
            writer.writerow([g.name, *(g.entry.student.get(k, "") for k in students), score,
                             *(g.class_scores.get(c, "") for c in CLASS_ORDER), g.status, f"{g.seconds:.1f}",
                             protection_of(g.doc)])


def histogram(scores: list[float], path: Path) -> None:
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


def _summary(graded: list[Graded], histogram_name: str) -> list[str]:
    docs = [g.doc for g in graded if g.doc]
    scores = [d["score"] for d in docs]
    if not scores:
        return []
    lines = [f"Score: mean {statistics.fmean(scores):.1f}, median {statistics.median(scores):g}, "
             f"min {min(scores):g}, max {max(scores):g}.", "", f"![score histogram]({histogram_name})", "",
             "| class | mean score | max |", "|---|---|---|"]
    for class_name in CLASS_ORDER:
        values = [g.class_scores.get(class_name, 0) for g in graded if g.doc]
        top = max((sum(t["max_score"] for t in d["tests"] if t["name"].startswith(f"{class_name}: ")) for d in docs),
                  default=0)
        lines.append(f"| {class_name} | {statistics.fmean(values):.1f} | {top:g} |")
    return lines + [""]


def _failure_rates(docs: list[dict]) -> list[str]:
    failures: dict[str, list[int]] = {}
    for d in docs:
        for test in d["tests"]:
            counts = failures.setdefault(test["name"], [0, 0])
            counts[0] += test["status"] == "failed"
            counts[1] += 1
    lines = ["## Failure rate per test", "", "| test | failed | rate |", "|---|---|---|"]
    for name, (failed, total) in sorted(failures.items(), key=lambda item: -item[1][0] / item[1][1]):
        lines.append(f"| {name} | {failed}/{total} | {failed / total:.0%} |")
    return lines + [""]


def write_report(graded: list[Graded], path: Path, histogram_name: str, changes: list[str] | None = None) -> None:
    """report.md: summary, what changed (``changes``: regrade.section's lines), the class's mistakes,
    failure rates, grader errors."""
    docs = [g.doc for g in graded if g.doc]
    lines = ["# Class report", "", f"Submissions: {len(graded)} ({sum(g.status == 'ok' for g in graded)} graded "
             f"without grader error).", ""]
    unsafe = [g.name for g in graded if UNSAFE_WORDS in protection_of(g.doc)]
    if unsafe:
        lines += [f"**WARNING: {len(unsafe)} submission(s) {UNSAFE_WORDS} (--unsafe-no-sandbox): student code ran "
                  "as the grader's user and could read the solution.**", ""]
    lines += _summary(graded, histogram_name)
    lines += changes or []
    if docs:
        lines += mistakes.section(docs) + _failure_rates(docs)
    errors = [g.name for g in graded if g.status != "ok"]
    if errors:
        lines += ["## Grader errors (see <name>/grader.log)", ""] + [f"- {name}" for name in errors]
    path.write_text("\n".join(lines).rstrip("\n") + "\n")
