"""Feedback that says where a network parts from the reference, the likely cause, and only once per cause.

When an equivalence check fails, the same input runs once more through the student's model (in the
child, ``subject.record``) and the reference (here, with the same recorder, grader/operations.py),
with hooks on every named submodule; ``assignment.localise.first_departure`` (the helper students
get too) names the first module whose input or output differs. A gradient that differs while the
forward agrees is placed at the first module, in backward order, whose parameters' gradient differs.
Hints (grader/hidden/hints.toml) are added where a predicate below finds specific evidence.
A later check of the same class failing at the same module points to the first one instead of
repeating it (points are unchanged: this only writes text).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

import torch

from assignment.localise import Departure, differs, first_departure
from grader.operations import INPUT_GRADIENT

HINTS_PATH = Path(__file__).resolve().parent / "hidden" / "hints.toml"


@lru_cache(maxsize=1)
def hints() -> dict[str, dict]:
    """The hints, by evidence name: ``text`` (with {module}), ``proof`` (the corpus entry it fires on)."""
    with open(HINTS_PATH, "rb") as handle:
        table = tomllib.load(handle)
    unknown = {name for name in set(table) - set(EVIDENCE) - set(LAYOUT_EVIDENCE) if table[name].get("kind") != "error"}
    if unknown:
        raise ValueError(f"{HINTS_PATH.name}: no evidence predicate for {sorted(unknown)}")
    return table


def reference_recording(model: torch.nn.Module, x: torch.Tensor, train: bool) -> dict:
    """The reference's recording, made by the very recorder the child uses on the student's model."""
    from grader.operations import Operations

    operations = Operations(None, "reference")
    operations.models[1] = model
    return operations.record(1, x, train)


# ------------------------------------------------------------------------------------------ evidence
def _close(a, b, context: dict) -> bool:
    """The evidence holds: ``a`` agrees with ``b`` by the one rule, under this grading's tolerance
    (``context["config"]``, put there by :func:`hints_for`)."""
    config = context["config"]
    return a is not None and b is not None and not differs(a, b, config.atol, config.rtol)


def _sums_to_one(rows, context: dict) -> bool:
    return _close(rows.double().sum(1), torch.ones(len(rows), dtype=torch.float64), context)


def _gates_of(dep: Departure, theirs: dict):
    """The reference's SE gates [B, C] for an SE block (``se1``, or the SEBlock itself at ``forward``)."""
    prefix = "" if dep.module == "forward" else dep.module + "."
    return theirs["outputs"].get(prefix + "fc")


def _se_io(dep: Departure, yours: dict):
    name = "" if dep.module == "forward" else dep.module
    x, out = yours["inputs"].get(name), yours["outputs"].get(name)
    return (x, out) if x is not None and out is not None and x.dim() == 4 and x.shape == out.shape else (None, None)


def _softmax_gates(dep, yours, theirs, context):
    out = dep.observed
    return (dep.where == "output" and out is not None and out.dim() == 2  # C = 1: a sigmoid never gives 1
            and _sums_to_one(out, context))


def _no_sigmoid(dep, yours, theirs, context):
    return dep.where == "missing" and theirs["types"].get(dep.module) == "Sigmoid"


def _additive_gates(dep, yours, theirs, context):
    gates, (x, out) = _gates_of(dep, theirs), _se_io(dep, yours)
    return (dep.where == "output" and gates is not None and x is not None
            and _close(out, x + gates[:, :, None, None], context))


def _batch_shared_gates(dep, yours, theirs, context):
    gates, (x, out) = _gates_of(dep, theirs), _se_io(dep, yours)
    return (dep.where == "output" and gates is not None and x is not None and len(x) > 1
            and _close(out, x * gates.mean(0)[None, :, None, None], context))


def _max_squeeze(dep, yours, theirs, context):
    x = yours["inputs"].get(dep.module)
    return (dep.where == "output" and x is not None and x.dim() == 4 and dep.observed is not None
            and _close(dep.observed.flatten(), x.amax((2, 3)).flatten(), context))


def _after_pool(dep, yours, theirs, context):
    o, e = dep.observed, dep.expected
    return (dep.where == "input" and o is not None and e is not None and o.dim() == e.dim() == 4
            and o.shape[:2] == e.shape[:2] and o.shape[2] == 2 * e.shape[2])


def _tokens_are_channels(dep, yours, theirs, context):
    o, e = dep.observed, dep.expected
    return (dep.where == "input" and theirs["types"].get(dep.module) == "MultiheadAttention" and o is not None
            and e is not None and o.dim() == e.dim() == 3
            and (o.shape[1] != e.shape[1] or _close(o.transpose(1, 2), e, context)))


def _no_residual(dep, yours, theirs, context):
    attended = theirs["outputs"].get("attn")
    return (dep.where == "input" and attended is not None and dep.observed is not None
            and _close(dep.observed.flatten(1), attended.flatten(1), context))


def _reordered(dep, yours, theirs, context):
    o, e = dep.observed, dep.expected
    return (dep.where == "input" and o is not None and e is not None and o.shape == e.shape and o.dim() >= 2
            and _close(o.flatten(1).sort(1).values, e.flatten(1).sort(1).values, context))


def _residual_gates(dep, yours, theirs, context):
    gates, (x, out) = _gates_of(dep, theirs), _se_io(dep, yours)
    return (dep.where == "output" and gates is not None and x is not None
            and _close(out, x + x * gates[:, :, None, None], context))


def _hard_sigmoid(dep, yours, theirs, context):
    x = yours["inputs"].get(dep.module)
    return (dep.where == "output" and theirs["types"].get(dep.module) == "Sigmoid" and x is not None
            and _close(dep.observed, torch.nn.functional.hardsigmoid(x), context))


def _relu_on_logits(dep, yours, theirs, context):
    return (dep.module == "forward" and dep.observed is not None and dep.expected is not None
            and _close(dep.observed, dep.expected.clamp(min=0), context))


def _is_attention(dep, theirs) -> bool:
    o, e = dep.observed, dep.expected
    return (dep.where == "output" and theirs["types"].get(dep.module) == "MultiheadAttention" and o is not None
            and e is not None and o.dim() == 3 and o.shape == e.shape)


def _causal_mask(dep, yours, theirs, context):
    # With a causal mask token i sees tokens 0..i only: the last token, which sees all, still agrees.
    o, e = dep.observed, dep.expected
    return (_is_attention(dep, theirs) and o.shape[1] > 1 and _close(o[:, -1], e[:, -1], context)
            and not _close(o[:, 0], e[:, 0], context))


def _sequence_first(dep, yours, theirs, context):
    reference, x = context.get("reference"), yours["inputs"].get(dep.module)
    if not _is_attention(dep, theirs) or reference is None or x is None or x.dim() != 3:
        return False
    attention = reference.get_submodule(dep.module)  # batch_first=True: fed [64, B, E], it mixes the samples
    with torch.no_grad():
        across_batch = attention(*(x.transpose(0, 1),) * 3, need_weights=False)[0].transpose(0, 1)
    return _close(dep.observed, across_batch, context)


def _log_probabilities(dep, yours, theirs, context):
    out = dep.observed
    return (dep.module == "forward" and out is not None and out.dim() == 2
            and _sums_to_one(out.double().exp(), context))


def _train_only(dep, yours, theirs, context):
    return bool(context.get("eval_agrees"))


def _detached(dep, yours, theirs, context):
    return dep.where == "gradient" and dep.observed is None


def _partly_detached(dep, yours, theirs, context):
    return dep.where == "gradient" and dep.observed is not None


EVIDENCE = {"softmax_gates": _softmax_gates, "no_sigmoid": _no_sigmoid, "additive_gates": _additive_gates,
            "batch_shared_gates": _batch_shared_gates, "max_squeeze": _max_squeeze, "after_pool": _after_pool,
            "tokens_are_channels": _tokens_are_channels, "no_residual": _no_residual, "reordered": _reordered,
            "log_probabilities": _log_probabilities, "train_only": _train_only, "detached": _detached,
            "partly_detached": _partly_detached, "residual_gates": _residual_gates, "hard_sigmoid": _hard_sigmoid,
            "relu_on_logits": _relu_on_logits, "causal_mask": _causal_mask, "sequence_first": _sequence_first}


# ------------------------------------------------------------------------------------------ layout evidence
# A layout that cannot be matched with the lab's (grader/layout.py) is explained in the layout check only;
# these predicates read the two state_dict layouts (key -> shape) and return the module(s) to name, or "".
def _paper_ratio(class_name: str, kwargs: dict, expected: dict, observed: dict) -> str:
    reduction = kwargs.get("reduction", 16)
    found = [key.rsplit(".", 2)[0] for key, shape in expected.items() if key.endswith("fc.0.weight")
             and observed.get(key) == (shape[1] // reduction, shape[1]) and shape[1] // reduction != shape[0]]
    return ", ".join(found)


def _excitation_bias(class_name: str, kwargs: dict, expected: dict, observed: dict) -> str:
    extra = [key for key in observed if key not in expected]
    owners = [key.removesuffix(".bias") for key in extra
              if key.endswith(".bias") and key.removesuffix(".bias") + ".weight" in expected]
    return ", ".join(owners) if extra and len(owners) == len(extra) else ""


LAYOUT_EVIDENCE = {"paper_ratio": _paper_ratio, "excitation_bias": _excitation_bias}


def error_hints(message: str, config) -> list[str]:
    """The likely causes of an error the student's code raised, where torch's message is specific
    (hints of kind "error": their ``match`` is a piece of that message)."""
    if not (config.feedback or {}).get("hints", True):
        return []
    return [hint["text"] for hint in hints().values() if hint.get("kind") == "error" and hint["match"] in message]


def layout_hints(class_name: str, kwargs: dict, expected: dict, observed: dict, config) -> list[str]:
    """The likely causes (texts) of a layout that differs from the lab's, where the shapes show one."""
    if not (config.feedback or {}).get("hints", True):
        return []
    texts = []
    for name, predicate in LAYOUT_EVIDENCE.items():
        module = predicate(class_name, kwargs, expected, observed) if name in hints() else ""
        if module:
            texts.append(hints()[name]["text"].format(module=module))
    return texts


def hints_for(dep: Departure, yours: dict, theirs: dict, config, context: dict | None = None) -> list[str]:
    """The names of the hints whose evidence holds for this departure (judged under ``config``'s tolerance)."""
    context = {**(context or {}), "config": config}
    found = []
    for name in (name for name in hints() if name in EVIDENCE):
        try:
            if EVIDENCE[name](dep, yours, theirs, context):
                found.append(name)
        except (RuntimeError, ValueError, IndexError, TypeError, KeyError, AttributeError):
            continue  # odd shapes: no evidence
    return found


def sentence(class_name: str, dep: Departure, names: list[str], config) -> str:
    text = dep.describe(class_name)
    if not (config.feedback or {}).get("hints", True):
        names = []
    texts = [hints()[name]["text"].format(module=dep.module) for name in names]
    return text + (" — " + "; ".join(texts) if texts else "")


# ------------------------------------------------------------------------------------------ localising
def localise(subject, ref, reference: torch.nn.Module, x: torch.Tensor, train: bool, config) -> tuple | None:
    """(departure, hint names) of the student's model ``ref`` against ``reference`` on ``x``; None if they agree."""
    yours = subject.record(ref, x, train=train)
    theirs = reference_recording(reference, x, train)
    yours["inputs"][""] = theirs["inputs"][""] = x
    dep = first_departure(yours, theirs, config.atol, config.rtol)
    if dep is None:
        return None
    context = {"reference": reference}
    if train:
        yours_eval = subject.record(ref, x, train=False)
        theirs_eval = reference_recording(reference, x, False)
        context["eval_agrees"] = first_departure(yours_eval, theirs_eval, config.atol, config.rtol) is None
    return dep, hints_for(dep, yours, theirs, config, context)


def gradient_departure(observed: dict, expected: dict, theirs: dict, config) -> Departure | None:
    """The first module, in backward order (the reverse of the reference's call order), whose gradient differs.

    The input's gradient comes last and is placed at the first module called: when only it differs,
    the gradient is cut or changed on a path from there on (e.g. a detached squeeze).
    """
    order = theirs["order"]
    owner = {name: name.rsplit(".", 1)[0] if "." in name else "" for name in expected}
    if INPUT_GRADIENT in owner:
        owner[INPUT_GRADIENT] = order[0] if order else ""
    rank = {module: index for index, module in enumerate(order)}
    for name in sorted(expected, key=lambda n: (n == INPUT_GRADIENT, -rank.get(owner[n], -1))):
        got, want = observed.get(name), expected[name]
        if got is None or differs(got, want, config.atol, config.rtol):
            if name == INPUT_GRADIENT:
                return Departure(owner[name] or "forward", "gradient", got, want, detail="the input")
            module = owner[name]
            while module and module not in rank:
                module = module.rsplit(".", 1)[0] if "." in module else ""
            return Departure(module or "forward", "gradient", got, want, detail=name)
    return None


def explain(grading, class_name: str, key: str, check_name: str, find) -> str:
    """Text to add to a failed equivalence check: the localisation, or a pointer to the check of this
    grading (grader/grading.py, ``told``) that gave it.

    ``find()`` returns (departure, hint names) or None. Nothing here may fail the check differently:
    if the recording itself fails, the check's own message stands alone.
    """
    from grader.sandbox.process import SandboxFailure

    policy = grading.config.feedback or {}
    if not policy.get("localise", True):
        return ""
    try:
        found = find()
    except (Exception, SandboxFailure):  # noqa: BLE001 - the verdict is already made; this only explains it
        return ""
    if found is None:
        return ""
    dep, names = found
    told = grading.told
    earlier = told.get(class_name)
    if earlier is not None and earlier[0] != key and earlier[1] == dep.module:
        return (f"\nSame cause as the failed check \"{earlier[2]}\": your {class_name} parts from the reference "
                f"at {dep.module} (see that check's feedback).")
    if earlier is None or earlier[0] == key:
        told[class_name] = (key, dep.module, check_name)
    return "\n" + sentence(class_name, dep, names, grading.config)
