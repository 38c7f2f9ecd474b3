"""Mutation analysis (grader/mutants): operators, the equivalence check, sampling, and a fixed CI sample
graded end to end by the real grader (the full run is `make mutants`)."""

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.config import load_config
from grader.mutants import equivalence, report
from grader.mutants.campaign import choose
from grader.mutants.operators import MODULE, OPERATORS, generate


def test_every_operator_mutates_the_reference_into_valid_different_code():
    mutants = generate()
    reference = ast.unparse(ast.parse(open("reference/models.py").read()))
    assert {m.operator for m in mutants} == set(OPERATORS)
    for m in mutants:
        ast.parse(m.source)
        assert m.source != reference and m.diff


def test_ids_are_deterministic_and_unique_and_classes_attributed():
    first, second = generate(), generate()
    assert [m.id for m in first] == [m.id for m in second]
    assert len({m.id for m in first}) == len(first)
    by_id = {m.id: m for m in first}
    assert by_id["reorder:15:0"].cls == MODULE
    assert all(m.cls == "SEBlock" for m in first if 41 <= m.line <= 54)


# ------------------------------------------------------------------ the differential (equivalence) check

ROOT = Path(__file__).resolve().parents[2]


def _module(tmp_path: Path, source: str, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compare(tmp_path, source: str, class_name: str):
    config = load_config()
    reference = _module(tmp_path, (ROOT / "reference" / "models.py").read_text(), "ref_models")
    return equivalence.compare(reference, _module(tmp_path, source, "mut_models"), class_name,
                               config.rtol, config.atol)


REFERENCE_TEXT = (ROOT / "reference" / "models.py").read_text()


def test_relu_and_max_pool_commute_so_swapping_them_is_equivalent(tmp_path):
    by_id = {m.id: m for m in generate()}
    assert _compare(tmp_path, by_id["reorder:15:0"].source, "CNN_Base") is None


def test_a_view_written_differently_is_equivalent(tmp_path):
    source = REFERENCE_TEXT.replace("self.avg_pool(x).view(b, c)", "self.avg_pool(x).view(-1, c)")
    assert source != REFERENCE_TEXT
    assert _compare(tmp_path, source, "SEBlock") is None


def test_an_initialisation_only_change_is_not_equivalent(tmp_path):
    """Same function once given the same weights, but training starts elsewhere: not equivalent."""
    source = REFERENCE_TEXT.replace(
        "        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)\n\n    def forward(self, x: torch.Tensor)"
        " -> torch.Tensor:\n        x = conv_pool_relu(self.conv1, x)  # [B, 32",
        "        self.fc = nn.Linear(64 * (image_size // 4) ** 2, num_classes)\n        nn.init.zeros_(self.fc.bias)"
        "\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        x = conv_pool_relu(self.conv1, x)  # [B, 32")
    assert source != REFERENCE_TEXT
    assert "initialisation differs" in _compare(tmp_path, source, "CNN_Base")


def test_a_functional_change_is_not_equivalent(tmp_path):
    by_id = {m.id: m for m in generate()}
    assert "differ" in _compare(tmp_path, by_id["activation:47:0"].source, "SEBlock")  # sigmoid -> relu


def test_samples_are_seeded_and_in_id_order():
    mutants = generate()
    first, second = choose(mutants, 24, 7, None), choose(mutants, 24, 7, None)
    assert [m.id for m in first] == [m.id for m in second] and len(first) == 24
    assert [m.id for m in first] == [m.id for m in mutants if m in first]
    assert [m.id for m in choose(mutants, 24, 8, None)] != [m.id for m in first]
    with pytest.raises(SystemExit, match="unknown mutant ids"):
        choose(mutants, None, 0, ["nope:1:0"])


# ------------------------------------------------------------------ the CI sample, through the real grader
# A fixed sample: one mutant the shapes check kills, one the reference-weights check kills, the detached
# squeeze (only the input's gradient shows it: the one survivor of the first full run), and the
# ReLU/max-pool swap, which survives grading and is then proven equivalent.
CI_SAMPLE = ["shape:52:0", "activation:45:0", "detach:52:0", "reorder:15:0"]


def test_a_fixed_sample_of_mutants_gets_the_expected_verdicts(tmp_path):
    done = subprocess.run([sys.executable, "-m", "grader", "mutants", "--ids", *CI_SAMPLE, "--jobs", "2",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((tmp_path / "mutants.json").read_text())
    report.validate(doc)
    verdicts = {m["id"]: m for m in doc["mutants"]}
    assert [m["id"] for m in doc["mutants"]] == CI_SAMPLE
    assert verdicts["shape:52:0"]["verdict"] == "killed" and verdicts["shape:52:0"]["lost"]
    assert verdicts["activation:45:0"]["verdict"] == "killed"
    assert all(name.startswith("SEBlock: ") for name in verdicts["activation:45:0"]["lost"])
    assert verdicts["detach:52:0"]["verdict"] == "killed"
    assert verdicts["detach:52:0"]["lost"] == ["SEBlock: every parameter receives the reference's gradient"]
    assert verdicts["reorder:15:0"]["verdict"] == "equivalent" and verdicts["reorder:15:0"]["score"] == 100
    s = doc["summary"]
    assert (s["killed"], s["survived"], s["equivalent"], s["error"], s["kill_rate"]) == (3, 0, 1, 0, 1.0)
    text = (tmp_path / "mutants.md").read_text()
    assert "reorder:15:0" in text and "kill rate of non-equivalent mutants 100.0 %" in text
