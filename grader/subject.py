"""The submission as the checks see it: a *subject* with a handful of operations, run remotely or locally.

Every hidden check (grader/hidden) is written against this interface only, so the same check runs
in the sandbox (``RemoteSubject``, the trustworthy path of ``python -m grader grade``) and
in-process (``LocalSubject``, the otter path). Both return the same plain types:

====================================================  ===============================================
``build(class_name, kwargs, seed=0) -> ModelRef``     ``class_name(**kwargs)`` right after
                                                      ``torch.manual_seed(seed)``
``parameters(ref) -> list[ParamInfo]``                ``named_parameters()``: name, shape, requires_grad
``state_dict(ref) -> dict[str, Tensor]``              plain CPU tensors
``load_state_dict(ref, state)``                       strict load (a mismatch is the student's error)
``forward(ref, x, train=False, grad=False) -> Tensor`` output in train()/eval() mode, with/without grad
``gradients(ref, x, grad_output) -> dict``            name -> grad of sum(forward(x) * grad_output)
                                                      (train mode), or None when no gradient arrived;
                                                      the input's under ``operations.INPUT_GRADIENT``
``short_train(class_name, kwargs, seed, images,       a fresh seeded model trained by the grader's
labels, budget) -> dict[str, Tensor]``                loop; returns its state_dict
``record(ref, x, train=False) -> dict``               one forward pass with hooks on every named
                                                      submodule: {"order", "types", "inputs",
                                                      "outputs"} (tensors; operations.record)
``release(ref)``                                      forget a model
====================================================  ===============================================

Errors: :class:`StudentCodeError` when the student's code raises (``kind`` is "not_implemented",
"exception", "memory", "bad_return" or "missing"); :class:`SandboxFailure` (a BaseException) when
the remote child hangs past a limit, dies, breaks the protocol or cannot import models.py.

Time: ``start_check(seconds)`` / ``end_check()`` bracket one check; the remote subject stops the
child when a check exceeds its limit or the whole submission exceeds ``submission_seconds``.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grader.operations import Operations, StudentError
from grader.sandbox.process import Sandbox, SandboxFailure, SandboxSettings, StudentCodeError

__all__ = ["ModelRef", "ParamInfo", "RemoteSubject", "LocalSubject", "StudentCodeError", "SandboxFailure",
           "describe_model"]


@dataclass(frozen=True)
class ModelRef:
    """A model living in the subject; ``label`` reads like code, e.g. ``CNN_SE(in_channels=3)``."""

    handle: int
    generation: int
    class_name: str
    label: str


@dataclass(frozen=True)
class ParamInfo:
    name: str
    shape: tuple[int, ...]
    requires_grad: bool


def describe_model(class_name: str, kwargs: dict) -> str:
    return f"{class_name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def shape_text(shape) -> str:
    return "x".join(str(int(d)) for d in shape)


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, np.ndarray):
        raise SandboxFailure("protocol", f"the sandbox sent {type(value).__name__} where {what} should be a tensor")
    return torch.from_numpy(value)


def _tensor_dict(value, what: str, allow_none: bool = False) -> dict[str, torch.Tensor | None]:
    if not isinstance(value, dict):
        raise SandboxFailure("protocol", f"the sandbox sent {type(value).__name__} where {what} should be a dict")
    return {str(k): None if (allow_none and v is None) else _tensor(v, f"{what}[{k!r}]") for k, v in value.items()}


def _param_infos(value) -> list[ParamInfo]:
    try:
        return [ParamInfo(str(p["name"]), tuple(int(d) for d in p["shape"]), bool(p["requires_grad"])) for p in value]
    except (TypeError, KeyError, ValueError):
        raise SandboxFailure("protocol", "the sandbox sent a malformed parameter list") from None


def recording(value) -> dict:
    """A recording sent by the child (operations.record), checked: names are strings, values tensors or None."""
    try:
        order = [str(name) for name in value["order"]]
        types = {str(k): str(v) for k, v in value["types"].items()}
        inputs = _tensor_dict(value["inputs"], "inputs", allow_none=True)
        outputs = _tensor_dict(value["outputs"], "outputs", allow_none=True)
    except (TypeError, KeyError, AttributeError):
        raise SandboxFailure("protocol", "the sandbox sent a malformed recording") from None
    return {"order": order, "types": types, "inputs": inputs, "outputs": outputs}


class _Clock:
    """The time the submission's code may still use in the current check, and the submission's deadline.

    A check's limit counts only the time spent waiting for the child (the grader's own work in the
    check, e.g. running the reference, never counts against the student, however loaded the machine).
    """

    def __init__(self, submission_seconds: float | None):
        self.submission_seconds = submission_seconds
        self.submission_deadline = None if submission_seconds is None else time.monotonic() + submission_seconds
        self.check_remaining: float | None = None
        self.check_seconds: float | None = None

    def start_check(self, seconds: float | None) -> None:
        self.check_seconds = self.check_remaining = seconds

    def end_check(self) -> None:
        self.check_remaining = self.check_seconds = None

    def spend(self, seconds: float) -> None:
        if self.check_remaining is not None:
            self.check_remaining = max(0.0, self.check_remaining - seconds)

    def deadline(self) -> tuple[float, str]:
        """The deadline of the next call into the submission and, in words, which limit it is."""
        options = []
        if self.check_remaining is not None:
            options.append((time.monotonic() + self.check_remaining,
                            f"the time limit of one check ({self.check_seconds:g} s)"))
        if self.submission_deadline is not None:
            options.append((self.submission_deadline,
                            f"the time limit for grading a whole submission ({self.submission_seconds:g} s)"))
        if not options:
            return time.monotonic() + 3600.0, "an hour"
        return min(options)

    def next_call(self) -> tuple[float, str]:
        """:meth:`deadline`, or SandboxFailure("budget") when it has already passed (the call is not made)."""
        deadline, limit = self.deadline()
        if deadline <= time.monotonic():
            raise SandboxFailure("budget", f"not run: {limit} was used up")
        return deadline, limit


def timed_out(during: str, limit: str) -> tuple[str, SandboxFailure]:
    """A call into the submission that hit ``limit``: the line for the summary's events, and the failure."""
    return (f"{_capital(during)} hit {limit}",
            SandboxFailure("timeout", f"{_capital(during)} did not finish within {limit}; the grader stopped it"))


def _job_key(class_name: str, kwargs: dict, seed: int) -> tuple:
    return class_name, tuple(sorted(kwargs.items())), int(seed)


class TrainingRun:
    """The short trainings, run one after the other in a second child while the other checks run.

    Each training is a :class:`concurrent.futures.Future` (its state_dict, or the failure to raise in the check
    that asks for it). The child is started on the first job (unless handed over already started), restarted
    after one that killed it, and stopped after the last job, or at once by :meth:`close`.
    """

    def __init__(self, subject: "RemoteSubject", sandbox: Sandbox | None):
        self.subject = subject
        self.sandbox = sandbox
        self.jobs: dict[tuple, tuple[dict, Future]] = {}
        self._closing = False
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="selab-trainer")

    def start(self, jobs: list[tuple[str, dict, int]], images, labels, budget: dict) -> None:
        for class_name, kwargs, seed in jobs:
            future = self._worker.submit(self._train, class_name, kwargs, seed, images, labels, budget)
            self.jobs[_job_key(class_name, kwargs, seed)] = (budget, future)
        self._worker.submit(self._retire)  # the last job done: its memory goes back at once

    def future(self, class_name: str, kwargs: dict, seed: int, budget: dict) -> Future | None:
        """The training of this model with this budget, if it was started here."""
        budget_of, future = self.jobs.get(_job_key(class_name, kwargs, seed), (None, None))
        return future if budget_of == budget else None

    def close(self) -> None:
        """Stop now: a training still running fails at once (only after a grader error), later ones never start."""
        self._closing = True
        sandbox = self.sandbox
        if sandbox is not None:
            sandbox.kill()  # its pending request fails at once; the worker then stops it
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._retire()

    def _train(self, class_name: str, kwargs: dict, seed: int, images, labels, budget: dict):
        subject = self.subject
        if self._closing:
            raise RuntimeError("grading was stopped")
        if subject.import_failure is not None:
            raise SandboxFailure(subject.import_failure.reason, subject.import_failure.message)
        clock = _Clock(None)
        clock.submission_deadline, clock.submission_seconds = subject.clock.submission_deadline, subject.clock.submission_seconds
        try:
            if self.sandbox is None:
                self.sandbox = Sandbox(subject.models_py, subject.settings)
                self.sandbox.start()
            subject._wait_ready(self.sandbox, clock)
            clock.start_check(subject.config.limits.training_seconds)
            return self._request(self.sandbox, clock, class_name, kwargs, seed, images, labels, budget)
        except BaseException:
            if self.sandbox is not None and self.sandbox.process is None:  # it was stopped: keep its output
                self._retire()
            raise

    def _request(self, sandbox: Sandbox, clock: _Clock, class_name, kwargs, seed, images, labels, budget):
        during = f"running the short training of {describe_model(class_name, kwargs)}"
        deadline, limit = clock.next_call()
        try:
            if "train" not in sandbox.stored:  # one transfer of the data per child
                sandbox.request("store", {"key": "train", "images": images, "labels": labels}, deadline,
                                "receiving the training data")
                sandbox.stored.add("train")
            state = sandbox.request("short_train", {"class_name": class_name, "kwargs": dict(kwargs), "seed": int(seed),
                                                    "images": "train", "labels": None, **budget}, deadline, during)
        except SandboxFailure as failure:
            sandbox.stop()
            if failure.reason == "timeout":
                event, failure = timed_out(during, limit)
                with self.subject._lock:
                    self.subject.events.append(event)
                raise failure from None
            raise
        return _tensor_dict(state, "state_dict")

    def _retire(self) -> None:
        """Stop the child (idempotent; also removes the folder of a start that failed half-way), keeping its output."""
        sandbox, self.sandbox = self.sandbox, None
        if sandbox is not None:
            sandbox.stop()
            with self.subject._lock:
                self.subject.outputs.append(sandbox.output())


class RemoteSubject:
    """The submission in a sandboxed child process (restarted after a hang or crash)."""

    def __init__(self, models_py: Path, config, settings: SandboxSettings | None = None,
                 sandbox: Sandbox | None = None):
        self.models_py = Path(models_py)
        self.config = config
        self.settings = settings or SandboxSettings.from_config(config)
        self.clock = _Clock(config.limits.submission_seconds)
        self.sandbox: Sandbox | None = sandbox  # an already started child may be handed over
        self.generation = 1 if sandbox is not None else 0
        self.import_failure: SandboxFailure | None = None
        self.restarts = 0
        self.outputs: list[tuple[str, int]] = []
        self.events: list[str] = []  # limits hit, in plain words, for the summary
        self.training: TrainingRun | None = None
        self._lock = threading.Lock()  # outputs, events and import_failure are shared with the training's thread

    # -------------------------------------------------------------------------- life cycle
    def begin(self) -> None:
        """Start the child now (its torch import overlaps the parent's own start-up)."""
        if self.sandbox is None:
            self._new_sandbox()

    def close(self) -> None:
        """Stop everything: the checks' child and, if still running (only after a grader error), the training."""
        if self.training is not None:
            self.training.close()
        self._retire()

    def start_check(self, seconds: float | None) -> None:
        self.clock.start_check(seconds)

    def end_check(self) -> None:
        self.clock.end_check()

    def _new_sandbox(self) -> Sandbox:
        self.generation += 1
        sandbox = Sandbox(self.models_py, self.settings)
        try:
            sandbox.start()
        except BaseException:
            sandbox.stop()
            raise
        self.sandbox = sandbox
        return sandbox

    def _retire(self) -> None:
        sandbox, self.sandbox = self.sandbox, None
        if sandbox is not None:
            sandbox.stop()
            self.outputs.append(sandbox.output())

    def _ready_sandbox(self, clock: _Clock) -> Sandbox:
        """The running child, (re)started and imported; raises the cached import failure if any."""
        if self.import_failure is not None:
            raise SandboxFailure(self.import_failure.reason, self.import_failure.message)
        clock.next_call()
        if self.sandbox is None:
            self.restarts += 1
            self._new_sandbox()
        try:
            self._wait_ready(self.sandbox, clock)
        except BaseException:  # SandboxFailure, or a grader error: either way the next check starts afresh
            self._retire()
            raise
        return self.sandbox

    def _wait_ready(self, sandbox: Sandbox, clock: _Clock) -> None:
        """Wait for ``sandbox`` to import models.py under the import limit (not the check's: starting a
        child is the grader's business); an import that fails or hangs is remembered for every later check."""
        if sandbox.ready:
            return
        import_limit = self.config.limits.import_seconds
        started = time.monotonic()
        submission_deadline = clock.submission_deadline if clock.submission_deadline is not None else math.inf
        if started + import_limit <= submission_deadline:
            deadline = started + import_limit
            timeout = SandboxFailure("import", f"starting Python and importing your models.py took longer than the "
                                               f"time limit for starting ({import_limit:g} s); does models.py run "
                                               "code at import time (a loop, a sleep, input())?")
        else:
            deadline = submission_deadline
            timeout = SandboxFailure("budget", f"not run: the time limit for grading a whole submission "
                                               f"({clock.submission_seconds:g} s) ran out while the process running "
                                               "your code was being (re)started")
        try:
            sandbox.wait_ready(deadline, timeout)
        except SandboxFailure as failure:
            if failure.reason == "import" and deadline < submission_deadline:
                with self._lock:
                    self.import_failure = self.import_failure or failure  # the same file fails the same way again
            raise

    # -------------------------------------------------------------------------- requests
    def _request(self, op: str, args: dict, during: str):
        sandbox = self._ready_sandbox(self.clock)
        deadline, limit = self.clock.deadline()
        started = time.monotonic()
        try:
            return sandbox.request(op, args, deadline, during)
        except SandboxFailure as failure:
            self._retire()
            event, failure = timed_out(during, limit) if failure.reason == "timeout" else (failure.message, failure)
            with self._lock:
                self.events.append(event)
            raise failure from None
        finally:
            self.clock.spend(time.monotonic() - started)

    def _check_ref(self, ref: ModelRef) -> None:
        if ref.generation != self.generation:
            raise SandboxFailure("crash", f"{ref.label} was lost: the process running your code was restarted")

    def build(self, class_name: str, kwargs: dict, seed: int = 0) -> ModelRef:
        label = describe_model(class_name, kwargs)
        handle = self._request("build", {"class_name": class_name, "kwargs": dict(kwargs), "seed": int(seed)},
                               f"creating {label}")
        if not isinstance(handle, int) or isinstance(handle, bool):
            raise SandboxFailure("protocol", "the sandbox sent a malformed model handle")
        return ModelRef(handle, self.generation, class_name, label)

    def release(self, ref: ModelRef) -> None:
        if ref.generation == self.generation and self.sandbox is not None:
            self._request("release", {"handle": ref.handle}, f"releasing {ref.label}")

    def parameters(self, ref: ModelRef) -> list[ParamInfo]:
        self._check_ref(ref)
        return _param_infos(self._request("parameters", {"handle": ref.handle},
                                          f"calling {ref.label}.named_parameters()"))

    def state_dict(self, ref: ModelRef) -> dict[str, torch.Tensor]:
        self._check_ref(ref)
        return _tensor_dict(self._request("state_dict", {"handle": ref.handle}, f"calling {ref.label}.state_dict()"),
                            "state_dict")

    def load_state_dict(self, ref: ModelRef, state: dict[str, torch.Tensor]) -> None:
        self._check_ref(ref)
        self._request("load_state_dict", {"handle": ref.handle, "state": dict(state)},
                      f"calling {ref.label}.load_state_dict()")

    def forward(self, ref: ModelRef, x: torch.Tensor, train: bool = False, grad: bool = False) -> torch.Tensor:
        self._check_ref(ref)
        during = f"running {ref.label} on a {shape_text(x.shape)} input ({'train' if train else 'eval'} mode)"
        args = {"handle": ref.handle, "x": x, "train": bool(train), "grad": bool(grad)}
        return _tensor(self._request("forward", args, during), "the output")

    def gradients(self, ref: ModelRef, x: torch.Tensor, grad_output: torch.Tensor) -> dict[str, torch.Tensor | None]:
        self._check_ref(ref)
        during = f"running backward through {ref.label} on a {shape_text(x.shape)} input"
        return _tensor_dict(self._request("gradients", {"handle": ref.handle, "x": x, "grad_output": grad_output},
                                          during), "gradients", allow_none=True)

    def record(self, ref: ModelRef, x: torch.Tensor, train: bool = False) -> dict:
        self._check_ref(ref)
        during = f"recording what each submodule of {ref.label} receives and returns"
        return recording(self._request("record", {"handle": ref.handle, "x": x, "train": bool(train)}, during))

    # -------------------------------------------------------------------------- short training
    def prefetch_training(self, jobs: list[tuple[str, dict, int]], images, labels, budget: dict,
                          sandbox: Sandbox | None = None) -> None:
        """Run these short trainings now, in a second sandbox (``sandbox`` if already started), while the
        other checks run. ``short_train`` later returns (or raises) the prefetched result of the same job.
        """
        self.training = TrainingRun(self, sandbox)
        self.training.start(jobs, images, labels, budget)

    def short_train(self, class_name: str, kwargs: dict, seed: int, images: torch.Tensor, labels: torch.Tensor,
                    budget: dict) -> dict[str, torch.Tensor]:
        future = self.training.future(class_name, kwargs, seed, budget) if self.training is not None else None
        if future is not None:
            deadline, limit = self.clock.deadline()
            try:
                return future.result(timeout=None if self.clock.submission_deadline is None
                                     else max(0.0, self.clock.submission_deadline - time.monotonic()) + 1)
            except FutureTimeout:
                raise SandboxFailure("budget", f"the short training did not finish within {limit}") from None
        label = describe_model(class_name, kwargs)
        state = self._request("short_train", {"class_name": class_name, "kwargs": dict(kwargs), "seed": int(seed),
                                              "images": images, "labels": labels, **budget},
                              f"running the short training of {label}")
        return _tensor_dict(state, "state_dict")

    # -------------------------------------------------------------------------- feedback
    def captured_output(self) -> tuple[str, int]:
        """Everything the submission printed (capped per child) and the number of bytes dropped."""
        parts = list(self.outputs)
        if self.sandbox is not None:
            parts.append(self.sandbox.output())
        return "".join(text for text, _ in parts), sum(dropped for _, dropped in parts)


class LocalSubject:
    """The submission's classes called in this very process (the otter path: no isolation, no limits)."""

    def __init__(self, module, config=None, models_path: str | None = None):
        self.module = module
        self.config = config
        self.ops = Operations(module, models_path or getattr(module, "__file__", "models.py"))
        self.events: list[str] = []

    def begin(self) -> None:
        pass

    def close(self) -> None:
        pass

    def start_check(self, seconds: float | None) -> None:
        pass

    def end_check(self) -> None:
        pass

    def _call(self, during: str, op: str, **args):
        try:
            return self.ops.call(op, args)
        except StudentError as error:
            raise StudentCodeError(error.kind, error.message, during) from None

    def build(self, class_name: str, kwargs: dict, seed: int = 0) -> ModelRef:
        label = describe_model(class_name, kwargs)
        handle = self._call(f"creating {label}", "build", class_name=class_name, kwargs=dict(kwargs), seed=int(seed))
        return ModelRef(handle, 0, class_name, label)

    def release(self, ref: ModelRef) -> None:
        self.ops.release(ref.handle)

    def parameters(self, ref: ModelRef) -> list[ParamInfo]:
        return _param_infos(self._call(f"calling {ref.label}.named_parameters()", "parameters", handle=ref.handle))

    def state_dict(self, ref: ModelRef) -> dict[str, torch.Tensor]:
        return self._call(f"calling {ref.label}.state_dict()", "state_dict", handle=ref.handle)

    def load_state_dict(self, ref: ModelRef, state: dict[str, torch.Tensor]) -> None:
        self._call(f"calling {ref.label}.load_state_dict()", "load_state_dict", handle=ref.handle,
                   state={k: v.clone() for k, v in state.items()})

    def forward(self, ref: ModelRef, x: torch.Tensor, train: bool = False, grad: bool = False) -> torch.Tensor:
        during = f"running {ref.label} on a {shape_text(x.shape)} input ({'train' if train else 'eval'} mode)"
        return self._call(during, "forward", handle=ref.handle, x=x.clone(), train=train, grad=grad)

    def gradients(self, ref: ModelRef, x: torch.Tensor, grad_output: torch.Tensor) -> dict[str, torch.Tensor | None]:
        during = f"running backward through {ref.label} on a {shape_text(x.shape)} input"
        return self._call(during, "gradients", handle=ref.handle, x=x.clone(), grad_output=grad_output.clone())

    def record(self, ref: ModelRef, x: torch.Tensor, train: bool = False) -> dict:
        during = f"recording what each submodule of {ref.label} receives and returns"
        return self._call(during, "record", handle=ref.handle, x=x.clone(), train=train)

    def short_train(self, class_name: str, kwargs: dict, seed: int, images: torch.Tensor, labels: torch.Tensor,
                    budget: dict) -> dict[str, torch.Tensor]:
        label = describe_model(class_name, kwargs)
        return self._call(f"running the short training of {label}", "short_train", class_name=class_name,
                          kwargs=dict(kwargs), seed=int(seed), images=images, labels=labels, **budget)

    def captured_output(self) -> tuple[str, int]:
        return "", 0
