"""``python -m grader grade-all DIR --out OUTDIR [--jobs N] [--previous OLD]``: a whole class, then a class report.

DIR is a folder of submissions (every entry: a ``.py`` file, a folder or a ``.zip``) or a Gradescope
"Export Submissions" folder (``submission_metadata.yml`` + ``submission_<id>/``): see inputs.py.
Each submission is graded exactly as ``grade`` grades it, in its own fork of one warm process
(grading.py, grader/warm.py), ``--jobs`` at a time. Written to OUTDIR:

- ``<name>/results.json`` and ``<name>/grader.log`` per submission;
- ``grades.csv``: submission, [name, email, sid: a Gradescope export], score, one column per class,
  status (``ok`` / ``grader-error``), seconds, protection;
- ``report.md``: score statistics, per-class means, what changed since ``--previous`` (regrade.py),
  what the class got wrong (mistakes.py), each test's failure rate;
- ``score-histogram.png``; with ``--previous OLD`` also ``changes.csv``;
- with ``--similarity``: ``similarity/`` (``python -m grader similarity``'s report) and its summary in report.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grader.classroom import regrade, report
from grader.cli import REFUSED
from grader.classroom.grading import Graded, grade_entries
from grader.classroom.inputs import entries, is_gradescope_export


def _progress(g: Graded) -> None:
    print(f"{g.name:40s} {g.doc['score'] if g.doc else '-':>6} {g.status:12s} {g.seconds:6.1f} s", flush=True)


def grade_all(directory: Path, out: Path, jobs: int = 1, config: str | None = None, sandbox_user: str | None = None,
              isolation: str | None = None, unsafe_no_sandbox: bool = False, previous: Path | None = None,
              similarity: bool = False) -> int:
    from grader.config import load_config
    from grader.sandbox.process import NoIsolation, SandboxSettings, protection

    settings = load_config(config).with_sandbox(user=sandbox_user, isolation=isolation)
    try:  # refuse once, before grading anything, where no sandbox can be set up (fail closed)
        protection(SandboxSettings.from_config(settings, unsafe_no_sandbox))
    except NoIsolation as refusal:
        print(refusal, file=sys.stderr)
        return REFUSED
    try:
        before = regrade.load_previous(previous) if previous is not None else None  # read before OUTDIR changes
    except regrade.PreviousError as error:
        print(error, file=sys.stderr)
        return REFUSED
    class_entries = entries(directory)
    out.mkdir(parents=True, exist_ok=True)
    graded = grade_entries(class_entries, out, settings, jobs, unsafe_no_sandbox, _progress)
    report.write_csv(graded, out / "grades.csv", with_students=is_gradescope_export(Path(directory)))
    written = [out / "grades.csv", out / "report.md", out / "score-histogram.png"]
    report.histogram([g.doc["score"] for g in graded if g.doc], written[2])
    changes = None
    if before is not None:
        now = {g.name: g.doc for g in graded}
        found = regrade.compare(before, now)
        regrade.write_csv(found, out / "changes.csv")
        changes = regrade.section(found, len(set(before) & set(now)), previous)
        written.append(out / "changes.csv")
    report.write_report(graded, written[1], written[2].name, changes)
    if similarity:  # --similarity: OUTDIR/similarity/ and one section of report.md (grader/similarity.py)
        from grader.similarity import report_line

        with open(written[1], "a") as handle:
            handle.write(report_line(directory, out / "similarity", config=config))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0 if all(g.status == "ok" for g in graded) else 1
