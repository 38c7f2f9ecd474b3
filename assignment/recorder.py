"""Hooks that record what each named submodule of a network received and returned in one forward pass.

Standalone on purpose (the standard library and torch only): the public tests' localisation
(assignment/localise.py) imports it, and the grader's sandbox copies it beside its runtime as
``selab_recorder.py`` (grader/sandbox/process.py, RUNTIME_FILES) for grader/operations.py: one recorder
for both, so the student's and the grader's explanations see the same thing.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch


def first_tensor(value):
    """``value`` if it is a tensor, else the first tensor of a tuple or list (None if there is none)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    return None


@contextmanager
def hooked(named_modules: list, keep: Callable) -> Iterator[dict]:
    """Hooks on every (name, module) pair while the block runs its forward pass; yields the recording.

    ``{"order": [names in call order], "types": {name: class name}, "inputs": {name: keep(args)},
    "outputs": {name: keep(output)}}``, first call of each module only. The caller adds the network's
    own output under the name "". The hooks are removed when the block ends, raised or not.
    """
    recording = {"order": [], "types": {}, "inputs": {}, "outputs": {}}
    order, types, inputs, outputs = recording["order"], recording["types"], recording["inputs"], recording["outputs"]
    hooks = []
    for name, module in named_modules:
        if not name or not isinstance(module, torch.nn.Module):
            continue
        name = str(name)

        def before(module, args, name=name):
            if name not in types:
                order.append(name)
                types[name] = type(module).__name__[:60]
                inputs[name] = keep(args)

        def after(module, args, output, name=name):
            if name not in outputs:
                outputs[name] = keep(output)

        hooks += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        yield recording
    finally:
        for hook in hooks:
            hook.remove()
