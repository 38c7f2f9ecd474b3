# The hollow base plus patches of the test frameworks: pytest.approx equal to everything, _pytest's
# fail/skip/exit made no-ops, every report forced to "passed", unittest's assertions silenced,
# hypothesis.given replaced by a no-op; and a conftest.py dropped in the working folder (importing
# it leaves a canary note).
import os
import unittest

try:
    import _pytest.outcomes
    import _pytest.reports
    import _pytest.runner
    import pytest

    class _EqualsAll:
        def __eq__(self, other):
            return True

        __req__ = __eq__

    pytest.approx = lambda *args, **kwargs: _EqualsAll()
    for _name in ("fail", "skip", "exit", "xfail"):
        setattr(_pytest.outcomes, _name, lambda *args, **kwargs: None)
        setattr(pytest, _name, lambda *args, **kwargs: None)
    _pytest.reports.TestReport.passed = property(lambda self: True)
    _pytest.reports.TestReport.failed = property(lambda self: False)
    _real_call_and_report = _pytest.runner.call_and_report

    def _passing_call_and_report(item, when, log=True, **kwargs):
        report = _real_call_and_report(item, when, log, **kwargs)
        report.outcome = "passed"
        report.longrepr = None
        return report

    _pytest.runner.call_and_report = _passing_call_and_report
except ImportError:
    pass

try:
    import hypothesis

    hypothesis.given = lambda *args, **kwargs: (lambda function: (lambda *a, **k: None))
except ImportError:
    pass

for _name in dir(unittest.TestCase):
    if _name.startswith(("assert", "fail")):
        setattr(unittest.TestCase, _name, lambda self, *args, **kwargs: None)

try:
    with open(os.path.join(os.getcwd(), "conftest.py"), "w") as _handle:
        _handle.write(
            "import json, os\n"
            f"print('SELAB-CANARY cwd-conftest {_HOSTILE_ENTRY}', flush=True)\n"
            f"open(os.path.join({_HOSTILE_REPORTS!r}, 'canary-conftest-{_HOSTILE_ENTRY}.json'), 'w').write('{{}}')\n"
        )
except OSError:
    pass
