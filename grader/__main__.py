"""Command line of the grader: ``python -m grader COMMAND ...`` (``python -m grader -h`` lists them)."""

from grader.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
