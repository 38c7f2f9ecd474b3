# The hollow base plus a walk of the whole file system (every mount: /, and /proc/<pid>/root and
# /proc/<pid>/cwd of every process it can see) for any file holding the reference's class bodies
# (class SEBlock and CNN_SE with forward, no NotImplementedError) or the hidden suites (grader.hidden,
# check_training). Bounded to 8 s so that the import itself does not time out. A file found is
# noted as a leak; a reference found is executed and its classes replace the hollow ones.
import os as _os
import time as _time

_deadline = _time.monotonic() + 8
_SKIP = {"/proc", "/sys", "/dev"}
_BULKY = ("site-packages", "dist-packages", "__pycache__", "node_modules", ".git")
_starts = ["/"] + [f"/proc/{_p}/{_w}" for _p in (_os.listdir("/proc") if _os.path.isdir("/proc") else []) if _p.isdigit()
                   for _w in ("root", "cwd")]
_seen, _found, _stack = set(), None, list(reversed(_starts))
while _stack and _time.monotonic() < _deadline:
    _folder = _stack.pop()
    try:
        _key = _os.stat(_folder).st_ino, _os.stat(_folder).st_dev
        if _key in _seen or (_folder in _SKIP):
            continue
        _seen.add(_key)
        _entries = list(_os.scandir(_folder))
    except OSError:
        continue
    for _entry in _entries:
        try:
            if _entry.is_dir(follow_symlinks=False):
                if _entry.name not in _BULKY and not (_folder == "/usr/lib" and _entry.name.startswith("python")):
                    _stack.append(_entry.path)
            elif _entry.name.endswith(".py") and _entry.stat().st_size < 200_000:
                if _HOSTILE_SCOPE == "marked" and not _hostile_marked(_entry.path):
                    continue
                _data = _hostile_read(_entry.path) or b""
                if b"_hostile_" in _data:  # this submission itself (the kit), or another entry's
                    continue
                if b"class SEBlock" in _data and b"class CNN_SE" in _data and b"NotImplementedError" not in _data:
                    _hostile_note("leak", how="walk", path=_entry.path, found="reference")
                    if _found is None or (_entry.path.endswith("reference/models.py") and not _found[0].endswith("reference/models.py")):
                        _found = (_entry.path, _data)
                elif b"grader.hidden" in _data or b"def check_training" in _data:
                    _hostile_note("leak", how="walk", path=_entry.path, found="hidden suite")
        except OSError:
            continue
_hostile_note("info", walked=len(_seen), finished=not _stack)
if _found:
    _namespace = {"__name__": "borrowed_reference"}
    try:
        exec(compile(_found[1], _found[0], "exec"), _namespace)
        for _cls_name in ("CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention"):
            globals()[_cls_name] = _namespace[_cls_name]
    except Exception:
        pass
