"""The parent's side of the sandbox: start the child, talk to it under deadlines, and kill it all.

A :class:`Sandbox` runs one submission's ``models.py`` in one child process:

- the child's folder is a fresh temporary directory holding only a copy of models.py and the child
  runtime (``selab_child.py``, ``selab_operations.py`` from grader/operations.py, ``selab_protocol.py``); it is started with
  ``python -I -S -B``, its own session/process group, a minimal environment with a unique marker,
  and limits (address space, file size, core dumps, processes) set before any student code runs;
- how it is isolated (the bubblewrap jail, the sandbox user, or nothing with ``--unsafe-no-sandbox``) is
  one object of grader/sandbox/isolation.py, chosen by :func:`protection`, which refuses
  (:class:`NoIsolation`) where no isolation can be set up;
- requests and replies are protocol frames on two dedicated pipes; every read has a deadline, and
  replies are decoded with size limits (grader/sandbox/protocol.py);
- stdout and stderr go to one pipe drained by a thread that keeps the first ``output_kib`` KiB;
- where the grader may create cgroups (grader/sandbox/cgroup.py, v2 or v1) the child and everything it
  starts live in a group capped at ``limits.processes`` tasks;
- :meth:`Sandbox.stop` SIGKILLs the cgroup's members and the process group; in the jail the PID
  namespace takes the rest, elsewhere every descendant (the grader is a subreaper) and any process
  carrying the marker (grader/sandbox/reaper.py); then it removes the folder.

Failures are reported as :class:`SandboxFailure` (a BaseException, so that Hypothesis stops at once
instead of shrinking through restarts) with a message in plain words for the student.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import isolation, protocol, reaper
from grader.sandbox.cgroup import Cgroup, Limits
from grader.sandbox.child import STARTED  # the child's first frame: its runtime is up, student code runs next
from grader.sandbox.isolation import MARKER_VAR, PROJECT_ROOT, NoIsolation, child_sys_path  # noqa: F401 - API

HERE = Path(__file__).resolve().parent
RUNTIME_FILES = {"selab_child.py": HERE / "child.py", "selab_operations.py": HERE.parent / "operations.py",
                 "selab_protocol.py": HERE / "protocol.py",
                 "selab_recorder.py": PROJECT_ROOT / "assignment" / "recorder.py",
                 "selab_precision.py": PROJECT_ROOT / "assignment" / "precision.py"}
CONCURRENT_VAR = "SELAB_CONCURRENT_SUBMISSIONS"  # set by grade-all: submissions graded at once (the CPU share)
CHILDREN = 2  # a submission's children (checks, trainings): under contention its share weighs as much as they did
FALLBACK_NICE = 10  # the child's priority where no cgroup bounds its CPU time (it cannot raise it again)
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


class StudentCodeError(Exception):
    """The student's code raised an exception (reported by the child); ``kind`` as in operations.StudentError."""

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
    cpus: float = 0.0  # CPU share of all the submission's children together (0 = none)

    @classmethod
    def from_config(cls, config, unsafe_no_sandbox: bool = False) -> "SandboxSettings":
        limits = config.limits
        concurrent = int(os.environ.get(CONCURRENT_VAR, "1") or 1)
        return cls(memory_mib=limits.memory_mib, file_mib=limits.file_mib, output_kib=limits.output_kib,
                   processes=limits.processes, message_mib=limits.message_mib, threads=config.training.threads,
                   user=config.sandbox_user, isolation=config.isolation, unsafe_no_sandbox=unsafe_no_sandbox,
                   cpus=config.submission_cpus(concurrent))


def protection(settings: SandboxSettings) -> tuple[str, isolation.Isolation]:
    """What isolates the child, in words for results.json, and the mode itself; raises NoIsolation (fail
    closed) when none can be set up and unsafe grading was not asked for."""
    mode = isolation.choose(settings.unsafe_no_sandbox, settings.isolation, settings.user,
                            max(settings.file_mib, 1) << 21, settings.python)
    return mode.protection, mode


class _SubmissionShare:
    """The CPU share of the submission this process grades: one cgroup with the CPU quota, holding the group
    of each of its children (made with the first child, removed after the last)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.group: Cgroup | None = None
        self.users = 0
        self.pid = os.getpid()

    def child_group(self, name: str, settings: SandboxSettings) -> tuple[Cgroup | None, bool]:
        """The child's group (tasks capped, inside the share when there is one) and whether its CPU is bounded."""
        if self.pid != os.getpid():  # a fork grading another submission (warm grading): a share of its own
            self.__init__()
        with self.lock:
            if settings.cpus > 0 and self.group is None:
                self.group = Cgroup.create(f"selab-share-{uuid.uuid4().hex}", Limits(cpus=settings.cpus, weight=CHILDREN))
            share = self.group if settings.cpus > 0 else None
            group = Cgroup.create(name, Limits(tasks=settings.processes), parent=share)
            if share is not None and group is not None:
                self.users += 1
                return group, True
            self._release_if_unused()
            return group, False

    def release(self) -> None:
        with self.lock:
            self.users = max(0, self.users - 1)
            self._release_if_unused()

    def _release_if_unused(self) -> None:
        if self.users == 0 and self.group is not None and self.group.remove_if_unused():
            self.group = None


_share = _SubmissionShare()


def fallback_cpus(cpus: float) -> list[int]:
    """Where no cgroup bounds the CPU time: ``ceil(cpus)`` of the usable CPUs, picked by this process's id so that
    the submissions graded at once tend to spread over different CPUs."""
    usable = sorted(os.sched_getaffinity(0))
    count = min(len(usable), max(1, math.ceil(cpus)))
    start = os.getpid() % len(usable)
    return [usable[(start + i) % len(usable)] for i in range(count)]


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
        self.isolation: isolation.Isolation = isolation.Unsafe()
        self._fd_to_child = self._fd_from_child = -1
        self._next_id = 1
        self._marker = b""
        self.stored: set[str] = set()  # keys of data the child keeps (operations.Operations.store)
        self.cgroup: Cgroup | None = None
        self._in_share = False  # its group counts as a user of the submission's CPU share

    # ---------------------------------------------------------------------------------- start
    def start(self) -> None:
        """Spawn the child (returns at once; :meth:`wait_ready` waits for the import of models.py)."""
        settings = self.settings
        self._started = False
        self.isolation = protection(settings)[1]
        if not self.isolation.pid_namespace:
            reaper.become_subreaper()  # double-forked orphans come back to us, where kill_tree finds them
        self.folder = Path(tempfile.mkdtemp(prefix="selab-child-"))
        shutil.copyfile(self.models_py, self.folder / "models.py")
        for name, source in RUNTIME_FILES.items():
            shutil.copyfile(source, self.folder / name)
        token = uuid.uuid4().hex
        self._marker = f"{MARKER_VAR}={token}".encode()
        self.cgroup, self._in_share = _share.child_group(f"selab-{token}", settings)
        unbounded = settings.cpus > 0 and not self._in_share  # no cgroup quota: affinity and priority instead
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        output_read, output_write = os.pipe()
        child_settings = {
            "fd_in": request_read, "fd_out": reply_write, "sys_path": child_sys_path(),
            "memory_bytes": settings.memory_mib << 20, "file_bytes": settings.file_mib << 20,
            "processes": settings.processes, "threads": settings.threads, "max_request_bytes": 1 << 30,
            "cpus": fallback_cpus(settings.cpus) if unbounded else None, "nice": FALLBACK_NICE if unbounded else 0,
        }
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.folder),
               "TMPDIR": str(self.folder), MARKER_VAR: token, "OMP_NUM_THREADS": str(settings.threads),
               "MKL_NUM_THREADS": str(settings.threads)}
        launch = self.isolation.launch(self.folder, settings.python, json.dumps(child_settings), env)
        command = launch.command if self.cgroup is None else self.cgroup.wrap(launch.command)
        try:
            with _live_lock:  # spawned and registered at once: another thread's clean-up never takes it for an orphan
                self.process = subprocess.Popen(
                    command, cwd=self.folder, env=launch.env, stdin=subprocess.DEVNULL, stdout=output_write,
                    stderr=output_write, pass_fds=(request_read, reply_write), start_new_session=True,
                    close_fds=True)
                _live_roots.add(self.process.pid)
        except OSError as error:
            for fd in (request_read, request_write, reply_read, reply_write, output_read, output_write):
                os.close(fd)
            self._remove_cgroup()
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
            self.stop()
            # Before STARTED no student code has run: any death is the grader's (the runtime's, bwrap's).
            # After it every status is the student's (os._exit(86) at import must cost points).
            if not self._started:
                raise RuntimeError(f"the sandbox ({self.isolation.protection}) could not start: {self.output()[0][-800:]}") from None
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
        return describe_exit(None if code is None else self.isolation.exit_status(code), when, self.settings)

    # ---------------------------------------------------------------------------------- stop
    def output(self) -> tuple[str, int]:
        """What the child printed (kept part, decoded) and how many bytes were dropped."""
        if self.drain is None:
            return "", 0
        return self.drain.kept.decode("utf-8", "replace"), self.drain.dropped

    def kill(self) -> None:
        """SIGKILL the child and everything it started, from any thread (the owner then calls stop())."""
        process = self.process
        if process is not None:
            self._kill_all(process.pid, lambda: _live_roots - {process.pid}, 1.0)

    def _remove_cgroup(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self._in_share:
            self._in_share = False
            _share.release()

    def _kill_all(self, pid: int, protected, cgroup_seconds: float) -> None:
        """The cgroup's exact membership (fork bombs included), then: in a PID namespace the child itself (the
        kernel takes the namespace down with bwrap's init, which dies with it); elsewhere a scan of /proc."""
        if self.cgroup is not None:
            self.cgroup.kill_all(cgroup_seconds)
        if self.isolation.pid_namespace:
            reaper.kill_group(pid)
        else:
            reaper.kill_tree(pid, pid, self._marker, protected, _live_lock)

    def stop(self) -> None:
        """Kill the child and everything it started; remove its folder. Idempotent."""
        process, self.process = self.process, None
        self.ready = False
        if process is not None:
            with _live_lock:
                _live_roots.discard(process.pid)
            self._kill_all(process.pid, lambda: set(_live_roots), 5.0)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._remove_cgroup()
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
