# Ignores every signal it may ignore, then CNN_Base.forward spins in pure Python, holding the GIL
# (a watchdog thread inside the child could never run). Only SIGKILL stops it.
import signal

for _name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGXCPU", "SIGPIPE", "SIGVTALRM"):
    try:
        signal.signal(getattr(signal, _name), signal.SIG_IGN)
    except (AttributeError, OSError, ValueError):
        pass


def _busy_forward(self, x):
    n = 0
    while True:
        n += 1


CNN_Base.forward = _busy_forward
