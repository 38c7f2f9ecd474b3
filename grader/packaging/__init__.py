"""Packaging: what leaves the repository, and for whom.

- ``handout``: the student handout zip (stubs, harness, public tests, README), from one allowlist;
- ``gradescope``: the Gradescope autograder zip (``setup.sh``, ``run_autograder``, the grader, the
  reference, the hidden suites, the configuration and the bundled Fashion-MNIST subset);
- ``archive`` and ``project``: deterministic zips, and facts read from pyproject.toml.

Each builder is ``build_*(out: Path) -> Path``, called by ``python -m grader handout|autograder|otter``.
Otter's zip builder lives with the rest of otter's support in ``grader/otter/`` (``build.py``), and uses
``archive`` and ``project`` from here.
"""
