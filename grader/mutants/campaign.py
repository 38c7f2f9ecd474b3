"""``python -m grader mutants``: generate, sample, grade, check survivors for equivalence, report."""

from __future__ import annotations

import random
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader.config import Config
from grader.mutants import grading, report
from grader.mutants.operators import Mutant, generate


def choose(mutants: list[Mutant], sample: int | None, seed: int, ids: list[str] | None) -> list[Mutant]:
    """``ids`` (in that order), else a seeded sample of ``sample`` mutants (in id order), else all."""
    if ids:
        by_id = {m.id: m for m in mutants}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise SystemExit(f"unknown mutant ids: {unknown} (see mutants.json of a full run for the ids)")
        return [by_id[i] for i in ids]
    if sample is not None and sample < len(mutants):
        chosen = set(m.id for m in random.Random(seed).sample(mutants, sample))
        return [m for m in mutants if m.id in chosen]
    return mutants


def run(config: Config, out: Path, sample: int | None = None, seed: int = 0, jobs: int = 1,
        classes: list[str] | None = None, ids: list[str] | None = None, keep: bool = False) -> dict:
    """Grade the chosen mutants, write ``out/mutants.json`` and ``out/mutants.md``; return the document."""
    from tqdm import tqdm

    started = time.monotonic()
    mutants = choose(generate(classes=classes), sample, seed, ids)
    work = Path(tempfile.mkdtemp(prefix="selab-mutants-"))
    bar = tqdm(total=len(mutants), desc="grading mutants", unit="mutant", file=sys.stderr)

    def progress(verdict: grading.Verdict) -> None:
        bar.set_postfix_str(f"{verdict.mutant.id}: {verdict.verdict}", refresh=False)
        bar.update()

    try:
        verdicts = grading.grade_mutants(mutants, work, config, jobs, progress)
        bar.close()
        verdicts = grading.check_survivors(verdicts, work, jobs)
        command = "python -m grader mutants " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
            if sys.argv[1:2] == ["mutants"] else "python -m grader mutants"
        run_info = {"command": command, "sample": sample, "seed": seed, "classes": classes, "ids": ids,
                    "generated": len(generate(classes=classes))}
        doc = report.document(verdicts, report.summary(verdicts, time.monotonic() - started, jobs, run_info))
        report.write(doc, out)
        if keep:
            shutil.copytree(work, out / "work", dirs_exist_ok=True)
    finally:
        bar.close()
        shutil.rmtree(work, ignore_errors=True)
    return doc
