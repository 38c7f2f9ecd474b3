# A correct solution that forks a dozen CPU-spinning processes at import (allowed: well under the
# 256-task limit; every one is killed at the end). Before each submission had a CPU share, the 24
# spinners of its two children took every core, and a neighbour's grading took 174 s instead of 19 s.
# Now they share the submission's own CPU quota (cgroup cpu controller): the hog slows only itself.
import os


def _spin_forever():
    _hostile_tag()
    while True:
        pass


for _ in range(12):
    if os.fork() == 0:
        try:
            _spin_forever()
        finally:
            os._exit(0)
