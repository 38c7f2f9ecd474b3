"""The untouched stubs must fail every public test, each with a one-line "not implemented yet" message."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_test_fails_on_the_stubs_with_not_implemented_yet(tmp_path):
    report = tmp_path / "public.xml"
    env = {**os.environ, "SELAB_IMPL": "assignment"}
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/public", "-q", "-p", "no:cacheprovider",
                          f"--junitxml={report}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, f"pytest should report failures on the stubs; exit {run.returncode}\n{run.stdout[-2000:]}"
    cases = ET.parse(report).getroot().iter("testcase")
    outcomes = {}
    for case in cases:
        failure = case.find("failure")
        outcomes[case.get("name")] = None if failure is None else (failure.get("message", "") + (failure.text or ""))
    assert len(outcomes) >= 20, f"expected the whole public suite, collected {len(outcomes)}"
    passed = [name for name, text in outcomes.items() if text is None]
    assert not passed, f"these public tests pass on untouched stubs, so they test nothing: {passed}"
    unclear = [name for name, text in outcomes.items() if "not implemented yet" not in text]
    assert not unclear, f"these failures do not say 'not implemented yet': {unclear}"
    assert "Traceback" not in run.stdout, "a stub failure printed a traceback instead of one line"
