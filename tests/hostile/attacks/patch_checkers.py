# The hollow base plus patches of everything a checker might compare tensors with: torch.allclose,
# equal, isclose, testing.assert_close, Tensor.__eq__/__ne__, numpy's allclose and testing helpers,
# math.isclose. If any of these leaked into the process that decides verdicts, zeros would "match".
import math

import numpy
import numpy.testing
import torch
import torch.testing


def _true(*args, **kwargs):
    return True


def _none(*args, **kwargs):
    return None


torch.allclose = _true
torch.equal = _true
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
torch.testing.assert_close = _none
torch.testing.assert_allclose = _none
torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
torch.Tensor.__ne__ = lambda self, other: torch.zeros_like(self, dtype=torch.bool)
numpy.allclose = _true
numpy.array_equal = _true
numpy.testing.assert_allclose = _none
numpy.testing.assert_array_equal = _none
numpy.testing.assert_array_almost_equal = _none
math.isclose = _true
