"""Namespace jail for the child, used when the grader runs as root and ``unshare`` works.

Started (as ``selab_jail.py``) by ``unshare --mount --pid --fork --net --ipc --uts --mount-proc``,
so it is process 1 of a fresh PID namespace: when it dies, the kernel kills every process of the
namespace, including ones that called ``setsid``. As real root in the new mount namespace it then:

1. reads the staged files (models.py and the child runtime) into memory;
2. opens up private folders above the interpreter (e.g. /root, mode 700, holding pyenv): each is
   covered by a tmpfs that holds only the entries leading to the interpreter, bound back, so the
   unprivileged child can reach the interpreter and nothing else there;
3. hides, under empty read-only tmpfs mounts, every folder that may hold grader material (the
   project folder, its parent, HOME, /autograder), keeping only the paths the interpreter needs
   (its prefix and site-packages);
4. mounts small fresh tmpfs on /tmp, /var/tmp and /dev/shm (the only writable places; their size
   bounds what the submission can write in all) and writes the staged files to /tmp/selab;
5. remounts every other mount read-only, /sys included;
6. forks the child, which drops to an unprivileged user (``nobody`` unless the configuration names
   one: no capabilities, no root-only files, no setuid binaries) and execs the child runtime. The
   jail stays process 1: it reaps orphans and, when the child ends, exits with the child's status
   (a death by signal N as 128 + N, since process 1 itself cannot be killed from inside). Because
   the child is not process 1, a signal it sends itself acts as it would anywhere else.

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
PR_SET_NO_NEW_PRIVS = 38
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


def _traversable_by_others(path: str) -> bool:
    return bool(os.stat(path).st_mode & 0o001)


def _open_up(keep: list[str]) -> None:
    """Make every folder above a kept path traversable by an unprivileged child (step 2).

    A folder the child may not enter is covered by a tmpfs (mode 755) holding only its entries that
    lead to kept paths, bind-mounted back from the originals (reached through O_PATH descriptors
    opened before the cover). Repeated until no kept path has a closed folder above it.
    """
    for _ in range(16):
        closed = None
        for path in keep:
            parts = path.strip("/").split("/")
            for depth in range(len(parts) - 1):
                folder = "/" + "/".join(parts[:depth])
                if not _traversable_by_others(folder):
                    closed = folder
                    break
            if closed:
                break
        if closed is None:
            return
        entries = sorted({k[len(closed):].strip("/").split("/")[0] for k in keep if _inside(k, closed) and k != closed})
        handles = {entry: os.open(os.path.join(closed, entry), os.O_PATH) for entry in entries}
        _mount("tmpfs", closed, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        for entry, handle in handles.items():
            target = os.path.join(closed, entry)
            if os.path.isdir(f"/proc/self/fd/{handle}"):
                os.mkdir(target)
            else:
                open(target, "wb").close()
            _mount(f"/proc/self/fd/{handle}", target, None, MS_BIND | MS_REC)
            os.close(handle)
    raise OSError("could not open up the folders above the interpreter")


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
    _open_up([os.path.realpath(p) for p in settings["keep"] if os.path.exists(p)])
    keep = [os.path.realpath(p) for p in settings["keep"]] + list(settings["keep"])
    for path in settings["hide"]:
        _hide(path, keep)
    size = settings["tmpfs_bytes"]
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    uid, gid = settings["uid"], settings["gid"]
    os.makedirs(WORKDIR, mode=0o755)
    for name, data in staged.items():
        with open(os.path.join(WORKDIR, name), "wb") as handle:
            handle.write(data)
    os.chown(WORKDIR, uid, gid)  # the child's HOME and TMPDIR
    skip = ("/proc", "/dev", "/tmp", "/var/tmp")
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
    command = [settings["python"], "-I", "-S", "-B", "-u", os.path.join(WORKDIR, "selab_child.py"),
               settings["child_settings"]]
    child = os.fork()
    if child == 0:
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            if _LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:  # setuid binaries stay unprivileged
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
            os.execv(command[0], command)
        except BaseException as error:  # noqa: B902 - before exec: no student code has run
            sys.stderr.write(f"selab jail failed: {type(error).__name__}: {error}\n")
            os._exit(JAIL_FAILED)
    _serve_as_init(child)


def _serve_as_init(child: int) -> None:
    """Process 1 of the namespace: hold no descriptor of the grader's pipes, reap, pass on the status."""
    os.closerange(0, 1 << 16)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(JAIL_FAILED)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


JAIL_FAILED = 87  # exit status meaning "the jail could not be set up" (the grader's fault)

if __name__ == "__main__":
    try:
        main()
    except BaseException as error:  # noqa: B902 - before exec: no student code has run
        sys.stderr.write(f"selab jail failed: {type(error).__name__}: {error}\n")
        os._exit(JAIL_FAILED)
