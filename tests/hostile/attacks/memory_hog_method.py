# The reference solution, except that CNN_SE's constructor asks torch for 64 GiB and then touches
# as much memory as it gets: only CNN_SE may lose points.
import torch

_original_init = CNN_SE.__init__


def _hog_init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    hog = []
    for _ in range(256):
        hog.append(torch.ones(64 << 20))  # 256 MiB each, written
    self.hog = hog


CNN_SE.__init__ = _hog_init
