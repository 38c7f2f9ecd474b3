# A correct solution that double-forks at import: the grandchild calls setsid() (new session and
# process group, parent = init), clears its environment and execs a 10-minute sleeper carrying the
# run token. A second forked daemon stays a copy of the child process (no exec): it renames itself
# (prctl PR_SET_NAME, visible in /proc/PID/comm whatever the PID namespace) with the token.
import os


def _daemon(exec_sleeper):
    if os.fork() != 0:
        return
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        for fd in range(3, 256):
            try:
                os.close(fd)
            except OSError:
                pass
        if exec_sleeper:
            argv = _hostile_sleeper_argv()
            os.execve(argv[0], argv, {})
        _hostile_tag()
        _hostile_note("pid", daemon=os.getpid())
        import time
        while True:
            time.sleep(1)
    finally:
        os._exit(0)


_first = os.getpid()
_daemon(exec_sleeper=True)
if os.getpid() == _first:
    _daemon(exec_sleeper=False)
