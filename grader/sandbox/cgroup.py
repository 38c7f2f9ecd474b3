"""A pids cgroup per child, when the machine offers one (cgroup v1 ``pids`` controller, writable: root).

RLIMIT_NPROC counts processes per *user* and does not bind root, so as root (namespace jail) it
cannot stop a fork bomb. A cgroup can: every process the child starts inherits the group, the group
holds at most ``limits.processes`` tasks (threads included), and its member list is exact, so
clean-up kills precisely the submission's processes. The child enters the group before it execs
(``wrap``), so no fork can slip out. Where there is no such cgroup (e.g. most containers), this layer
is skipped and the other nets (process group, subreaper, marker, namespaces) remain.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

PIDS_ROOT = Path("/sys/fs/cgroup/pids")


class PidsCgroup:
    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, name: str, max_tasks: int) -> "PidsCgroup | None":
        """A fresh group limited to ``max_tasks``, or None when pids cgroups are not available here."""
        if os.geteuid() != 0 or not (PIDS_ROOT / "cgroup.procs").exists():
            return None
        sweep_stale()
        path = PIDS_ROOT / name
        try:
            path.mkdir()
        except OSError:
            return None
        try:
            (path / "pids.max").write_text(f"{max_tasks}\n")
        except OSError:
            path.rmdir()
            return None
        return cls(path)

    def wrap(self, command: list[str]) -> list[str]:
        """``command``, run by a shell that first moves itself into the group (then execs)."""
        # exit status 86 = the grader's runtime failed (grader/sandbox/child.py), never the student's fault
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" || exit 86; exec "$@"', str(self.path), *command]

    def members(self) -> set[int]:
        try:
            return {int(line) for line in (self.path / "cgroup.procs").read_text().split()}
        except (OSError, ValueError):
            return set()

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every member until the group is empty (a fork bomb cannot outrun it: pids.max)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            members = self.members()
            if not members:
                return
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self, timeout: float = 5.0) -> None:
        """Kill what is left and remove the group (retrying while members finish exiting)."""
        deadline = time.monotonic() + timeout
        self.kill_all(timeout)
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return  # an empty group left behind is harmless; it is named after the sandbox
                self.kill_all(0.1)
                time.sleep(0.02)


def sweep_stale(max_age: float = 600.0) -> None:
    """Remove empty groups left by graders that were killed before they could clean up.

    Only groups older than ``max_age`` seconds: a group that a concurrent grader has just created
    is empty for an instant, and must not be taken from under it.
    """
    now = time.time()
    try:
        entries = list(PIDS_ROOT.glob("selab-*"))
    except OSError:
        return
    for path in entries:
        try:
            if now - path.stat().st_mtime > max_age and not (path / "cgroup.procs").read_text().strip():
                path.rmdir()
        except OSError:
            pass
