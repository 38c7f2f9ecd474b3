"""The hidden checks (pytest + Hypothesis). Never shipped to students.

Each ``test_*`` function is a graded check (``@grader.checks.check``) taking the ``grading`` it runs
in (grader/grading.py: its config and its subject, grader/subject.py). Run them with
``python -m grader grade SUBMISSION`` (sandboxed), with ``pytest grader/hidden --submission PATH``
(an instructor's quick look; add ``--subject local`` to run in-process), or without pytest through
``grader.checks.run_checks(subject)`` (the otter path).
"""
