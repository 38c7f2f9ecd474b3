"""The sandbox holds: hangs time out, floods are capped, memory is limited, and every process a
submission starts is killed, including those that escaped into a new session."""

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.sandbox import process, reaper
from grader.sandbox.cgroup import Cgroup, Limits
from grader.sandbox import bwrap
from grader.sandbox.isolation import interpreter_paths
from grader.sandbox.process import (PROJECT_ROOT, NoIsolation, Sandbox, SandboxFailure, SandboxSettings,
                                    StudentCodeError, protection)

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "models.py"


def _bwrap_works() -> bool:
    try:
        return protection(SandboxSettings())[0].startswith("bubblewrap")
    except NoIsolation:
        return False


#: "none" = a plain child (--unsafe-no-sandbox); "auto" = the bubblewrap jail, where it works here.
MODES = ["none"] + (["auto"] if _bwrap_works() else [])


def settings_for(isolation: str, **settings) -> SandboxSettings:
    return SandboxSettings(unsafe_no_sandbox=isolation == "none", **settings)


def submission(tmp_path, prefix: str = "", forward_prefix: str = "") -> Path:
    """The reference with code added at import time and/or at the start of SEBlock.forward."""
    source = REFERENCE.read_text()
    anchor = "        b, c, _, _ = x.shape\n"
    source = source.replace(anchor, anchor + "".join(f"        {line}\n" for line in forward_prefix.splitlines()))
    path = tmp_path / "models.py"
    path.write_text(prefix + "\n" + source)
    return path


def import_failure(path: Path, isolation: str) -> SandboxFailure:
    """What waiting for a submission that dies at import raises (the test fails if it does not)."""
    sandbox = Sandbox(path, settings_for(isolation))
    sandbox.start()
    try:
        with pytest.raises(SandboxFailure) as failure:
            sandbox.wait_ready(time.monotonic() + 120)
    finally:
        sandbox.stop()
    return failure.value


def start(path: Path, isolation: str = "none", **settings) -> Sandbox:
    sandbox = Sandbox(path, settings_for(isolation, **settings))
    sandbox.start()
    sandbox.wait_ready(time.monotonic() + 120)
    return sandbox


@pytest.mark.parametrize("isolation", MODES)
def test_escaped_processes_are_killed(tmp_path, isolation):
    escape = """
import os, subprocess, sys, time
subprocess.Popen(["sleep", "300"], start_new_session=True)
if os.fork() == 0:            # double fork + setsid: re-parented away from the child
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)
    os._exit(0)
print("escaped", flush=True)
"""
    sandbox = start(submission(tmp_path, prefix=escape), isolation)
    marker = sandbox._marker
    time.sleep(0.5)
    assert len(reaper.with_marker(marker)) >= 3, "the child and its escapees should carry the marker"
    sandbox.stop()
    deadline = time.monotonic() + 5
    while reaper.with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert reaper.with_marker(marker) == set()
    assert "escaped" in sandbox.output()[0]


def test_a_hanging_call_times_out_and_the_child_is_gone(tmp_path):
    sandbox = start(submission(tmp_path, forward_prefix="while True:\n    pass"))
    pid = sandbox.process.pid
    handle = sandbox.request("build", {"class_name": "SEBlock", "kwargs": {"channels": 4}, "seed": 0},
                             time.monotonic() + 10)
    started = time.monotonic()
    with pytest.raises(SandboxFailure) as failure:
        sandbox.request("forward", {"handle": handle, "x": np.ones((1, 4, 2, 2), np.float32), "train": False,
                                    "grad": False}, time.monotonic() + 1.5)
    assert failure.value.reason == "timeout"
    assert time.monotonic() - started < 4
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_output_is_captured_and_capped(tmp_path):
    flood = "import sys\nsys.stdout.write('x' * 5_000_000)\nsys.stderr.write('y' * 5_000_000)\nsys.stdout.flush()"
    sandbox = start(submission(tmp_path, prefix=flood), output_kib=16)
    sandbox.stop()
    kept, dropped = sandbox.output()
    assert len(kept) == 16 << 10 and kept.startswith("x")
    assert dropped == 10_000_000 - (16 << 10)


def test_memory_beyond_the_limit_is_a_student_error_not_a_grader_crash(tmp_path):
    sandbox = start(submission(tmp_path, forward_prefix="import torch\nhuge = torch.ones(1 << 31)"), memory_mib=4096)
    try:
        handle = sandbox.request("build", {"class_name": "SEBlock", "kwargs": {"channels": 4}, "seed": 0},
                                 time.monotonic() + 10)
        with pytest.raises(StudentCodeError) as error:
            sandbox.request("forward", {"handle": handle, "x": np.ones((1, 4, 2, 2), np.float32), "train": False,
                                        "grad": False}, time.monotonic() + 30)
        assert error.value.kind == "memory"
    finally:
        sandbox.stop()


@pytest.mark.parametrize("isolation", MODES)
def test_child_environment_is_isolated(tmp_path, isolation):
    project = REFERENCE.parent.parent
    probe = f"""
import os, resource, sys
print("HAS_PROJECT", any(os.path.exists(os.path.join(p, "reference", "models.py")) for p in sys.path))
try:
    import reference.models
    print("IMPORTED reference")
except ImportError:
    print("NO reference")
print("AS", resource.getrlimit(resource.RLIMIT_AS)[0])
try:
    print("READ", len(open({str(REFERENCE)!r}).read()))
except OSError as error:
    print("READ", type(error).__name__)
if {isolation == "auto"}:  # only where it must fail: never write into the real project otherwise
    try:
        open({str(project / "PWNED")!r}, "w").write("x")
        print("WROTE project")
    except OSError:
        print("WRITE OSError")
"""
    sandbox = start(submission(tmp_path, prefix=probe), isolation, memory_mib=4096)
    sandbox.stop()
    text = sandbox.output()[0]
    assert "HAS_PROJECT False" in text and "NO reference" in text
    assert f"AS {4096 << 20}" in text
    if isolation == "auto":  # the jail: the project is not there and the filesystem read-only
        assert "READ 0" in text or "READ FileNotFoundError" in text
        assert "WRITE OSError" in text and not (project / "PWNED").exists()


def _user_can_run_python(user: str) -> bool:
    import subprocess

    try:
        return subprocess.run([SandboxSettings().python, "-I", "-S", "-c", "pass"], user=user, timeout=30,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(os.geteuid() != 0 or not _user_can_run_python("nobody"),
                    reason="needs root and an interpreter the user 'nobody' may execute (here it lives under a "
                           "private folder); the Gradescope packaging test covers the sandbox user")
def test_sandbox_user_cannot_touch_the_graders_files(tmp_path):
    probe = f"""
import os
print("UID", os.getuid())
try:
    open({str(REFERENCE)!r}, "a").close()
    print("WROTE reference")
except OSError as error:
    print("WRITE", type(error).__name__)
"""
    sandbox = start(submission(tmp_path, prefix=probe), "none", user="nobody")
    sandbox.stop()
    text = sandbox.output()[0]
    assert "UID 65534" in text and "WRITE PermissionError" in text


def _pids_cgroup_available() -> bool:
    group = Cgroup.create(f"selab-probe-{os.getpid()}", Limits(tasks=8))
    if group is not None:
        group.remove()
    return group is not None


@pytest.mark.skipif(not _pids_cgroup_available(),
                    reason="no writable pids cgroup on this machine (the other nets still apply)")
def test_a_fork_bomb_is_capped_by_the_pids_cgroup(tmp_path):
    bomb = """
import os, time
children = 0
for _ in range(500):
    try:
        if os.fork() == 0:
            time.sleep(300)
            os._exit(0)
        children += 1
    except OSError:
        break
print("FORKED", children, flush=True)
"""
    sandbox = start(submission(tmp_path, prefix=bomb), "auto" if "auto" in MODES else "none", processes=64)
    group = sandbox.cgroup.path
    assert 0 < len(sandbox.cgroup.members()) <= 64
    sandbox.stop()
    forked = int(sandbox.output()[0].split("FORKED")[1].split()[0])
    assert forked < 64, "pids.max should stop the fork loop"
    assert not group.exists()


SPINNERS = "import os\nfor _ in range(4):\n    if os.fork() == 0:\n        while True:\n            pass\n"


def _cpu_cgroup_available() -> bool:
    group = Cgroup.create(f"selab-probe-{os.getpid()}", Limits(tasks=8, cpus=1.0))
    if group is not None:
        group.remove()
    return group is not None


@pytest.mark.skipif(not _cpu_cgroup_available(), reason="the grader may not create cpu cgroups on this machine")
def test_a_submissions_children_share_one_cpu_quota(tmp_path):
    """Both children of a submission (the checks' and the trainer's), and everything they start, live in one
    group holding the submission's CPU share; the kernel throttles them there; it goes with the last child."""
    path = submission(tmp_path, prefix=SPINNERS)
    first, second = (start(path, MODES[-1], cpus=0.25) for _ in range(2))
    share = process._share.group
    try:
        quota = share.path / ("cpu.max" if share.v2 else "cpu.cfs_quota_us")
        assert quota.read_text().split()[0] == "25000"
        for sandbox in (first, second):
            assert sandbox.cgroup.path.parent == share.path or share.path in sandbox.cgroup.joins
        # a quota of 2 % of a CPU: 8 spinners want more than that however loaded the machine is
        quota.write_text("2000 100000\n" if share.v2 else "2000\n")
        before = int(dict(line.split() for line in (share.path / "cpu.stat").read_text().splitlines())["nr_throttled"])
        time.sleep(1.5)
        stat = dict(line.split() for line in (share.path / "cpu.stat").read_text().splitlines())
        assert int(stat["nr_throttled"]) > before, stat
    finally:
        first.stop()
        assert share.path.exists(), "the share outlives its first child"
        second.stop()
    assert not share.path.exists() and process._share.group is None


def test_without_a_cgroup_the_share_falls_back_to_affinity_and_priority(tmp_path, monkeypatch):
    monkeypatch.setattr(Cgroup, "create", classmethod(lambda cls, *args, **kwargs: None))
    probe = "import os\nprint('CPUS', sorted(os.sched_getaffinity(0)), 'NICE', os.nice(0), flush=True)\n"
    sandbox = start(submission(tmp_path, prefix=probe), MODES[-1], cpus=1.0)
    sandbox.stop()
    text = sandbox.output()[0]
    assert f"CPUS {process.fallback_cpus(1.0)} NICE {os.nice(0) + process.FALLBACK_NICE}" in text, text
    assert len(process.fallback_cpus(1.0)) == 1


@pytest.mark.skipif(os.geteuid() != 0 or "auto" not in MODES, reason="needs root and a working bubblewrap jail")
def test_jailed_child_is_unprivileged_and_not_process_one(tmp_path):
    """In the jail the child is `nobody` (no root-only files, /sys read-only) and not process 1, so a
    signal it sends itself acts as anywhere else (process 1 would ignore it and keep running)."""
    probe = """
import os
print("UID", os.getuid(), "PID1", os.getpid() == 1)
for path in ("/etc/shadow", "/sys/kernel/mm/transparent_hugepage/enabled"):
    try:
        open(path, "rb" if path.startswith("/etc") else "wb").close()
        print("OPENED", path)
    except OSError as error:
        print("DENIED", path, type(error).__name__)
"""
    sandbox = start(submission(tmp_path, prefix=probe), "auto")
    sandbox.stop()
    text = sandbox.output()[0]
    assert "UID 65534 PID1 False" in text, text
    assert "OPENED" not in text and text.count("DENIED") == 2, text

    failure = import_failure(submission(tmp_path, prefix="import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),
                             "auto")
    assert failure.reason == "import" and "SIGKILL" in failure.message, failure.message


@pytest.mark.parametrize("status", [86, 87])
def test_runtime_exit_statuses_from_student_code_are_the_students(tmp_path, status):
    """86/87 mean "the sandbox could not start" only before the runtime's first frame; after it, they
    are the submission's exit (a verdict, not an internal grader error)."""
    failure = import_failure(submission(tmp_path, prefix=f"import os\nos._exit({status})\n"), MODES[-1])
    assert failure.reason == "import" and f"status {status}" in failure.message, failure.message


@pytest.mark.skipif("auto" not in MODES, reason="needs a working bubblewrap jail")
def test_the_jail_shows_only_the_allowlist(tmp_path):
    """The child sees the system, the interpreter and its own folder: not the project, not a copy of
    the reference placed elsewhere on the disk, not HOME, not the host's /tmp, no network."""
    copy = Path(tempfile.mkdtemp(prefix="selab-copy-", dir="/var/tmp"))
    (copy / "models.py").write_text(REFERENCE.read_text())
    os.chmod(copy, 0o755)
    probe = f"""
import os, socket
print("ROOT", sorted(os.listdir("/")))
for path in ({str(REFERENCE)!r}, {str(copy / "models.py")!r}, {str(tmp_path)!r}, "/root/.bashrc", "/etc/shadow"):
    print("SEES" if os.path.exists(path) else "GONE", path)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    print("NETWORK yes")
except OSError:
    print("NETWORK no")
"""
    try:
        sandbox = start(submission(tmp_path, prefix=probe), "auto")
        sandbox.stop()
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    text = sandbox.output()[0]
    assert "SEES" not in text and text.count("GONE") == 5 and "NETWORK no" in text, text
    shown = set(eval(text.split("ROOT ")[1].splitlines()[0]))  # noqa: S307 - our own probe's list
    # the interpreter's folders show wherever this checkout lives (/work, /check, /tmp...): ask the plan
    jail = bwrap.plan(interpreter_paths(), PROJECT_ROOT, "", 1 << 20)
    interpreter_tops = {Path(path).parts[1] for path in jail.readable + jail.rebound}
    system = {Path(path).parts[1] for path in bwrap.SYSTEM} | {"etc", "dev", "proc", "tmp", "selab"}
    assert shown <= system | interpreter_tops, (shown, interpreter_tops)
    assert not ({"var", "sys", "boot", "mnt"} - interpreter_tops) & shown, shown


def test_no_isolation_refuses_unless_unsafe_is_asked_for(monkeypatch, tmp_path):
    """Fail closed: isolation = "none" and a machine without bubblewrap both refuse, saying what to do;
    --unsafe-no-sandbox is the one way to a plain child, and says so."""
    with pytest.raises(NoIsolation, match="--unsafe-no-sandbox"):
        protection(SandboxSettings(isolation="none"))
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without bwrap
    monkeypatch.setattr(bwrap, "_probes", {})
    with pytest.raises(NoIsolation, match="bubblewrap .bwrap. is not installed.*apt-get install bubblewrap"):
        protection(SandboxSettings())
    with pytest.raises(NoIsolation):
        Sandbox(REFERENCE, SandboxSettings()).start()
    assert "graded without isolation" in protection(SandboxSettings(unsafe_no_sandbox=True))[0]
    if os.geteuid() == 0:  # Gradescope's fallback: no bwrap, but a sandbox user
        assert protection(SandboxSettings(user="nobody"))[0].startswith("sandbox user nobody")


def test_grade_refuses_without_a_sandbox(tmp_path):
    """``python -m grader grade`` on a machine without bubblewrap: one clear message, exit 2, no results.json."""
    import subprocess
    import sys

    env = dict(os.environ, PATH=str(tmp_path))
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "grader", "grade", str(REFERENCE), "--out", str(out)], env=env,
                         cwd=REFERENCE.parent.parent, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and not out.exists(), (run.returncode, run.stderr[-500:])
    assert "Refusing to grade" in run.stderr and "install bubblewrap" in run.stderr.lower(), run.stderr


def test_a_child_that_could_not_start_is_replaced_at_the_next_call(monkeypatch, tmp_path):
    """A grader error while a child starts (RuntimeError: 'the sandbox could not start') costs that call
    only: the next call starts a fresh child instead of waiting on the stopped one, whose pipes are
    closed (a suspected cause of one CI run's ValueError in every later check of hang_one_method)."""
    from grader.config import load_config
    from grader.subject import RemoteSubject

    real_wait_ready = Sandbox.wait_ready
    failures = iter([RuntimeError("the sandbox could not start (simulated)")])

    def wait_ready_failing_once(self, deadline, timeout=None):
        error = next(failures, None)
        if error is not None:
            self.stop()
            raise error
        return real_wait_ready(self, deadline, timeout)

    monkeypatch.setattr(Sandbox, "wait_ready", wait_ready_failing_once)
    subject = RemoteSubject(submission(tmp_path), load_config(), settings_for("auto" if "auto" in MODES else "none"))
    try:
        subject.start_check(60)
        with pytest.raises(RuntimeError, match="simulated"):
            subject.build("SEBlock", {"channels": 4})
        subject.end_check()
        assert subject.sandbox is None
        subject.start_check(60)
        model = subject.build("SEBlock", {"channels": 4})
        out = subject.forward(model, torch.ones(1, 4, 2, 2))
        subject.end_check()
        assert tuple(out.shape) == (1, 4, 2, 2)
    finally:
        subject.close()


def test_a_prefetched_training_that_hangs_fails_its_check_with_the_one_timeout_message(tmp_path):
    """The trainings run as futures in a second child: one that hangs costs its own check, with the same words
    (and the same summary event) as any call that hits a limit; a training that finished is returned as is."""
    from grader.config import load_config
    from grader.subject import RemoteSubject

    config = load_config().with_limits(training_seconds=15)
    path = submission(tmp_path, forward_prefix="import time\ntime.sleep(600)")  # SEBlock hangs: CNN_SE's training too
    subject = RemoteSubject(path, config, settings_for(MODES[-1]))
    kwargs = {"in_channels": 1, "num_classes": 10, "image_size": 28}
    images, labels = torch.zeros(16, 1, 28, 28), torch.arange(16) % 10
    budget = dict(config.training.budget(), epochs=1)
    try:
        subject.prefetch_training([("CNN_Base", kwargs, 0), ("CNN_SE", kwargs, 0)], images, labels, budget)
        state = subject.short_train("CNN_Base", kwargs, 0, images, labels, budget)
        with pytest.raises(SandboxFailure) as failure:
            subject.short_train("CNN_SE", kwargs, 0, images, labels, budget)
    finally:
        subject.close()
    assert state and all(isinstance(value, torch.Tensor) for value in state.values())
    during = "Running the short training of CNN_SE(in_channels=1, num_classes=10, image_size=28)"
    assert failure.value.reason == "timeout"
    assert failure.value.message == f"{during} did not finish within the time limit of one check (15 s); the grader stopped it"
    assert subject.events == [f"{during} hit the time limit of one check (15 s)"]
