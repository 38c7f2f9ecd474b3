# The reference solution, except that CNN_SE.forward raises SystemExit(0): only CNN_SE's checks
# may suffer; the child dying mid-grading must not cost the other classes anything.
def _exit_forward(self, x):
    raise SystemExit(0)


CNN_SE.forward = _exit_forward
