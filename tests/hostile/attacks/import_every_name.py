# The hollow base plus imports of the solution by every name it might have: the packages of this
# project (reference, grader, assignment and their modules), the names an installed copy would
# have, and the grader's own module names for the child runtime. Whatever imports is noted as a leak
# and the reference's classes (with forward bodies, not NotImplementedError) replace the hollow ones.
import importlib
import sys as _sys

_NAMES = ("reference.models", "reference", "grader.hidden._common", "grader.hidden", "grader.hidden.test_seblock",
          "grader.checks", "grader.config", "grader", "grader.operations", "assignment.models", "assignment",
          "channel_attention_lab", "selab", "solution", "solutions", "models_reference", "tests.hostile.bases.hollow")
for _blocker in list(_sys.meta_path):  # a refusing hook of the runtime is the submission's to remove
    if type(_blocker).__name__.startswith("_Block"):
        _sys.meta_path.remove(_blocker)
for _name in _NAMES:
    try:
        _module = importlib.import_module(_name)
    except BaseException:  # noqa: B902 - a refusal may be any exception
        continue
    _hostile_note("leak", how="import", module=_name, file=str(getattr(_module, "__file__", "")))
    for _cls_name in ("CNN_Base", "SEBlock", "CNN_SE", "CNN_SelfAttention"):
        if hasattr(_module, _cls_name) and "reference" in _name:
            globals()[_cls_name] = getattr(_module, _cls_name)
