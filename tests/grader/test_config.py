"""grader/config.toml is the one source of points, thresholds and limits; overrides never need code edits."""

import json
from pathlib import Path

import pytest

from grader.calibrate import CALIBRATION_PATH
from grader.checks import collect_checks, info_of
from grader.config import CLASS_ORDER, TRAINED_CLASSES, ConfigError, load_config


def test_points_total_100_and_every_check_has_its_entry():
    config = load_config()
    assert config.total_points == 100
    keys = {(info_of(c).class_name, info_of(c).key) for c in collect_checks()}
    configured = {(class_name, key) for class_name, table in config.points.items() for key in table}
    assert keys == configured, "a check without points, or points without a check"
    assert [config.class_points(c) > 0 for c in CLASS_ORDER] == [True] * 4


def test_check_names_begin_with_their_class():
    for function in collect_checks():
        info = info_of(function)
        assert info.name.startswith(f"{info.class_name}: ")


def test_partial_override_file_and_environment_variable(tmp_path, monkeypatch):
    override = tmp_path / "fast.toml"
    override.write_text("[limits]\ncheck_seconds = 2\n\n[training.threshold]\nCNN_SE = 0.5\n")
    config = load_config(override)
    assert config.limits.check_seconds == 2 and config.training.threshold["CNN_SE"] == 0.5
    assert config.limits.memory_mib == load_config().limits.memory_mib  # untouched keys keep their defaults
    monkeypatch.setenv("SELAB_GRADER_CONFIG", str(override))
    assert load_config().limits.check_seconds == 2


@pytest.mark.parametrize("text, message", [
    ("[limits]\nchek_seconds = 2\n", "unknown setting limits.chek_seconds"),
    ("[limits]\ncheck_seconds = 'soon'\n", "must be a number"),
    ("[points.CNN_Base]\nshapes = -1\n", "non-negative integer"),
    ("[training.threshold]\nCNN_Base = 1.5\n", "accuracy in"),
    ("[sandbox]\nisolation = 'maybe'\n", "isolation"),
    ("[grading]\nlayout = 'loose'\n", "grading.layout"),
    ("[sandbox]\ncpu_share = 'lots'\n", "cpu_share"),
    ("[sandbox]\ncpu_share = -1\n", "cpu_share"),
])
def test_bad_overrides_are_errors_not_silent_defaults(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_layout_policy_defaults_to_map_and_can_be_strict(tmp_path):
    path = tmp_path / "strict.toml"
    path.write_text("[grading]\nlayout = 'strict'\n")
    assert load_config().layout == "map" and load_config(path).layout == "strict"


def test_thresholds_are_backed_by_the_committed_calibration():
    config = load_config()
    calibration = json.loads(CALIBRATION_PATH.read_text())
    budget = calibration["budget"]
    training = config.training
    assert (budget["train_images"], budget["test_images"], budget["epochs"], budget["batch_size"],
            budget["learning_rate"], budget["threads"], budget.get("precision")) == (
                training.train_images, training.test_images, training.epochs, training.batch_size,
                training.learning_rate, training.threads, training.precision), \
        "the training budget changed since calibration: run python -m grader calibrate --write-config"
    for name in TRAINED_CLASSES:
        summary = calibration["summary"][name]
        threshold = training.threshold[name]
        assert threshold <= calibration["suggested_threshold"][name] + 1e-9
        assert threshold < summary["min"] - 0.04, "too little margin below the reference's worst seed"
        assert threshold > 0.5, "a model that never learns (10 %) must fail with room to spare"


def test_calibration_matches_the_bundled_subset():
    from grader.subset import load_subset

    training = load_config().training
    digest = load_subset(training.train_images, training.test_images).digest
    assert json.loads(CALIBRATION_PATH.read_text())["subset_digest"] == digest


def test_parallel_training_auto_follows_the_usable_cpus(monkeypatch, tmp_path):
    """"auto" starts the second child only with two or more usable CPUs (a second child on one CPU only
    costs memory); true/false are obeyed as written; anything else is an error."""
    import grader.config as config_module

    config = load_config()
    assert config.parallel_training == "auto"
    for cpus, expected in ((0.5, False), (1, False), (2, True), (16, True)):
        monkeypatch.setattr(config_module, "usable_cpus", lambda cpus=cpus: cpus)
        assert config.use_parallel_training() is expected
    for value, expected in (("true", True), ("false", False)):
        override = tmp_path / f"{value}.toml"
        override.write_text(f"[sandbox]\nparallel_training = {value}\n")
        assert load_config(override).use_parallel_training() is expected
    override = tmp_path / "bad.toml"
    override.write_text('[sandbox]\nparallel_training = "yes"\n')
    with pytest.raises(ConfigError, match="parallel_training"):
        load_config(override)


def test_cpu_share_auto_divides_the_usable_cpus_among_the_submissions_graded_at_once(monkeypatch, tmp_path):
    """"auto": usable CPUs / concurrent submissions, never under one CPU; a number is taken as written."""
    import grader.config as config_module

    config = load_config()
    assert config.cpu_share == "auto"
    monkeypatch.setattr(config_module, "usable_cpus", lambda: 8.0)
    assert [config.submission_cpus(jobs) for jobs in (1, 2, 4, 16)] == [8.0, 4.0, 2.0, 1.0]
    override = tmp_path / "share.toml"
    override.write_text("[sandbox]\ncpu_share = 1.5\n")
    assert load_config(override).submission_cpus(4) == 1.5


def test_usable_cpus_respects_the_affinity_mask():
    import os

    from grader.config import usable_cpus

    assert 0 < usable_cpus() <= len(os.sched_getaffinity(0))


def test_the_handouts_tolerance_is_the_graders_default():
    from assignment import tolerance

    config = load_config()
    assert (config.rtol, config.atol) == (tolerance.RTOL, tolerance.ATOL), (
        "assignment/tolerance.py's defaults (the students' localisation) must equal grader/config.toml [tolerance]")


def _graded(path: str, config, subject=None) -> dict:
    """SEBlock's results, by key, for corpus entry se_hardsigmoid (or ``subject``) in one grading under
    ``config``: through the pytest plugin (``run_suite``, as ``grade --config`` runs it) or through
    ``run_check`` (``run_checks``, as the otter bridge runs it)."""
    import importlib.util

    from grader.checks import run_checks
    from grader.runner import Focus, run_suite
    from grader.subject import LocalSubject

    if subject is None:
        entry = Path(__file__).resolve().parents[1] / "corpus" / "submissions" / "buggy" / "se_hardsigmoid.py"
        spec = importlib.util.spec_from_file_location(f"config_{path}_se_hardsigmoid", entry)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        subject = LocalSubject(module, config)
    if path == "pytest":
        results = run_suite(subject, config, Focus(("SEBlock",), stop_at_first_loss=False))
    else:
        results = run_checks(subject, config, classes=["SEBlock"])
    return {r.key: r for r in results}


@pytest.mark.parametrize("path", ["pytest", "run_check"])
def test_a_partial_config_sets_tolerances_feedback_and_points_in_both_paths(path, tmp_path):
    # The config reaches the checks in their grading (grader/grading.py), not through hook order or a
    # global: each partial TOML below changes what it names, and only that, whichever path runs the checks.
    from assignment.localise import PHRASE
    from grader.diagnosis import hints

    def graded(toml: str):
        override = tmp_path / f"{len(list(tmp_path.iterdir()))}.toml"
        override.write_text(toml)
        return _graded(path, load_config(override))["reference_weights"]

    hint = hints()["hard_sigmoid"]["text"].split("{module}")[-1]
    default = _graded(path, load_config())["reference_weights"]
    assert not default.passed and default.max_score == 6
    assert PHRASE in default.output and hint in default.output

    loose = graded("[tolerance]\natol = 1.0\nrtol = 0.5\n")
    assert loose.passed and loose.score == 6

    no_hints = graded("[feedback]\nhints = false\n")
    assert not no_hints.passed and PHRASE in no_hints.output and hint not in no_hints.output

    unlocated = graded("[feedback]\nlocalise = false\n\n[points.SEBlock]\nreference_weights = 7\nshapes = 2\n")
    assert not unlocated.passed and unlocated.max_score == 7 and PHRASE not in unlocated.output
    assert default.output.startswith(unlocated.output + "\n")  # the check's own message, without where


@pytest.mark.parametrize("path", ["pytest", "run_check"])
def test_hypothesis_draws_as_many_examples_as_each_gradings_config_says(path, tmp_path):
    # Hypothesis settings are applied when a check runs, from its grading's config: two gradings in one
    # process (the hidden suites imported once) each get their own max_examples, whichever comes first.
    from grader.hidden._common import LAYOUT_CONFIGS
    from grader.subject import LocalSubject
    from reference import models

    class Counting(LocalSubject):
        builds = 0

        def build(self, *args, **kwargs):
            Counting.builds += 1
            return super().build(*args, **kwargs)

    def builds(max_examples: int) -> int:
        override = tmp_path / f"examples{max_examples}.toml"
        override.write_text(f"[hypothesis]\nmax_examples = {max_examples}\n")
        config = load_config(override)
        Counting.builds = 0
        results = _graded(path, config, Counting(models, config))
        assert all(r.passed for r in results.values())
        return Counting.builds

    many, few = builds(4), builds(1)
    assert (many, few) == (builds(4), builds(1)) and many > few
    layout = len(LAYOUT_CONFIGS["SEBlock"])  # the layout check draws nothing: one build per configuration
    assert many - layout == 4 * (few - layout)  # every other check of SEBlock builds once per example
