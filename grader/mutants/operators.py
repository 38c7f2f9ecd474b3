"""AST mutation operators chosen for this lab, and the mutants they make of reference/models.py.

An operator is a function ``node, ctx -> [replacement nodes]``; each replacement of each node is one
mutant. ``ctx`` says where the node lies (class, function). Ids are ``operator:line:index`` where
index counts that operator's mutants on that line in walk order: deterministic for a given source.
"""

from __future__ import annotations

import ast
import copy
import difflib
from dataclasses import dataclass
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "models.py"
MODULE = "(module)"  # the class of a mutant outside every class (e.g. conv_pool_relu): all classes use it
ACTIVATIONS = {"relu": "F.relu", "sigmoid": "torch.sigmoid", "tanh": "torch.tanh", "softmax": "F.softmax"}
MODULE_ACTIVATIONS = {"ReLU": "nn.ReLU()", "Sigmoid": "nn.Sigmoid()", "Tanh": "nn.Tanh()",
                      "Softmax": "nn.Softmax(dim=1)"}
SHAPE_METHODS = ("view", "reshape", "transpose", "permute")
DIM_METHODS = ("flatten", "softmax", "mean", "sum", "log_softmax")


@dataclass(frozen=True)
class Context:
    cls: str
    function: str

    @property
    def in_forward(self) -> bool:
        return self.function not in ("__init__", "")


@dataclass(frozen=True)
class Mutant:
    id: str
    cls: str
    operator: str
    line: int
    diff: str
    source: str


def _expr(text: str) -> ast.expr:
    return ast.parse(text, mode="eval").body


def _name(func: ast.expr) -> str:
    """``F.relu`` -> 'relu', ``torch.sigmoid`` -> 'sigmoid', ``nn.ReLU`` -> 'ReLU', ``f`` -> 'f'."""
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_self_call(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
        and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"


def _tensor_arg(node: ast.Call):
    """The tensor a layer-like call transforms: the last positional argument of conv_pool_relu-like
    helpers and of ``self.layer(x)``; None when the call is not layer-like."""
    if _is_self_call(node) and len(node.args) == 1 and not node.keywords:
        return node.args[0]
    if isinstance(node.func, ast.Name) and node.func.id not in ("super", "SEBlock") and node.args:
        return node.args[-1]
    return None


def activation(node, ctx):
    """Swap an activation for another, or drop it (functional and nn.Module forms)."""
    if not isinstance(node, ast.Call):
        return []
    name = _name(node.func)
    if name in ACTIVATIONS and node.args:
        arg = ast.unparse(node.args[0])
        out = [_expr(f"{f}({arg}, dim=1)" if other == "softmax" else f"{f}({arg})")
               for other, f in ACTIVATIONS.items() if other != name]
        return out + [copy.deepcopy(node.args[0])]
    if name in MODULE_ACTIVATIONS and isinstance(node.func, ast.Attribute):
        return [_expr(t) for other, t in MODULE_ACTIVATIONS.items() if other != name] + [_expr("nn.Identity()")]
    return []


def pool(node, ctx):
    """max-pool <-> avg-pool (functional and adaptive modules), and the pool size."""
    if not isinstance(node, ast.Call):
        return []
    swaps = {"max_pool2d": "avg_pool2d", "avg_pool2d": "max_pool2d",
             "AdaptiveAvgPool2d": "AdaptiveMaxPool2d", "AdaptiveMaxPool2d": "AdaptiveAvgPool2d"}
    name = _name(node.func)
    if name not in swaps or not isinstance(node.func, ast.Attribute):
        return []
    swapped = copy.deepcopy(node)
    swapped.func.attr = swaps[name]
    out = [swapped]
    if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
        for size in (1, 3):
            resized = copy.deepcopy(node)
            resized.args[1] = ast.Constant(size)
            out.append(resized)
    return out


def constant(node, ctx):
    """An integer constant (channels, kernel, padding, reduction, the ``// 4``) off by one, or halved.
    Defaults of constructor arguments and pool sizes are left out (the grader passes every argument;
    ``pool`` owns pool sizes)."""
    if not (isinstance(node, ast.Constant) and type(node.value) is int) or ctx.function == "":
        return []
    values = {node.value + 1, node.value - 1, node.value // 2} - {node.value}
    return [ast.Constant(v) for v in sorted(values) if v > 0 or node.value == 0]


def swap_args(node, ctx):
    """Swap the first two positional arguments of a call, or the operands of a non-commutative operator."""
    if isinstance(node, ast.Call) and len(node.args) >= 2 and _name(node.func) not in SHAPE_METHODS:
        swapped = copy.deepcopy(node)
        swapped.args[0], swapped.args[1] = swapped.args[1], swapped.args[0]
        return [swapped]
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Sub, ast.Div, ast.FloorDiv, ast.Pow)):
        return [ast.BinOp(copy.deepcopy(node.right), node.op, copy.deepcopy(node.left))]
    return []


def drop_call(node, ctx):
    """Skip a layer: ``self.layer(x)`` / ``helper(conv, x)`` -> ``x`` (in forward passes)."""
    if not (ctx.in_forward and isinstance(node, ast.Call)):
        return []
    arg = _tensor_arg(node)
    return [] if arg is None else [copy.deepcopy(arg)]


def duplicate_call(node, ctx):
    """Apply a layer twice: ``self.layer(x)`` -> ``self.layer(self.layer(x))``."""
    if not (ctx.in_forward and _is_self_call(node)) or len(node.args) != 1 or node.keywords:
        return []
    twice = copy.deepcopy(node)
    twice.args = [copy.deepcopy(node)]
    return [twice]


def reorder(node, ctx):
    """Swap two nested layers: ``f(g(x))`` -> ``g(f(x))`` (conv/pool/ReLU/SE order)."""
    if not (ctx.in_forward and isinstance(node, ast.Call)) or not node.args:
        return []
    inner = node.args[0] if _is_self_call(node) else (node.args[0] if _name(node.func) in ACTIVATIONS
                                                       or _name(node.func) in ("max_pool2d", "avg_pool2d")
                                                       else _tensor_arg(node))
    if not isinstance(inner, ast.Call) or inner.func is node.func:
        return []
    core = inner.args[0] if inner.args and not isinstance(inner.func, ast.Name) else _tensor_arg(inner)
    if core is None:
        return []
    outer = copy.deepcopy(node)
    position = next(i for i, a in enumerate(node.args) if a is inner)
    outer.args[position] = copy.deepcopy(core)
    result = copy.deepcopy(inner)
    slot = next(i for i, a in enumerate(inner.args) if a is core)
    result.args[slot] = outer
    return [result]


def residual(node, ctx):
    """Remove a residual connection: ``x + f(x)`` -> ``f(x)`` or ``x`` (in forward passes)."""
    if ctx.in_forward and isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [copy.deepcopy(node.right), copy.deepcopy(node.left)]
    return []


def mul_to_add(node, ctx):
    """The SE recalibration: ``x * y`` -> ``x + y`` and ``x * y.mean(0)`` (gates shared by the batch)."""
    if ctx.in_forward and isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = ast.unparse(node.left), ast.unparse(node.right)
        return [_expr(f"{left} + {right}"), _expr(f"{left} * {right}.mean(0)")]
    return []


def shape(node, ctx):
    """``view``/``reshape``/``transpose`` dims: swap adjacent sizes, or let torch infer the first (-1)."""
    if not (isinstance(node, ast.Call) and _name(node.func) in SHAPE_METHODS
            and isinstance(node.func, ast.Attribute)) or len(node.args) < 2:
        return []
    out = []
    for i in range(len(node.args) - 1):
        swapped = copy.deepcopy(node)
        swapped.args[i], swapped.args[i + 1] = swapped.args[i + 1], swapped.args[i]
        out.append(swapped)
    if _name(node.func) in ("view", "reshape"):
        inferred = copy.deepcopy(node)
        inferred.args[0] = ast.Constant(-1)
        out.append(inferred)
    return out


def dim(node, ctx):
    """``dim=`` keywords and the dim of ``flatten``/``softmax``/``mean``/``sum``: one off, or -1."""
    if isinstance(node, ast.keyword) and node.arg in ("dim", "start_dim") and isinstance(node.value, ast.Constant):
        return [ast.keyword(node.arg, ast.Constant(v)) for v in sorted({node.value.value + 1, node.value.value - 1, -1}
                                                                      - {node.value.value})]
    if isinstance(node, ast.Call) and _name(node.func) in DIM_METHODS and isinstance(node.func, ast.Attribute) \
            and node.args and isinstance(node.args[0], ast.Constant) and type(node.args[0].value) is int:
        out = []
        for v in sorted({node.args[0].value + 1, node.args[0].value - 1} - {node.args[0].value}):
            changed = copy.deepcopy(node)
            changed.args[0] = ast.Constant(v)
            out.append(changed)
        return out
    return []


def flag(keyword: str):
    def operator(node, ctx):
        if isinstance(node, ast.keyword) and node.arg == keyword and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, bool):
            return [ast.keyword(keyword, ast.Constant(not node.value.value))]
        return []
    operator.__doc__ = f"Flip ``{keyword}=``."
    return operator


def detach(node, ctx):
    """Cut the gradient: ``self.layer(x)`` / ``F.op(x)`` -> ``(...).detach()`` in forward passes."""
    if ctx.in_forward and isinstance(node, ast.Call) and (_is_self_call(node) or (
            isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("F", "torch"))):
        return [ast.Call(ast.Attribute(copy.deepcopy(node), "detach", ast.Load()), [], [])]
    return []


OPERATORS = {
    "activation": activation, "pool": pool, "constant": constant, "swap_args": swap_args,
    "drop_call": drop_call, "duplicate_call": duplicate_call, "reorder": reorder, "residual": residual,
    "mul_to_add": mul_to_add, "shape": shape, "dim": dim, "bias": flag("bias"), "detach": detach,
    "batch_first": flag("batch_first"),
}


def _sites(tree: ast.Module):
    """Every node with its context, in a deterministic order (walk order inside each top-level def)."""
    for top in tree.body:
        cls = top.name if isinstance(top, ast.ClassDef) else MODULE
        functions = [f for f in ast.walk(top) if isinstance(f, ast.FunctionDef)]
        for function in functions:
            ctx = Context(cls, function.name)
            for node in ast.walk(function):
                if node is not function and not (isinstance(node, ast.arguments) or _under_arguments(function, node)):
                    yield node, ctx


def _under_arguments(function: ast.FunctionDef, node) -> bool:
    return any(node is n for n in ast.walk(function.args))


def _replace(tree: ast.AST, target: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, field, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is target:
                        value[i] = new
                        return
    raise ValueError("node not found")


def generate(source: str | None = None, classes: list[str] | None = None) -> list[Mutant]:
    """Every mutant of ``source`` (default: reference/models.py), sorted by id; ``classes`` filters."""
    source = REFERENCE.read_text() if source is None else source
    original = ast.unparse(ast.parse(source))
    mutants, seen, counts = [], {original}, {}
    for op_name, operator in OPERATORS.items():
        tree = ast.parse(source)
        for position, (node, ctx) in enumerate(list(_sites(tree))):
            if classes and ctx.cls not in classes:
                continue
            for replacement in operator(node, ctx):
                fresh = ast.parse(source)
                target = list(_sites(fresh))[position][0]
                ast.copy_location(replacement, target)
                _replace(fresh, target, replacement)
                mutated = ast.unparse(ast.fix_missing_locations(fresh))
                if mutated in seen:  # same text as the reference or as an earlier mutant
                    continue
                seen.add(mutated)
                line = getattr(target, "lineno", None) or getattr(target.value, "lineno", 0)
                index = counts.get((op_name, line), 0)
                counts[(op_name, line)] = index + 1
                diff = "".join(difflib.unified_diff(original.splitlines(True), mutated.splitlines(True),
                                                    "reference/models.py", "mutant/models.py", n=1))
                mutants.append(Mutant(f"{op_name}:{line}:{index}", ctx.cls, op_name, line, diff, mutated))
    return sorted(mutants, key=lambda m: (m.line, m.operator, int(m.id.rsplit(":", 1)[1])))
