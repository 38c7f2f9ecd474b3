"""results.json checked against Gradescope's own format (a JSON Schema written from their spec).

The grader's ``validate`` checks what the grader promises; this checks what Gradescope accepts
(grader/packaging/gradescope-results.schema.json, also used by ``make gradescope-e2e``), on a
grading in the simulated root of test_gradescope.py (the stubs: the cheapest real grading).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from grader.packaging.gradescope import build_autograder
from tests.packaging.helpers import ROOT, GradescopeRoot, submissions

SCHEMA = json.loads((ROOT / "grader/packaging/gradescope-results.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("doc, why", [
    ({"tests": [{"name": "a", "max_score": 1}]}, "no score at the top level nor on every test"),
    ({"score": 1, "visibility": "public"}, "visibility outside hidden/after_due_date/after_published/visible"),
    ({"score": 1, "tests": [{"score": 1, "status": "ok"}]}, "test status other than passed/failed"),
    ({"score": 1, "tests": [{"score": 1, "maxscore": 1}]}, "a misspelt key Gradescope would silently ignore"),
    ({"score": "100"}, "score as a string"),
    ({"score": 1, "output_format": "markdown"}, "output format outside text/html/simple_format/md/ansi"),
    ({"score": 1, "leaderboard": [{"name": "acc"}]}, "leaderboard entry without a value"),
])
def test_schema_rejects_what_gradescope_rejects(doc, why):
    assert list(VALIDATOR.iter_errors(doc)), f"the schema accepts {why}: {doc}"


def test_schema_accepts_the_spec_example():
    doc = {"score": 44.0, "execution_time": 136, "output": "Text", "output_format": "simple_format",
           "test_output_format": "text", "test_name_format": "text", "visibility": "after_due_date",
           "stdout_visibility": "visible", "extra_data": {},
           "tests": [{"score": 2.0, "max_score": 2.0, "status": "passed", "name": "Your name here",
                      "name_format": "text", "number": "1.1", "output": "Giant multiline string",
                      "output_format": "text", "tags": ["tag1"], "visibility": "visible", "extra_data": {}}],
           "leaderboard": [{"name": "Accuracy", "value": 0.926}, {"name": "Time", "value": 15.1, "order": "asc"},
                           {"name": "Stars", "value": "*****"}]}
    assert not list(VALIDATOR.iter_errors(doc))


def test_simulated_root_results_match_gradescopes_format(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("needs root: setup.sh creates the sandbox user and the grader drops to it")
    with GradescopeRoot(build_autograder(tmp_path / "autograder.zip")) as gradescope:
        run, doc = gradescope.grade({"models.py": submissions()["stubs"]})
    assert run.returncode == 0 and doc is not None, f"run_autograder exit {run.returncode}:\n{run.stderr[-2000:]}"
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    assert not errors, f"results.json is not in Gradescope's format: {errors[:5]}"
