"""The similarity report (grader/similarity.py) on a class built from tests/corpus.

The class: every independently written correct solution of the corpus, the reference, and a
disguised copy of each (names renamed, methods and classes reordered, comments and docstrings
dropped). Every copy must score above every pair of independent solutions, with the threshold in
between; the figures are printed (``pytest -s``) for docs/.
"""

from __future__ import annotations

import ast
import builtins
import csv
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from grader.cli import main
from grader.packaging.stubs import LEVELS, render
from grader.similarity import CSV, HTML, THRESHOLD, collect, compare

ROOT = Path(__file__).resolve().parents[2]
#: The independently written correct solutions: the layout-only variants are the reference's own text with
#: other parameter names (issue 16), near-copies by construction, so they are not part of the class.
CORRECT = sorted(ROOT / "tests/corpus/submissions/correct" / f"{name}.py" for name, entry in
                 tomllib.loads((ROOT / "tests/corpus/manifest.toml").read_text())["correct"].items()
                 if "layout_only" not in entry)
#: Names a copy keeps: the pinned API, torch's, Python's, and the methods nn.Module calls.
KEPT = set(dir(builtins)) | {"self", "torch", "nn", "F", "__init__", "forward", "CNN_Base", "SEBlock", "CNN_SE",
                             "CNN_SelfAttention", "in_channels", "num_classes", "image_size", "reduction",
                             "num_heads", "channels"}
COPY = "copy_of_"


def disguise(source: str) -> str:
    """The same solution, disguised: every other bound name renamed, each class's methods and the
    module's classes in reverse order, comments and docstrings dropped."""
    tree = ast.parse(source)
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            bound.add(node.name)
    renamed = {old: f"{old[::-1]}_{i}" for i, old in enumerate(sorted(bound - KEPT))}
    methods = {m.name for c in ast.walk(tree) if isinstance(c, ast.ClassDef) for m in c.body
               if isinstance(m, ast.FunctionDef)}

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node):
            node.id = renamed.get(node.id, node.id)
            return node

        def visit_arg(self, node):
            node.arg = renamed.get(node.arg, node.arg)
            return node

        def visit_Attribute(self, node):  # self.helper() for a renamed helper method; torch's own names stay
            self.generic_visit(node)
            node.attr = renamed.get(node.attr, node.attr) if node.attr in methods else node.attr
            return node

        def visit_FunctionDef(self, node):
            node.name = renamed.get(node.name, node.name)
            self.generic_visit(node)
            return node

    tree = Rename().visit(tree)
    for node in [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef)))]:
        if ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
        if isinstance(node, ast.ClassDef):
            node.body = node.body[::-1]
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    pending = [n for n in tree.body if n not in imports and n not in functions][::-1]
    classes: list[ast.stmt] = []
    while pending:  # reversed, but every class after the classes it inherits from
        ready = next(n for n in pending if not {b.id for b in getattr(n, "bases", []) if isinstance(b, ast.Name)}
                     & {getattr(p, "name", None) for p in pending if p is not n})
        classes.append(ready)
        pending.remove(ready)
    tree.body = imports + functions + classes
    return ast.unparse(tree) + "\n"


@pytest.fixture(scope="module")
def corpus_class(tmp_path_factory) -> Path:
    """One .py per student: the correct corpus solutions, the reference, and a disguised copy of each."""
    folder = tmp_path_factory.mktemp("class")
    originals = {path.stem: path.read_text() for path in CORRECT}
    originals["reference"] = (ROOT / "reference/models.py").read_text()
    for name, text in originals.items():
        (folder / f"{name}.py").write_text(text)
        (folder / f"{COPY}{name}.py").write_text(disguise(text))
    return folder


def is_copy_pair(first: str, second: str) -> bool:
    return first.removeprefix(COPY) == second.removeprefix(COPY)


def _module(path: Path):
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def _method_order(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [f"{c.name}.{m.name}" for c in tree.body if isinstance(c, ast.ClassDef)
            for m in c.body if isinstance(m, ast.FunctionDef)]


def test_a_disguised_copy_computes_the_same_but_reads_differently(corpus_class):
    """The copies are real disguises: same function (same outputs from the same seed), other text."""
    x = torch.randn(2, 1, 28, 28)
    for original in sorted(p for p in corpus_class.glob("*.py") if not p.name.startswith(COPY)):
        copy = corpus_class / f"{COPY}{original.name}"
        theirs, ours = _module(original), _module(copy)
        for name in ("CNN_Base", "CNN_SE", "CNN_SelfAttention"):
            original_model, copied_model = theirs[name]().eval(), ours[name]().eval()
            copied_model.load_state_dict(original_model.state_dict())
            with torch.no_grad():
                assert torch.allclose(copied_model(x), original_model(x), atol=1e-5), f"{copy.name}: {name} differs"
        kept = set(original.read_text().splitlines())
        lines = [line for line in copy.read_text().splitlines() if line.strip()]
        changed = sum(line not in kept for line in lines) / len(lines)  # the rest: mostly the pinned API lines
        assert changed >= 0.35, f"{copy.name}: only {changed:.0%} of its lines differ from {original.name}"
        assert _method_order(copy) != _method_order(original), f"{copy.name}: methods in the original order"


@pytest.mark.parametrize("level", LEVELS)
def test_every_disguised_copy_scores_above_every_independent_pair(corpus_class, level, tmp_path):
    files, notes = collect(corpus_class, tmp_path / "sources", 1 << 20)
    assert len(files) == 2 * (len(CORRECT) + 1) and not notes
    pairs = compare(files, render(level), tmp_path / HTML)
    copies = [p.score for p in pairs if is_copy_pair(p.first, p.second)]
    independent = [p for p in pairs if not is_copy_pair(p.first, p.second)]
    assert len(copies) == len(CORRECT) + 1
    closest = max(independent, key=lambda p: p.score)
    print(f"\n[{level}] copies {min(copies):.3f}..{max(copies):.3f}; independent pairs (n={len(independent)}) "
          f"max {closest.score:.3f} ({closest.first} ~ {closest.second}); threshold {THRESHOLD}; "
          f"separation {min(copies) - closest.score:.3f}")
    assert min(copies) >= THRESHOLD > closest.score, (
        f"copies score {sorted(copies)}; the closest independent pair {closest} must stay below {THRESHOLD}")


def test_the_command_writes_the_flagged_pairs_with_their_regions_and_the_html_report(corpus_class, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["similarity", str(corpus_class), "--out", str(out)]) == 0
    assert f"{len(CORRECT) + 1} pair(s) at or above {THRESHOLD}" in capsys.readouterr().out
    with open(out / CSV) as handle:
        rows = list(csv.DictReader(handle))
    originals = [p.stem for p in CORRECT] + ["reference"]
    assert {frozenset((r["submission_a"], r["submission_b"])) for r in rows} == {
        frozenset((f"{COPY}{n}.py", f"{n}.py")) for n in originals}
    for row in rows:
        for side in ("a", "b"):
            length = len((out / "sources" / row[f"submission_{side}"] / "models.py").read_text().splitlines())
            ranges = [tuple(int(n) for n in r.split("-")) for r in row[f"lines_{side}"].split(";")]
            assert ranges and all(1 <= r[0] <= r[-1] <= length for r in ranges), (row, length)
        assert float(row["score"]) == max(float(row["share_a"]), float(row["share_b"])) >= THRESHOLD
    html = (out / HTML).read_text()
    assert all(r["submission_a"] in html and r["submission_b"] in html for r in rows)


def test_the_handout_stubs_are_boilerplate(tmp_path):
    """Two students who hand in the untouched stubs share only what they were given: not flagged.
    Without the stubs as boilerplate the same pair would be: the boilerplate does the work."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ann.py").write_text(render("lab"))
    (folder / "ben.py").write_text(render("lab"))
    (folder / "cat.py").write_text((ROOT / "reference/models.py").read_text())
    files, _ = collect(folder, tmp_path / "sources", 1 << 20)
    with_stubs = {(p.first, p.second): p.score for p in compare(files, render("lab"), tmp_path / "a.html")}
    without = {(p.first, p.second): p.score for p in compare(files, "pass\n", tmp_path / "b.html")}
    assert max(with_stubs.values()) < THRESHOLD, with_stubs
    assert without[("ann.py", "ben.py")] >= THRESHOLD, without


def test_a_class_of_one_gets_an_empty_report_and_entries_without_models_py_are_named(tmp_path, capsys):
    folder = tmp_path / "class"
    (folder / "gus").mkdir(parents=True)
    (folder / "gus" / "notes.txt").write_text("no models.py here\n")
    (folder / "hal.py").write_text((ROOT / "reference/models.py").read_text())
    assert main(["similarity", str(folder), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "gus: skipped" in printed and "0 pair(s)" in printed
    assert (tmp_path / "out" / CSV).read_text().splitlines() == [
        "submission_a,submission_b,score,share_a,share_b,shared_tokens,lines_a,lines_b"]
    assert "nothing to compare" in (tmp_path / "out" / HTML).read_text()


def test_grade_all_with_similarity_summarises_the_pairs_in_report_md(tmp_path):
    """grade-all --similarity: OUTDIR/similarity/ and a Similarity section in report.md (cheap to grade:
    two identical files that define no model)."""
    folder = tmp_path / "class"
    folder.mkdir()
    copied = "def helper(values):\n    total = 0\n    for value in values:\n        total += value * value\n" \
             "    return [v / total for v in values if v > 0]\n\n\nWEIGHTS = helper([1, 2, 3, 4, 5, 6, 7, 8])\n"
    (folder / "dan.py").write_text(copied)
    (folder / "eve.py").write_text(copied)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "grader", "grade-all", str(folder), "--out", str(out), "--jobs", "2",
               "--similarity"]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = (out / "report.md").read_text()
    assert "## Similarity" in report and f"1 pair(s) at or above {THRESHOLD}: dan.py ~ eve.py (1.00)" in report, report
    assert (out / "similarity" / CSV).read_text().splitlines()[1].startswith("dan.py,eve.py,1.000")
