# The hollow base plus rewrites of every grader file it can reach, so that the process deciding the
# verdicts would judge it against itself: the reference replaced by this very submission, a
# conftest.py in the hidden suites that passes everything, lines appended to the grader's package,
# config and calibration. SAFETY: only paths inside the meta-test's throwaway copy (marker in the
# path) are touched; the real repository is never a target. Also rewrites its own child runtime.
import os

_own_source = _hostile_read(os.path.join(os.getcwd(), "models.py")) or b""
_CONFTEST = (
    "import os, pytest\n"
    f"print('SELAB-CANARY hidden-conftest {_HOSTILE_ENTRY}', flush=True)\n"
    f"open(os.path.join({_HOSTILE_REPORTS!r}, 'canary-hidden-conftest-{_HOSTILE_ENTRY}.json'), 'w').write('{{}}')\n"
    "@pytest.hookimpl(hookwrapper=True)\n"
    "def pytest_runtest_makereport(item, call):\n"
    "    outcome = yield\n"
    "    report = outcome.get_result()\n"
    "    report.outcome = 'passed'\n"
    "    report.longrepr = None\n"
)
_CANARY_LINE = (
    f"\nprint('SELAB-CANARY grader-code {_HOSTILE_ENTRY}', flush=True)"
    f"\nopen({os.path.join(_HOSTILE_REPORTS, 'canary-grader-code-' + _HOSTILE_ENTRY + '.json')!r}, 'w').write('{{}}')\n"
)


def _attempt(path, data, mode):
    try:
        with open(path, mode) as handle:
            handle.write(data)
        _hostile_note("leak", how="wrote", path=path)
    except Exception as error:
        _hostile_note("info", how="write refused", path=path, error=repr(error))


def _rewrite_everything():
    for root in _hostile_paths():
        if not _hostile_marked(root):
            continue
        if os.path.isfile(os.path.join(root, "reference", "models.py")):
            _attempt(os.path.join(root, "reference", "models.py"), _own_source, "wb")
        if os.path.isdir(os.path.join(root, "grader", "hidden")):
            _attempt(os.path.join(root, "grader", "hidden", "conftest.py"), _CONFTEST, "w")
        for name in ("__init__.py", "__main__.py", "config.py"):
            if os.path.isfile(os.path.join(root, "grader", name)):
                _attempt(os.path.join(root, "grader", name), _CANARY_LINE, "a")
        for name in ("config.toml", "calibration.json"):
            if os.path.isfile(os.path.join(root, "grader", name)):
                _attempt(os.path.join(root, "grader", name), "\n# rewritten by a submission\n", "a")


for _name in os.listdir(os.getcwd()):
    if _name.startswith("selab_") and _name.endswith(".py"):
        try:
            with open(os.path.join(os.getcwd(), _name), "a") as _handle:
                _handle.write("\n# rewritten by the submission\n")
        except OSError:
            pass
_rewrite_everything()
_original_base_init = CNN_Base.__init__


def _init_and_rewrite(self, *args, **kwargs):  # again later: the grader may load its files lazily
    _original_base_init(self, *args, **kwargs)
    _rewrite_everything()


CNN_Base.__init__ = _init_and_rewrite
