"""Hidden checks of CNN_Base (points in grader/config.toml, [points.CNN_Base]): the checks every CNN shares."""

from grader.hidden._common import shared_cnn_checks

CLASS = "CNN_Base"

globals().update(shared_cnn_checks(CLASS))
