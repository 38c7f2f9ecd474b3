"""Gradescope's results.json: building it from check results, validating it, writing it atomically.

Schema (https://gradescope-autograders.readthedocs.io/en/latest/specs/): top-level ``score``,
``execution_time``, ``output``, ``tests``; each test has ``name`` (always "<Class>: ..."),
``score``, ``max_score``, ``status`` ("passed"/"failed"), ``output`` and ``visibility``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from grader.checks import CheckResult
from grader.config import CLASS_ORDER, Config

PRINTED_SHOWN = 3000  # characters of the student's own output shown in the feedback
TEST_KEYS = {"name", "score", "max_score", "status", "output", "visibility"}


def _class_line(class_name: str, results: list[CheckResult]) -> str:
    mine = [r for r in results if r.class_name == class_name]
    score, total = sum(r.score for r in mine), sum(r.max_score for r in mine)
    failed = [r.name.split(": ", 1)[1] for r in mine if not r.passed]
    line = f"  {class_name:<18} {score:g}/{total:g}"
    if failed:
        line += "   failed: every check" if len(failed) == len(mine) else f"   failed: {'; '.join(failed)}"
    return line


def summary(results: list[CheckResult], notes: list[str], printed: str, dropped: int, events: list[str],
            output_kib: int, problem: str | None) -> str:
    score, total = sum(r.score for r in results), sum(r.max_score for r in results)
    lines = [f"Score: {score:g}/{total:g}"]
    lines += [_class_line(class_name, results) for class_name in CLASS_ORDER]
    if problem:
        lines += ["", problem]
    if notes:
        lines += [""] + notes
    if events:
        unique = list(dict.fromkeys(events))
        lines += ["", "Limits hit while grading (those checks scored 0, the others were graded normally):"]
        lines += [f"  - {event}" for event in unique[:8]]
        lines += [f"  - ... {len(unique) - 8} more"] if len(unique) > 8 else []
    if printed or dropped:
        shown = printed[:PRINTED_SHOWN]
        hidden = len(printed) - len(shown)
        lines += ["", f"Your code printed (the grader keeps the first {output_kib} KiB; {dropped + hidden} more "
                      "bytes/characters not shown):" if dropped or hidden else "Your code printed:",
                  shown.rstrip()]
    return "\n".join(lines)


VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's values


def visibility(config: Config, class_name: str, key: str) -> str:
    """The Gradescope visibility of one check: ``[feedback.visibility.<Class>] <key>``, or the default."""
    feedback = config.feedback or {}
    value = ((feedback.get("visibility") or {}).get(class_name) or {}).get(key, "default")
    if value == "default":
        value = feedback.get("default_visibility", "visible")
    if value not in VISIBILITIES:
        raise ValueError(f"config.toml [feedback]: visibility of {class_name}.{key} is {value!r}, "
                         f"expected one of {VISIBILITIES}")
    return value


def document(results: list[CheckResult], execution_time: float, output: str, config: Config) -> dict:
    tests = [{"name": r.name, "score": r.score, "max_score": r.max_score, "status": "passed" if r.passed else "failed",
              "output": r.output if r.output else "Passed.", "visibility": visibility(config, r.class_name, r.key)}
             for r in results]
    return {"score": sum(r.score for r in results), "execution_time": round(execution_time, 2), "output": output,
            "tests": tests}


def not_graded(checks: list, config: Config, reason: str) -> list[CheckResult]:
    """Zero for every check, each saying (``reason``) why nothing was graded."""
    from grader.checks import info_of

    results = []
    for function in checks:
        info = info_of(function)
        points = float(config.points_for(info.class_name, info.key))
        results.append(CheckResult(info.class_name, info.key, info.name, points, 0.0, False, reason))
    return results


def validate(doc: dict) -> None:
    """Raise ValueError when ``doc`` is not a valid results.json for this lab."""
    if not isinstance(doc, dict) or not {"score", "execution_time", "output", "tests"} <= set(doc):
        raise ValueError("results.json needs score, execution_time, output and tests")
    for key in ("score", "execution_time"):
        if not isinstance(doc[key], (int, float)) or isinstance(doc[key], bool) or not math.isfinite(doc[key]):
            raise ValueError(f"{key} must be a finite number")
    if not isinstance(doc["output"], str) or not isinstance(doc["tests"], list):
        raise ValueError("output must be a string and tests a list")
    for test in doc["tests"]:
        if not isinstance(test, dict) or set(test) != TEST_KEYS:
            raise ValueError(f"each test needs exactly {sorted(TEST_KEYS)}")
        if not any(test["name"].startswith(f"{c}: ") for c in CLASS_ORDER):
            raise ValueError(f"test name {test['name']!r} does not begin with a class name and ': '")
        if test["status"] not in ("passed", "failed") or test["visibility"] not in VISIBILITIES:
            raise ValueError(f"bad status or visibility in {test['name']!r}")
        if not 0 <= test["score"] <= test["max_score"]:
            raise ValueError(f"score out of range in {test['name']!r}")
    if abs(sum(t["score"] for t in doc["tests"]) - doc["score"]) > 1e-9:
        raise ValueError("score is not the sum of the tests' scores")


def write(doc: dict, path: str | os.PathLike) -> Path:
    """Validate and write atomically (a reader never sees half a file; a stale file is replaced)."""
    validate(doc)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=path.parent)
    with os.fdopen(handle, "w") as stream:
        json.dump(doc, stream, indent=2)
        stream.write("\n")
    os.replace(tmp, path)
    return path
