"""course_utils.thresholds on hand-computed 2 x 2 maps: the scores at one threshold, the
inputs it accepts, and the inputs it refuses (the curves: tests/test_widgets_threshold.py)."""

import math

import numpy as np
import pytest
import torch

from course_utils import thresholds

# p = 0.9 and 0.5 on cell pixels, 0.2 and 0.6 on background
PROBS = torch.tensor([[[[0.9, 0.2], [0.6, 0.5]]]])
TARGETS = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])


@pytest.mark.parametrize(("threshold", "expected"), [
    # TP 2, FP 2, TN 0, FN 0
    (0.0, {"dice": 4 / 6, "iou": 0.5, "sensitivity": 1.0, "specificity": 0.0,
           "foreground_fraction": 1.0}),
    # TP 2 (0.9, 0.5), FP 1 (0.6), TN 1 (0.2)
    (0.5, {"dice": 0.8, "iou": 2 / 3, "sensitivity": 1.0, "specificity": 0.5,
           "foreground_fraction": 0.75}),
    # TP 1 (0.9), FN 1 (0.5), TN 2
    (0.7, {"dice": 2 / 3, "iou": 0.5, "sensitivity": 0.5, "specificity": 1.0,
           "foreground_fraction": 0.25}),
])
def test_scores_at_one_threshold(threshold, expected):
    got = thresholds.scores_at(PROBS, TARGETS, threshold)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert math.isclose(got[key], value, abs_tol=1e-6), key


def test_binary_maps_takes_targets_without_a_channel():
    probs, targets = thresholds.binary_maps(PROBS, TARGETS[:, 0].long())
    assert targets.shape == probs.shape == (1, 1, 2, 2)
    assert targets.dtype == probs.dtype == torch.float32


@pytest.mark.parametrize(("probs", "targets", "match"), [
    (PROBS.numpy(), TARGETS, "probs must be a tensor"),
    (PROBS, [[1, 0]], "targets must be a tensor"),
    (PROBS[0], TARGETS, r"\(N, 1, H, W\)"),
    (PROBS - 1, TARGETS, "apply torch.sigmoid"),
    (PROBS * float("nan"), TARGETS, "apply torch.sigmoid"),
    (PROBS, TARGETS[..., :1], "do not match"),
])
def test_binary_maps_refuses(probs, targets, match):
    with pytest.raises(ValueError, match=match):
        thresholds.binary_maps(probs, targets)


def test_best_threshold_names_the_metrics_it_knows():
    curves = {"threshold": np.array([0.0, 1.0]), "dice": np.array([0.2, 0.4])}
    assert thresholds.best_threshold(curves) == (1.0, 0.4)
    with pytest.raises(ValueError, match=r"one of \['dice'\], got 'threshold'"):
        thresholds.best_threshold(curves, "threshold")
