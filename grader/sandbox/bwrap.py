"""The child's jail: a bubblewrap (``bwrap``) command line that shows the child an ALLOWLIST of the disk.

Why bubblewrap: it is the unprivileged sandbox Flatpak uses, packaged everywhere (Debian/Ubuntu
``bubblewrap``), and it does in one well-kept binary what a hand-written jail did with mount calls.
The child's root is an empty tmpfs holding only:

- the system folders the interpreter needs (``/usr``, ``/lib*``, ``/bin``, ``/sbin``, a few ``/etc``
  files for the dynamic loader and user names), read-only;
- the interpreter's prefixes and the folders on the child's ``sys.path``, read-only, bound at their
  real paths (wherever they live: ``/root``, ``/tmp``, a venv inside the project); every folder of
  this project that falls under one of them (the project root, an installed ``reference``/``grader``
  package) is covered by an empty tmpfs;
- the child's private folder (models.py and the runtime) at ``/selab``, read-only;
- fresh ``/tmp`` and ``/dev/shm`` (tmpfs), a fresh ``/dev`` and its own ``/proc`` (new PID namespace,
  with bwrap's own init as process 1 reaping orphans), no network, IPC or hostname of the host.

As an ordinary user bwrap runs in a new user namespace (the child keeps the user's uid, no
capabilities). As root no user namespace is used (it would map the child back to real root); bwrap
drops every capability but SETUID/SETGID and ``setpriv`` (util-linux) turns the child into an
unprivileged user (``nobody`` or ``sandbox.user``) with no groups, no capabilities and no_new_privs
before Python starts.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

WORKDIR = "/selab"  # the child's private folder, inside the jail
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group",
       "/etc/nsswitch.conf", "/etc/localtime")
PROJECT_PACKAGES = ("reference", "grader", "assignment")  # what must never be visible in a site-packages
UNPRIVILEGED_USER = "nobody"


class Unavailable(Exception):
    """bubblewrap cannot isolate the child here; the message says why."""


@dataclass(frozen=True)
class Jail:
    """What the jail shows and who runs in it (uid/gid None: the grader's own user, in a user namespace)."""

    bwrap: str
    readable: tuple[str, ...]  # host paths bound read-only at the same place
    hidden: tuple[str, ...]  # host folders covered by an empty tmpfs (the project, wherever it shows)
    rebound: tuple[str, ...]  # readable paths inside a hidden folder (a venv in the project), bound again
    uid: int | None
    gid: int | None
    user: str
    tmpfs_bytes: int
    options: frozenset[str]  # optional bwrap features this version has ("--size", "--disable-userns")

    def command(self, folder: Path, env: dict[str, str], argv: list[str]) -> list[str]:
        """The bwrap command line running ``argv`` in the jail, ``folder`` shown at WORKDIR."""
        args = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--clearenv", "--cap-drop", "ALL"]
        if self.uid is None:
            args += ["--unshare-user"] + (["--disable-userns"] if "--disable-userns" in self.options else [])
        else:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # for setpriv only, dropped there
        for path in SYSTEM + ETC:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.exists(path):
                args += ["--ro-bind", path, path]
        size = ["--size", str(self.tmpfs_bytes)] if "--size" in self.options else []
        args += ["--dev", "/dev", "--proc", "/proc", *size, "--perms", "1777", "--tmpfs", "/tmp",
                 *size, "--perms", "1777", "--tmpfs", "/dev/shm"]
        made = {"/", "/tmp"}
        for path in self.readable + self.rebound:  # the folders above, traversable (bwrap makes them 700)
            for parent in list(Path(path).parents)[::-1]:
                if str(parent) not in made and not any(_inside(str(parent), p) for p in self.readable):
                    made.add(str(parent))
                    args += ["--perms", "0755", "--dir", str(parent)]
        for path in self.readable:  # after /tmp: a venv under /tmp is bound over the fresh tmpfs
            args += ["--ro-bind", path, path]
        for path in self.hidden:
            args += ["--tmpfs", path, "--remount-ro", path]
        for path in self.rebound:
            args += ["--ro-bind", path, path]
        args += ["--ro-bind", str(folder), WORKDIR, "--chdir", WORKDIR]
        for name, value in env.items():
            args += ["--setenv", name, value]
        if self.uid is not None:
            args += setpriv(self.uid, self.gid)
        return args + argv


def setpriv(uid: int, gid: int) -> list[str]:
    """Become ``uid``/``gid`` with no groups, no capabilities and no_new_privs, then exec the rest (util-linux)."""
    return ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--"]


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@functools.lru_cache(maxsize=None)
def _options(bwrap: str) -> frozenset[str]:
    """The optional flags this bwrap knows (asked once per process: every sandbox start plans a jail)."""
    try:
        text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(option for option in ("--size", "--disable-userns") if option in text)


def plan(paths: list[str], project_root: Path, user: str, tmpfs_bytes: int) -> Jail:
    """The jail for an interpreter needing ``paths``; raises Unavailable when bwrap is not installed."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise Unavailable("bubblewrap (bwrap) is not installed")
    project = os.path.realpath(project_root)
    wanted = sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)}, key=len)
    readable: list[str] = []
    for path in wanted:
        if not any(_inside(path, kept) for kept in readable):
            readable.append(path)
    hidden = [project] if any(_inside(project, kept) for kept in readable) else []
    for path in wanted:  # an installed copy of this project in a site-packages
        hidden += [os.path.join(path, name) for name in PROJECT_PACKAGES if os.path.isdir(os.path.join(path, name))]
    # what the interpreter needs inside a hidden folder (a venv in the project) is bound again over it
    rebound = [p for p in wanted if any(_inside(p, h) and p != h for h in hidden) and not any(_inside(h, p) for h in hidden)]
    uid = gid = None
    name = pwd.getpwuid(os.geteuid()).pw_name if _has_user(os.geteuid()) else str(os.geteuid())
    if os.geteuid() == 0:
        record = pwd.getpwnam(user or UNPRIVILEGED_USER)
        uid, gid, name = record.pw_uid, record.pw_gid, record.pw_name
    return Jail(bwrap, tuple(readable), tuple(hidden), tuple(rebound), uid, gid, name, tmpfs_bytes, _options(bwrap))


def _has_user(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


_probes: dict[tuple, str] = {}


def probe(jail: Jail, python: str) -> None:
    """Start the interpreter once in this jail (cached per process); raise Unavailable with bwrap's words."""
    key = (jail, python)
    if key not in _probes:
        folder = Path(os.environ.get("TMPDIR", "/tmp"))
        command = jail.command(folder, {"PATH": "/usr/bin:/bin"}, [python, "-I", "-S", "-c", "import os"])
        try:
            run = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                                 env={"PATH": "/usr/bin:/bin"})
            _probes[key] = "" if run.returncode == 0 else (run.stderr.strip()[-300:] or f"exit status {run.returncode}")
        except (OSError, subprocess.SubprocessError) as error:
            _probes[key] = str(error)
    if _probes[key]:
        raise Unavailable(f"bubblewrap could not start the interpreter in a sandbox ({_probes[key]})")
