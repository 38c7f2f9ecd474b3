"""What a mutation run writes: ``mutants.json`` (validated against mutants.schema.json) and ``mutants.md``."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from grader.mutants.grading import Verdict

SCHEMA = Path(__file__).with_name("mutants.schema.json")
VERDICTS = ("killed", "survived", "equivalent", "error")


def _rate(killed: int, total_non_equivalent: int) -> float | None:
    return round(killed / total_non_equivalent, 4) if total_non_equivalent else None


def _counts(verdicts: list[Verdict]) -> dict:
    counts = Counter(v.verdict for v in verdicts)
    row = {name: counts.get(name, 0) for name in VERDICTS}
    row["mutants"] = len(verdicts)
    row["kill_rate"] = _rate(row["killed"], len(verdicts) - row["equivalent"])
    return row


def summary(verdicts: list[Verdict], wall_seconds: float, jobs: int, run: dict) -> dict:
    """Totals, and the kill rate (killed / non-equivalent) per class and per operator."""
    by_class, by_operator = defaultdict(list), defaultdict(list)
    for v in verdicts:
        by_class[v.mutant.cls].append(v)
        by_operator[v.mutant.operator].append(v)
    seconds = sorted(v.seconds for v in verdicts)
    return {**_counts(verdicts), "wall_seconds": round(wall_seconds, 1), "jobs": jobs,
            "median_seconds_per_mutant": round(seconds[len(seconds) // 2], 2) if seconds else None,
            "run": run,
            "by_class": {name: _counts(group) for name, group in sorted(by_class.items())},
            "by_operator": {name: _counts(group) for name, group in sorted(by_operator.items())}}


def document(verdicts: list[Verdict], summary_row: dict) -> dict:
    return {"mutants": [v.as_json() for v in verdicts], "summary": summary_row}


def validate(doc: dict) -> None:
    import jsonschema

    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def _table(rows: dict[str, dict], first: str) -> list[str]:
    lines = [f"| {first} | mutants | killed | survived | equivalent | error | kill rate |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in rows.items():
        rate = "n/a" if row["kill_rate"] is None else f"{100 * row['kill_rate']:.1f} %"
        lines.append(f"| {name} | {row['mutants']} | {row['killed']} | {row['survived']} | {row['equivalent']} "
                     f"| {row['error']} | {rate} |")
    return lines


def markdown(doc: dict) -> str:
    s = doc["summary"]
    rate = "n/a" if s["kill_rate"] is None else f"{100 * s['kill_rate']:.1f} %"
    lines = ["# Mutation analysis of the grader", "",
             f"`{s['run']['command']}`: {s['mutants']} mutants of reference/models.py graded by the real grader "
             f"(sandbox and limits; mutation mode: the mutated class's checks, stopping at the first lost point), "
             f"{s['jobs']} jobs, {s['wall_seconds']:.0f} s wall, median {s['median_seconds_per_mutant']} s per mutant.",
             "", f"**Killed {s['killed']}, survived {s['survived']}, equivalent {s['equivalent']}, errors "
             f"{s['error']}: kill rate of non-equivalent mutants {rate}.**", "",
             "A mutant is *killed* when it loses points in a check of the class it mutates (any class for a "
             "mutant of the shared helper, `(module)`), *equivalent* when the differential check "
             "(grader/mutants/equivalence.py) finds the same initialisation, outputs and gradients as the "
             "reference, and *survived* otherwise.", "", "## Per class", ""]
    lines += _table(s["by_class"], "class") + ["", "## Per operator", ""] + _table(s["by_operator"], "operator")
    for title, verdict in (("Survivors", "survived"), ("Errors", "error"), ("Equivalent mutants", "equivalent")):
        chosen = [m for m in doc["mutants"] if m["verdict"] == verdict]
        lines += ["", f"## {title} ({len(chosen)})", ""]
        if not chosen:
            lines.append("None.")
        for m in chosen:
            lines += [f"### `{m['id']}` ({m['class']}, score {m['score']:g}/{m['max_score']:g})", "",
                      m["why"] or "", "", "```diff", m["diff"].rstrip("\n"), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write(doc: dict, out: Path) -> tuple[Path, Path]:
    validate(doc)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "mutants.json", out / "mutants.md"
    json_path.write_text(json.dumps(doc, indent=2) + "\n")
    md_path.write_text(markdown(doc))
    return json_path, md_path
