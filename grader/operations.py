"""What the grader can ask of a submission: build a model, run it, read and load its weights, train it.

One implementation serves both runners: the sandboxed child (grader/sandbox/child.py, which copies
this file next to the student's models.py) calls it on the submission it imported, and
``grader.subject.LocalSubject`` (the otter path) calls it in-process. Results are plain CPU tensors
and Python values; every exception raised by the student's code is turned into a
:class:`StudentError` whose message is written for the student (their own traceback frames only).

Standalone on purpose: imports nothing but the standard library, torch and two standalone modules of
the lab (assignment/recorder.py and assignment/precision.py, copied beside it as ``selab_*.py``).
"""

from __future__ import annotations

import math
import traceback
from collections import OrderedDict

import torch
import torch.nn.functional as F

try:  # the sandboxed child: these are copied beside this file (grader/sandbox/process.py RUNTIME_FILES)
    import selab_precision as mixed_precision
    import selab_recorder as recorder
except ImportError:  # in-process (grader.subject.LocalSubject): the lab's own modules
    from assignment import precision as mixed_precision
    from assignment import recorder

CLASS_NAMES = ("CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention")
MAX_MODELS = 8  # models kept alive at once; checks never need more than two
MAX_MESSAGE = 1500
MAX_HOOKED = 200  # submodules a recording hooks (the lab's networks have about 15)
#: The key of the input's gradient in a gradients reply (no parameter is named so: not an identifier).
INPUT_GRADIENT = "<input>"


def seed_cpu(seed: int) -> None:
    """Seed the CPU generator, the only one grading uses (same numbers as ``torch.manual_seed``).

    Why not ``torch.manual_seed``: on a CUDA build without a GPU it also queues a CUDA seeding that
    formats the caller's stack (``torch.cuda._lazy_call``): a grading seeds 171 times from 60-120
    frames deep (pytest + hypothesis), 0.1-0.7 CPU-s of formatting for nothing.
    """
    torch.default_generator.manual_seed(int(seed))


class StudentError(Exception):
    """The student's code raised (or returned something unusable); ``kind`` classifies it."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "not_implemented" | "exception" | "memory" | "bad_return" | "missing"
        self.message = message

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message}


def _trim(text: str, limit: int = MAX_MESSAGE) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def student_frames(tb, models_path: str) -> list[str]:
    """The traceback frames that lie in the student's models.py, formatted with the short name."""
    lines = []
    for frame in traceback.extract_tb(tb):
        if frame.filename == models_path:
            code = f"\n    {frame.line.strip()}" if frame.line else ""
            lines.append(f'  File "models.py", line {frame.lineno}, in {frame.name}{code}')
    return lines[-8:]


def describe(error: BaseException, models_path: str) -> StudentError:
    """Turn an exception raised by the student's code into a :class:`StudentError`."""
    if isinstance(error, StudentError):
        return error
    text = _safe_str(error)
    frames = student_frames(error.__traceback__, models_path)
    where = ("\n" + "\n".join(frames)) if frames else ""
    if isinstance(error, NotImplementedError):
        if not text.startswith("not implemented yet"):
            text = f"not implemented yet: {text or 'NotImplementedError'}"
        return StudentError("not_implemented", _trim(text) + where)
    if isinstance(error, MemoryError) or "can't allocate memory" in text or "not enough memory" in text:
        return StudentError("memory", _trim(f"{type(error).__name__}: {text}") + where)
    if isinstance(error, SyntaxError) and not frames:
        detail = "".join(traceback.format_exception_only(type(error), error)).replace(models_path, "models.py")
        return StudentError("exception", _trim(detail.rstrip()))
    if isinstance(error, SystemExit):
        return StudentError("exception", f"your code called sys.exit({text}) / raised SystemExit{where}")
    return StudentError("exception", _trim(f"{_safe_type_name(error)}: {text}") + where)


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # a student exception whose __str__ itself raises
        return "<exception message could not be shown>"


def _safe_type_name(error: BaseException) -> str:
    try:
        return type(error).__name__
    except Exception:
        return "Exception"


def _plain(value, what: str, float_only: bool = True) -> torch.Tensor:
    """A detached, contiguous, plain CPU ``torch.Tensor`` copy of ``value`` (subclasses are stripped).

    Dtypes are narrowed to what the wire format carries: float32/float64, and for state_dict
    entries also int64 and bool (other integer or float types are converted).
    """
    if not isinstance(value, torch.Tensor):
        raise StudentError("bad_return", f"{what} is a {type(value).__name__}, expected a torch.Tensor")
    with torch.no_grad():
        tensor = torch.Tensor.as_subclass(value, torch.Tensor).detach().cpu()
        if tensor.dtype not in (torch.float32, torch.float64):
            if float_only or tensor.is_complex():
                raise StudentError("bad_return", f"{what} is a tensor of dtype {tensor.dtype}, expected float32")
            if tensor.is_floating_point():
                tensor = tensor.float()
            elif tensor.dtype != torch.bool:
                tensor = tensor.long()
        return tensor.contiguous().clone()


def _input(array) -> torch.Tensor:
    tensor = torch.as_tensor(array)
    return tensor.clone() if tensor.is_floating_point() else tensor.float()


class Operations:
    """The submission seen through the operations the checks need; handles are small integers."""

    def __init__(self, module, models_path: str):
        self.module = module
        self.models_path = models_path
        self.models: OrderedDict[int, torch.nn.Module] = OrderedDict()
        self.next_handle = 1
        self.stored: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # -- helpers --------------------------------------------------------------------------------
    def _class(self, class_name: str):
        if class_name not in CLASS_NAMES:
            raise ValueError(f"unknown class {class_name!r}")
        cls = getattr(self.module, class_name, None)
        if cls is None:
            raise StudentError("missing", f"models.py has no class named {class_name}")
        return cls

    def _model(self, handle: int) -> torch.nn.Module:
        model = self.models.get(handle)
        if model is None:
            raise ValueError(f"unknown model handle {handle}")
        self.models.move_to_end(handle)
        return model

    def _call(self, what: str, function, *args, **kwargs):
        """Run student code; anything it raises becomes a StudentError naming ``what`` was running."""
        try:
            return function(*args, **kwargs)
        except StudentError:
            raise
        except BaseException as error:  # noqa: B902 - SystemExit/KeyboardInterrupt from student code too
            raise describe(error, self.models_path) from None

    # -- operations -----------------------------------------------------------------------------
    def build(self, class_name: str, kwargs: dict, seed: int) -> int:
        """``class_name(**kwargs)`` created right after seeding with ``seed`` (:func:`seed_cpu`)."""
        cls = self._class(class_name)
        seed_cpu(seed)
        model = self._call(f"{class_name}(...)", cls, **kwargs)
        if not isinstance(model, torch.nn.Module):
            raise StudentError("bad_return", f"{class_name}(...) is not a torch.nn.Module")
        handle = self.next_handle
        self.next_handle += 1
        self.models[handle] = model
        while len(self.models) > MAX_MODELS:
            self.models.popitem(last=False)
        return handle

    def release(self, handle: int) -> None:
        self.models.pop(handle, None)

    def state_dict(self, handle: int) -> dict[str, torch.Tensor]:
        model = self._model(handle)
        state = self._call("state_dict()", model.state_dict)
        return {str(key): _plain(value, f"state_dict()[{key!r}]", float_only=False) for key, value in state.items()}

    def parameters(self, handle: int) -> list[dict]:
        """``named_parameters()`` as plain data: name, shape and requires_grad."""
        model = self._model(handle)
        named = self._call("named_parameters()", lambda: list(model.named_parameters()))
        return [{"name": str(name), "shape": [int(d) for d in p.shape], "requires_grad": bool(p.requires_grad)}
                for name, p in named]

    def load_state_dict(self, handle: int, state: dict) -> None:
        """``load_state_dict(state, strict=True)``; a mismatch is the student's error."""
        model = self._model(handle)
        tensors = {key: torch.as_tensor(value).clone() for key, value in state.items()}
        self._call("load_state_dict(...)", model.load_state_dict, tensors, strict=True)

    def forward(self, handle: int, x, train: bool, grad: bool) -> torch.Tensor:
        model = self._model(handle)
        x = _input(x)
        self._call("train()/eval()", model.train, bool(train))
        with torch.set_grad_enabled(bool(grad)):
            out = self._call("forward", model, x)
        return _plain(out, "forward")

    def gradients(self, handle: int, x, grad_output) -> dict[str, torch.Tensor | None]:
        """Gradients of ``sum(forward(x) * grad_output)`` w.r.t. every parameter and the input, in train mode.

        The input's gradient (key ``INPUT_GRADIENT``) catches a path cut inside the model (e.g. a detached
        squeeze) that leaves every parameter's gradient intact. forward gets a copy of the leaf, so a
        forward that works in place on its input still runs.
        """
        model = self._model(handle)
        x, grad_output = _input(x).detach().requires_grad_(True), _input(grad_output)
        self._call("train()", model.train, True)
        self._call("zero_grad()", model.zero_grad, set_to_none=True)

        def backward():
            with torch.enable_grad():
                out = model(x.clone())
                if not isinstance(out, torch.Tensor):
                    raise StudentError("bad_return", f"forward returned {type(out).__name__}, expected a torch.Tensor")
                if tuple(out.shape) != tuple(grad_output.shape):
                    raise StudentError("bad_return", f"forward returned shape {tuple(out.shape)}, "
                                                     f"expected {tuple(grad_output.shape)}")
                if not out.requires_grad:
                    return
                (out * grad_output.to(out.dtype)).sum().backward()

        self._call("forward/backward", backward)
        named = self._call("named_parameters()", lambda: list(model.named_parameters()))
        grads = {str(name): None if p.grad is None else _plain(p.grad, f"gradient of {name}") for name, p in named}
        grads[INPUT_GRADIENT] = None if x.grad is None else _plain(x.grad, "gradient of the input")
        return grads

    def record(self, handle: int, x, train: bool) -> dict:
        """One forward pass with hooks on every named submodule: what each received and returned.

        ``{"order": [names in call order], "types": {name: class name}, "inputs": {name: tensor},
        "outputs": {name: tensor}}``, first call of each module only, the network's own output under
        the name "" (its input is ``x``). Only names and plain tensors: the parent compares them with
        the reference's (assignment/localise.py) to say where the two first part.
        """
        model = self._model(handle)
        x = _input(x)
        named = self._call("named_modules()", lambda: list(model.named_modules()))[:MAX_HOOKED]

        def plain(value):
            tensor = recorder.first_tensor(value)
            return None if tensor is None or tensor.is_complex() else _plain(tensor.float(), "a recorded tensor")

        with recorder.hooked(named, plain) as recording:
            self._call("train()/eval()", model.train, bool(train))
            with torch.no_grad():
                out = self._call("forward", model, x)
        recording["outputs"][""] = _plain(out, "forward")
        return recording

    def store(self, key: str, images, labels) -> None:
        """Keep training data under ``key``, so several trainings need only one transfer of it."""
        self.stored[str(key)] = (_input(images).contiguous(memory_format=torch.channels_last),
                                 torch.as_tensor(labels).long())

    def short_train(self, class_name: str, kwargs: dict, seed: int, images, labels, epochs: int, batch_size: int,
                    learning_rate: float, weight_decay: float, precision: str = "fp32") -> dict[str, torch.Tensor]:
        """Train a fresh ``class_name(**kwargs)`` (seeded) with AdamW + one-cycle; return its state_dict.

        ``images`` and ``labels`` are the data, or ``images`` is the key of data kept by :meth:`store`.
        ``precision`` is the forward pass's arithmetic (assignment/precision.py; "auto": bf16 autocast
        where this CPU has native bf16, as the lab's own training loop does).
        """
        if isinstance(images, str):
            if images not in self.stored:
                raise ValueError(f"no stored training data {images!r}")
            images, labels = self.stored[images]
        else:
            images, labels = _input(images), torch.as_tensor(labels).long()
        handle = self.build(class_name, kwargs, seed)
        model = self._model(handle)
        try:
            return self._call("the short training", self._train, model, images, labels, int(seed), int(epochs),
                              int(batch_size), float(learning_rate), float(weight_decay), str(precision), handle)
        finally:
            self.release(handle)

    def _train(self, model, images, labels, seed, epochs, batch_size, learning_rate, weight_decay, arithmetic, handle):
        images = images.contiguous(memory_format=_fastest_layout(model, images[:2]))
        arithmetic = _usable_precision(model, images[:2], arithmetic)
        seed_cpu(seed)
        parameters = [p for p in model.parameters() if p.requires_grad]
        if not parameters:
            raise StudentError("bad_return", "the model has no trainable parameters")
        optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
        steps = epochs * math.ceil(len(labels) / batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=steps)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(labels), generator=generator)
            for start in range(0, len(labels), batch_size):
                index = order[start:start + batch_size]
                with mixed_precision.training_precision(model, arithmetic, "cpu"):
                    logits = model(images[index])
                if not isinstance(logits, torch.Tensor) or logits.shape != (len(index), 10):
                    raise StudentError("bad_return", "forward did not return [batch, 10] logits during training")
                loss = F.cross_entropy(logits, labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
        return self.state_dict(handle)

    def call(self, op: str, args: dict):
        """Dispatch a request by name (the child's server loop and LocalSubject both use this)."""
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}")
        return getattr(self, op)(**args)


def _fastest_layout(model, sample) -> torch.memory_format:
    """channels_last (oneDNN runs these convs ~2x faster) unless the student's forward needs contiguous
    tensors, as the lab text's own ``x.view(x.size(0), -1)`` does: correct code must not lose points."""
    model.to(memory_format=torch.channels_last)
    try:
        with torch.no_grad():
            model(sample.contiguous(memory_format=torch.channels_last))
        return torch.channels_last
    except RuntimeError:
        model.to(memory_format=torch.contiguous_format)
        return torch.contiguous_format


def _usable_precision(model, sample, wanted: str) -> str:
    """``wanted`` resolved for this CPU ("bf16" or "fp32"), or "fp32" where the student's forward and
    backward do not run under bf16 autocast (code that mixes dtypes by hand, e.g. writing bf16 results
    into a float32 buffer it made itself): correct code must not lose points to the grader's speed-up."""
    arithmetic = mixed_precision.resolve_precision(wanted, torch.device("cpu"))
    if arithmetic == "fp32":
        return arithmetic
    try:
        with mixed_precision.training_precision(model, arithmetic, "cpu"):
            out = model(sample)
        torch.autograd.grad(out.float().sum(), [p for p in model.parameters() if p.requires_grad], allow_unused=True)
        return arithmetic
    except Exception:  # noqa: BLE001 - any failure here: train in fp32, where the student's own errors surface
        return "fp32"


OPERATIONS = ("build", "release", "state_dict", "parameters", "load_state_dict", "forward", "gradients",
              "record", "store", "short_train")
