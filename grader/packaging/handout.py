"""The student handout: ``python -m grader handout --out dist/handout.zip``.

What students get is decided by ONE allowlist, :data:`ALLOWLIST`, plus three generated files
(README.md, requirements.txt, pytest.ini). Nothing else of the repository can reach the zip: no
``reference/``, no ``grader/``, no tests other than ``tests/public``, no caches, data or runs.
Everything sits under one top folder, :data:`TOP_FOLDER`, so unzipping never sprays files.
``assignment/models.py`` is rendered at the chosen guidance level (grader/packaging/stubs.py).
"""

from __future__ import annotations

import fnmatch
import string
from pathlib import Path

from grader.packaging.archive import REPO_ROOT, tree_files, write_zip
from grader.packaging.project import requirements_txt
from grader.packaging.stubs import DEFAULT, LEVELS, render

TOP_FOLDER = "channel-attention-lab"
TEMPLATES = Path(__file__).resolve().parent / "templates" / "handout"
#: pyproject extras students install besides the runtime: the public tests' and Jupyter for the notebook.
STUDENT_EXTRAS = ("test", "jupyter")

#: (path or ``folder/**`` relative to the repository root, required). The only list of shipped files.
ALLOWLIST: tuple[tuple[str, bool], ...] = (
    ("assignment/__init__.py", True),
    ("assignment/models.py", True),  # the stubs at the guidance level: every TODO raises "not implemented yet"
    ("assignment/spec.py", True),
    ("assignment/data.py", True),
    ("assignment/train.py", True),
    ("assignment/precision.py", True),  # fp32 or bf16 autocast: the training loop's (and the grader's short training)
    ("assignment/compare.py", True),
    ("assignment/impl.py", True),
    ("assignment/localise.py", True),  # where a model first leaves the spec (public tests) / the reference (grader)
    ("assignment/recorder.py", True),  # the forward-hook recorder localise.py (and the grader's sandbox) use
    ("assignment/tolerance.py", True),  # the one rule for "close enough", the grader's too
    ("assignment/probes.py", True),
    ("assignment/report.py", True),
    ("assignment/lab.ipynb", False),
    ("tests/public/**", True),
)

#: Never shipped, whatever the allowlist says: a second line of defence checked on the final list.
FORBIDDEN = ("reference/*", "grader/*", "tests/*", "data/*", "runs/*", "dist/*", "*.pt", "*.npz")
FORBIDDEN_EXCEPTIONS = ("tests/public/*",)


def allowlisted_files(root: Path = REPO_ROOT) -> list[str]:
    """Repository-relative paths of the files the allowlist selects, junk excluded."""
    selected: list[str] = []
    for pattern, required in ALLOWLIST:
        if pattern.endswith("/**"):
            folder = root / pattern[:-3]
            found = [f"{pattern[:-3]}/{p.as_posix()}" for p in tree_files(folder)] if folder.is_dir() else []
        else:
            found = [pattern] if (root / pattern).is_file() else []
        if required and not found:
            raise FileNotFoundError(f"handout: required {pattern} is missing from {root}")
        selected.extend(found)
    leaked = [p for p in selected if any(fnmatch.fnmatch(p, f) for f in FORBIDDEN)
              and not any(fnmatch.fnmatch(p, e) for e in FORBIDDEN_EXCEPTIONS)]
    if leaked:
        raise ValueError(f"handout: the allowlist selects forbidden files {leaked}")
    return sorted(set(selected))


def points_table() -> str:
    """A Markdown table of the points per class, read from the grader's configuration (its single source)."""
    from grader.config import CLASS_ORDER, load_config  # the grader core owns the points

    config = load_config()
    rows = [f"| `{name}` | {config.class_points(name)} |" for name in CLASS_ORDER]
    return "\n".join(["| Class | Points |", "|---|---|", *rows, f"| **Total** | **{config.total_points}** |"])


def readme(guidance: str = DEFAULT) -> str:
    return string.Template((TEMPLATES / "README.md").read_text()).substitute(
        points_table=points_table(), guidance=LEVELS[guidance])


def handout_entries(root: Path = REPO_ROOT, guidance: str = DEFAULT) -> dict[str, bytes | str | Path]:
    """Archive name -> content of every file in the handout, the stubs at ``guidance``."""
    entries: dict[str, bytes | str | Path] = {f"{TOP_FOLDER}/{p}": root / p for p in allowlisted_files(root)}
    entries[f"{TOP_FOLDER}/assignment/models.py"] = render(guidance)
    entries[f"{TOP_FOLDER}/README.md"] = readme(guidance)
    entries[f"{TOP_FOLDER}/requirements.txt"] = requirements_txt(root, STUDENT_EXTRAS)
    entries[f"{TOP_FOLDER}/pytest.ini"] = (TEMPLATES / "pytest.ini").read_text()
    return entries


def build_handout(out: Path, guidance: str = DEFAULT) -> Path:
    """Write the student handout zip, its stubs at ``guidance`` (full, lab or outline), to ``out``; return its path."""
    return write_zip(Path(out), handout_entries(guidance=guidance))

