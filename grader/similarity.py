"""``python -m grader similarity DIR --out OUTDIR``: which submissions of a class are unusually alike.

Every entry of DIR (a ``.py``, a folder or a ``.zip``, as for grade-all, with grade-all's names) gives
its ``models.py`` (grader/submission.py picks it, size-capped; nothing is run). The detector is
copydetect (MIT, pure Python, offline HTML report): it tokenises each file, replaces every name by
one placeholder (so renaming variables changes nothing) and compares winnowed k-gram fingerprints
(so reordering methods or classes changes little). The handout's stubs at the chosen guidance level
are the boilerplate: what every student was given never counts as shared. Written to OUTDIR:

- ``similarity.html``: copydetect's report, the shared regions of each flagged pair highlighted;
- ``similarity.csv``: every pair at or above the threshold, highest first: both names, the pair's
  score, each side's share of its own code found in the other, the shared tokens, and the shared
  regions as line ranges of each file;
- ``sources/<name>/models.py``: the files compared (the line ranges of the CSV refer to them).

A pair's score is the larger of its two shares: a short file copied whole into a longer one scores 1.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Pairs scoring at least this are flagged. Measured on the corpus class (tests/grader/test_similarity.py):
#: disguised copies score 0.88 to 0.95 (outline stubs: 0.90 to 0.97), independently written correct
#: solutions 0.64 at most (outline: 0.68); the threshold sits in the gap.
THRESHOLD = 0.75
#: copydetect's k-gram length in filtered characters (its noise and guarantee thresholds).
KGRAM = 25
HTML, CSV, SOURCES = "similarity.html", "similarity.csv", "sources"


@dataclass(frozen=True)
class Pair:
    first: str
    second: str
    share_first: float  # of the first file's code, the part found in the second
    share_second: float
    tokens: int
    lines_first: str  # shared regions, e.g. "12-30;44-50"
    lines_second: str

    @property
    def score(self) -> float:
        return max(self.share_first, self.share_second)


def collect(directory: Path, sources: Path, max_bytes: int) -> tuple[dict[str, Path], list[str]]:
    """(name -> copied models.py, notes on entries skipped): one file per entry of ``directory``."""
    from grader.classroom.inputs import entries  # grade-all's entries and names, so the two reports agree
    from grader.submission import SubmissionError, prepare_submission

    sources.mkdir(parents=True, exist_ok=True)
    files, notes = {}, []
    for entry in entries(Path(directory)):
        name = entry.name
        try:
            submission = prepare_submission(entry.path, max_bytes)
        except SubmissionError as error:
            notes.append(f"{name}: skipped ({error})")
            continue
        try:
            (sources / name).mkdir(exist_ok=True)
            files[name] = Path(shutil.copyfile(submission.models_py, sources / name / "models.py"))
        finally:
            submission.cleanup()
    return files, notes


def _line_ranges(text: str, slices) -> str:
    """Character slices [[starts], [ends]] of ``text`` -> "first-last" line ranges joined by ";"."""
    ranges = []
    for start, end in zip(*slices):
        first, last = text.count("\n", 0, int(start)) + 1, text.count("\n", 0, max(int(start), int(end) - 1)) + 1
        if ranges and first <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], last)
        else:
            ranges.append([first, last])
    return ";".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges)


def compare(files: dict[str, Path], boilerplate: str, out_html: Path) -> list[Pair]:
    """Every pair of ``files`` with its shares and shared regions; copydetect's HTML report to ``out_html``."""
    from copydetect import CopyDetector

    with tempfile.TemporaryDirectory(prefix="selab-similarity-") as tmp:
        stubs = Path(tmp) / "stubs.py"
        stubs.write_text(boilerplate)
        detector = CopyDetector(boilerplate_dirs=[tmp], extensions=["py"], noise_t=KGRAM, guarantee_t=KGRAM,
                                display_t=THRESHOLD, autoopen=False, silent=True, out_file=str(out_html))
        for path in files.values():
            detector.add_file(str(path))
        if len(files) < 2:
            out_html.parent.mkdir(parents=True, exist_ok=True)
            out_html.write_text(f"<p>{len(files)} submission(s) with a models.py: nothing to compare.</p>\n")
            return []
        detector.run()
        detector.generate_html_report()
    names = {str(path): name for name, path in files.items()}
    index = {f: i for i, f in enumerate(detector.test_files)}
    pairs = []
    ordered = sorted(files.items())
    for a, (name_a, path_a) in enumerate(ordered):
        for name_b, path_b in ordered[a + 1:]:
            i, j = index[str(path_a)], index[str(path_b)]
            share_a, share_b = (float(v) for v in detector.similarity_matrix[i, j])
            slices = detector.slice_matrix.get((str(path_a), str(path_b)))
            if slices is None and (str(path_b), str(path_a)) in detector.slice_matrix:
                slices = detector.slice_matrix[(str(path_b), str(path_a))][::-1]
            lines = ("", "") if slices is None else (_line_ranges(path_a.read_text(), slices[0]),
                                                    _line_ranges(path_b.read_text(), slices[1]))
            pairs.append(Pair(names[str(path_a)], names[str(path_b)], max(share_a, 0.0), max(share_b, 0.0),
                              max(int(detector.token_overlap_matrix[i, j]), 0), *lines))
    return sorted(pairs, key=lambda p: (-p.score, p.first, p.second))


def write_csv(pairs: list[Pair], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission_a", "submission_b", "score", "share_a", "share_b", "shared_tokens",
                         "lines_a", "lines_b"])
        for p in pairs:
            writer.writerow([p.first, p.second, f"{p.score:.3f}", f"{p.share_first:.3f}", f"{p.share_second:.3f}",
                             p.tokens, p.lines_first, p.lines_second])


def similarity(directory: Path, out: Path, guidance: str | None = None, config: str | None = None) -> list[Pair]:
    """Compare every submission of ``directory``; write OUTDIR's report; return the flagged pairs, highest first."""
    from grader.config import load_config
    from grader.packaging.stubs import DEFAULT, render

    out = Path(out)
    files, notes = collect(Path(directory), out / SOURCES, load_config(config).limits.models_py_kib << 10)
    pairs = compare(files, render(guidance or DEFAULT), out / HTML)
    flagged = [p for p in pairs if p.score >= THRESHOLD]
    write_csv(flagged, out / CSV)
    for note in notes:
        print(note)
    return flagged


def report_line(directory: Path, out: Path, guidance: str | None = None, config: str | None = None) -> str:
    """The Markdown section grade-all's report.md gets with ``--similarity`` (the report itself goes to ``out``)."""
    flagged = similarity(directory, out, guidance, config)
    listed = ", ".join(f"{p.first} ~ {p.second} ({p.score:.2f})" for p in flagged[:10])
    more = f" and {len(flagged) - 10} more" if len(flagged) > 10 else ""
    found = f"{len(flagged)} pair(s) at or above {THRESHOLD}: {listed}{more}" if flagged else \
        f"no pair at or above {THRESHOLD}"
    return f"\n## Similarity\n\nSimilarity (copydetect): {found}. See {out.name}/{HTML} and {out.name}/{CSV}.\n"
