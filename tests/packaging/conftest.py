"""Fixtures of the packaging tests (the helpers themselves are in helpers.py)."""

import pytest

from tests.packaging.helpers import run_as_student


@pytest.fixture(scope="session")
def student_python():
    """Run Python isolated from the repository, as on a student's machine (see helpers.run_as_student)."""
    return run_as_student
