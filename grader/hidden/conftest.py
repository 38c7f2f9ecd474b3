"""Pytest glue for the hidden checks: the ``grading`` fixture, per-check time limits, class order.

``python -m grader grade`` runs this suite in-process and hands it its grading (grader/grading.py:
config, subject) through the plugin it registers (``grader.runner.GradingPlugin``); run by hand, the
``grading`` fixture makes one from the options::

    pytest grader/hidden -c grader/hidden/pytest.ini --submission path/to/models.py [--subject local]
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from grader.checks import check_rank, info_of, time_limit
from grader.config import CLASS_ORDER, load_config
from grader.grading import Grading
from grader.runner import GradingPlugin

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "models.py"


def pytest_addoption(parser):
    group = parser.getgroup("selab-grader")
    group.addoption("--submission", default=None, help="models.py to grade (default: the reference)")
    group.addoption("--grader-config", default=None, help="partial TOML merged over grader/config.toml")
    group.addoption("--subject", default="remote", choices=("remote", "local"),
                    help="remote: sandboxed child (default); local: import models.py in this process")


def pytest_collection_modifyitems(session, config, items):
    """Run order (results are reported in the lab's order whatever this is): the layout checks first
    (they run no forward pass, so even a submission that hangs everywhere earns them before the
    submission's time runs out), then class by class, short trainings last so that the trainings
    prefetched in a second child (grader/runner.py) overlap the other checks."""
    def order(item):
        info = info_of(getattr(item, "function", None))
        if info is None:
            return (True, True, len(CLASS_ORDER), 0)
        return (info.training, info.key != "layout", *check_rank(info))

    items.sort(key=order)


@pytest.fixture(scope="session")
def grading(pytestconfig):
    """The grading the checks run in: the one grader/runner.py handed in (the config reaches the checks
    through it, whatever order pytest's hooks run in), else one made from this run's options."""
    handed = [plugin.grading for plugin in pytestconfig.pluginmanager.get_plugins()
              if isinstance(plugin, GradingPlugin)]
    if handed:
        yield handed[0]
        return
    grader_config = load_config(pytestconfig.getoption("--grader-config"))
    path = Path(pytestconfig.getoption("--submission") or REFERENCE).resolve()
    if pytestconfig.getoption("--subject") == "local":
        from grader.subject import LocalSubject

        spec = importlib.util.spec_from_file_location("selab_submission", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        made = LocalSubject(module, grader_config, str(path))
    else:
        from grader.subject import RemoteSubject

        made = RemoteSubject(path, grader_config)
        made.begin()
    try:
        yield Grading.of(made, grader_config)
    finally:
        made.close()


@pytest.fixture(autouse=True)
def _check_clock(request, grading):
    """Each check runs under its own time limit (a training check under the training limit)."""
    grading.subject.start_check(time_limit(info_of(request.function), grading.config))
    yield
    grading.subject.end_check()
