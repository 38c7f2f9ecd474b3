# ---- hostile kit (tests/hostile/attacks/_kit.py) --------------------------------------------------
# Helpers shared by the hostile entries; the meta-test pastes this kit, then one attack, into the
# submission it builds, after filling in __RUN_TOKEN__, __REPORT_DIR__, __ENTRY__ and __SCOPE__.
# Safety interlock: attacks that WRITE outside their own working directory only touch paths that
# contain a throwaway marker, i.e. the temporary copies the meta-test controls (a repository copy, or
# a simulated Gradescope root). With __SCOPE__ = "marked", searches for files to READ are confined to
# such paths too (the Gradescope simulation: CI's own checkout is world-readable and no part of it).
import json as _hostile_json
import os as _hostile_os
import sys as _hostile_sys
import time as _hostile_time

_HOSTILE_TOKEN = "__RUN_TOKEN__"
_HOSTILE_REPORTS = "__REPORT_DIR__"
_HOSTILE_ENTRY = "__ENTRY__"
_THROWAWAY_MARKS = ("selab-throwaway-", "selab-gradescope-")
_HOSTILE_SCOPE = "__SCOPE__"
_hostile_dump = _hostile_json.dump  # taken before any attack patches json


def _hostile_note(kind, **data):
    """Leave a note for the meta-test: 'leak' (read or wrote what it must not), 'pid', 'info'. Never raises.

    A note is a file in the report folder; a sandbox that hides /tmp makes that impossible, so a
    leak is also printed (the grader shows the child's output in results.json, where the test looks)."""
    if kind == "leak":
        try:
            print(f"SELAB-LEAK {_HOSTILE_ENTRY} {data}", flush=True)
        except Exception:
            pass
    try:
        name = f"{kind}-{_HOSTILE_ENTRY}-{_hostile_os.getpid()}-{_hostile_time.monotonic_ns()}.json"
        with open(_hostile_os.path.join(_HOSTILE_REPORTS, name), "w") as handle:
            _hostile_dump(dict(data, entry=_HOSTILE_ENTRY, pid=_hostile_os.getpid()), handle)
    except Exception:
        pass


def _hostile_sleeper_argv(seconds=600):
    """A process that sleeps with the run token in its command line (the meta-test looks for it)."""
    return [_hostile_sys.executable, "-c", f"import time; time.sleep({seconds})", _HOSTILE_TOKEN]


def _hostile_tag():
    """Rename this process (/proc/PID/comm) after the run token: how the meta-test finds a forked
    daemon that never exec'd, in any PID namespace."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, ctypes.c_char_p(_hostile_comm().encode()), 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass


def _hostile_comm():
    return ("slb" + _HOSTILE_TOKEN)[:15]


def _hostile_marked(path):
    return any(mark in str(path) for mark in _THROWAWAY_MARKS)


def _hostile_read(path, limit=1 << 20):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except Exception:
        return None


def _hostile_paths():
    """Every absolute path this process can learn about: its cwd and parents, home, /autograder,
    sys.path and sys.executable, and the cwd, command line and environment of every process in /proc."""
    found = set()

    def add(text):
        if isinstance(text, str) and text.startswith("/"):
            found.add(text.rstrip("/") or "/")

    cwd = _hostile_os.getcwd()
    add(cwd)
    add(_hostile_os.path.expanduser("~"))
    add(_hostile_os.environ.get("HOME", ""))
    add("/autograder")
    add("/autograder/source")
    add(_hostile_sys.executable)
    for entry in _hostile_sys.path:
        add(entry)
    for pid in _hostile_os.listdir("/proc") if _hostile_os.path.isdir("/proc") else []:
        if not pid.isdigit():
            continue
        try:
            add(_hostile_os.readlink(f"/proc/{pid}/cwd"))
        except Exception:
            pass
        for name, sep in (("cmdline", b"\0"), ("environ", b"\0")):
            raw = _hostile_read(f"/proc/{pid}/{name}")
            for part in (raw or b"").split(sep):
                text = part.decode(errors="replace")
                for piece in text.replace("=", " ").replace(":", " ").split():
                    add(piece)
    roots = set()
    for path in found:
        while True:
            roots.add(path)
            parent = _hostile_os.path.dirname(path)
            if parent == path:
                break
            path = parent
    return sorted(roots)


def _hostile_find(relative):
    """Paths P/relative that exist, for every P learned by _hostile_paths()."""
    hits = []
    for root in _hostile_paths():
        if _HOSTILE_SCOPE == "marked" and not _hostile_marked(root):
            continue
        candidate = _hostile_os.path.join(root, relative)
        if _hostile_os.path.exists(candidate):
            hits.append(candidate)
    return hits


def _hostile_outputs_as(tensor_class):
    """Make every lab class's forward return its output as ``tensor_class`` (a torch.Tensor subclass).
    Call it after the classes are defined (the base comes first)."""
    def wrap(original):
        def forward(self, x):
            return original(self, x).as_subclass(tensor_class)
        return forward

    for cls in (CNN_Base, SEBlock, CNN_SE, CNN_SelfAttention):  # noqa: F821 - defined by the base
        cls.forward = wrap(cls.forward)
