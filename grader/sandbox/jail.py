"""Namespace jail for the child, used when the grader runs as root and ``unshare`` works.

Started (as ``selab_jail.py``) by ``unshare --mount --pid --fork --net --ipc --uts --mount-proc``,
so it is process 1 of a fresh PID namespace: when it (or the child it becomes) dies, the kernel
kills every process of the namespace, including ones that called ``setsid``. As real root in the
new mount namespace it then:

1. reads the staged files (models.py and the child runtime) into memory;
2. hides, under empty read-only tmpfs mounts, every folder that may hold grader material (the
   project folder, its parent, HOME, /autograder), keeping only the paths the interpreter needs
   (its prefix and site-packages);
3. mounts small fresh tmpfs on /tmp, /var/tmp and /dev/shm (the only writable places; their size
   bounds what the submission can write in all) and writes the staged files to /tmp/selab;
4. remounts every other mount read-only;
5. execs ``unshare --user --map-root-user --mount`` + the child, so the submission runs in a user
   namespace where these mounts are *locked*: it can neither unmount the hiding tmpfs nor remount
   anything writable, nor raise its resource limits, nor signal processes outside its namespace.

Standard library only; runs before any student code.
"""

import ctypes
import json
import os
import sys

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
_FLAG_NAMES = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
_LIBC = ctypes.CDLL(None, use_errno=True)
WORKDIR = "/tmp/selab"


def _mount(source, target, fstype, flags, data=None):
    if _LIBC.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                   ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {target}: {os.strerror(error)}")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _hide(path: str, keep: list[str], depth: int = 0) -> None:
    """Cover ``path`` with an empty tmpfs, or, when it holds a kept path, cover its other entries."""
    if any(_inside(path, k) for k in keep) or not os.path.lexists(path) or depth > 6:
        return
    if not any(_inside(k, path) for k in keep):
        if os.path.isdir(path) and not os.path.islink(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=0755")
        elif os.path.isfile(path) and not os.path.islink(path):
            _mount("/dev/null", path, None, MS_BIND)
        return
    try:
        entries = os.listdir(path)
    except OSError:
        return
    for entry in entries:
        _hide(os.path.join(path, entry), keep, depth + 1)


def _mount_points() -> list[tuple[str, set[str]]]:
    points = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            target = fields[4].encode().decode("unicode_escape")
            points.append((target, set(fields[5].split(","))))
    return points


def main() -> None:
    settings = json.loads(sys.argv[1])
    staged = {name: open(os.path.join(settings["stage"], name), "rb").read() for name in settings["files"]}
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    keep = [os.path.realpath(p) for p in settings["keep"]] + list(settings["keep"])
    for path in settings["hide"]:
        _hide(path, keep)
    size = settings["tmpfs_bytes"]
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    os.makedirs(WORKDIR, mode=0o755)
    for name, data in staged.items():
        with open(os.path.join(WORKDIR, name), "wb") as handle:
            handle.write(data)
    skip = ("/proc", "/sys", "/dev", "/tmp", "/var/tmp")
    for target, options in reversed(_mount_points()):
        if any(_inside(target, s) for s in skip) and target not in ("/",):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for name, bit in _FLAG_NAMES.items():
            if name in options:
                flags |= bit
        try:
            _mount("none", target, None, flags)
        except OSError:
            pass  # e.g. a mount that vanished under a hiding tmpfs
    os.chdir(WORKDIR)
    command = settings["unshare_user"] + [settings["python"], "-I", "-S", "-B", "-u",
                                          os.path.join(WORKDIR, "selab_child.py"), settings["child_settings"]]
    os.execv(command[0], command)


JAIL_FAILED = 87  # exit status meaning "the jail could not be set up" (the grader's fault)

if __name__ == "__main__":
    try:
        main()
    except BaseException as error:  # noqa: B902 - before exec: no student code has run
        sys.stderr.write(f"selab jail failed: {type(error).__name__}: {error}\n")
        os._exit(JAIL_FAILED)
