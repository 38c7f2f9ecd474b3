"""The sandboxed child: imports the student's models.py once, then serves requests until told to stop.

Runs ONLY inside the child's temporary folder, where grader/sandbox/process.py copies this file as
``selab_child.py`` beside ``selab_protocol.py``, ``selab_operations.py`` (grader/operations.py) and the
submission's ``models.py``.
It is started as ``python -I -S -B selab_child.py SETTINGS_JSON``: no user site, no site-packages
``.pth`` hooks, no PYTHONPATH, no current-folder imports; sys.path is set here to the interpreter's
standard library and site-packages only (never the grader's or the reference's folders).

Order matters: resource limits first (before any student code can run), then torch, then the
student's module. Requests and replies travel as protocol frames on two dedicated pipe fds;
stdout/stderr belong to the student and are captured (and capped) by the parent.
"""

import json
import os
import resource
import sys


def _apply_limits(settings: dict) -> None:
    """Lower soft AND hard limits, so the student's code cannot raise them again."""
    limits = [(resource.RLIMIT_CORE, 0)]
    if settings.get("memory_bytes"):
        limits.append((resource.RLIMIT_AS, settings["memory_bytes"]))
    if settings.get("file_bytes"):
        limits.append((resource.RLIMIT_FSIZE, settings["file_bytes"]))
    if settings.get("processes") and os.geteuid() != 0:  # RLIMIT_NPROC does not bind root
        limits.append((resource.RLIMIT_NPROC, settings["processes"]))
    for which, value in limits:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(which)
            resource.setrlimit(which, (min(value, hard) if hard != resource.RLIM_INFINITY else value, hard))
    if settings.get("cpus"):  # no cgroup bounds the CPU time here: fewer CPUs and a lower priority instead
        os.sched_setaffinity(0, settings["cpus"])
    if settings.get("nice"):
        os.nice(settings["nice"])  # an unprivileged child cannot raise its priority again


class _BlockGraderImports:
    """Refuse, politely, imports of the grader's own packages (defence in depth: they are not on sys.path)."""

    BLOCKED = ("reference", "grader")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ImportError(f"the module {name!r} is not available to submissions")
        return None


RUNTIME_FAILED = 86  # exit status meaning "the grader's runtime failed before any student code ran" (cgroup.py reads it from here)
STARTED = {"started": True}  # first frame: the runtime is up; student code runs next


def main() -> None:
    try:
        settings, module_path, protocol, ops, send, limits = _start()
        send(0, STARTED)  # from here on, whatever happens is the submission's doing
    except BaseException as error:  # noqa: B902 - the grader's fault, never the student's: say so
        sys.stderr.write(f"selab child runtime failed: {type(error).__name__}: {error}\n")
        os._exit(RUNTIME_FAILED)
    _serve(settings, module_path, protocol, ops, send, limits)


def _start():
    settings = json.loads(sys.argv[1])
    _apply_limits(settings)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [here] + [p for p in settings["sys_path"] if isinstance(p, str)]
    sys.meta_path.insert(0, _BlockGraderImports())
    fd_in, fd_out = settings["fd_in"], settings["fd_out"]
    for fd in (fd_in, fd_out):
        os.set_inheritable(fd, False)  # processes the student starts do not get the protocol pipes

    import selab_protocol as protocol  # noqa: E402 - after sys.path is set
    import torch  # noqa: E402

    import selab_operations as ops  # noqa: E402

    torch.set_num_threads(max(1, int(settings.get("threads", 1))))
    ops.seed_cpu(0)
    limits = protocol.Limits(max_total_bytes=settings["max_request_bytes"])
    to_array = lambda value: value.numpy() if isinstance(value, torch.Tensor) else value  # noqa: E731

    def send(message_id: int, body) -> None:
        protocol.write_all(fd_out, protocol.encode(message_id, body, to_array=to_array))

    return settings, os.path.join(here, "models.py"), protocol, ops, send, limits


def _serve(settings, models_path, protocol, ops, send, limits) -> None:
    fd_in = settings["fd_in"]
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("models", models_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["models"] = module
        spec.loader.exec_module(module)
    except BaseException as error:  # noqa: B902 - SystemExit at import is the student's too
        send(0, {"ready": False, "error": ops.describe(error, models_path).to_dict()})
        os._exit(0)
    operations = ops.Operations(module, models_path)
    send(0, {"ready": True})

    while True:
        try:
            message_id, request = protocol.read_frame(fd_in, limits)
        except protocol.ChannelClosed:
            os._exit(0)
        op, args = request["op"], request["args"]
        try:
            reply = {"ok": operations.call(op, args)}
        except ops.StudentError as error:
            reply = {"error": error.to_dict()}
        except BaseException as error:  # noqa: B902 - our own code failing on bad input; never the student's
            reply = {"error": {"kind": "internal", "message": f"{type(error).__name__}: {error}"}}
        try:
            send(message_id, reply)
        except TypeError as error:  # something in the reply cannot cross the pipe
            send(message_id, {"error": {"kind": "bad_return", "message": str(error)}})


if __name__ == "__main__":
    main()
