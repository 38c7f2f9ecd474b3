"""What a class folder holds: one submission per entry, or a Gradescope "Export Submissions" folder.

A plain folder: every entry (a ``.py`` file, a folder or a ``.zip``; hidden entries skipped) is one
submission, named after the entry (characters other than letters, digits, ``.``, ``_`` and ``-``
replaced by ``_``). A Gradescope export: ``submission_metadata.yml`` beside one folder per
submission (``submission_<id>``); the metadata maps each folder to its ``:submitters:`` (``:name:``,
``:email:``, ``:sid:``; several for a group submission), which grades.csv keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

GRADESCOPE_METADATA = "submission_metadata.yml"
STUDENT_FIELDS = ("name", "email", "sid")  # grades.csv columns, from :name: :email: :sid:


@dataclass(frozen=True)
class Entry:
    name: str  # the submission's name in OUTDIR and grades.csv
    path: Path  # what is graded (a .py file, a folder or a .zip)
    student: dict = field(default_factory=dict)  # STUDENT_FIELDS -> text, for a Gradescope export


def safe_names(paths: list[Path]) -> list[str]:
    """A unique file-system-safe name per path (``a b.py`` -> ``a_b.py``, repeats get ``-2``, ``-3``...)."""
    names, seen = [], set()
    for path in paths:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", path.name).lstrip(".") or "submission"
        name, counter = base, 1
        while name in seen:
            counter += 1
            name = f"{base}-{counter}"
        seen.add(name)
        names.append(name)
    return names


def is_gradescope_export(directory: Path) -> bool:
    return (directory / GRADESCOPE_METADATA).is_file()


def entries(directory: Path) -> list[Entry]:
    """The submissions of ``directory``, in name order."""
    directory = Path(directory)
    paths = sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    if is_gradescope_export(directory):
        students = gradescope_students(directory / GRADESCOPE_METADATA)
        paths = [p for p in paths if p.is_dir()]  # the metadata file itself is no submission
        return [Entry(name, path, students.get(path.name, {})) for path, name in zip(paths, safe_names(paths))]
    return [Entry(name, path) for path, name in zip(paths, safe_names(paths))]


def load_metadata(text: str):
    """Safe YAML, except that Ruby-tagged values (``!ruby/object:BigDecimal``, ``!ruby/hash:...``), which
    Gradescope's metadata may hold, are read as plain values instead of failing the whole file."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def plain(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    Loader.add_multi_constructor("!", plain)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass: no arbitrary objects


def _field(record: dict, key: str) -> str:
    value = record.get(f":{key}", record.get(key))
    return "" if value is None else str(value)


def gradescope_students(path: Path) -> dict[str, dict]:
    """Folder name -> {"name", "email", "sid"} (a group's submitters joined with "; ")."""
    document = load_metadata(path.read_text()) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping of submission folders, got {type(document).__name__}")
    students = {}
    for folder, record in document.items():
        submitters = record.get(":submitters") if isinstance(record, dict) else None
        submitters = [s for s in submitters or [] if isinstance(s, dict)]
        students[str(folder)] = {key: "; ".join(_field(s, key) for s in submitters) for key in STUDENT_FIELDS}
    return students
