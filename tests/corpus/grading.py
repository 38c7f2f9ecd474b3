"""Run the grader's pinned CLI on submissions and read what it wrote; shared by the corpus meta-tests.

The corpus tests (tests/corpus, tests/hostile) judge the grader from the outside, through the
contract of issue 3 only: ``python -m grader grade SUBMISSION --out results.json`` (exit 0 when
grading completed) and ``python -m grader grade-all DIR --out OUTDIR --jobs N``. Nothing here
imports grader internals, so the tests keep meaning the same thing whatever the grader's design.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from assignment.spec import CLASS_NAMES

REPO = Path(__file__).resolve().parents[2]
TOTAL_POINTS = 100
#: Wall-clock guard for one grader call made by a test (the grader's own limits are far lower).
CALL_TIMEOUT_S = 420

#: What the grader prints (stderr) before the traceback of an internal error (grader/checks.py).
INTERNAL_ERROR = "grader: internal error"


@dataclass
class GradeRun:
    """One finished ``python -m grader grade`` call: exit status, wall time and the parsed results."""

    name: str
    returncode: int
    wall_s: float
    results: dict | None
    results_path: Path
    log_tail: str = ""
    max_rss_mib: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return float(self.results["score"]) if self.results else math.nan

    def class_scores(self) -> dict[str, tuple[float, float]]:
        return class_scores(self.results) if self.results else {}


def grader_command(*args: str, python: str = sys.executable) -> list[str]:
    return [python, "-m", "grader", *args]


def grader_missing(repo: Path = REPO) -> str | None:
    """Why the grader CLI cannot run yet (None when it can): the corpus tests then fail with this reason."""
    if not (repo / "grader" / "__main__.py").is_file():
        return f"the grader CLI is missing: {repo / 'grader' / '__main__.py'} does not exist (issue 3)"
    return None


def has_subcommand(name: str, repo: Path = REPO) -> bool:
    probe = subprocess.run(grader_command(name, "--help"), cwd=repo, capture_output=True, text=True, timeout=120)
    return probe.returncode == 0


def read_results(path: Path) -> tuple[dict | None, list[str]]:
    """Parse a results.json; return it with the list of ways it breaks Gradescope's schema (empty when valid)."""
    if not path.is_file():
        return None, [f"no results file at {path}"]
    try:
        results = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, [f"results file is not valid JSON: {error}"]
    return results, schema_problems(results)


def schema_problems(results: object) -> list[str]:
    """Gradescope's results.json as issue 3 pins it; every test named '<class>: ...'."""
    if not isinstance(results, dict):
        return ["top level is not an object"]
    problems = []
    for key, kind in (("score", (int, float)), ("execution_time", (int, float)), ("output", str), ("tests", list)):
        if not isinstance(results.get(key), kind) or isinstance(results.get(key), bool):
            problems.append(f"top-level {key!r} missing or not {kind}")
    if problems:
        return problems
    total = 0.0
    max_total = 0.0
    for index, test in enumerate(results["tests"]):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            problems.append(f"{where} is not an object")
            continue
        for key, kind in (("name", str), ("score", (int, float)), ("max_score", (int, float)),
                          ("status", str), ("output", str), ("visibility", str)):
            if not isinstance(test.get(key), kind) or isinstance(test.get(key), bool):
                problems.append(f"{where}.{key} missing or not {kind}")
        if problems:
            continue
        if not any(test["name"].startswith(f"{cls}: ") for cls in CLASS_NAMES):
            problems.append(f"{where}.name {test['name']!r} does not start with a class name and ': '")
        if test["status"] not in ("passed", "failed"):
            problems.append(f"{where}.status is {test['status']!r}")
        if not 0 <= test["score"] <= test["max_score"]:
            problems.append(f"{where}.score {test['score']} outside [0, {test['max_score']}]")
        total += test["score"]
        max_total += test["max_score"]
    if not problems:
        if abs(total - results["score"]) > 1e-6:
            problems.append(f"top-level score {results['score']} != sum of test scores {total}")
        if abs(max_total - TOTAL_POINTS) > 1e-6:
            problems.append(f"max scores add up to {max_total}, not {TOTAL_POINTS}")
    return problems


def class_of(test_name: str) -> str:
    # Longest match first: "CNN_SE" must not claim "CNN_SelfAttention: ..." (it cannot, thanks to ': ').
    return next(cls for cls in CLASS_NAMES if test_name.startswith(f"{cls}: "))


def class_scores(results: dict) -> dict[str, tuple[float, float]]:
    """(score, max) per class, summed over the tests whose name starts with that class."""
    scores = {cls: [0.0, 0.0] for cls in CLASS_NAMES}
    for test in results["tests"]:
        entry = scores[class_of(test["name"])]
        entry[0] += test["score"]
        entry[1] += test["max_score"]
    return {cls: (round(score, 6), round(maximum, 6)) for cls, (score, maximum) in scores.items()}


def failing_outputs(results: dict, cls: str | None = None, limit: int = 3) -> str:
    """The first failing tests' names and outputs, for assertion messages."""
    lines = []
    for test in results.get("tests", []):
        if test.get("status") != "passed" and (cls is None or test["name"].startswith(f"{cls}: ")):
            lines.append(f"  {test['name']}: {str(test.get('output', ''))[:300]}")
    return "\n".join(lines[:limit]) or "  (no failing test)"


def grade(submission: Path, out: Path, *, name: str | None = None, repo: Path = REPO, extra_args: tuple[str, ...] = (),
          env: dict | None = None, timeout: float = CALL_TIMEOUT_S, measure_rss: bool = False,
          new_session: bool = False) -> GradeRun:
    """``python -m grader grade SUBMISSION --out OUT`` from ``repo``; times it and parses OUT.

    With ``measure_rss`` the call runs under GNU time, whose %M is the peak resident set of the
    largest process in the grader's tree (the grader or a child it waited for). ``new_session``
    starts the grader in its own session, so a submission that signals its process group cannot
    reach the test runner even if the grader failed to isolate it.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    command = grader_command("grade", str(submission), "--out", str(out), *extra_args)
    rss_file = out.parent / f".{out.name}.rss"
    if measure_rss:
        command = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *command]
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                               start_new_session=new_session)
    try:
        log, _ = process.communicate(timeout=timeout)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        if new_session:
            os.killpg(process.pid, signal.SIGKILL)  # our own session: the grader and all it left behind
        process.kill()
        log, _ = process.communicate()
        returncode, log = -999, (log or b"") + f"\n[test] grader call killed after {timeout} s".encode()
    wall = time.monotonic() - start
    results, problems = read_results(out)
    rss = None
    if measure_rss and rss_file.is_file():
        try:
            rss = int(rss_file.read_text().split()[-1]) / 1024
        except (ValueError, IndexError):
            rss = None
    return GradeRun(name or submission.stem, returncode, wall, results, out, log_excerpt(log.decode(errors="replace")),
                    rss, problems)


def log_excerpt(text: str) -> str:
    """The end of a grading's output, preceded by the first internal-error traceback the grader logged."""
    at = text.find(INTERNAL_ERROR)
    return (text[at:at + 2500] + "\n[...]\n" if 0 <= at < len(text) - 3000 else "") + text[-3000:]


def grade_many(submissions: dict[str, Path], out_dir: Path, *, jobs: int = 2, **kwargs) -> dict[str, GradeRun]:
    """Grade each named submission with its own ``grade`` call, ``jobs`` at a time."""
    def one(item):
        name, path = item
        return name, grade(path, out_dir / name / "results.json", name=name, **kwargs)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(one, sorted(submissions.items())))


def grade_all(submissions: dict[str, Path], work: Path, *, jobs: int = 2, repo: Path = REPO) -> tuple[dict[str, GradeRun], str]:
    """Grade a whole corpus with ``grade-all`` when the grader has it, else with parallel ``grade`` calls.

    Each submission is staged as ``work/in/NAME/models.py`` (a folder is a submission under the
    pinned contract), so grade-all names its outputs after NAME whatever its layout.
    Returns the runs and a note saying which path was taken.
    """
    staged = {}
    for name, path in submissions.items():
        folder = work / "in" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "models.py").write_bytes(path.read_bytes())
        staged[name] = folder
    if not has_subcommand("grade-all", repo):
        return grade_many(staged, work / "out", jobs=jobs, repo=repo), f"per-submission `grade` calls, {jobs} at a time"
    out = work / "out"
    start = time.monotonic()
    done = subprocess.run(grader_command("grade-all", str(work / "in"), "--out", str(out), "--jobs", str(jobs)),
                          cwd=repo, capture_output=True, timeout=CALL_TIMEOUT_S * 2)
    wall = time.monotonic() - start
    log = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
    if done.returncode != 0 and not any(locate_results(out, name) for name in staged):
        runs = grade_many(staged, work / "out-per-call", jobs=jobs, repo=repo)
        return runs, (f"per-submission `grade` calls, {jobs} at a time (`grade-all` failed with status "
                      f"{done.returncode}: {log.strip().splitlines()[-1] if log.strip() else 'no output'})")
    runs = {}
    for name in staged:
        path = locate_results(out, name)
        results, problems = read_results(path) if path else (None, [f"grade-all wrote no results.json for {name} under {out}"])
        seconds = float(results.get("execution_time", math.nan)) if results else math.nan
        runs[name] = GradeRun(name, done.returncode, seconds, results, path or out, log, None, problems)
    if not (out / "grades.csv").is_file():
        for run in runs.values():
            run.problems.append(f"grade-all wrote no grades.csv in {out}")
    return runs, f"`grade-all --jobs {jobs}` in {wall:.0f} s wall (per-submission times are results.json execution_time)"


def locate_results(out: Path, name: str) -> Path | None:
    for candidate in (out / name / "results.json", out / f"{name}.json", out / "results" / name / "results.json"):
        if candidate.is_file():
            return candidate
    matches = sorted(p for p in out.rglob("*.json") if name in p.relative_to(out).parts or p.stem == name)
    return matches[0] if matches else None


def score_table(runs: dict[str, GradeRun], extra: dict[str, str] | None = None) -> str:
    """One line per submission: total, then score/max per class (and an optional extra column)."""
    width = max([len(name) for name in runs] + [10])
    header = f"{'submission':<{width}}  {'total':>6}  " + "  ".join(f"{cls:>17}" for cls in CLASS_NAMES)
    header += "   time_s" + ("  note" if extra else "")
    lines = [header, "-" * len(header)]
    for name, run in runs.items():
        if run.results is None or run.problems:
            cells = f"{'ERR':>6}  " + "  ".join(f"{'-':>17}" for _ in CLASS_NAMES)
        else:
            per_class = run.class_scores()
            cells = f"{run.score:>6.1f}  " + "  ".join(f"{f'{s:g}/{m:g}':>17}" for s, m in (per_class[c] for c in CLASS_NAMES))
        line = f"{name:<{width}}  {cells}  {run.wall_s:>7.1f}"
        if extra:
            line += f"  {extra.get(name, '')}"
        lines.append(line)
    return "\n".join(lines)


def show(request, text: str) -> None:
    """Print to the terminal even while pytest captures output, so CI logs keep the figures."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if capture is None or reporter is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in text.splitlines():
            reporter.write_line(line)


def environment_for_grader() -> dict:
    """The test's environment minus variables that would change how the grader or its child behave."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "SELAB_", "HYPOTHESIS_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
