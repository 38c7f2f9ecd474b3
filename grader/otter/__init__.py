"""Run the grader's hidden checks in an otter kernel: see bridge.py, and docs/instructors.md ("Otter")."""
