"""Otter test file for CNN_SelfAttention: the grader's own CNN_SelfAttention checks, points from grader/config.toml."""

OK_FORMAT = False

from otter.test_files import test_case  # noqa: E402

from grader.otter.bridge import checks_of, run_in_kernel  # noqa: E402

name = "CNN_SelfAttention"


def _case(check):
    def run(env):
        run_in_kernel(check, env)
    return run


for _index, (_check, _title, _points) in enumerate(checks_of(name)):
    globals()[f"case_{_index}"] = test_case(name=_title, points=_points)(_case(_check))
