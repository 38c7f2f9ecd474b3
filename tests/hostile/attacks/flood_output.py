# A correct solution that prints 40 MB to stdout and 40 MB to stderr (through sys and through the
# raw fds) while importing: the capture must be capped, the results file small, the score intact.
import os
import sys

_line = ("debug " * 170 + "\n")  # ~1 KB
for _ in range(20 * 1024):
    sys.stdout.write(_line)
    sys.stderr.write(_line)
_block = b"x" * (1 << 20)
for _ in range(20):
    os.write(1, _block)
    os.write(2, _block)
sys.stdout.flush()
