"""Every command the docs show exists: ``make X`` names a Makefile target, ``python -m M ...`` a module that runs,
its subcommand one that ``--help`` offers and each ``--flag`` one that ``--help`` lists. Every relative link of the
docs (images included) reaches a file, and its ``#anchor`` a heading of that file.

Read: README.md and docs/*.md (CHANGELOG.md is history: its commands may be gone). Commands are what a reader
types: code spans and code blocks (fenced or indented), split at ``&&``, ``||``, ``;`` and ``|``. Each module's
``--help`` runs once per session, all of them at once, so the whole check takes a few seconds.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HELP_SECONDS = 120

_FENCE = re.compile(r"^\s*(```|~~~)")
_SPAN = re.compile(r"`([^`]+)`")
_SEPARATOR = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PYTHON = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")
_RULE = re.compile(r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:(?![=:])", re.M)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_SUBCOMMANDS = re.compile(r"^ {2}\{([\w-]+(?:,[\w-]+)+)\}", re.M)  # argparse's subparsers, under "positional arguments"


@dataclass(frozen=True)
class Command:
    where: str  # file:line
    text: str
    words: tuple[str, ...]


def command_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every code span (one may run over a line break) and every line of a code block."""
    found, fenced, previous_blank, prose = [], False, True, []

    def spans_of_paragraph():
        joined = "\n".join(line for _, line in prose)
        for match in _SPAN.finditer(joined):
            found.append((prose[0][0] + joined.count("\n", 0, match.start()), " ".join(match.group(1).split())))
        prose.clear()

    for number, line in enumerate(text.splitlines(), 1):
        in_code = _FENCE.match(line) or fenced or (line.startswith("    ") and previous_blank and line.strip())
        if in_code or not line.strip():
            spans_of_paragraph()
        if _FENCE.match(line):
            fenced = not fenced
        elif in_code:
            found.append((number, line.strip()))
            continue  # an indented block goes on while lines stay indented
        elif line.strip():
            prose.append((number, line))
        previous_blank = not line.strip() or (previous_blank and line.startswith("    "))
    spans_of_paragraph()
    return found


def _words(segment: str) -> list[str]:
    segment = segment.removeprefix("$ ").strip()
    try:
        return shlex.split(segment, comments=True)
    except ValueError:  # unbalanced quotes in prose or program output: plain words are enough here
        return segment.split("#", 1)[0].split()


def commands(text: str, name: str) -> list[Command]:
    """Every ``make`` and ``python -m`` command of a markdown text."""
    found = []
    for number, line in command_lines(text):
        for segment in _SEPARATOR.split(line):
            words = _words(segment)
            while words and (_ASSIGNMENT.match(words[0]) or words[0] == "sudo"):
                words = words[1:]
            if words[:1] == ["make"] or any(_PYTHON.match(w) and "-m" in words[i + 1:i + 3] for i, w in enumerate(words)):
                found.append(Command(f"{name}:{number}", segment.strip(), tuple(words)))
    return found


@lru_cache(maxsize=1)
def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    rules = [m.group(1) for m in _RULE.finditer(text) if not m.group(0).startswith("\t")]
    return frozenset(target for rule in rules for target in rule.split())


def _module_runs(module: str) -> bool:
    try:
        spec = importlib.util.find_spec(module)
        return spec is not None and (spec.submodule_search_locations is None
                                     or importlib.util.find_spec(f"{module}.__main__") is not None)
    except ImportError:
        return False


@lru_cache(maxsize=None)
def help_text(*module_and_subcommand: str) -> tuple[int, str]:
    """Exit status and output of ``python -m MODULE [SUBCOMMAND] --help``, run from the repository root."""
    done = subprocess.run([sys.executable, "-m", *module_and_subcommand, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=HELP_SECONDS)
    return done.returncode, done.stdout + done.stderr


def _python_call(words: tuple[str, ...]) -> tuple[str, list[str]]:
    """(module, the words after it) of a ``python [options] -m MODULE ...`` command."""
    start = next(i for i, w in enumerate(words) if _PYTHON.match(w) and "-m" in words[i + 1:i + 3])
    at = words.index("-m", start)
    return words[at + 1] if at + 1 < len(words) else "", list(words[at + 2:])


def _flags(arguments: list[str]) -> list[str]:
    return [word.split("=", 1)[0] for word in arguments if word.startswith("--") and len(word) > 2]


def _subcommand(module: str, arguments: list[str]) -> tuple[str | None, str | None]:
    """(subcommand, problem): the first argument when the module's --help offers subcommands."""
    status, text = help_text(module)
    choices = _SUBCOMMANDS.search(text) if status == 0 else None
    if not choices:
        return None, None
    offered = choices.group(1).split(",")
    first = next((word for word in arguments if not word.startswith("-")), None)
    if first not in offered:
        return None, f"`python -m {module}` has no subcommand {first!r} (it offers {', '.join(offered)})"
    return first, None


def problems_of(command: Command) -> list[str]:
    """What is wrong with one command (empty when everything it names exists)."""
    words = command.words
    if words[0] == "make":
        targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        return [f"`make {t}`: no such target in the Makefile" for t in targets if t not in make_targets()]
    module, arguments = _python_call(words)
    if not _module_runs(module):
        return [f"`python -m {module}`: no such module (or package without __main__)"]
    if not arguments:
        return []
    subcommand, problem = _subcommand(module, arguments)
    if problem:
        return [problem]
    flags = _flags(arguments)
    if not flags:
        return []
    shown = " ".join(filter(None, ("python -m", module, subcommand)))
    status, text = help_text(module, subcommand) if subcommand else help_text(module)
    if status != 0:
        return [f"`{shown} --help` failed (exit {status}), so its flags {flags} cannot be checked"]
    return [f"`{shown}` has no flag {flag} (not in its --help)" for flag in flags
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)]


def _documented() -> list[Command]:
    return [c for path in DOCS for c in commands(path.read_text(), path.relative_to(ROOT).as_posix())]


@pytest.fixture(scope="module")
def documented() -> list[Command]:
    """Every command of the docs, with every --help they need already run (in parallel)."""
    found = _documented()
    calls = [_python_call(c.words) for c in found if c.words[0] != "make"]
    modules = sorted({module for module, arguments in calls if arguments and _module_runs(module)})
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(help_text, modules))
        pairs = {(m, s) for m, arguments in calls if m in modules for s in [_subcommand(m, arguments)[0]] if s}
        list(pool.map(lambda pair: help_text(*pair), sorted(pairs)))
    return found


def test_every_command_the_docs_show_exists(documented):
    assert len(documented) >= 20, f"only {len(documented)} commands found in {[p.name for p in DOCS]}: is the reader broken?"
    wrong = [f"{c.where}: {c.text}\n    {problem}" for c in documented for problem in problems_of(c)]
    assert not wrong, "commands in the docs that do not exist:\n" + "\n".join(wrong)


def test_the_readme_keeps_its_two_commands():
    shown = {c.words[:2] for c in commands((ROOT / "README.md").read_text(), "README.md")}
    assert {("make", "demo"), ("make", "test")} <= shown, "README.md must show `make demo` and `make test`"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_anchor(line.lstrip("#")) for line in path.read_text().splitlines() if re.match(r"#{1,6} ", line)}


@pytest.mark.parametrize("path", [*DOCS, ROOT / "CHANGELOG.md"], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_reaches_a_file_and_its_heading(path):
    broken = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        for link in _LINK.findall(line):
            if re.match(r"[a-z]+:", link):
                continue  # https:, mailto: ...: not checked offline
            target, _, anchor = link.partition("#")
            file = (path.parent / target).resolve() if target else path
            if not file.exists():
                broken.append(f"{number}: {link} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{number}: {link} (no heading #{anchor} in {file.name})")
    assert not broken, f"{path.name}: broken links\n" + "\n".join(broken)


SAMPLE = """
Run `make test` or `make no-such-target`, then `SELAB_IMPL=reference .venv/bin/python -m pytest
tests -q`.

```bash
python -m grader grade models.py --out r.json --no-such-flag   # a comment --ignored
python -m grader no-such-subcommand && python -m no_such_module_here
make demo DEMO_ARGS="--impl reference"
```

    nice -n 10 python3 -m pytest tests/hostile --definitely-not-a-pytest-flag
"""


def test_the_check_finds_what_does_not_exist():
    """The reader and the checks on a sample: each broken command is reported, each sound one is not."""
    found = commands(SAMPLE, "sample.md")
    assert [c.text for c in found] == [
        "make test", "make no-such-target", "SELAB_IMPL=reference .venv/bin/python -m pytest tests -q",
        "python -m grader grade models.py --out r.json --no-such-flag   # a comment --ignored",
        "python -m grader no-such-subcommand", "python -m no_such_module_here", 'make demo DEMO_ARGS="--impl reference"',
        "nice -n 10 python3 -m pytest tests/hostile --definitely-not-a-pytest-flag"]
    reported = {c.text.split("#")[0].strip(): problems_of(c) for c in found}
    assert [text for text, problems in reported.items() if not problems] == [
        "make test", "SELAB_IMPL=reference .venv/bin/python -m pytest tests -q", 'make demo DEMO_ARGS="--impl reference"']
    assert reported["make no-such-target"] == ["`make no-such-target`: no such target in the Makefile"]
    assert reported["python -m grader grade models.py --out r.json --no-such-flag"] == [
        "`python -m grader grade` has no flag --no-such-flag (not in its --help)"]
    assert "has no subcommand 'no-such-subcommand'" in reported["python -m grader no-such-subcommand"][0]
    assert "no such module" in reported["python -m no_such_module_here"][0]
    assert "--definitely-not-a-pytest-flag" in reported[found[-1].text][0]
