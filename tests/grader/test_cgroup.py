"""The cgroup layer against fake cgroupfs folders (v2 and v1, laid out as the kernel's documented interface),
and against this machine's real hierarchy where the grader may create groups."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.sandbox import cgroup
from grader.sandbox.cgroup import Cgroup, Limits

V1_TREES = ("pids", "memory", "cpu")
V1_FILES = {"pids": ("pids.max",), "memory": ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
                                              "memory.max_usage_in_bytes", "memory.oom_control"),
            "cpu": ("cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares")}


@pytest.fixture
def fake_kernel(monkeypatch, tmp_path):
    """A folder standing for /sys/fs/cgroup whose mkdir fills a new group as the kernel would: cgroup.procs,
    the interface files of its tree (v1), or cgroup.controllers = the parent's subtree_control (v2)."""
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)
        if tmp_path not in self.parents:
            return
        (self / "cgroup.procs").write_text("")
        if (tmp_path / "cgroup.controllers").exists():  # v2
            enabled = [c.lstrip("+") for c in (self.parent / "cgroup.subtree_control").read_text().split()]
            (self / "cgroup.controllers").write_text(" ".join(enabled) + "\n")
            (self / "cgroup.subtree_control").write_text("")
            for name in ("pids.max", "memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "memory.peak",
                         "memory.events"):
                (self / name).write_text("max\n")
        else:
            for name in V1_FILES.get(self.relative_to(tmp_path).parts[0], ()):
                (self / name).write_text("0\n")

    real_rmdir = Path.rmdir

    def rmdir(self):
        """The kernel removes a group with its interface files, but not while it holds a process or a group."""
        if tmp_path in self.parents and self.is_dir():
            if any(p.is_dir() for p in self.iterdir()) or (self / "cgroup.procs").read_text().strip():
                raise OSError(16, "Device or resource busy", str(self))
            for file in self.iterdir():
                file.unlink()
        real_rmdir(self)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(Path, "rmdir", rmdir)
    return tmp_path


def v2_root(root: Path, available: str = "cpu memory pids io") -> Path:
    (root / "cgroup.controllers").write_text(available + "\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("1\n")
    return root


def v1_root(root: Path, trees=V1_TREES) -> Path:
    for tree in trees:
        (root / tree).mkdir()  # a v1 tree's root: cgroup.procs and the controller's files
    return root


def test_v2_group_writes_the_documented_files(fake_kernel):
    root = v2_root(fake_kernel)
    group = Cgroup.create("selab-a", Limits(tasks=64, memory_bytes=768_000_000, cpus=1.5, weight=2), root=root)
    assert group is not None and group.v2 and group.path == root / "selab-a"
    assert (root / "cgroup.subtree_control").read_text().split() == ["+pids", "+memory", "+cpu"]
    folder = root / "selab-a"
    assert (folder / "pids.max").read_text() == "64\n"
    assert (folder / "memory.max").read_text() == "768000000\n"
    assert (folder / "memory.swap.max").read_text() == "0\n"
    assert (folder / "cpu.max").read_text() == "150000 100000\n"
    assert (folder / "cpu.weight").read_text() == "200\n"
    assert group.wrap(["python", "-c", "1"])[-3:] == ["python", "-c", "1"]
    group.remove(0.2)
    assert not folder.exists()


def test_v2_child_group_is_made_inside_its_parent_with_the_controllers_it_needs(fake_kernel):
    root = v2_root(fake_kernel)
    share = Cgroup.create("selab-share", Limits(cpus=1.0), root=root)
    assert (root / "cgroup.subtree_control").read_text().split() == ["+cpu"]
    (root / "cgroup.subtree_control").write_text("cpu\n")  # the kernel shows what is enabled, without "+"
    child = Cgroup.create("selab-child", Limits(tasks=8), parent=share, root=root)
    assert child is None, "pids is not available in the share's group until the root's subtree enables it"
    (root / "cgroup.subtree_control").write_text("cpu pids\n")
    (share.path / "cgroup.controllers").write_text("cpu pids\n")
    child = Cgroup.create("selab-child", Limits(tasks=8), parent=share, root=root)
    assert child.path == root / "selab-share" / "selab-child"
    assert (share.path / "cgroup.subtree_control").read_text().split() == ["+pids"]
    assert child.joins == [child.path]  # v2: one tree, the leaf only
    assert not share.remove_if_unused(), "a parent holding a group is not removed"
    child.remove(0.2)
    assert share.remove_if_unused() and not share.path.exists()


def test_v2_without_the_controller_is_no_group(fake_kernel):
    root = v2_root(fake_kernel, available="memory io")
    assert Cgroup.create("selab-a", Limits(tasks=8), root=root) is None
    assert not (root / "selab-a").exists()


def test_v1_group_has_one_folder_per_tree_and_joins_its_parents_other_trees(fake_kernel):
    root = v1_root(fake_kernel)
    share = Cgroup.create("selab-share", Limits(cpus=0.5, weight=2), root=root)
    assert not share.v2 and share.folders == [root / "cpu" / "selab-share"]
    assert (root / "cpu/selab-share/cpu.shares").read_text() == "2048\n"
    assert (root / "cpu/selab-share/cpu.cfs_quota_us").read_text() == "50000\n"
    assert (root / "cpu/selab-share/cpu.cfs_period_us").read_text() == "100000\n"
    child = Cgroup.create("selab-child", Limits(tasks=32, memory_bytes=1 << 30), parent=share, root=root)
    assert child.folders == [root / "pids/selab-child", root / "memory/selab-child"]
    assert child.joins == child.folders + [root / "cpu/selab-share"]
    assert (root / "pids/selab-child/pids.max").read_text() == "32\n"
    assert (root / "memory/selab-child/memory.limit_in_bytes").read_text() == f"{1 << 30}\n"
    assert (root / "memory/selab-child/memory.memsw.limit_in_bytes").read_text() == f"{1 << 30}\n"
    (root / "memory/selab-child/memory.max_usage_in_bytes").write_text("123456\n")
    (root / "memory/selab-child/memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert child.peak_bytes() == 123456 and child.oom_kills() == 2
    child.remove(0.2)
    assert share.remove_if_unused()
    assert not [path for tree in V1_TREES for path in (root / tree).glob("selab-*")]


def test_v1_missing_tree_is_no_group(fake_kernel):
    root = v1_root(fake_kernel, trees=("pids",))
    assert Cgroup.create("selab-a", Limits(cpus=1.0), root=root) is None


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_user_who_may_not_make_groups_gets_none(fake_kernel, monkeypatch, version):
    """An ordinary user (the hierarchy is root's): mkdir is refused, create says None, nothing is left."""
    root = v1_root(fake_kernel) if version == "v1" else v2_root(fake_kernel)

    def refused(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refused)
    assert Cgroup.create("selab-share", Limits(cpus=0.5, weight=2), root=root) is None
    assert Cgroup.create("selab-child", Limits(tasks=32, memory_bytes=1 << 30), root=root) is None
    assert not list(root.rglob("selab-*"))


def test_the_wrapper_enters_every_group_then_execs(tmp_path):
    """The shell writes its own pid into each cgroup.procs, then becomes the command (same pid)."""
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
    group = Cgroup(folders, folders, tmp_path)
    run = subprocess.run(group.wrap(["sh", "-c", "echo $$"]), capture_output=True, text=True, timeout=10)
    pid = run.stdout.strip()
    assert run.returncode == 0 and all((f / "cgroup.procs").read_text().strip() == pid for f in folders)
    folders[1].rename(tmp_path / "gone")  # cannot enter: the grader's failure (exit 86), the command never runs
    run = subprocess.run(group.wrap(["echo", "RAN"]), capture_output=True, text=True, timeout=10)
    assert run.returncode == cgroup.RUNTIME_FAILED and "RAN" not in run.stdout


def test_names_are_prefixed(tmp_path):
    with pytest.raises(ValueError):
        Cgroup.create("other", Limits(tasks=1), root=tmp_path)


def _real_cpu_cgroup() -> bool:
    group = Cgroup.create(f"selab-probe-{os.getpid()}", Limits(tasks=8, cpus=1.0)) if os.geteuid() == 0 else None
    if group is not None:
        group.remove()
    return group is not None


SPIN = """
import os, time
children = [pid for pid in (os.fork() for _ in range(3)) if pid]  # 8 processes in all
end = time.time() + 2
while time.time() < end:
    pass
for pid in children:
    os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not _real_cpu_cgroup(), reason="the grader may not create cpu cgroups on this machine")
def test_the_real_hierarchy_bounds_the_cpu():
    """On this machine's cgroups (v1 or v2): eight processes spinning for 2 s in a group of a tenth of a CPU get about
    a tenth of a CPU between them, and the kernel says it throttled them."""
    group = Cgroup.create(f"selab-test-{os.getpid()}", Limits(tasks=16, cpus=0.1))
    script = ("import resource, subprocess, sys\n"
              f"subprocess.run([sys.executable, '-c', {SPIN!r}])\n"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime)\n")
    try:
        run = subprocess.run(group.wrap([sys.executable, "-c", script]), capture_output=True, text=True, timeout=30)
        stat = (group._folder("cpu") / "cpu.stat").read_text()
    finally:
        group.remove()
    assert run.returncode == 0, run.stderr
    cpu_seconds = float(run.stdout.split()[-1])
    assert cpu_seconds < 0.5, f"8 spinners for 2 s in a tenth of a CPU used {cpu_seconds:.2f} CPU-s (unbounded: up to 4)"
    throttled = int(dict(line.split() for line in stat.splitlines())["nr_throttled"])
    assert throttled > 0, stat
