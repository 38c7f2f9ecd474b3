# The hollow base plus imports, by name, of the reference solution and the grader (hidden suites,
# child runtime internals). If one works, the reference classes replace the hollow ones and a leak
# note is left for the meta-test.
import importlib

for _name in ("reference.models", "reference", "grader.hidden", "grader", "grader.operations", "assignment.models"):
    try:
        _module = importlib.import_module(_name)
    except BaseException as _error:  # noqa: B902 - a refusal may be any exception
        continue
    _hostile_note("leak", how="import", module=_name, file=str(getattr(_module, "__file__", "")))
    for _cls_name in ("CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention"):
        if hasattr(_module, _cls_name) and "reference" in _name:
            globals()[_cls_name] = getattr(_module, _cls_name)
