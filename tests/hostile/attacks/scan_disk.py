# The hollow base plus a search of the disk for the reference solution and the hidden suites: from
# its working folder and every parent, home, /autograder, sys.path, sys.executable, and the cwd,
# command line and environment of every process it can see in /proc. Whatever it can read is noted
# as a leak; a readable reference is executed and its classes replace the hollow ones.
import os

_SOLUTION_NAMES = ("CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention")
_borrowed = False
for _relative in ("reference/models.py", "source/reference/models.py", "grader/hidden", "source/grader/hidden",
                  "grader/config.toml", "grader/calibration.json"):
    for _hit in _hostile_find(_relative):
        _files = [_hit] if os.path.isfile(_hit) else [os.path.join(_hit, n) for n in sorted(os.listdir(_hit)) if n.endswith(".py")] if os.access(_hit, os.R_OK | os.X_OK) else []
        for _file in _files:
            _data = _hostile_read(_file)
            if _data is None:
                continue
            _hostile_note("leak", how="disk", path=_file, size=len(_data))
            if _file.endswith("reference/models.py") and not _borrowed:
                _namespace = {"__name__": "borrowed_reference"}
                try:
                    exec(compile(_data, _file, "exec"), _namespace)
                    for _cls_name in _SOLUTION_NAMES:
                        globals()[_cls_name] = _namespace[_cls_name]
                    _borrowed = True
                except Exception:
                    pass
