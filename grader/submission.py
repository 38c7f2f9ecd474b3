"""Take the one file that is graded, ``models.py``, out of an upload; ignore everything else.

An upload is a ``.py`` file, a folder, or a ``.zip``. Nothing is ever extracted: the chosen
``models.py`` is read (size-capped, so a zip bomb costs nothing) and written to a fresh private
folder, so conftest.py, sitecustomize.py, ``*.pth``, pytest.ini, symlinks and ``..`` names in an
upload never reach the grader or the child. With several ``models.py``, the shallowest wins, then
the first in alphabetical order, and the feedback says which one was graded.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MODELS = "models.py"


class SubmissionError(Exception):
    """The upload has no usable models.py; the message is for the student."""


@dataclass
class Submission:
    models_py: Path  # private copy
    origin: str  # where it came from, for the feedback
    notes: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        shutil.rmtree(self.models_py.parent, ignore_errors=True)


def _pick(candidates: list[str]) -> tuple[str, list[str]]:
    ordered = sorted(candidates, key=lambda name: (len(PurePosixPath(name).parts), name))
    notes = []
    if len(ordered) > 1:
        notes.append(f"Your upload holds {len(ordered)} files named models.py; graded {ordered[0]} "
                     f"(the shallowest, then alphabetical) and ignored {', '.join(ordered[1:4])}"
                     f"{' ...' if len(ordered) > 4 else ''}.")
    return ordered[0], notes


def _from_zip(path: Path, max_bytes: int) -> tuple[bytes, str, list[str]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise SubmissionError(f"the upload is not a readable zip file ({error})") from None
    with archive:
        candidates = {}
        for info in archive.infolist():
            name = info.filename.replace("\\", "/")
            mode = info.external_attr >> 16
            if (info.is_dir() or PurePosixPath(name).name != MODELS or name.startswith("__MACOSX/")
                    or stat.S_ISLNK(mode)):
                continue
            candidates.setdefault(name, info)
        if not candidates:
            raise SubmissionError("no file named models.py in the uploaded zip")
        chosen, notes = _pick(list(candidates))
        info = candidates[chosen]
        if info.file_size > max_bytes:
            raise SubmissionError(f"{chosen} is {info.file_size} bytes; the limit is {max_bytes} bytes")
        try:
            with archive.open(info) as handle:
                data = handle.read(max_bytes + 1)
        except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError) as error:
            raise SubmissionError(f"{chosen} cannot be read from the zip ({error})") from None
        if len(data) > max_bytes:
            raise SubmissionError(f"{chosen} is larger than the limit of {max_bytes} bytes")
        return data, f"{path.name}:{chosen}", notes


def _from_folder(path: Path) -> tuple[Path, str, list[str]]:
    candidates = []
    for root, dirs, files in os.walk(path, followlinks=False):
        dirs.sort()
        for name in files:
            if name == MODELS:
                full = Path(root) / name
                if stat.S_ISREG(os.lstat(full).st_mode):  # a symlink could point anywhere: ignored
                    candidates.append(full.relative_to(path).as_posix())
    if not candidates:
        raise SubmissionError(f"no file named models.py in the folder {path.name}")
    chosen, notes = _pick(candidates)
    return path / chosen, chosen, notes


def _read_file(path: Path, max_bytes: int) -> bytes:
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise SubmissionError(f"{path.name} is not a regular file")
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SubmissionError(f"{path.name} is larger than the limit of {max_bytes} bytes")
    return data


def prepare_submission(upload: str | os.PathLike, max_bytes: int) -> Submission:
    """Copy the upload's models.py into a fresh private folder (raises SubmissionError when there is none)."""
    upload = Path(upload)
    if not os.path.lexists(upload):
        raise SubmissionError(f"{upload} does not exist")
    notes: list[str] = []
    if upload.is_dir() and not upload.is_symlink():
        source, origin, notes = _from_folder(upload)
        data = _read_file(source, max_bytes)
    elif zipfile.is_zipfile(upload) if upload.is_file() else False:
        data, origin, notes = _from_zip(upload, max_bytes)
    elif upload.suffix == ".py":
        data, origin = _read_file(upload, max_bytes), upload.name
        if upload.name != MODELS:
            notes.append(f"graded {upload.name} as models.py")
    else:
        raise SubmissionError(f"{upload.name} is neither a models.py, a folder nor a zip file")
    folder = Path(tempfile.mkdtemp(prefix="selab-submission-"))
    target = folder / MODELS
    target.write_bytes(data)
    return Submission(target, origin, notes)
