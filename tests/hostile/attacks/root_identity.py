# The hollow base plus probes of what the child's *identity* lets it do outside the folders the
# sandbox hides: read a root-only file (/etc/shadow); open root-owned kernel tunables under /sys for
# writing (NOTHING is ever written: each file is closed at once), among them the pids.max of its own
# cgroup (the fork-bomb cap); read the raw disk that holds the grader (/dev/vda, /dev/sda, ...).
# Any success is a leak: a child with root's file permissions reads every root-only file the jail
# does not hide, and can retune the grading machine's kernel or lift its own limits.
import os

for _path in ("/etc/shadow", "/etc/gshadow"):
    try:
        with open(_path, "rb") as _handle:
            _handle.read(1)
        _hostile_note("leak", how="read root-only file", path=_path)
    except OSError:
        pass
_own_limits = []
try:
    for _line in open("/proc/self/cgroup"):
        _hierarchy, _controllers, _group = _line.rstrip("\n").split(":", 2)
        if "pids" in _controllers.split(","):  # the pids cgroup that caps this child's fork bombs
            _own_limits.append(f"/sys/fs/cgroup/pids{_group}/pids.max")
except (OSError, ValueError):
    pass
for _path in ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/ksm/run", "/sys/power/state", *_own_limits):
    try:
        os.close(os.open(_path, os.O_WRONLY))  # opened for writing, closed, nothing written
        _hostile_note("leak", how="kernel tunable writable", path=_path)
    except OSError:
        pass
for _path in ("/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda"):
    try:
        _fd = os.open(_path, os.O_RDONLY)
        os.pread(_fd, 512, 0)
        os.close(_fd)
        _hostile_note("leak", how="raw disk readable", path=_path)
    except OSError:
        pass
