"""The parent's side of the sandbox: start the child, talk to it under deadlines, and kill it all.

A :class:`Sandbox` runs one submission's ``models.py`` in one child process:

- the child's folder is a fresh temporary directory holding only a copy of models.py and the child
  runtime (``selab_child.py``, ``selab_ops.py``, ``selab_protocol.py``); it is started with
  ``python -I -S -B``, its own session/process group, a minimal environment with a unique marker,
  and limits (address space, file size, core dumps, processes) set before any student code runs;
- it runs in a bubblewrap jail (grader/sandbox/bwrap.py) that shows it an allowlist of the disk
  (system folders, the interpreter and its site-packages, its own folder; never this project), as
  root and as an ordinary user; where bwrap cannot run and a ``sandbox.user`` is set (Gradescope's
  containers), as that user; otherwise the grader refuses (:class:`NoIsolation`) unless told
  ``--unsafe-no-sandbox`` (a plain child of the grader's user, for trusted code only);
- requests and replies are protocol frames on two dedicated pipes; every read has a deadline, and
  replies are decoded with size limits (grader/sandbox/protocol.py);
- stdout and stderr go to one pipe drained by a thread that keeps the first ``output_kib`` KiB;
- where a pids cgroup is available (grader/sandbox/cgroup.py) the child and everything it starts
  live in a group capped at ``limits.processes`` tasks;
- :meth:`Sandbox.stop` SIGKILLs the cgroup's members, the process group, every descendant (the
  grader is a subreaper) and any process carrying the marker, then removes the folder.

Failures are reported as :class:`SandboxFailure` (a BaseException, so that Hypothesis stops at once
instead of shrinking through restarts) with a message in plain words for the student.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import bwrap, protocol, reaper
from grader.sandbox.cgroup import PidsCgroup

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
RUNTIME_FILES = {"selab_child.py": HERE / "child.py", "selab_ops.py": HERE / "ops.py",
                 "selab_protocol.py": HERE / "protocol.py",
                 "selab_recorder.py": PROJECT_ROOT / "assignment" / "recorder.py"}
MARKER_VAR = "SELAB_SANDBOX"
RUNTIME_FAILED = 86  # exit status of child.py when the grader's runtime fails before student code runs
STARTED = {"started": True}  # the child's first frame (child.py): its runtime is up, student code runs next
_live_roots: set[int] = set()
_live_lock = threading.Lock()


class SandboxFailure(BaseException):
    """The child hung, died, broke the protocol or could not start; ``reason`` names which.

    A BaseException on purpose: a check that meets one stops at once (Hypothesis does not try to
    shrink through child restarts) and the failure is reported with ``message``.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason  # "timeout" | "crash" | "exit" | "protocol" | "import" | "budget" | "start"
        self.message = message


class NoIsolation(Exception):
    """No isolation can be set up here and unsafe grading was not asked for; the message says what to do."""


class StudentCodeError(Exception):
    """The student's code raised an exception (reported by the child); ``kind`` as in ops.StudentError."""

    def __init__(self, kind: str, message: str, during: str = ""):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.during = during


@dataclass(frozen=True)
class SandboxSettings:
    memory_mib: int = 4096
    file_mib: int = 16
    output_kib: int = 64
    processes: int = 256
    message_mib: int = 64
    threads: int = 1
    user: str = ""
    isolation: str = "auto"
    python: str = sys.executable
    unsafe_no_sandbox: bool = False  # --unsafe-no-sandbox: a plain child, for trusted code only

    @classmethod
    def from_config(cls, config, unsafe_no_sandbox: bool = False) -> "SandboxSettings":
        limits = config.limits
        return cls(memory_mib=limits.memory_mib, file_mib=limits.file_mib, output_kib=limits.output_kib,
                   processes=limits.processes, message_mib=limits.message_mib, threads=config.training.threads,
                   user=config.sandbox_user, isolation=config.isolation, unsafe_no_sandbox=unsafe_no_sandbox)


def child_sys_path() -> list[str]:
    """The interpreter's standard library and site-packages, never a folder holding the grader or reference."""
    paths = []
    for key in ("stdlib", "platstdlib"):
        paths.append(sysconfig.get_paths()[key])
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


def _interpreter_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), *child_sys_path()}
    return sorted(p for p in paths if p)


UNSAFE = "NONE: graded without isolation (--unsafe-no-sandbox)"
REFUSAL = ("Refusing to grade: no sandbox can be set up on this machine ({why}). Student code would run as "
           "you and could read the solution. Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) "
           "and enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), or grade on "
           "Gradescope, or, for trusted code only, pass --unsafe-no-sandbox.")


def protection(settings: SandboxSettings) -> tuple[str, "bwrap.Jail | None"]:
    """What isolates the child: ("bwrap: ...", jail), ("user NAME", None) or (UNSAFE, None); raises
    NoIsolation (fail closed) when none can be set up and unsafe grading was not asked for."""
    if settings.unsafe_no_sandbox:
        return UNSAFE, None
    if settings.isolation == "none":
        raise NoIsolation(REFUSAL.format(why='sandbox.isolation = "none" in the configuration'))
    try:
        jail = bwrap.plan(_interpreter_paths(), PROJECT_ROOT, settings.user, max(settings.file_mib, 1) << 21)
        bwrap.probe(jail, settings.python)
        return f"bubblewrap jail (allowlist), user {jail.user}", jail
    except bwrap.Unavailable as error:
        if settings.user and os.geteuid() == 0 and sys.platform.startswith("linux"):
            return f"sandbox user {settings.user} (no bubblewrap here: {error})", None
        raise NoIsolation(REFUSAL.format(why=error)) from None


class _OutputDrain(threading.Thread):
    """Read the child's stdout+stderr to the end, keeping at most ``cap`` bytes."""

    def __init__(self, fd: int, cap: int):
        super().__init__(daemon=True)
        self.fd, self.cap = fd, cap
        self.kept = bytearray()
        self.dropped = 0

    def run(self) -> None:
        try:
            while True:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    break
                room = self.cap - len(self.kept)
                self.kept += chunk[:max(room, 0)]
                self.dropped += max(len(chunk) - max(room, 0), 0)
        except OSError:
            pass
        finally:
            try:
                os.close(self.fd)
            except OSError:
                pass


class Sandbox:
    """One child process serving one submission; see the module docstring. Not thread-safe."""

    def __init__(self, models_py: Path, settings: SandboxSettings):
        self.models_py = Path(models_py)
        self.settings = settings
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None
        self.drain: _OutputDrain | None = None
        self.ready = False
        self._started = False
        self.torch_version = ""
        self.mode = "plain"
        self._fd_to_child = self._fd_from_child = -1
        self._next_id = 1
        self._marker = b""
        self._exit_code: int | None = None
        self.stored: set[str] = set()  # keys of data the child keeps (ops.Operations.store)
        self.cgroup: PidsCgroup | None = None

    # ---------------------------------------------------------------------------------- start
    def start(self) -> None:
        """Spawn the child (returns at once; :meth:`wait_ready` waits for the import of models.py)."""
        reaper.become_subreaper()
        settings = self.settings
        self._started = False
        self.folder = Path(tempfile.mkdtemp(prefix="selab-child-"))
        shutil.copyfile(self.models_py, self.folder / "models.py")
        for name, source in RUNTIME_FILES.items():
            shutil.copyfile(source, self.folder / name)
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        output_read, output_write = os.pipe()
        token = uuid.uuid4().hex
        self._marker = f"{MARKER_VAR}={token}".encode()
        child_settings = {
            "fd_in": request_read, "fd_out": reply_write, "sys_path": child_sys_path(),
            "memory_bytes": settings.memory_mib << 20, "file_bytes": settings.file_mib << 20,
            "processes": settings.processes, "threads": settings.threads, "max_request_bytes": 1 << 30,
        }
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.folder),
               "TMPDIR": str(self.folder), MARKER_VAR: token, "OMP_NUM_THREADS": str(settings.threads),
               "MKL_NUM_THREADS": str(settings.threads)}
        popen_extra = {}
        self.mode, jail = protection(settings)
        script = self.folder / "selab_child.py"
        command = [settings.python, "-I", "-S", "-B", "-u", str(script), json.dumps(child_settings)]
        if jail is not None:
            if jail.uid is not None:  # root: the unprivileged child reads its own folder (bwrap, capless, enters it)
                for path in [self.folder, *self.folder.iterdir()]:
                    os.chown(path, jail.uid, jail.gid)
                    os.chmod(path, 0o711 if path == self.folder else 0o600)
            env["HOME"] = env["TMPDIR"] = "/tmp"
            command = jail.command(self.folder, env, [settings.python, "-I", "-S", "-B", "-u",
                                                      f"{bwrap.WORKDIR}/selab_child.py", json.dumps(child_settings)])
            env = {"PATH": env["PATH"], MARKER_VAR: token}  # bwrap's own environment (--clearenv inside)
        elif self.mode.startswith("sandbox user"):
            record = pwd.getpwnam(settings.user)
            for path in [self.folder, *self.folder.iterdir()]:
                os.chown(path, record.pw_uid, record.pw_gid)
            os.chmod(self.folder, 0o700)
            popen_extra = {"user": record.pw_uid, "group": record.pw_gid, "extra_groups": []}
        self.cgroup = PidsCgroup.create(f"selab-{token}", settings.processes)
        if self.cgroup is not None:
            if popen_extra:  # the sandbox user must be able to put itself in its group
                os.chown(self.cgroup.path / "cgroup.procs", popen_extra["user"], popen_extra["group"])
            command = self.cgroup.wrap(command)
        try:
            with _live_lock:  # spawned and registered at once: another thread's clean-up never takes it for an orphan
                self.process = subprocess.Popen(
                    command, cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=output_write,
                    stderr=output_write, pass_fds=(request_read, reply_write), start_new_session=True,
                    close_fds=True, **popen_extra)
                _live_roots.add(self.process.pid)
        except OSError as error:
            for fd in (request_read, request_write, reply_read, reply_write, output_read, output_write):
                os.close(fd)
            if self.cgroup is not None:
                self.cgroup.remove()
            raise RuntimeError(f"the grader could not start the sandbox: {error}") from None
        for fd in (request_read, reply_write, output_write):
            os.close(fd)
        self._fd_to_child, self._fd_from_child = request_write, reply_read
        os.set_blocking(self._fd_to_child, False)
        os.set_blocking(self._fd_from_child, False)
        self.drain = _OutputDrain(output_read, settings.output_kib << 10)
        self.drain.start()

    def wait_ready(self, deadline: float, timeout: SandboxFailure | None = None) -> None:
        """Wait for the child to import models.py; raise SandboxFailure("import", ...) when it cannot
        (``timeout`` is what to raise when ``deadline`` passes first)."""
        if self.ready:
            return
        if self.process is None:
            raise SandboxFailure("start", "the process running your code is not running (it was stopped)")
        try:
            _, body = protocol.read_frame(self._fd_from_child, self._limits(), deadline)
            if body == STARTED and not self._started:  # the runtime is up; next comes the import's verdict
                self._started = True
                _, body = protocol.read_frame(self._fd_from_child, self._limits(), deadline)
        except protocol.ChannelTimeout:
            self.stop()
            raise timeout or SandboxFailure("import", "starting Python and importing your models.py took too long; "
                                                      "does models.py run code at import time (a loop, a sleep, "
                                                      "input())?") from None
        except protocol.ChannelClosed:
            message = self._death_message("while your models.py was being imported")
            code = self._exit_code
            self.stop()
            # Before STARTED no student code has run: any death is the grader's (the runtime's, bwrap's).
            # After it every status is the student's (os._exit(86) at import must cost points).
            if not self._started:
                raise RuntimeError(f"the sandbox ({self.mode}) could not start: {self.output()[0][-800:]}") from None
            raise SandboxFailure("import", message) from None
        except protocol.ProtocolError as error:
            self.stop()
            raise SandboxFailure("protocol", f"the sandbox sent malformed data while importing models.py "
                                             f"({error})") from None
        if not isinstance(body, dict) or not isinstance(body.get("ready"), bool):
            self.stop()
            raise SandboxFailure("protocol", "the sandbox sent malformed data while importing models.py")
        if not body["ready"]:
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            self.stop()
            raise SandboxFailure("import", "importing your models.py failed:\n" + _text(error.get("message")))
        self.ready = True
        self.torch_version = _text(body.get("torch"), 40)

    # ---------------------------------------------------------------------------------- requests
    def _limits(self) -> protocol.Limits:
        return protocol.Limits(max_total_bytes=self.settings.message_mib << 20)

    def request(self, op: str, args: dict, deadline: float, during: str = ""):
        """Send one request; return the child's result, or raise StudentCodeError / SandboxFailure."""
        if self.process is None:
            raise SandboxFailure("start", "the sandbox is not running")
        self.wait_ready(deadline)
        message_id = self._next_id
        self._next_id += 1
        try:
            protocol.write_all(self._fd_to_child, protocol.encode(message_id, {"op": op, "args": args},
                                                                  to_array=_to_numpy), deadline)
            reply_id, body = protocol.read_frame(self._fd_from_child, self._limits(), deadline)
        except protocol.ChannelTimeout:
            self.stop()
            raise SandboxFailure("timeout", f"{during or op} did not finish in time") from None
        except protocol.ChannelClosed:
            message = self._death_message(f"during {during or op}")
            self.stop()
            raise SandboxFailure("crash", message) from None
        except protocol.ProtocolError as error:
            self.stop()
            raise SandboxFailure("protocol", f"during {during or op}, the sandbox sent data the grader cannot "
                                             f"accept ({error}); does your code write to file descriptors it does "
                                             "not own?") from None
        if reply_id != message_id or not isinstance(body, dict) or len(body) != 1 or not ({"ok", "error"} & set(body)):
            self.stop()
            raise SandboxFailure("protocol", f"during {during or op}, the sandbox replied out of turn")
        if "error" in body:
            error = body["error"] if isinstance(body["error"], dict) else {}
            kind = _text(error.get("kind"), 40)
            if kind == "internal":  # said by the child, so untrusted: a failed check, never a grader error
                raise SandboxFailure("protocol", f"during {during or op}, the process running your code could not "
                                                 f"answer: {_text(error.get('message'))}")
            raise StudentCodeError(kind, _text(error.get("message")), during)
        return body["ok"]

    def _death_message(self, when: str) -> str:
        code = None
        if self.process is not None:
            try:
                code = self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
        if code is not None and self.mode.startswith("bubblewrap") and 128 < code < 128 + 65:
            code = 128 - code  # bwrap reports the child's death by signal N as 128 + N
        self._exit_code = code
        return describe_exit(code, when, self.settings)

    # ---------------------------------------------------------------------------------- stop
    def output(self) -> tuple[str, int]:
        """What the child printed (kept part, decoded) and how many bytes were dropped."""
        if self.drain is None:
            return "", 0
        return self.drain.kept.decode("utf-8", "replace"), self.drain.dropped

    def kill(self) -> None:
        """SIGKILL the child and everything it started, from any thread (the owner then calls stop())."""
        process = self.process
        if self.cgroup is not None:
            self.cgroup.kill_all(1.0)
        if process is not None:
            reaper.kill_tree(process.pid, process.pid, self._marker, lambda: _live_roots - {process.pid}, _live_lock)

    def stop(self) -> None:
        """Kill the child and everything it started; remove its folder. Idempotent."""
        process, self.process = self.process, None
        self.ready = False
        if process is not None:
            with _live_lock:
                _live_roots.discard(process.pid)
            if self.cgroup is not None:
                self.cgroup.kill_all()  # exact membership, fork bombs included
            reaper.kill_tree(process.pid, process.pid, self._marker, lambda: set(_live_roots), _live_lock)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        for fd in (self._fd_to_child, self._fd_from_child):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd_to_child = self._fd_from_child = -1
        if self.drain is not None:
            self.drain.join(timeout=2)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _to_numpy(value):
    torch = sys.modules.get("torch")  # a tensor can only exist if torch is already imported
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().contiguous().numpy()
    return value


def _text(value, limit: int = 4000) -> str:
    text = value if isinstance(value, str) else ""
    return text if len(text) <= limit else text[:limit] + "..."


def describe_exit(code: int | None, when: str, settings: SandboxSettings) -> str:
    """The child's exit status in plain words, naming the limit it hit when one explains it."""
    if code is None:
        return f"your code stopped answering {when}"
    if code >= 0:
        return (f"the process running your code exited (status {code}) {when}: does your code call sys.exit(), "
                "os._exit() or kill its own process?")
    number = -code
    name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
    if number == signal.SIGXFSZ:
        return f"your code wrote a file larger than the file-size limit ({settings.file_mib} MiB) {when}"
    if number == signal.SIGKILL:
        return (f"the process running your code was killed ({name}) {when}: it may have run out of memory "
                f"(limit {settings.memory_mib} MiB) or been killed by your own code")
    if number in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
        return (f"the process running your code crashed ({name}) {when}; this often means it ran out of memory "
                f"(limit {settings.memory_mib} MiB)")
    return f"the process running your code was stopped by {name} {when}"
