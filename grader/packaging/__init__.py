"""Packaging: what leaves the repository, and for whom.

- ``handout``: the student handout zip (stubs, harness, public tests, README), from one allowlist;
- ``gradescope``: the Gradescope autograder zip (``setup.sh``, ``run_autograder``, the grader, the
  reference, the hidden suites, the configuration and the bundled Fashion-MNIST subset);
- ``otter``: the otter-grader autograder zip, built with ``otter generate`` from ``grader/otter``;
- ``archive`` and ``project``: deterministic zips, and facts read from pyproject.toml.

Each builder is ``build_*(out: Path) -> Path``, called by ``python -m grader handout|autograder|otter``
and runnable alone as ``python -m grader.packaging.<module> --out FILE``.
"""
