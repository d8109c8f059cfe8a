"""course_utils.checks.metrics: right answers pass, typical wrong answers fail naming the case."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from course_utils import metrics, topology
from course_utils.checks import CheckFailed
from course_utils.checks import metrics as checks


def counts(p, t):
    p, t = p.bool(), t.bool()
    return [(a & b).sum().item() for a, b in ((p, t), (p, ~t), (~p, t), (~p, ~t))]


def safe(num, den):
    return num / den if den else 1.0


RIGHT = {
    "dice": lambda p, t: safe(2 * counts(p, t)[0], 2 * counts(p, t)[0] + sum(counts(p, t)[1:3])),
    "iou": lambda p, t: safe(counts(p, t)[0], sum(counts(p, t)[:3])),
    "accuracy": lambda p, t: (counts(p, t)[0] + counts(p, t)[3]) / p.numel(),
    "sensitivity": lambda p, t: safe(counts(p, t)[0], counts(p, t)[0] + counts(p, t)[2]),
    "specificity": lambda p, t: safe(counts(p, t)[3], counts(p, t)[3] + counts(p, t)[1]),
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_binary_metrics_pass(name, capsys):
    checks.check_binary_metric(name, RIGHT[name])
    assert capsys.readouterr().out == f"✔ {name}: all 7 checks passed.\n"


def test_tensor_results_are_accepted():
    checks.check_binary_metric("dice", lambda p, t: torch.tensor(RIGHT["dice"](p, t)))


@pytest.mark.parametrize(("name", "fn", "message"), [
    ("dice", lambda p, t: 2 * (p * t).sum() / (p.sum() + t.sum()), "dice, both masks empty: got nan"),
    ("iou", RIGHT["dice"], r"iou, partial overlap .*: expected 0.333333, got 0.5"),
    ("accuracy", lambda p, t: (p == t).float().mean(dim=0), "return one number"),
    ("sensitivity", RIGHT["specificity"], "sensitivity, empty prediction, non-empty target"),
    ("specificity", lambda p, t: "1.0", "return a number, got str"),
    ("dice", lambda p, t: safe(2 * counts(p, t)[0], 2 * counts(p, t)[0] + sum(counts(p, t)[1:3]))
     if counts(p, t)[0] else 0.0, "dice, both masks empty: expected 1, got 0"),
])
def test_wrong_binary_metrics_fail_naming_the_case(name, fn, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_binary_metric(name, fn)


def test_unknown_metric_name():
    with pytest.raises(ValueError, match="name must be one of"):
        checks.check_binary_metric("f1", RIGHT["dice"])


def test_per_class_iou():
    checks.check_per_class_iou(metrics.iou_from_confusion)
    with pytest.raises(CheckFailed, match="give it nan"):
        checks.check_per_class_iou(lambda cm: metrics.iou_from_confusion(cm).nan_to_num(0.0))
    with pytest.raises(CheckFailed, match="two classes, some confusion: values differ"):
        checks.check_per_class_iou(lambda cm: cm.diag() / cm.sum(1).clamp(min=1))  # recall
    with pytest.raises(CheckFailed, match="return a tensor"):
        checks.check_per_class_iou(lambda cm: metrics.iou_from_confusion(cm).tolist())


def hausdorff_all_pixels(pred, target, percentile=100):
    """A common slip: distances between all mask pixels instead of boundaries."""
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    if not pred.any() and not target.any():
        return 0.0
    if not pred.any() or not target.any():
        return math.inf
    a = ndimage.distance_transform_edt(~target)[pred]
    b = ndimage.distance_transform_edt(~pred)[target]
    return float(max(np.percentile(a, percentile), np.percentile(b, percentile)))


def test_hausdorff():
    checks.check_hausdorff(topology.hausdorff_distance)
    with pytest.raises(CheckFailed, match="percentile=95"):
        checks.check_hausdorff(lambda p, t, percentile=100: topology.hausdorff_distance(p, t))
    with pytest.raises(CheckFailed, match="empty prediction: one mask has no boundary"):
        checks.check_hausdorff(lambda p, t, percentile=100: 0.0 if not np.any(p) else
                               topology.hausdorff_distance(p, t, percentile))
    with pytest.raises(CheckFailed, match="percentile=95, a small square inside a big one"):
        checks.check_hausdorff(hausdorff_all_pixels)


def test_topology_counts():
    checks.check_count_components(topology.count_components)
    checks.check_count_holes(topology.count_holes)
    with pytest.raises(CheckFailed, match=r"a diagonal line \(8-connected\): expected 1 components, got 4"):
        checks.check_count_components(lambda m: topology.count_components(m, connectivity=4))
    with pytest.raises(CheckFailed, match="an empty mask: expected 0 holes, got 1"):
        checks.check_count_holes(lambda m: ndimage.label(~np.asarray(m, bool))[1])
    with pytest.raises(CheckFailed, match="return the count as an int, got float"):
        checks.check_count_components(lambda m: float(topology.count_components(m)))
    checks.check_count_components(lambda m: np.int64(topology.count_components(m)))
