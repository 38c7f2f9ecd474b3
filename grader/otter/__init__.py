"""Run the grader's hidden checks in an otter kernel: see bridge.py and README.md."""
