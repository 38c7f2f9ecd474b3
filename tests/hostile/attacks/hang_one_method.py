# The reference solution, except that SEBlock.forward never returns: SEBlock and CNN_SE (which uses
# it) lose points; CNN_Base and CNN_SelfAttention must still be graded in full.
import time


def _hang_forward(self, x):
    while True:
        time.sleep(1)


SEBlock.forward = _hang_forward
