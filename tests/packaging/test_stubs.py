"""The guidance levels of the stubs: each renders, the committed stubs are the default level, and no
level gives away a line of the reference it does not promise (grader/packaging/stubs.py, GIVES)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from grader.packaging.stubs import COMMITTED, DEFAULT, GIVES, LEVELS, render

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "models.py"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def reference_lines(source: str) -> dict[str, str]:
    """Squashed code -> the line as written, for every reference line that is solution code.

    Not solution code, so left out: comments, docstrings, imports and ``def``/``class`` headers (the
    pinned API), and lines with no letter or digit (closing brackets).
    """
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip.update(range(node.lineno, node.end_lineno + 1))
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                skip.update(range(node.lineno, node.body[0].lineno))
            if ast.get_docstring(node, clean=False) is not None:
                skip.update(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    code = {}  # line number -> the line without its comment
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            code[row] = source.splitlines()[row - 1][:column]
    lines = {}
    for number, line in enumerate(source.splitlines(), start=1):
        text = code.get(number, line).strip()
        if number not in skip and re.search(r"\w", text):
            lines[_squash(text)] = text
    return lines


def leaked(stubs: str, level: str, source: str) -> list[str]:
    """Reference lines found anywhere in ``stubs`` (code, comments or strings) that ``level`` does not promise."""
    promised = {_squash(line) for line in GIVES[level]}
    squashed = _squash(stubs)
    return [line for key, line in reference_lines(source).items() if key in squashed and key not in promised]


@pytest.mark.parametrize("level", LEVELS)
def test_stubs_render_import_and_raise_not_implemented_yet(level, tmp_path):
    text = render(level)
    namespace: dict = {}
    exec(compile(text, f"models-{level}.py", "exec"), namespace)
    constructors = {"CNN_Base": {}, "SEBlock": {"channels": 32}, "CNN_SE": {}, "CNN_SelfAttention": {}}
    for name, kwargs in constructors.items():
        with pytest.raises(NotImplementedError, match="not implemented yet"):
            namespace[name](**kwargs)


def test_the_committed_stubs_are_the_default_level():
    assert COMMITTED.read_text() == render(DEFAULT), (
        f"assignment/models.py differs from the {DEFAULT!r} stubs rendered from "
        "grader/packaging/templates/stubs/models.py.jinja: run `python -m grader.packaging.stubs`")


@pytest.mark.parametrize("level", LEVELS)
def test_no_level_gives_a_reference_line_it_does_not_promise(level):
    leaks = leaked(render(level), level, REFERENCE.read_text())
    assert not leaks, f"the {level!r} stubs give reference lines that GIVES[{level!r}] does not promise: {leaks}"


@pytest.mark.parametrize("level", LEVELS)
def test_every_promise_is_a_reference_line_the_level_gives(level):
    """GIVES stays exact: a promise that is no reference line, or that the stubs do not give, is stale."""
    reference = reference_lines(REFERENCE.read_text())
    squashed = _squash(render(level))
    stale = [line for line in GIVES[level] if _squash(line) not in reference or _squash(line) not in squashed]
    assert not stale, f"GIVES[{level!r}] promises lines that are not reference lines given by the stubs: {stale}"


def test_outline_gives_least():
    assert set(GIVES["outline"]) < set(GIVES["lab"]) and set(GIVES["outline"]) < set(GIVES["full"])


def test_the_leak_detector_finds_reference_code_in_comments_and_strings():
    """The check above must be able to fail: plant two reference lines, one in a comment, one in a string."""
    source = REFERENCE.read_text()
    planted = render("outline") + "\n# x = x + attended.reshape(b, c, h, w)\nHINT = 'tokens = x.reshape(b, c, h * w)'\n"
    assert set(leaked(planted, "outline", source)) == {"x = x + attended.reshape(b, c, h, w)",
                                                       "tokens = x.reshape(b, c, h * w)"}
    assert "self.fc = nn.Sequential(" in leaked(render("lab"), "outline", source)


def test_the_feedback_hints_give_no_reference_line_at_any_level():
    """The autograders ship no stubs; the guidance shows there only in the hints of the feedback
    (grader/hidden/hints.toml), so they must fit the least guided level too."""
    import tomllib

    hints = tomllib.loads((ROOT / "grader/hidden/hints.toml").read_text())
    texts = "\n".join(hint["text"] for hint in hints.values())
    assert leaked(texts, "outline", REFERENCE.read_text()) == []
