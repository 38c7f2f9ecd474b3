"""Everything otter-grader, in one place (docs/instructors.md, "Otter"):

- ``build``: the otter autograder zip (``python -m grader otter``), one test file per class;
- ``bridge``: what those test files call in otter's kernel to run the grader's own checks.
"""
