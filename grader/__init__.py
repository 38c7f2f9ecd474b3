"""The lab's grader: hidden pytest + Hypothesis checks run against a sandboxed submission.

Commands: ``python -m grader -h`` (grader/cli.py). One file configures everything: grader/config.toml.

Layout
------
- ``config.py`` / ``config.toml``: points (100), thresholds, training budget, limits.
- ``submission.py``: takes the one graded file, models.py, out of an upload (file, folder, zip).
- ``operations.py``: what a check may ask of a submission (build, forward, gradients, record, store,
  short_train): served by the sandboxed child, and called in-process by ``LocalSubject`` (otter).
- ``sandbox/``: the child process that runs the submission (``process.Sandbox``), its wire protocol
  (JSON + raw arrays, never pickle), the namespace jail and the reaper that kills everything it started.
- ``subject.py``: the submission as the checks see it: ``RemoteSubject`` (sandboxed) and
  ``LocalSubject`` (in-process, for otter), same methods, same plain return types.
- ``checks.py``: check metadata, verdict helpers, outcomes, ``run_check`` / ``run_checks``.
- ``grading.py``: one grading's state (config, subject, notes), handed to every check.
- ``hidden/``: the hidden checks themselves (pytest + Hypothesis), one file per class.
- ``diagnosis.py``: a failed check's feedback: where the submission first departs from the reference,
  and the likely causes (hints from ``hidden/hints.toml``).
- ``runner.py`` / ``results.py``: grade one upload, write Gradescope's results.json.
- ``classroom/``: ``grade-all``, a whole class -> grades.csv, report.md (what changed, what the class got
  wrong), score histogram; ``warm.py``: one warm process forks one grading per submission.
- ``subset.py`` / ``calibrate.py``: the bundled Fashion-MNIST subset and the threshold calibration.
- ``packaging/``: the handout and the Gradescope zip (builder and scripts), and the zip writer they share.
- ``otter/``: everything otter-grader: ``build.py`` builds its zip, ``bridge.py`` runs the checks in its kernel.

Reusing the checks elsewhere (the otter path)
---------------------------------------------
::

    from grader.checks import collect_checks, run_check, run_checks
    from grader.grading import Grading
    from grader.subject import LocalSubject

    subject = LocalSubject(models_module)             # the student's imported models.py
    results = run_checks(subject, classes=["SEBlock"])  # list[CheckResult]: name, score, max_score,
                                                       # passed, output (feedback), internal_error
    # or check by check, in one grading: grading = Grading.of(subject, config), then
    # run_check(function, grading) for function in collect_checks()

Points come from config.toml through ``CheckResult.max_score``; the feedback is the same text the
Gradescope path shows.
"""
