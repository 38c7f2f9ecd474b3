"""Hidden checks of CNN_SE, CNN_Base with an SE block after each layer (points: config.toml, [points.CNN_SE]):
the checks every CNN shares (the SE blocks themselves are graded by test_seblock.py)."""

from grader.hidden._common import shared_cnn_checks

CLASS = "CNN_SE"

globals().update(shared_cnn_checks(CLASS))
