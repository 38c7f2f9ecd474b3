"""Hidden checks of CNN_SE, CNN_Base with an SE block after each layer (points: config.toml, [points.CNN_SE])."""


from grader.checks import check, given
from grader.hidden._common import (check_gradients, check_layout, check_own_weights, check_reference_weights,
                                   check_shapes, check_training, cnn_cases)

CLASS = "CNN_SE"


@check(CLASS, "shapes", "output shape [batch, num_classes] for 1 or 3 channels and 28 or 32 pixels")
@given(case=cnn_cases(CLASS))
def test_shapes(subject, case):
    check_shapes(subject, case)


@check(CLASS, "layout", "state_dict keys/shapes and parameter count match the lab's layout")
def test_layout(subject):
    check_layout(subject, CLASS)


@check(CLASS, "reference_weights", "same outputs as the reference when given the reference's weights")
@given(case=cnn_cases(CLASS))
def test_reference_weights(subject, case):
    check_reference_weights(subject, case)


@check(CLASS, "own_weights", "your initial weights give the same outputs in the reference")
@given(case=cnn_cases(CLASS))
def test_own_weights(subject, case):
    check_own_weights(subject, case)


@check(CLASS, "gradients", "every parameter receives the reference's gradient")
@given(case=cnn_cases(CLASS))
def test_gradients(subject, case):
    check_gradients(subject, case)


@check(CLASS, "training", "learns Fashion-MNIST in a short training", training=True)
def test_training(subject):
    check_training(subject, CLASS)
