"""Control groups for the child: tasks, memory and CPU, on cgroup v2 or v1 (whichever the host mounts).

Why: RLIMIT_NPROC counts processes per *user* and does not bind root, so as root (the bubblewrap
jail) it cannot stop a fork bomb; nothing but a cgroup bounds the CPU time of all of a submission's
processes together. A group gives both, and an exact member list, so clean-up kills precisely the
submission's processes. The child enters its group before it execs (:meth:`Cgroup.wrap`), so no fork
can slip out. The same layer sets the memory and CPU limits of the Gradescope end-to-end check
(tests/e2e/gradescope_e2e.py).

Where the grader may not create groups (an ordinary user, most containers) :meth:`Cgroup.create`
returns None and the other nets remain (namespaces, process group, subreaper, marker, RLIMIT_NPROC,
and CPU affinity plus a lower priority for the CPU share).

- v2 (one unified tree, ``cgroup.controllers`` at its root): ``cgroup.subtree_control`` of the parent
  enables the controllers; ``pids.max``, ``memory.max`` (+ ``memory.swap.max`` 0), ``cpu.max``
  ("quota period"), ``cpu.weight``, ``cgroup.procs``, ``cgroup.kill``, ``memory.peak``, ``memory.events``.
- v1 (one tree per controller): ``pids.max``, ``memory.limit_in_bytes`` (+ ``memory.memsw.limit_in_bytes``),
  ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, ``cpu.shares``, ``cgroup.procs``, ``memory.max_usage_in_bytes``,
  ``memory.oom_control``.
A group made inside another (:meth:`Cgroup.create` with ``parent``) is bound by the parent's limits as
well: the CPU share of a submission holds the groups of all its children.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.child import RUNTIME_FAILED  # the wrapper's exit status when it cannot enter the group

ROOT = Path("/sys/fs/cgroup")
PREFIX = "selab-"  # every group the grader makes; stale ones are swept by name
PERIOD_US = 100_000  # the CPU quota's period: 100 ms, the kernel's default


@dataclass(frozen=True)
class Limits:
    """What a group bounds; None = not bounded by this group."""

    tasks: int | None = None  # processes and threads
    memory_bytes: int | None = None  # resident memory, swap excluded
    cpus: float | None = None  # CPU time per second of wall time, all members together
    weight: float | None = None  # under contention, the group weighs as much as this many ordinary processes

    def controllers(self) -> list[str]:
        wanted = [("pids", self.tasks), ("memory", self.memory_bytes), ("cpu", self.cpus if self.weight is None
                                                                         else self.weight)]
        return [name for name, value in wanted if value is not None]


def _write(path: Path, value) -> None:
    path.write_text(f"{value}\n")


def _v1_files(limits: Limits) -> dict[str, dict[str, str]]:
    """controller -> {file: value} of a v1 group."""
    files: dict[str, dict[str, str]] = {}
    if limits.tasks is not None:
        files["pids"] = {"pids.max": str(limits.tasks)}
    if limits.memory_bytes is not None:  # memsw (memory + swap) only where swap accounting is on
        files["memory"] = {"memory.limit_in_bytes": str(limits.memory_bytes),
                           "memory.memsw.limit_in_bytes?": str(limits.memory_bytes)}
    if limits.cpus is not None:
        files["cpu"] = {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": str(_quota_us(limits.cpus))}
    if limits.weight is not None:  # an ordinary process weighs 1024
        files.setdefault("cpu", {})["cpu.shares"] = str(max(2, round(1024 * limits.weight)))
    return files


def _v2_files(limits: Limits) -> dict[str, str]:
    files = {}
    if limits.tasks is not None:
        files["pids.max"] = str(limits.tasks)
    if limits.memory_bytes is not None:
        files |= {"memory.max": str(limits.memory_bytes), "memory.swap.max?": "0"}
    if limits.cpus is not None:
        files["cpu.max"] = f"{_quota_us(limits.cpus)} {PERIOD_US}"
    if limits.weight is not None:  # an ordinary process (and a group by default) weighs 100
        files["cpu.weight"] = str(min(10000, max(1, round(100 * limits.weight))))
    return files


def _quota_us(cpus: float) -> int:
    return max(1000, round(cpus * PERIOD_US))  # the kernel refuses quotas under 1 ms


def is_v2(root: Path = ROOT) -> bool:
    """A unified (v2) hierarchy mounted at ``root`` itself; otherwise one v1 tree per controller under it."""
    return (root / "cgroup.controllers").is_file()


class Cgroup:
    """One group (v2: one folder; v1: one folder per controller). ``joins`` are the folders whose
    ``cgroup.procs`` a member enters (v1: its own, and its parent's in the trees it has no folder of)."""

    def __init__(self, folders: list[Path], joins: list[Path], root: Path):
        self.folders, self.joins, self.root = folders, joins, root
        self.v2 = is_v2(root)

    @property
    def path(self) -> Path:
        return self.folders[0]

    @classmethod
    def create(cls, name: str, limits: Limits, parent: "Cgroup | None" = None, root: Path = ROOT) -> "Cgroup | None":
        """A fresh group with these limits (inside ``parent`` when given), or None where the grader may not make
        one with every controller they need (not root, a hierarchy missing, a container's read-only tree)."""
        if not name.startswith(PREFIX):
            raise ValueError(f"cgroup names start with {PREFIX!r}: {name!r}")
        if parent is None:
            sweep_stale(root)
        group = cls([], [], root)
        try:
            if group.v2:
                base = parent.path if parent is not None else root
                if not _enable(base, limits.controllers(), root):
                    return None
                group.folders.append(base / name)
                group.joins.append(base / name)
                (base / name).mkdir()
                _apply(base / name, _v2_files(limits))
            else:
                files = _v1_files(limits) or {"pids": {}}  # a group bounding nothing still needs a tree for members
                bases = {tree: (parent._folder(tree) if parent is not None else None) or root / tree for tree in files}
                if not all((base / "cgroup.procs").is_file() for base in bases.values()):
                    return None
                for tree, base in bases.items():
                    (base / name).mkdir()
                    group.folders.append(base / name)
                    _apply(base / name, files[tree])
                group.joins = group.folders + [f for f in (parent.joins if parent is not None else [])
                                               if group._tree(f) not in files]
        except OSError:  # e.g. an ordinary user, who may not make groups: none, and the fallback bounds the child
            if group.folders:
                group.remove(0.5)
            return None
        return group

    def wrap(self, command: list[str]) -> list[str]:
        """``command``, run by a shell that first moves itself into the group (then execs)."""
        enter = " && ".join(f'echo $$ > "${index}/cgroup.procs"' for index in range(1, len(self.joins) + 1))
        script = f'{enter} || exit {RUNTIME_FAILED}; shift {len(self.joins)}; exec "$@"'
        return ["/bin/sh", "-c", script, "sh", *map(str, self.joins), *command]

    def members(self) -> set[int]:
        try:
            return {int(line) for line in (self.path / "cgroup.procs").read_text().split()}
        except (OSError, ValueError):
            return set()

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every member until the group is empty (a fork bomb cannot outrun it: pids.max)."""
        try:  # v2 (Linux >= 5.14): the kernel kills every member
            _write(self.path / "cgroup.kill", 1)
        except OSError:
            pass
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
        for folder in self.folders:
            while folder.exists():
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break  # an empty group left behind is harmless; it is named after the sandbox
                    self.kill_all(0.1)
                    time.sleep(0.02)

    def remove_if_unused(self) -> bool:
        """Remove the group if it holds no process and no group (a shared parent after its last child)."""
        try:
            for folder in self.folders:
                if folder.exists():
                    folder.rmdir()
            return True
        except OSError:
            return False

    def peak_bytes(self) -> int:
        """The most memory the group used (v2 ``memory.peak``, Linux >= 5.19; v1 ``memory.max_usage_in_bytes``)."""
        return int((self._folder("memory") / ("memory.peak" if self.v2 else "memory.max_usage_in_bytes")).read_text())

    def oom_kills(self) -> int:
        """How many processes of the group the kernel killed for lack of memory."""
        text = (self._folder("memory") / ("memory.events" if self.v2 else "memory.oom_control")).read_text()
        found = re.search(r"oom_kill (\d+)", text)
        return int(found.group(1)) if found else 0

    def _tree(self, folder: Path) -> str:
        """The v1 tree (controller) a folder belongs to: its first part below the root."""
        return folder.relative_to(self.root).parts[0]

    def _folder(self, controller: str) -> Path | None:
        if self.v2:
            return self.path
        return next((f for f in self.folders if self._tree(f) == controller), None)


def _enable(base: Path, controllers: list[str], root: Path) -> bool:
    """Make ``controllers`` available to the children of ``base`` (v2: each ancestor's ``cgroup.subtree_control``,
    top-down); False where the hierarchy does not offer one of them."""
    if not controllers:
        return True
    if base != root and not _enable(base.parent, controllers, root):
        return False
    if not set(controllers) <= set((base / "cgroup.controllers").read_text().split()):
        return False
    missing = [c for c in controllers if c not in (base / "cgroup.subtree_control").read_text().split()]
    if missing:
        _write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
    return True


def _apply(folder: Path, files: dict[str, str]) -> None:
    """Write each limit; a name ending in ``?`` is optional (absent where the kernel lacks that accounting)."""
    for name, value in files.items():
        optional = name.endswith("?")
        path = folder / name.rstrip("?")
        if optional and not path.exists():
            continue
        _write(path, value)


def sweep_stale(root: Path = ROOT, max_age: float = 600.0) -> None:
    """Remove empty groups left by graders that were killed before they could clean up.

    Only groups older than ``max_age`` seconds: a group that a concurrent grader has just created
    is empty for an instant, and must not be taken from under it.
    """
    try:
        tops = [root] if is_v2(root) else [p for p in root.iterdir() if (p / "cgroup.procs").is_file()]
    except OSError:
        return
    for top in tops:
        _sweep(top, time.time() - max_age)


def _sweep(folder: Path, older_than: float) -> None:
    for path in folder.glob(f"{PREFIX}*"):
        try:
            if path.is_dir() and path.stat().st_mtime < older_than:
                _sweep(path, older_than)  # a submission's group holds its children's groups
                if not (path / "cgroup.procs").read_text().strip():
                    path.rmdir()
        except OSError:
            pass
