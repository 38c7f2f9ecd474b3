"""The student handout: the allowlisted files only, no reference code, no hidden tests, and it works.

The handout is built once per module, unpacked into a temporary folder and used the way a student
would: plain ``pytest`` from its root, with the repository out of reach (see conftest.py).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from grader.packaging.archive import is_junk
from grader.packaging.handout import TOP_FOLDER, allowlisted_files, build_handout
from grader.packaging.stubs import LEVELS, render

ROOT = Path(__file__).resolve().parents[2]
GENERATED = {"README.md", "requirements.txt", "pytest.ini"}
#: pytest's own markers; any other marker used by the hidden suites must not appear in the handout.
STANDARD_MARKERS = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings", "timeout"}


@pytest.fixture(scope="module", params=tuple(LEVELS))
def level(request) -> str:
    """Every guidance level of the stubs: each test below holds at each level."""
    return request.param


@pytest.fixture(scope="module")
def built(level, tmp_path_factory) -> tuple[Path, Path]:
    """(zip path, unpacked handout root) at ``level``."""
    folder = tmp_path_factory.mktemp(f"handout-{level}")
    archive = build_handout(folder / "handout.zip", level)
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(folder / "unzipped")
    return archive, folder / "unzipped" / TOP_FOLDER


# --- what is in the zip -------------------------------------------------------------------------

def test_zip_holds_exactly_the_allowlist_and_the_generated_files(built):
    archive, _ = built
    names = set(zipfile.ZipFile(archive).namelist())
    expected = {f"{TOP_FOLDER}/{p}" for p in allowlisted_files()} | {f"{TOP_FOLDER}/{g}" for g in GENERATED}
    assert names == expected, f"unexpected: {sorted(names - expected)}; missing: {sorted(expected - names)}"
    inner = [name.split("/", 1)[1] for name in names]
    assert not [n for n in inner if n.startswith(("reference/", "grader/", "data/", "runs/"))]
    assert not [n for n in inner if n.startswith("tests/") and not n.startswith("tests/public/")]
    assert not [n for n in inner if is_junk(Path(n))], "caches or litter in the handout"
    for required in ("assignment/models.py", "assignment/spec.py", "assignment/impl.py", "tests/public/conftest.py"):
        assert required in inner


def test_handout_ships_the_stubs_of_its_level(built, level):
    _, handout = built
    assert (handout / "assignment/models.py").read_text() == render(level)
    assert "not implemented yet" in (handout / "assignment/models.py").read_text()


def test_build_is_reproducible(built, level, tmp_path):
    archive, _ = built
    assert build_handout(tmp_path / "again.zip", level).read_bytes() == archive.read_bytes()


def test_readme_states_the_points_and_the_single_file_to_submit(built, level):
    _, handout = built
    text = (handout / "README.md").read_text()
    assert "$points_table" not in text, "unfilled placeholder"
    for name in ("CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention"):
        assert f"| `{name}` |" in text, f"no points row for {name}"
    assert "**100**" in text and "only `assignment/models.py`" in text
    assert f"What the file gives you: {LEVELS[level]}." in text


# --- no reference code --------------------------------------------------------------------------

def _statements(body: list[ast.stmt]) -> list[str]:
    """Normalised statements (AST dumps without positions), the leading docstring dropped."""
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return [ast.dump(stmt, annotate_fields=False, include_attributes=False) for stmt in body]


def _blocks(tree: ast.AST) -> list[list[str]]:
    """Every statement list of a module: the module body, class bodies and function bodies."""
    blocks = [_statements(tree.body)] if isinstance(tree, ast.Module) else []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            blocks.append(_statements(node.body))
    return blocks


TRIVIAL = {_statements(ast.parse("super().__init__()").body)[0]}


def functions_of(path: Path) -> dict[str, list[str]]:
    """Qualified name -> normalised body of every function and method defined at the top of ``path``."""
    tree = ast.parse(path.read_text())
    found = {}
    for node in tree.body:
        members = [(f"{node.name}.", n) for n in node.body] if isinstance(node, ast.ClassDef) else [("", node)]
        for prefix, member in members:
            if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = [s for s in _statements(member.body) if s not in TRIVIAL]
                if body:
                    found[prefix + member.name] = body
    return found


def reference_functions() -> dict[str, list[str]]:
    return functions_of(ROOT / "reference/models.py")


def hidden_functions() -> dict[str, list[str]]:
    """Every function of the hidden suites (test modules, their helpers and conftest)."""
    files = sorted((ROOT / "grader/hidden").glob("*.py"))
    assert [f for f in files if f.name.startswith("test_")], "grader/hidden/ holds no test files"
    return {f"{path.name}:{name}": body for path in files for name, body in functions_of(path).items()}


def shipped_blocks(folder: Path) -> dict[str, list[list[str]]]:
    """File -> statement blocks of every Python source in ``folder``, notebooks' code cells included."""
    sources: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".py":
            sources[str(path.relative_to(folder))] = [path.read_text()]
        elif path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            sources[str(path.relative_to(folder))] = [
                "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in cells if c["cell_type"] == "code"]
    blocks = {}
    for name, texts in sources.items():
        blocks[name] = []
        for text in texts:
            text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                blocks[name].extend(_blocks(ast.parse(text)))
            except SyntaxError:
                continue
    return blocks


def _contains(block: list[str], needle: list[str]) -> bool:
    return any(block[i:i + len(needle)] == needle for i in range(len(block) - len(needle) + 1))


def code_in(folder: Path, functions: dict[str, list[str]]) -> list[str]:
    """"file: name" for every function body of ``functions`` found verbatim (normalised) in ``folder``."""
    hits = []
    for file, blocks in shipped_blocks(folder).items():
        for qualname, body in functions.items():
            if any(_contains(block, body) for block in blocks):
                hits.append(f"{file}: {qualname}")
    return hits


def reference_code_in(folder: Path) -> list[str]:
    return code_in(folder, reference_functions())


def test_the_reference_detector_finds_planted_reference_code(tmp_path):
    """The detector below must be able to fail: plant the reference (reformatted) and a notebook cell."""
    planted = ast.unparse(ast.parse((ROOT / "reference/models.py").read_text()))  # other formatting, same code
    (tmp_path / "assignment").mkdir()
    (tmp_path / "assignment/models.py").write_text(planted)
    se_forward = ast.get_source_segment((ROOT / "reference/models.py").read_text(), next(
        m for n in ast.parse((ROOT / "reference/models.py").read_text()).body if isinstance(n, ast.ClassDef)
        and n.name == "SEBlock" for m in n.body if isinstance(m, ast.FunctionDef) and m.name == "forward"))
    cell = "%matplotlib inline\nclass Mine:\n    " + se_forward.replace("\n", "\n    ").strip()
    (tmp_path / "lab.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": cell}]}))
    hits = reference_code_in(tmp_path)
    assert {f"assignment/models.py: {q}" for q in reference_functions()} <= set(hits)
    assert "lab.ipynb: SEBlock.forward" in hits


def test_no_reference_package_or_reference_code_in_the_handout(built):
    _, handout = built
    assert not [p for p in handout.rglob("*") if "reference" in p.relative_to(handout).parts]
    assert reference_code_in(handout) == []


# --- no grader, no hidden tests -----------------------------------------------------------------

def hidden_markers() -> set[str]:
    """Custom pytest markers of the hidden suites (pytest's own excluded)."""
    text = "".join(p.read_text() for p in sorted((ROOT / "grader/hidden").rglob("*.py")))
    return set(re.findall(r"pytest\.mark\.(\w+)", text)) - STANDARD_MARKERS


def test_the_hidden_suite_detector_finds_planted_hidden_tests(tmp_path):
    hidden = sorted((ROOT / "grader/hidden").glob("test_*.py"))
    (tmp_path / "tests/public").mkdir(parents=True)
    shutil.copy(hidden[0], tmp_path / "tests/public/test_mine.py")
    hits = code_in(tmp_path, hidden_functions())
    assert {f"tests/public/test_mine.py: {hidden[0].name}:{name}" for name in functions_of(hidden[0])} <= set(hits)


def test_no_grader_package_and_no_hidden_test_in_the_handout(built):
    _, handout = built
    assert not (handout / "grader").exists()
    assert code_in(handout, hidden_functions()) == [], "hidden test code in the handout"
    # Every grader file but the packaging templates, which are the handout's own sources.
    grader_files = [p for p in (ROOT / "grader").rglob("*") if p.is_file() and p.stat().st_size
                    and "__pycache__" not in p.parts and "packaging" not in p.relative_to(ROOT / "grader").parts]
    grader_digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in grader_files}
    markers = hidden_markers()
    for path in (p for p in handout.rglob("*") if p.is_file()):
        file = str(path.relative_to(handout))
        copied = hashlib.sha256(path.read_bytes()).hexdigest() in grader_digests
        assert not copied, f"{file} is a copy of a grader file"
        text = path.read_text()
        assert not re.search(r"grader[./]hidden|import grader|from grader", text), f"{file} refers to the grader"
        used = set(re.findall(r"mark\.(\w+)", text)) & markers
        assert not used, f"{file} uses the hidden suites' markers {used}"


# --- the handout works on its own ---------------------------------------------------------------

def _junit(path: Path) -> dict[str, str | None]:
    """Test name -> failure text (None when it passed)."""
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        outcomes[case.get("name")] = None if failure is None else (failure.get("message", "") + (failure.text or ""))
    return outcomes


def test_plain_pytest_in_the_handout_fails_every_test_with_not_implemented_yet(built, student_python, tmp_path):
    _, handout = built
    work = tmp_path / TOP_FOLDER
    shutil.copytree(handout, work)
    run = student_python("module", "pytest", "-p", "no:cacheprovider", f"--junitxml={tmp_path / 'out.xml'}", cwd=work)
    outcomes = _junit(tmp_path / "out.xml")
    assert run.returncode == 1, f"expected failures on the stubs, exit {run.returncode}\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
    assert len(outcomes) >= 20, f"plain pytest collected only {len(outcomes)} tests: {run.stdout[-2000:]}"
    assert not [n for n, text in outcomes.items() if text is None], "public tests pass on untouched stubs"
    unclear = [n for n, text in outcomes.items() if "not implemented yet" not in text]
    assert not unclear, f"failures that do not say 'not implemented yet': {unclear}"


def test_plain_pytest_in_the_handout_passes_with_the_reference_models(built, student_python, tmp_path):
    _, handout = built
    work = tmp_path / TOP_FOLDER
    shutil.copytree(handout, work)
    shutil.copy(ROOT / "reference/models.py", work / "assignment/models.py")
    run = student_python("module", "pytest", "-p", "no:cacheprovider", f"--junitxml={tmp_path / 'out.xml'}", cwd=work)
    outcomes = _junit(tmp_path / "out.xml")
    failed = {n: t for n, t in outcomes.items() if t is not None}
    assert run.returncode == 0 and not failed and len(outcomes) >= 20, f"{failed}\n{run.stdout[-3000:]}{run.stderr[-2000:]}"


def test_impl_reference_fails_with_a_clear_message_in_the_handout(built, student_python):
    _, handout = built
    run = student_python("code", "from assignment.impl import build_model; build_model('base', 'reference')", cwd=handout)
    assert run.returncode != 0
    assert "not part of the student handout" in run.stderr, run.stderr[-2000:]
    assert "Traceback" not in run.stderr, "the student gets a traceback instead of one clear line"
