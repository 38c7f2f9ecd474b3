"""Who and where the child runs: one object per deployment mode, chosen once, failing closed.

Each mode turns the child's settings and environment into a :class:`Launch` (command line and
environment; the uid switch is part of the command, so the cgroup wrapper runs before it, as the grader)
and says what clean-up it needs:

- :class:`Jail`: the bubblewrap allowlist jail (grader/sandbox/bwrap.py), as root (the child becomes
  ``nobody`` or ``sandbox.user`` through ``setpriv``) or as an ordinary user (a user namespace). Its own
  PID namespace, with bwrap's init dying with the grader's direct child (``--die-with-parent``), takes
  every process of the submission down: no /proc scan is needed.
- :class:`SandboxUser`: Gradescope's fallback where bwrap cannot run: another uid, dropped by ``setpriv``
  after the cgroup wrapper (still root) has entered the child's group.
- :class:`Unsafe`: ``--unsafe-no-sandbox``, a plain child of the grader's user (trusted code only).

:func:`choose` refuses (:class:`NoIsolation`) where none of them can be set up and unsafe grading
was not asked for.
"""

from __future__ import annotations

import os
import pwd
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import bwrap

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
MARKER_VAR = "SELAB_SANDBOX"  # in the child's environment: a unique token per child
CHILD_SCRIPT = "selab_child.py"
UNSAFE = "NONE: graded without isolation (--unsafe-no-sandbox)"
REFUSAL = ("Refusing to grade: no sandbox can be set up on this machine ({why}). Student code would run as "
           "you and could read the solution. Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) "
           "and enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), or grade on "
           "Gradescope, or, for trusted code only, pass --unsafe-no-sandbox.")


class NoIsolation(Exception):
    """No isolation can be set up here and unsafe grading was not asked for; the message says what to do."""


@dataclass(frozen=True)
class Launch:
    """How to start the child: the command line and its environment (every mode uses the same ``Popen`` options)."""

    command: list[str]
    env: dict[str, str]


def child_sys_path() -> list[str]:
    """The interpreter's standard library and site-packages, never a folder holding the grader or reference."""
    paths = [sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")]
    paths += [p for p in sys.path if p.endswith(("lib-dynload", ".zip"))]
    paths += site.getsitepackages()
    keep = []
    for path in paths:
        resolved = Path(path)
        if (resolved / "reference" / "models.py").exists() or (resolved / "grader" / "sandbox").exists():
            continue  # a non-editable install of this project: do not expose it
        if path not in keep:
            keep.append(path)
    return keep


def interpreter_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), *child_sys_path()}
    return sorted(p for p in paths if p)


def _give(folder: Path, uid: int, gid: int, mode: int) -> None:
    """Hand the child's folder (and its files) to the unprivileged user that runs the child."""
    for path in [folder, *folder.iterdir()]:
        os.chown(path, uid, gid)
        os.chmod(path, mode if path == folder else 0o600)


class _Mode:
    """What every mode shares: the child's command line, and no PID namespace of its own."""

    pid_namespace = False  # True: the kernel kills every process of the child; no /proc scan needed

    @staticmethod
    def argv(python: str, folder: str, settings_json: str) -> list[str]:
        return [python, "-I", "-S", "-B", "-u", f"{folder}/{CHILD_SCRIPT}", settings_json]

    @staticmethod
    def exit_status(code: int) -> int:
        """The child's exit status as ``Popen`` reports it (negative: killed by that signal)."""
        return code


@dataclass(frozen=True)
class Jail(_Mode):
    """The bubblewrap allowlist jail; the child's folder is shown at ``bwrap.WORKDIR``."""

    jail: bwrap.Jail
    pid_namespace = True

    @property
    def protection(self) -> str:
        return f"bubblewrap jail (allowlist), user {self.jail.user}"

    def launch(self, folder: Path, python: str, settings_json: str, env: dict[str, str]) -> Launch:
        if self.jail.uid is not None:  # root: the unprivileged child reads its own folder (bwrap, capless, enters it)
            _give(folder, self.jail.uid, self.jail.gid, 0o711)
        command = self.jail.command(folder, dict(env, HOME="/tmp", TMPDIR="/tmp"),
                                    self.argv(python, bwrap.WORKDIR, settings_json))
        return Launch(command, {"PATH": env["PATH"], MARKER_VAR: env[MARKER_VAR]})  # --clearenv inside

    @staticmethod
    def exit_status(code: int) -> int:
        """bwrap reports the child's death by signal N as 128 + N: give it back as -N, as Popen would."""
        return 128 - code if 128 < code < 128 + 65 else code


@dataclass(frozen=True)
class SandboxUser(_Mode):
    """Another uid without namespaces (Gradescope's containers that refuse bwrap); needs root."""

    user: str
    reason: str

    @property
    def protection(self) -> str:
        return f"sandbox user {self.user} (no bubblewrap here: {self.reason})"

    def launch(self, folder: Path, python: str, settings_json: str, env: dict[str, str]) -> Launch:
        record = pwd.getpwnam(self.user)
        _give(folder, record.pw_uid, record.pw_gid, 0o700)
        # setpriv, not Popen(user=...): the cgroup wrapper must still be root to enter the child's group
        return Launch(bwrap.setpriv(record.pw_uid, record.pw_gid) + self.argv(python, str(folder), settings_json), env)


@dataclass(frozen=True)
class Unsafe(_Mode):
    """A plain child of the grader's user: for trusted code only (``--unsafe-no-sandbox``)."""

    protection = UNSAFE

    def launch(self, folder: Path, python: str, settings_json: str, env: dict[str, str]) -> Launch:
        return Launch(self.argv(python, str(folder), settings_json), env)


Isolation = Jail | SandboxUser | Unsafe


def choose(unsafe: bool, isolation: str, user: str, tmpfs_bytes: int, python: str) -> Isolation:
    """The isolation of this machine and configuration; raises NoIsolation (fail closed) where none can be set
    up and unsafe grading was not asked for."""
    if unsafe:
        return Unsafe()
    if isolation == "none":
        raise NoIsolation(REFUSAL.format(why='sandbox.isolation = "none" in the configuration'))
    try:
        jail = bwrap.plan(interpreter_paths(), PROJECT_ROOT, user, tmpfs_bytes)
        bwrap.probe(jail, python)
        return Jail(jail)
    except bwrap.Unavailable as error:
        if user and os.geteuid() == 0 and sys.platform.startswith("linux"):
            return SandboxUser(user, str(error))
        raise NoIsolation(REFUSAL.format(why=error)) from None
