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


def right_binary_metrics(pred, target):
    """A correct answer, written the way a student would."""
    p, t = pred.bool().flatten(1), target.bool().flatten(1)
    tp, fp = (p & t).sum(1).double(), (p & ~t).sum(1).double()
    fn, tn = (~p & t).sum(1).double(), (~p & ~t).sum(1).double()

    def ratio(num, den):
        return torch.where(den > 0, num / den.clamp(min=1), 1.0).mean().item()

    return {"dice": ratio(2 * tp, 2 * tp + fp + fn), "iou": ratio(tp, tp + fp + fn),
            "accuracy": ratio(tp + tn, tp + fp + fn + tn), "sensitivity": ratio(tp, tp + fn),
            "specificity": ratio(tn, tn + fp), "precision": ratio(tp, tp + fp)}


def pooled_over_batch(pred, target):
    return right_binary_metrics(pred.reshape(1, -1), target.reshape(1, -1))


def swapped_recall_precision(pred, target):
    return right_binary_metrics(target, pred)


def nan_when_empty(pred, target):
    scores = right_binary_metrics(pred, target)
    if not pred.bool().any():
        scores["precision"] = math.nan
    return scores


def zero_when_empty(pred, target):
    scores = right_binary_metrics(pred, target)
    if not pred.bool().any():
        scores["precision"] = 0.0
    return scores


def complement_by_subtraction(pred, target):
    """1 - mask works for floats and fails for bool masks."""
    p, t = pred.flatten(1), target.flatten(1)
    right = right_binary_metrics(pred.float(), target.float())
    (p * (1 - t)).sum()
    return right


def uint8_bitwise_not(pred, target):
    """~ on uint8 flips all eight bits: TN is counted as 255 per pixel."""
    p, t = pred.flatten(1), target.flatten(1)
    if p.dtype == torch.float32:
        p, t = p.bool(), t.bool()
    tp, fp = (p & t).sum(1).double(), (p & ~t).sum(1).double()
    fn, tn = (~p & t).sum(1).double(), (~p & ~t).sum(1).double()
    return right_binary_metrics(pred, target) | {
        "accuracy": ((tp + tn) / (tp + fp + fn + tn)).mean().item()}


def without_precision(pred, target):
    scores = right_binary_metrics(pred, target)
    del scores["precision"]
    return scores


def per_image_tensors(pred, target):
    p, t = pred.bool().flatten(1), target.bool().flatten(1)
    tp, fp = (p & t).sum(1).double(), (p & ~t).sum(1).double()
    fn = (~p & t).sum(1).double()
    dice = torch.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn).clamp(min=1), 1.0)
    return right_binary_metrics(pred, target) | {"dice": dice}


def test_the_exercise_stub_passes_through():
    def stub(pred, target):
        raise NotImplementedError("count the four kinds of pixel first")

    with pytest.raises(NotImplementedError, match="count the four kinds"):
        checks.check_binary_metrics(stub)


def test_right_binary_metrics_pass(capsys):
    checks.check_binary_metrics(right_binary_metrics)
    assert capsys.readouterr().out == "✔ binary_metrics: all 9 checks passed.\n"


def test_reference_passes_and_tensor_numbers_are_accepted():
    checks.check_binary_metrics(lambda p, t: metrics.binary_metrics(p, t)
                                | {"precision": torch.tensor(metrics.precision(p, t))})


@pytest.mark.parametrize(("fn", "message"), [
    (pooled_over_batch, r"dice, two images, .*: expected 0.716667, got 0.842105, which is the "
                        r"score of all pixels pooled as one image. Count .* per image"),
    (swapped_recall_precision, r"sensitivity, one 3x3 image.*: expected 0.6, got 0.75, which is "
                               r"what pred and target swapped give.*TRUE foreground"),
    (nan_when_empty, "precision, both masks empty: expected 1, got nan. A zero denominator"),
    (zero_when_empty, "precision, both masks empty: expected 1, got 0. Here precision's "
                      "denominator is zero; the course's policy scores that 1.0"),
    (complement_by_subtraction, r"as bool masks: your function raised NotImplementedError.*It ran on "
                                r"float masks, so the torch.bool masks broke it: convert"),
    (uint8_bitwise_not, r"accuracy, the same two images as uint8 masks: expected 0.90625, got "
                        r".*torch.uint8 dtype breaks your counting \(~ on uint8 flips"),
    (without_precision, r"the dict lacks \['precision'\]"),
    (per_image_tensors, r"dice, two images.*: return one number, got a tensor of shape \(2,\)"),
    (lambda p, t: list(right_binary_metrics(p, t).values()), "return a dict with the keys"),
    (lambda p, t: right_binary_metrics(p, t) | ({"sensitivity": 0.0} if p.bool().all() else {}),
     r"sensitivity, everything predicted, everything true: expected 1, got 0; sensitivity is "
     r"the share of the TRUE foreground"),
    (lambda p, t: right_binary_metrics(p, t) | {"iou": right_binary_metrics(p, t)["dice"]},
     r"iou, one 2x2 image.*: expected 0.333333, got 0.5; iou is the overlap over the union"),
])
def test_wrong_binary_metrics_fail_naming_the_slip(fn, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_binary_metrics(fn)


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
