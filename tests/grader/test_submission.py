"""Only models.py is taken from an upload, whatever else it holds."""

import os
import zipfile

import pytest

from grader.submission import SubmissionError, prepare_submission

LIMIT = 64 << 10


def make_zip(path, files: dict, symlinks: dict | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return path


def test_zip_gives_the_shallowest_models_py_and_nothing_else(tmp_path):
    upload = make_zip(tmp_path / "upload.zip", {
        "conftest.py": "raise SystemExit", "sitecustomize.py": "x", "evil.pth": "import os", "pytest.ini": "[pytest]",
        "deep/down/models.py": "DEEP = 1", "b/models.py": "B = 1", "a/models.py": "A = 1", "../escape.py": "x"})
    submission = prepare_submission(upload, LIMIT)
    try:
        assert submission.models_py.read_text() == "A = 1"
        assert os.listdir(submission.models_py.parent) == ["models.py"]
        assert "upload.zip:a/models.py" == submission.origin
        assert "3 files named models.py" in submission.notes[0]
    finally:
        submission.cleanup()


def test_zip_symlink_named_models_py_is_ignored(tmp_path):
    upload = make_zip(tmp_path / "upload.zip", {"sub/models.py": "REAL = 1"},
                      symlinks={"models.py": "/work/main/reference/models.py"})
    submission = prepare_submission(upload, LIMIT)
    try:
        assert submission.models_py.read_text() == "REAL = 1"
    finally:
        submission.cleanup()


def test_zip_bomb_is_refused_without_inflating_it(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("models.py", "w", force_zip64=True) as handle:
            chunk = b"#" * (1 << 20)
            for _ in range(256):  # 256 MiB of comments, ~250 KiB compressed
                handle.write(chunk)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(SubmissionError, match="limit"):
        prepare_submission(path, LIMIT)


def test_folder_upload_ignores_symlinks_and_other_files(tmp_path):
    (tmp_path / "up" / "inner").mkdir(parents=True)
    (tmp_path / "up" / "conftest.py").write_text("x")
    (tmp_path / "up" / "inner" / "models.py").write_text("INNER = 1")
    os.symlink("/etc/passwd", tmp_path / "up" / "models.py")
    submission = prepare_submission(tmp_path / "up", LIMIT)
    try:
        assert submission.models_py.read_text() == "INNER = 1"
    finally:
        submission.cleanup()


def test_uploads_without_a_models_py_are_explained(tmp_path):
    with pytest.raises(SubmissionError, match="no file named models.py"):
        prepare_submission(make_zip(tmp_path / "x.zip", {"model.py": "x"}), LIMIT)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SubmissionError, match="neither"):
        prepare_submission(tmp_path / "notes.txt", LIMIT)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SubmissionError):
        prepare_submission(tmp_path / "broken.zip", LIMIT)
