"""Facts about the project that several packages need, read from their one source (pyproject.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from grader.packaging.archive import REPO_ROOT, tree_files


def requirements_txt(root: Path = REPO_ROOT, extras: tuple[str, ...] = ("test",)) -> str:
    """The project's runtime dependencies and the given extras (broad ranges), as a requirements file."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    lines = [*project["dependencies"], *(line for extra in extras for line in optional.get(extra, []))]
    return "# pip install -r requirements.txt  (generated from the lab's pyproject.toml)\n" + "\n".join(lines) + "\n"


#: What grading needs besides the templates: the grader, the reference and the lab's non-stub modules.
#: (``assignment/models.py`` is the students' stub: never a grading input.)
RUNTIME_TREES = ("grader", "reference", "assignment")
NEVER_PACKAGED = ("assignment/models.py", "assignment/lab.ipynb")
#: Instructors' tools that grading never imports: the packaging code and the mutation analysis (``make mutants``).
NOT_FOR_GRADING = ("grader/packaging", "grader/mutants")


def runtime_files(leave_out: tuple[str, ...] = ()) -> dict[str, Path]:
    """Repository-relative path -> file for everything grading runs on, minus the files and folders in ``leave_out``.

    The bundled Fashion-MNIST subset is built first when it is missing (it is gitignored).
    """
    from grader.subset import ensure_subset  # the grader core owns the subset

    root = REPO_ROOT
    subset = ensure_subset().resolve().relative_to(root.resolve()).as_posix()
    data_folder = subset.rsplit("/", 1)[0] + "/"
    files = {}
    for tree in RUNTIME_TREES:
        for relative in tree_files(root / tree):
            name = f"{tree}/{relative.as_posix()}"
            if name.startswith(data_folder) and name != subset:
                continue  # only the subset itself from the data folder: no stale builds or experiments
            if name in NEVER_PACKAGED or any(name == left or name.startswith(left.rstrip("/") + "/") for left in leave_out):
                continue
            files[name] = root / name
    return files
