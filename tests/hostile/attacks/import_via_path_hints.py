# The hollow base plus every path hint a Python process can find for the solution, then imports by
# name from each: $PYTHONPATH, site-packages' .pth files and editable-install finders (their
# MAPPING of package -> source folder), the sys.path, cwd, command line and PYTHONPATH of its parent
# and of every process in /proc (/proc/<pid>/{cwd,cmdline,environ}), and the folders above each.
import importlib
import os as _os
import sys as _sys
import time as _time

_deadline = _time.monotonic() + 8  # the import itself must not time out

_hints = set(filter(None, _os.environ.get("PYTHONPATH", "").split(":")))
for _folder in list(_sys.path):
    try:
        _names = _os.listdir(_folder)
    except OSError:
        continue
    for _file in _names:
        _path = _os.path.join(_folder, _file)
        if _file.endswith(".pth"):
            for _line in (_hostile_read(_path) or b"").decode(errors="replace").splitlines():
                if _line.startswith("/"):
                    _hints.add(_line.strip())
        elif _file.startswith("__editable__") and _file.endswith(".py"):
            _namespace = {}
            try:
                exec(compile(_hostile_read(_path) or b"", _path, "exec"), _namespace)
                for _target in dict(_namespace.get("MAPPING", {})).values():
                    _hints.add(_os.path.dirname(str(_target)))
            except Exception:
                pass
for _pid in [str(_os.getppid()), *(_p for _p in _os.listdir("/proc") if _p.isdigit())][:2000]:
    try:
        _hints.add(_os.readlink(f"/proc/{_pid}/cwd"))
    except OSError:
        pass
    for _part in (_hostile_read(f"/proc/{_pid}/environ") or b"").split(b"\0") + (_hostile_read(f"/proc/{_pid}/cmdline") or b"").split(b"\0"):
        _text = _part.decode(errors="replace")
        for _piece in _text.replace("=", ":").replace('"', ":").replace(",", ":").replace(" ", ":").split(":"):
            if _piece.startswith("/"):
                _hints.add(_piece)
_roots = set()
for _hint in _hints:
    while _hint not in ("/", ""):
        _roots.add(_hint)
        _hint = _os.path.dirname(_hint)
for _root in sorted(_roots, key=len):
    if _time.monotonic() > _deadline:
        break
    if not _os.path.isfile(_os.path.join(_root, "reference", "models.py")) or (_HOSTILE_SCOPE == "marked" and not _hostile_marked(_root)):
        continue
    _sys.path.insert(0, _root)
    for _blocker in [b for b in _sys.meta_path if type(b).__name__.startswith("_Block")]:
        _sys.meta_path.remove(_blocker)
    try:
        _module = importlib.import_module("reference.models")
    except BaseException:  # noqa: B902
        continue
    _hostile_note("leak", how="path-hint", root=_root, file=str(getattr(_module, "__file__", "")))
    for _cls_name in ("CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention"):
        globals()[_cls_name] = getattr(_module, _cls_name)
    break
