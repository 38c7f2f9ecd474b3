"""Zip uploads of the hostile corpus, built at run time (nothing big is ever committed).

Each builder writes ``path`` (a .zip) around the submission's ``models.py`` source and returns the
paths outside the upload that must NOT exist after grading (where a naive extraction would land).
Every extra file that can run code leaves a canary note in the report folder when it runs, so the
meta-test sees whether the grader executed anything but models.py.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: Size of the zip bombs once inflated; deflate level 1 builds 1 GiB in ~2 s, ~4.5 MB on disk.
BOMB_BYTES = 1 << 30
_CHUNK = 1 << 24


@dataclass(frozen=True)
class UploadContext:
    entry: str
    reports: Path  # world-writable folder for canary notes
    throwaway_repo: Path  # the copy of the repository this entry is graded from
    hollow_source: str
    reference_source: str


def canary_code(context: UploadContext, what: str) -> str:
    """Code that, if it ever runs, prints a canary line (seen in results.json when it runs in the child)
    and leaves a canary note (seen in the report folder when it runs in the grader)."""
    note = context.reports / f"canary-{what}-{context.entry}.json"
    return (f"print('SELAB-CANARY {what} {context.entry}', flush=True)\n"
            f"try:\n    open({str(note)!r}, 'w').write('{{}}')\nexcept OSError:\n    pass\n")


def _symlink(archive: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so external_attr carries the file type
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, target)


def extras(path: Path, models: str, context: UploadContext) -> list[Path]:
    """models.py plus every file a Python or pytest start-up could pick up from the upload folder."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("models.py", models)
        archive.writestr("conftest.py", canary_code(context, "conftest"))
        archive.writestr("sitecustomize.py", canary_code(context, "sitecustomize"))
        archive.writestr("usercustomize.py", canary_code(context, "usercustomize"))
        note = context.reports / f"canary-pth-{context.entry}.json"
        archive.writestr("evil.pth", f"import os; print('SELAB-CANARY pth'); open({str(note)!r}, 'w').write('x')\n")
        archive.writestr("pytest.ini", "[pytest]\naddopts = -p evil_plugin\n")
        archive.writestr("evil_plugin.py", canary_code(context, "pytest-plugin"))
        archive.writestr("setup.cfg", "[tool:pytest]\naddopts = -p evil_plugin\n")
        archive.writestr("tox.ini", "[pytest]\naddopts = -p evil_plugin\n")
        archive.writestr("__init__.py", canary_code(context, "package-init"))
        archive.writestr("torch/__init__.py", canary_code(context, "shadow-torch") + "raise ImportError('shadowed')\n")
        archive.writestr("numpy.py", canary_code(context, "shadow-numpy"))
        archive.writestr("json.py", canary_code(context, "shadow-json"))
        archive.writestr("selab_protocol.py", canary_code(context, "shadow-runtime"))
    return []


def second_models(path: Path, models: str, context: UploadContext) -> list[Path]:
    """Three models.py: the hollow one at the root, the reference in two sub-folders."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/models.py", context.reference_source)
        archive.writestr("models.py", models)
        archive.writestr("zzz/deeper/models.py", context.reference_source)
    return []


def bomb_extra_file(path: Path, models: str, context: UploadContext) -> list[Path]:
    """A working models.py beside a 1 GiB file of zeros (4.5 MB compressed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("models.py", models)
        with archive.open("data.bin", "w", force_zip64=True) as member:
            zeros = bytes(_CHUNK)
            for _ in range(BOMB_BYTES // _CHUNK):
                member.write(zeros)
    return []


def bomb_models_py(path: Path, models: str, context: UploadContext) -> list[Path]:
    """models.py itself inflates to 1 GiB (comment lines, then the hollow solution)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("models.py", "w", force_zip64=True) as member:
            lines = (b"#" * 1023 + b"\n") * (_CHUNK // 1024)
            for _ in range(BOMB_BYTES // _CHUNK):
                member.write(lines)
            member.write(models.encode())
    return []


def symlinks(path: Path, models: str, context: UploadContext) -> list[Path]:
    """models.py is a symlink to the grader's own reference; a real (hollow) one lies deeper."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        _symlink(archive, "models.py", str(context.throwaway_repo / "reference" / "models.py"))
        _symlink(archive, "a/models.py", "../../../../../../../../../../" + str(context.throwaway_repo / "reference" / "models.py"))
        _symlink(archive, "etc", "/etc")
        archive.writestr("b/models.py", models)
    return []


def dot_dot(path: Path, models: str, context: UploadContext) -> list[Path]:
    """Entry names that climb out of the extraction folder (../, absolute) besides a real models.py."""
    escaped = [context.reports / f"escaped-dotdot-{context.entry}.py", context.reports / f"escaped-absolute-{context.entry}.py",
               context.reports / f"escaped-mixed-{context.entry}.py"]
    climb = "../" * 16
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(climb + str(escaped[0]).lstrip("/"), canary_code(context, "dotdot"))
        info = zipfile.ZipInfo(str(escaped[1]))  # ZipInfo keeps a leading "/" as given
        info.filename = str(escaped[1])
        archive.writestr(info, canary_code(context, "absolute"))
        archive.writestr("sub/" + climb + str(escaped[2]).lstrip("/"), canary_code(context, "mixed"))
        archive.writestr("../models.py", context.reference_source)
        archive.writestr("models.py", models)
    return escaped


BUILDERS = {
    "extras": extras,
    "second_models": second_models,
    "bomb_extra_file": bomb_extra_file,
    "bomb_models_py": bomb_models_py,
    "symlinks": symlinks,
    "dot_dot": dot_dot,
}
