"""The experiment end to end on a tiny budget: training is deterministic, compare writes every output,
and the notebook runs headless."""

import json
import os
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from assignment import compare
from assignment.data import load_fashion_mnist
from assignment.train import TrainConfig, seed_everything, train_model
from reference.models import CNN_SE

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--impl", "reference", "--epochs", "2", "--seeds", "2", "--train-limit", "512", "--no-progress"]


@pytest.fixture(scope="module")
def fashion():
    train, test = load_fashion_mnist()
    return train.subset(torch.arange(512)), test.subset(torch.arange(1000))


def test_same_seed_same_history(fashion):
    def once():
        seed_everything(3)
        model = CNN_SE()
        history = train_model(model, *fashion, TrainConfig(epochs=2, seed=3, progress=False))
        return [(e.train_loss, e.test_accuracy) for e in history.epochs], model.state_dict()

    (first, weights_a), (second, weights_b) = once(), once()
    assert first == second
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_training_learns_something(fashion):
    seed_everything(0)
    history = train_model(CNN_SE(), *fashion, TrainConfig(epochs=3, batch_size=64, seed=0, progress=False))
    assert history.epochs[-1].train_loss < history.epochs[0].train_loss
    assert history.final_accuracy > 0.5, "512 images x 3 epochs should beat chance (10%) by far"


def test_compare_writes_table_json_and_plots(tmp_path):
    out = tmp_path / "run"
    compare.main(TINY + ["--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"base", "se", "attn"}
    for key, entry in results["models"].items():
        assert len(entry["runs"]) == 2 and 0 <= entry["accuracy"]["mean"] <= 1
        assert entry["accuracy"]["std"] is not None
        assert len(entry["runs"][0]["history"]["epochs"]) == 2
        assert (key == "base") == ("diff_vs_base" not in entry)
    assert len(results["se_gates"]["se1"]) == 10 and len(results["se_gates"]["se2"][0]) == 64
    attention = torch.tensor(results["attention_map"])
    assert attention.shape == (64, 64) and torch.allclose(attention.sum(1), torch.ones(64), atol=1e-4)
    table = (out / "results.md").read_text()
    assert "CNN_SelfAttention" in table and "±" in table
    for name in ("learning_curves.png", "se_gates.png", "attention_map.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"


def test_compare_records_the_training_arithmetic(tmp_path):
    """--precision fp32 (the plain path) is recorded with what it resolved to, so tables can be compared."""
    out = tmp_path / "plain"
    compare.main(["--impl", "reference", "--models", "base", "--epochs", "1", "--train-limit", "256",
                  "--no-progress", "--precision", "fp32", "--out", str(out)])
    machine = json.loads((out / "results.json").read_text())["machine"]
    assert (machine["precision"], machine["arithmetic"]) == ("fp32", "fp32")


def test_notebook_runs_headless_on_a_tiny_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("SELAB_IMPL", "reference")
    monkeypatch.setenv("SELAB_EPOCHS", "1")
    monkeypatch.setenv("SELAB_TRAIN_LIMIT", "256")
    monkeypatch.setenv("SELAB_NOTEBOOK_OUT", str(tmp_path / "nb"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    notebook = nbformat.read(ROOT / "assignment" / "lab.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors
    assert (tmp_path / "nb" / "se_gates.png").is_file()


class LabTextFlatten(CNN_SE):
    """CNN_SE flattened the lab text's way, x.view(x.size(0), -1), which fails on channels_last maps."""

    def forward(self, x):
        x = self.se1(torch.relu(torch.max_pool2d(self.conv1(x), 2)))
        x = self.se2(torch.relu(torch.max_pool2d(self.conv2(x), 2)))
        return self.fc(x.view(x.size(0), -1))


def test_lab_text_view_flatten_trains_through_the_harness(fashion):
    seed_everything(0)
    reference_history = train_model(CNN_SE(), *fashion, TrainConfig(epochs=1, seed=0, progress=False))
    seed_everything(0)
    history = train_model(LabTextFlatten(), *fashion, TrainConfig(epochs=1, seed=0, progress=False))
    assert abs(history.final_accuracy - reference_history.final_accuracy) < 0.02


def test_results_are_written_before_any_probe_or_plot(tmp_path, monkeypatch):
    """A crash after training (here: in the plots) never loses the run: results.json and results.md exist."""
    from assignment import report

    def broken_plots(results, out):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(report, "write_plots", broken_plots)
    out = tmp_path / "kept"
    with pytest.raises(RuntimeError, match="plotting failed"):
        compare.main(["--impl", "reference", "--models", "base,se", "--epochs", "1", "--train-limit", "256",
                      "--no-progress", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"base", "se"} and "se_gates" in results
    assert "CNN_SE" in (out / "results.md").read_text()


def test_results_md_gives_the_command_that_reruns_the_run(tmp_path):
    """From the notebook too: the command is rebuilt from the arguments given, never the kernel's sys.argv."""
    argv = ["--impl", "reference", "--models", "base", "--epochs", "1", "--train-limit", "128", "--no-progress",
            "--out", str(tmp_path / "cmd")]
    compare.main(argv)
    assert f"`python -m assignment.compare {' '.join(argv)}`" in (tmp_path / "cmd" / "results.md").read_text()
