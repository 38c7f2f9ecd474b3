"""Pytest stash keys shared by the CLI (grader/runner.py) and grader/hidden/conftest.py.

They live in an ordinary module so both sides hold the very same key objects, however pytest
imports the conftest.
"""

import pytest

SUBJECT_KEY = pytest.StashKey[object]()
CONFIG_KEY = pytest.StashKey[object]()
