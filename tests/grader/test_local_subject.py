"""The checks run unchanged in-process through LocalSubject (the API the otter path uses)."""

import importlib.util
from pathlib import Path

from grader.checks import run_checks
from grader.subject import LocalSubject

ROOT = Path(__file__).resolve().parents[2]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_passes_and_stubs_fail_in_process():
    passed = run_checks(LocalSubject(load(ROOT / "reference" / "models.py", "local_reference")), classes=["SEBlock"])
    assert [r.passed for r in passed] == [True] * len(passed) and len(passed) == 7
    assert sum(r.score for r in passed) == 30
    failed = run_checks(LocalSubject(load(ROOT / "assignment" / "models.py", "local_stubs")), classes=["SEBlock"])
    assert not any(r.passed for r in failed) and sum(r.score for r in failed) == 0
    assert all("not implemented yet" in r.output and not r.internal_error for r in failed)


def test_a_wrong_seblock_gets_a_readable_minimal_counterexample(tmp_path):
    source = (ROOT / "reference" / "models.py").read_text().replace(
        "gates = self.fc(squeezed).view(b, c, 1, 1)",
        "gates = self.fc(squeezed).mean(0, keepdim=True).view(1, c, 1, 1)")  # gates mixed across the batch
    module_path = tmp_path / "models.py"
    module_path.write_text(source)
    results = {r.key: r for r in run_checks(LocalSubject(load(module_path, "batch_mixed")), classes=["SEBlock"])}
    independence = results["independence"]
    assert not independence.passed
    # Hypothesis shrinks to the smallest case: one channel, reduction 1, 1x1 maps, two samples.
    assert "SEBlock(channels=1, reduction=1) on a 2x1x1x1 input" in independence.output
    assert "output changed" in independence.output and "only sample" in independence.output
    assert results["shapes"].passed and results["layout"].passed
