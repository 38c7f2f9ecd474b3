"""The differential check that calls a surviving mutant *equivalent*: provably the same network.

Run in its own process (``python -m grader.mutants.equivalence REFERENCE MUTANT CLASS``, one JSON line
out) so that nothing it imports or seeds leaks into the grading. A mutant is equivalent to the
reference for a class only when, for every constructor layout the lab uses:

1. built from the same seed, it has the reference's ``state_dict`` (keys, shapes *and* values): a
   mutant that only changes initialisation changes what training does, so it is *not* equivalent;
2. loaded strictly with the same weights (its initial ones, then random ones of a larger scale),
   it gives the reference's outputs, input gradients and parameter gradients, in train and eval
   mode, on many random inputs (batch sizes 1 to 5, several scales), within the grader's tolerance.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

from assignment.spec import CLASS_NAMES, DEFAULT_REDUCTION, INPUT_CONFIGS
from assignment.tolerance import close
from grader.config import load_config
from grader.mutants.operators import MODULE
from grader.operations import seed_cpu

INPUTS_PER_LAYOUT = 12


def layouts(class_name: str) -> list[tuple[dict, tuple[int, ...]]]:
    """(constructor kwargs, input shape without the batch) for every layout the lab grades."""
    if class_name == "SEBlock":
        return [({"channels": c, "reduction": r}, (c, s, s)) for c, r, s in ((32, DEFAULT_REDUCTION, 14),
                                                                            (64, DEFAULT_REDUCTION, 7), (8, 3, 5))]
    out = []
    for in_channels, size, heads in INPUT_CONFIGS:
        kwargs = {"in_channels": in_channels, "image_size": size}
        if class_name == "CNN_SelfAttention":
            kwargs["num_heads"] = heads
        out.append((kwargs, (in_channels, size, size)))
    return out


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(model: torch.nn.Module, x: torch.Tensor, weight: torch.Tensor, train: bool, seed: int):
    """Output, input gradient and parameter gradients of ``(model(x) * weight).sum()``."""
    model.train(train)
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    seed_cpu(seed)  # same randomness in both (dropout, if a mutant adds one)
    out = model(x)
    if out.shape != weight.shape:
        return out, None, {}
    (out * weight).sum().backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    return out.detach(), x.grad, grads


def _differs(a, b, rtol: float, atol: float) -> bool:
    if (a is None) != (b is None):
        return True
    return a is not None and (a.shape != b.shape or not close(a, b, rtol=rtol, atol=atol))


def compare(reference, mutant, class_name: str, rtol: float, atol: float) -> str | None:
    """None when ``mutant.<class_name>`` is the same network as the reference's, else why not."""
    for kwargs, shape in layouts(class_name):
        seed_cpu(0)
        ref = getattr(reference, class_name)(**kwargs)
        seed_cpu(0)
        try:
            mut = getattr(mutant, class_name)(**kwargs)
        except Exception as error:  # noqa: BLE001 - a mutant that cannot be built is not equivalent
            return f"{kwargs}: construction fails ({type(error).__name__}: {error})"
        ref_state, mut_state = ref.state_dict(), mut.state_dict()
        if list(ref_state) != list(mut_state) or any(ref_state[k].shape != mut_state[k].shape for k in ref_state):
            return f"{kwargs}: state_dict layout differs"
        changed = [k for k in ref_state if not torch.equal(ref_state[k], mut_state[k])]
        if changed:
            return f"{kwargs}: initialisation differs from the same seed ({changed[0]})"
        generator = torch.Generator().manual_seed(1)
        for weights in ("initial", "random"):
            if weights == "random":
                state = {k: torch.randn(v.shape, generator=generator) * 0.5 for k, v in ref_state.items()}
                ref.load_state_dict(state, strict=True)
                mut.load_state_dict(state, strict=True)
            for i in range(INPUTS_PER_LAYOUT):
                batch = 1 + i % 5
                scale = (0.1, 1.0, 3.0)[i % 3]
                x = torch.randn((batch, *shape), generator=generator) * scale + (i % 4 == 0)
                with torch.no_grad():
                    expected_shape = ref(x).shape
                weight = torch.randn(expected_shape, generator=generator)
                for train in (True, False):
                    try:
                        got = _run(mut, x, weight, train, seed=i)
                    except Exception as error:  # noqa: BLE001
                        return f"{kwargs}: forward fails ({type(error).__name__}: {error})"
                    want = _run(ref, x, weight, train, seed=i)
                    mode = "train" if train else "eval"
                    if _differs(got[0], want[0], rtol, atol):
                        return f"{kwargs}, {weights} weights, {mode} mode, input {tuple(x.shape)}: outputs differ"
                    if _differs(got[1], want[1], rtol, atol):
                        return f"{kwargs}, {weights} weights, {mode} mode: input gradients differ"
                    for name, grad in want[2].items():
                        if _differs(got[2].get(name), grad, rtol, atol):
                            return f"{kwargs}, {weights} weights, {mode} mode: gradient of {name} differs"
    return None


def check(reference_path: Path, mutant_path: Path, class_name: str) -> dict:
    """{"equivalent": bool, "reason": str}: for a "(module)" mutant every class must be the same."""
    config = load_config()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        reference, mutant = _load(reference_path, "selab_reference"), _load(mutant_path, "selab_mutant")
    except Exception as error:  # noqa: BLE001
        return {"equivalent": False, "reason": f"import fails ({type(error).__name__}: {error})"}
    for name in CLASS_NAMES if class_name == MODULE else (class_name,):
        reason = compare(reference, mutant, name, config.rtol, config.atol)
        if reason is not None:
            return {"equivalent": False, "reason": f"{name}: {reason}"}
    return {"equivalent": True, "reason": "same initialisation, outputs and gradients (train and eval mode)"}


def main(argv: list[str]) -> int:
    reference, mutant, class_name = argv
    print(json.dumps(check(Path(reference), Path(mutant), class_name)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
