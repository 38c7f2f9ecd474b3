"""Hidden checks of SEBlock (points in grader/config.toml, [points.SEBlock])."""

import torch
from hypothesis import strategies as st

from assignment.tolerance import close, excess
from grader.checks import check, fail, given
from grader.hidden._common import check_layout, check_shapes, equivalence_checks, mode_text, se_cases

CLASS = "SEBlock"


@check(CLASS, "shapes", "output shape equals the input shape for any channels, reduction, H and W")
@given(case=se_cases())
def test_shapes(grading, case):
    check_shapes(grading.subject, case)


@check(CLASS, "layout", "state_dict keys/shapes and parameter count match the lab's layout")
def test_layout(grading):
    check_layout(grading, CLASS)


@check(CLASS, "gates", "output = input x one gate in (0, 1) per (sample, channel), constant over H x W")
@given(case=se_cases())
def test_gates(grading, case):
    subject, config = grading.subject, grading.config
    model = subject.build(case.class_name, case.kwargs, case.seed)
    x = case.input(low=0.25) * 3  # no input near zero, so output / input is well defined
    out = subject.forward(model, x)
    where = case.on("eval mode")
    if tuple(out.shape) != tuple(x.shape):
        fail(f"{where}: the output has shape {tuple(out.shape)}, expected {tuple(x.shape)}")
    if not torch.isfinite(out).all():
        fail(f"{where}: the output contains NaN or infinity")
    ratio = (out.double() / x.double()).flatten(2)  # [B, C, H*W]
    gates = ratio.mean(2)
    beyond = excess(ratio, gates[:, :, None], rtol=config.rtol, atol=config.atol).amax(2)  # [B, C]
    if bool((beyond > 0).any()):
        b, c = divmod(int(beyond.argmax()), ratio.shape[1])
        fail(f"{where}: the output is not the input times one factor per (sample, channel): for sample {b}, "
             f"channel {c}, output / input varies over H x W from {float(ratio[b, c].min()):.4g} to "
             f"{float(ratio[b, c].max()):.4g}; expected x * gate with gate of shape [B, C, 1, 1]")
    outside = (gates <= 0) | (gates >= 1)
    if bool(outside.any()):
        b, c = (int(i) for i in outside.nonzero()[0])
        fail(f"{where}: sample {b}, channel {c} is scaled by {float(gates[b, c]):.4g}; expected a gate strictly "
             "between 0 and 1 (the excitation ends with a sigmoid)")


@check(CLASS, "independence", "each sample's output depends on that sample only (train and eval mode)")
@given(case=se_cases(min_batch=2), data=st.data())
def test_independence(grading, case, data):
    subject, config = grading.subject, grading.config
    changed = data.draw(st.integers(0, case.batch - 1), label="changed sample")
    model = subject.build(case.class_name, case.kwargs, case.seed)
    x = case.input()
    x_changed = x.clone()
    x_changed[changed] = case.input(offset=1)[changed] * 2 + 1
    for train in (False, True):
        before = subject.forward(model, x, train=train).double()
        after = subject.forward(model, x_changed, train=train).double()
        if before.shape != after.shape or tuple(before.shape) != tuple(x.shape):
            fail(f"{case.on(mode_text(train, False))}: the output has shape {tuple(before.shape)}, "
                 f"expected {tuple(x.shape)}")
        for other in range(case.batch):
            if other == changed:
                continue
            if not close(after[other], before[other], rtol=config.rtol, atol=config.atol):
                difference = float((after[other] - before[other]).abs().max())
                fail(f"{case.on(mode_text(train, False))}: sample {other}'s output changed (by up to "
                     f"{difference:.3g}) when only sample {changed} changed; each sample's gates must come "
                     "from that sample alone (squeeze and excite per sample, never across the batch)")


globals().update(equivalence_checks(CLASS, se_cases()))
