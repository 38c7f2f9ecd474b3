"""Regrade with differences: compare this grading with an earlier ``grade-all`` OUTDIR (``--previous``).

A submission is matched by its name (grades.csv's ``submission`` column, the ``<name>/`` folders).
For each one whose score changed or whose checks flipped (passed <-> failed, or present on one side
only), changes.csv gets a row: old -> new score, the classes that changed, the checks that flipped;
submissions present on one side only are listed too. report.md gets the summary.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

from grader.classroom.grading import class_scores, read_results
from grader.config import CLASS_ORDER

ABSENT = "absent"  # a check's status when the results.json lacks it (e.g. nothing was graded)
SHOWN_FLIPS = 6  # flipped checks listed per submission in report.md (changes.csv lists all)


class PreviousError(ValueError):
    """``--previous`` is not an earlier grade-all OUTDIR."""


def load_previous(folder: Path) -> dict[str, dict | None]:
    """Submission name -> its results.json document (None where that grading left none)."""
    table = Path(folder) / "grades.csv"
    try:
        with open(table, newline="") as handle:
            names = [row["submission"] for row in csv.DictReader(handle)]
    except (OSError, KeyError, csv.Error) as error:
        raise PreviousError(f"--previous {folder}: no readable grades.csv of an earlier grade-all ({error})") from None
    return {name: read_results(Path(folder) / name / "results.json") for name in names}


def _score(doc: dict | None) -> float | None:
    return None if doc is None else float(doc["score"])


def _statuses(doc: dict | None) -> dict[str, str]:
    return {t["name"]: t["status"] for t in (doc or {}).get("tests", [])}


@dataclass(frozen=True)
class Change:
    name: str
    old: dict | None  # results.json documents; None: no results (or not in that grading)
    new: dict | None
    kind: str  # "changed" | "new" (not in the previous grading) | "gone" (not in this one)

    @property
    def old_score(self) -> float | None:
        return _score(self.old)

    @property
    def new_score(self) -> float | None:
        return _score(self.new)

    @property
    def delta(self) -> float | None:
        if self.old_score is None or self.new_score is None:
            return None
        return self.new_score - self.old_score

    def classes(self) -> dict[str, tuple[float, float]]:
        """Class -> (old, new) points, for the classes whose points changed."""
        old, new = class_scores(self.old or {}), class_scores(self.new or {})
        return {c: (old[c], new[c]) for c in CLASS_ORDER if old[c] != new[c]}

    def flipped(self) -> list[str]:
        """Checks whose status differs, as "<check> (old -> new)", in the new grading's order."""
        old, new = _statuses(self.old), _statuses(self.new)
        names = list(new) + [n for n in old if n not in new]
        return [f"{n} ({old.get(n, ABSENT)} -> {new.get(n, ABSENT)})" for n in names
                if old.get(n, ABSENT) != new.get(n, ABSENT)]


def compare(previous: dict[str, dict | None], current: dict[str, dict | None]) -> list[Change]:
    """Every submission whose grading differs, in name order (unchanged ones are left out)."""
    changes = []
    for name in sorted(set(previous) | set(current)):
        if name not in previous:
            changes.append(Change(name, None, current[name], "new"))
        elif name not in current:
            changes.append(Change(name, previous[name], None, "gone"))
        else:
            change = Change(name, previous[name], current[name], "changed")
            if change.old_score != change.new_score or change.flipped():
                changes.append(change)
    return changes


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def write_csv(changes: list[Change], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "kind", "old_score", "new_score", "change", *CLASS_ORDER, "flipped"])
        for c in changes:
            classes = c.classes()
            writer.writerow([c.name, c.kind, _number(c.old_score), _number(c.new_score),
                             "" if c.delta is None else f"{c.delta:+g}",
                             *(f"{classes[k][0]:g} -> {classes[k][1]:g}" if k in classes else "" for k in CLASS_ORDER),
                             "; ".join(c.flipped())])


def _moves(deltas: list[float], word: str) -> str:
    if not deltas:
        return f"0 went {word}"
    sizes = [abs(d) for d in deltas]
    return (f"{len(deltas)} went {word} (by {statistics.fmean(sizes):.3g} points on average, "
            f"{min(sizes):g} to {max(sizes):g})")


def section(changes: list[Change], compared: int, previous: Path) -> list[str]:
    """The report.md section: summary, then one line per changed submission."""
    deltas = [c.delta for c in changes if c.delta is not None]
    flipped_only = sum(1 for c in changes if c.delta == 0)
    new = [c.name for c in changes if c.kind == "new"]
    gone = [c.name for c in changes if c.kind == "gone"]
    lines = ["## Changes since the previous grading", "",
             f"Compared with `{previous}` (changes.csv has every row): {compared} submission(s) in both; "
             f"{_moves([d for d in deltas if d > 0], 'up')}, {_moves([d for d in deltas if d < 0], 'down')}, "
             f"{flipped_only} kept their score with checks flipped; {len(new)} new, {len(gone)} no longer present.",
             ""]
    if not changes:
        return lines + ["No score changed and no check flipped.", ""]
    lines += ["| submission | old -> new | classes | checks that flipped |", "|---|---|---|---|"]
    for c in changes:
        scores = f"{_number(c.old_score) or c.kind} -> {_number(c.new_score) or c.kind}"
        classes = ", ".join(f"{k} {a:g} -> {b:g}" for k, (a, b) in c.classes().items())
        flips = c.flipped()
        shown = "; ".join(flips[:SHOWN_FLIPS]) + (f"; ... {len(flips) - SHOWN_FLIPS} more" if len(flips) > SHOWN_FLIPS
                                                  else "")
        lines.append(f"| {c.name} | {scores} | {classes} | {shown} |")
    return lines + [""]
