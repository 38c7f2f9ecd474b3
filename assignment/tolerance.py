"""The one rule for "close enough": element-wise ``|observed - expected| <= atol + rtol * |expected|``.

Every comparison of numbers that should agree uses it: the grader's checks and its feedback (which
module departs, which parameter layout agrees), the mutants' equivalence, the hidden tests and the
public tests' localisation. So a sentence that calls a module "agrees" can never contradict a check
that has just failed. Standalone on purpose (the standard library and torch only): it ships to
students in the handout. The grader passes its configuration's ``rtol``/``atol``
(grader/config.toml ``[tolerance]``); ``RTOL``/``ATOL`` are the same defaults for the handout.
"""

from __future__ import annotations

import torch

RTOL = 1e-4  # float32 results of different but valid orders of operations agree to about this much
ATOL = 1e-5


def allowance(expected: torch.Tensor, *, rtol: float = RTOL, atol: float = ATOL) -> torch.Tensor:
    """How far each element may lie from ``expected`` (float64): ``atol + rtol * |expected|``."""
    return atol + rtol * expected.double().abs()


def excess(observed: torch.Tensor, expected: torch.Tensor, *, rtol: float = RTOL, atol: float = ATOL) -> torch.Tensor:
    """Per element, how far ``observed`` lies beyond the allowance (float64; <= 0 where it is close enough)."""
    return (observed.double() - expected.double()).abs() - allowance(expected, rtol=rtol, atol=atol)


def close(observed: torch.Tensor, expected: torch.Tensor, *, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Every element of ``observed`` is close enough to ``expected`` (broadcast; NaN is never close)."""
    error = (observed.double() - expected.double()).abs()
    return bool((error <= allowance(expected, rtol=rtol, atol=atol)).all())
