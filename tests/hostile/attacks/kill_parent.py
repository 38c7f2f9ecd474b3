# At import, SIGKILL every ancestor that looks like the grader ("grader" in its command line), then
# itself. Safety: never signals a process whose command line mentions pytest (the meta-test).
import os
import signal


def _ancestors():
    pid = os.getppid()
    while pid > 1:
        yield pid
        try:
            with open(f"/proc/{pid}/stat") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except Exception:
            return


for _pid in list(_ancestors()):
    _cmdline = (_hostile_read(f"/proc/{_pid}/cmdline") or b"").replace(b"\0", b" ")
    if b"grader" in _cmdline and b"pytest" not in _cmdline:
        try:
            os.kill(_pid, signal.SIGKILL)
            _hostile_note("info", killed=_pid, cmdline=_cmdline.decode(errors="replace"))
        except Exception as _error:
            _hostile_note("info", kill_failed=_pid, error=repr(_error))
os.kill(os.getpid(), signal.SIGKILL)
