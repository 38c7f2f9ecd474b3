"""Find and kill every process a submission started, including those that left its process group.

Needed only where the child has no PID namespace of its own (the sandbox user, --unsafe-no-sandbox): in
the bubblewrap jail the kernel kills the whole namespace when bwrap's init dies (``--die-with-parent``),
so :func:`kill_group` is enough there. Elsewhere, three nets, because each alone has a hole:
- the child's process group (``start_new_session``) catches ordinary forks;
- the grader is a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``), so a process that
  double-forks or calls ``setsid`` is re-parented to the grader instead of init and stays in the
  grader's process tree, where :func:`descendants` finds it;
- a unique marker in the child's environment catches anything else that kept its environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from typing import Callable, NamedTuple

PR_SET_CHILD_SUBREAPER = 36
_subreaper = None


def become_subreaper() -> bool:
    """Make orphans of our descendants re-parent to this process (Linux >= 3.4); idempotent."""
    global _subreaper
    if _subreaper is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _subreaper = False
    return _subreaper


class ProcessStat(NamedTuple):
    """What /proc/PID/stat says of one process."""

    state: str  # one letter: "R" running, "S" sleeping, "Z" zombie, ...
    ppid: int
    line: bytes  # the whole line, as read


def process_stats() -> dict[int, ProcessStat]:
    """pid -> :class:`ProcessStat` for every process visible in /proc."""
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                line = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses; split after the last ')'.
        fields = line[line.rfind(b")") + 2:].split()
        if len(fields) > 1:
            stats[int(entry)] = ProcessStat(fields[0].decode(errors="replace"), int(fields[1]), line)
    return stats


def _process_table() -> dict[int, int]:
    """pid -> parent pid for every process visible in /proc."""
    return {pid: stat.ppid for pid, stat in process_stats().items()}


def descendants(root: int, table: dict[int, int] | None = None) -> set[int]:
    """Every process below ``root`` in the process tree (``root`` excluded)."""
    table = _process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, ppid in table.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def with_marker(marker: bytes) -> set[int]:
    """Processes whose initial environment contains ``marker`` (e.g. b"SELAB_SANDBOX=token")."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if marker in handle.read().split(b"\0"):
                    found.add(int(entry))
        except OSError:
            continue
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill_group(pid: int) -> None:
    """SIGKILL ``pid`` and its process group (it leads one: ``start_new_session``); not reaped here."""
    for send in (os.killpg, os.kill):
        try:
            send(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(root_pid: int, pgid: int | None, marker: bytes | None,
              protected: Callable[[], set[int]] | set[int] = frozenset(), lock: threading.Lock | None = None,
              rounds: int = 50) -> int:
    """SIGKILL ``root_pid``'s process group, its descendants, marked processes and orphans re-parented to us.

    Repeats until a round finds nothing alive (a fork bomb keeps forking while we kill).
    ``protected`` holds (or returns) the root pids of other live sandboxes: they and their descendants
    are left alone. With ``lock`` (the one held while a sandbox is spawned and registered), each round
    reads the process table and ``protected`` under it, so a sandbox another thread is starting is
    either registered or not yet in the table: never taken for an orphan. ``root_pid`` itself is killed but not reaped (its ``Popen`` does that). Returns how many
    processes were signalled.
    """
    me = os.getpid()
    signalled = 0
    for _ in range(rounds):
        with lock if lock is not None else contextlib.nullcontext():
            table = _process_table()
            shielded = set(protected() if callable(protected) else protected)
        guarded = {me}
        for pid in shielded:
            guarded |= {pid} | descendants(pid, table)
        targets = {pid for pid, ppid in table.items() if ppid == me}  # orphans re-parented to us
        if root_pid in table:
            targets |= {root_pid} | descendants(root_pid, table)
        if marker:
            targets |= with_marker(marker)
        targets -= guarded
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        alive = {pid for pid in targets if _alive(pid, root_pid)}
        if not alive:
            break
        for pid in alive:
            _kill(pid)
            signalled += 1
        time.sleep(0.005)
        for pid in alive:
            if pid != root_pid and _parent(pid) == me:
                _reap(pid)
    return signalled


def _alive(pid: int, managed: int | None = None) -> bool:
    """True for a running process; zombies (already dead, waiting to be reaped) do not count."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    state = stat[stat.rfind(b")") + 2:].split()[:1]
    if state == [b"Z"]:
        if pid != managed and _parent(pid) == os.getpid():
            _reap(pid)
        return False
    return True


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        return int(stat[stat.rfind(b")") + 2:].split()[1])
    except (OSError, IndexError, ValueError):
        return None
