"""Checks for the evaluation metrics the student writes: binary overlap metrics, per-class
IoU, Hausdorff distance / HD95 and topology counts.

Every check compares the student's function with the reference in ``course_utils.metrics``
or ``course_utils.topology`` on a table of tiny masks whose answers can be worked out by
hand, edge cases (empty masks) included.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from course_utils import metrics, topology
from course_utils.checks import CheckFailed, expect_close, passed

__all__ = [
    "check_binary_metric",
    "check_count_components",
    "check_count_holes",
    "check_hausdorff",
    "check_per_class_iou",
]

_REFERENCE = {
    "dice": metrics.dice_score,
    "iou": metrics.iou_score,
    "accuracy": metrics.accuracy,
    "sensitivity": metrics.sensitivity,
    "specificity": metrics.specificity,
}


def _mask(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def _binary_cases():
    half = _mask([[1, 1, 0, 0], [1, 1, 0, 0]])
    return [
        ("partial overlap (TP=1, FP=1, FN=1, TN=1)", _mask([[1, 1], [0, 0]]),
         _mask([[1, 0], [1, 0]])),
        ("perfect prediction", half, half.clone()),
        ("disjoint masks", half, 1 - half),
        ("both masks empty", torch.zeros(2, 4), torch.zeros(2, 4)),
        ("empty prediction, non-empty target", torch.zeros(2, 4), half),
        ("everything predicted, one true pixel", torch.ones(2, 4),
         _mask([[0, 0, 0, 0], [0, 1, 0, 0]])),
        ("a full target predicted in part", half, torch.ones(2, 4)),
    ]


def _number(case: str, got) -> float:
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise CheckFailed(f"{case}: return one number, got a tensor of shape "
                              f"{tuple(got.shape)}")
        got = got.item()
    if not isinstance(got, int | float | np.number):
        raise CheckFailed(f"{case}: return a number, got {type(got).__name__}")
    return float(got)


def check_binary_metric(name: str, fn) -> None:
    """Check ``fn(pred, target) -> float`` for one pair of hard masks ``(H, W)``.

    Args:
        name: which metric ``fn`` computes: "dice", "iou", "accuracy", "sensitivity" or
            "specificity". A denominator of zero scores 1.0 (see ``course_utils.metrics``).
    """
    if name not in _REFERENCE:
        raise ValueError(f"name must be one of {sorted(_REFERENCE)}, got {name!r}")
    cases = _binary_cases()
    for case, pred, target in cases:
        expected = _REFERENCE[name](pred[None], target[None])
        got = _number(case, fn(pred.clone(), target.clone()))
        if math.isnan(got):
            raise CheckFailed(f"{name}, {case}: got nan, expected {expected:.6g}; a zero "
                              f"denominator means nothing can be wrong: return 1.0")
        expect_close(f"{name}, {case}", got, expected)
    passed(name, len(cases))


def check_per_class_iou(fn) -> None:
    """Check ``fn(cm) -> (C,)`` tensor of IoU per class from a confusion matrix (rows: true
    class, columns: predicted), with nan for a class absent from both."""
    cases = [
        ("a perfect 3-class matrix", torch.diag(torch.tensor([5, 2, 7]))),
        ("two classes, some confusion", torch.tensor([[3, 1], [2, 4]])),
        ("a class never true, sometimes predicted", torch.tensor([[4, 2], [0, 0]])),
        ("a class that never occurs (nan)", torch.tensor([[3, 0, 1], [0, 0, 0], [1, 0, 5]])),
    ]
    for case, cm in cases:
        got = fn(cm.clone())
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{case}: return a tensor with one IoU per class, "
                              f"got {type(got).__name__}")
        expected = metrics.iou_from_confusion(cm)
        if got.shape == expected.shape and torch.isnan(expected).any() \
                and not torch.isnan(got.double()).any():
            raise CheckFailed(f"{case}: a class with an empty union has no IoU; give it nan "
                              f"(torch.nanmean then skips it), got "
                              f"{got.double().tolist()}")
        expect_close(case, got.double(), expected)
    passed("per_class_iou", len(cases))


def _square(size, top, left, side):
    mask = np.zeros(size, dtype=np.uint8)
    mask[top : top + side, left : left + side] = 1
    return mask


def _hausdorff_cases():
    square = _square((16, 16), 4, 4, 6)
    shifted = _square((16, 16), 4, 7, 6)
    outlier = square.copy()
    outlier[15, 15] = 1
    long_edge = np.zeros((24, 24), dtype=np.uint8)
    long_edge[2:22, 2:22] = 1
    speck = long_edge.copy()
    speck[0, 23] = 1
    return [
        ("identical masks", square, square.copy()),
        ("a square shifted 3 px right", square, shifted),
        ("a square plus one stray pixel", outlier, square),
        ("a big square plus one stray pixel (HD95 ignores it)", speck, long_edge),
        ("a small square inside a big one", _square((24, 24), 8, 8, 8), long_edge),
        ("both masks empty", np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)),
        ("empty prediction", np.zeros((16, 16), np.uint8), square),
    ]


def check_hausdorff(fn) -> None:
    """Check ``fn(pred, target, percentile=100) -> float`` against
    ``topology.hausdorff_distance`` (boundaries from ``topology.boundary``; 0.0 for two empty
    masks, inf when exactly one is empty), for the maximum and for HD95."""
    cases = _hausdorff_cases()
    for percentile in (100, 95):
        for case, pred, target in cases:
            label = f"percentile={percentile}, {case}"
            expected = topology.hausdorff_distance(pred, target, percentile)
            got = _number(label, fn(pred.copy(), target.copy(), percentile=percentile))
            if math.isinf(expected):
                if not math.isinf(got):
                    raise CheckFailed(f"{label}: one mask has no boundary to measure to, so "
                                      f"the distance is unbounded: return float('inf'), "
                                      f"got {got:.6g}")
                continue
            expect_close(label, got, expected, atol=1e-6, rtol=1e-6)
    passed("hausdorff", 2 * len(cases))


def _topology_cases():
    ring = _square((9, 9), 1, 1, 7)
    ring[3:6, 3:6] = 0
    two_rings = np.concatenate([ring, ring], axis=1)
    cup = ring.copy()
    cup[3:6, 3:8] = 0  # the hole opens to the right-hand border
    diagonal = np.eye(4, dtype=np.uint8)
    pinhole = _square((5, 5), 0, 0, 5)
    pinhole[2, 2] = 0
    return [
        ("an empty mask", np.zeros((6, 6), np.uint8)),
        ("one square", _square((8, 8), 2, 2, 3)),
        ("two squares", np.concatenate([_square((6, 6), 1, 1, 3)] * 2, axis=1)),
        ("a diagonal line (8-connected)", diagonal),
        ("a ring", ring),
        ("two rings", two_rings),
        ("a ring open to the border", cup),
        ("a full mask with a one-pixel hole", pinhole),
    ]


def _check_count(fn, reference, what: str) -> None:
    cases = _topology_cases()
    for case, mask in cases:
        expected = reference(mask)
        got = fn(mask.copy())
        if isinstance(got, torch.Tensor | np.ndarray) and np.size(got) == 1:
            got = got.item()
        if not isinstance(got, int | np.integer):
            raise CheckFailed(f"{case}: return the count as an int, got {type(got).__name__} "
                              f"{got!r}")
        if got != expected:
            raise CheckFailed(f"{case}: expected {expected} {what}, got {got}")
    passed(f"count_{what}", len(cases))


def check_count_components(fn) -> None:
    """Check ``fn(mask) -> int``: 8-connected foreground components of a 0/1 array."""
    _check_count(fn, topology.count_components, "components")


def check_count_holes(fn) -> None:
    """Check ``fn(mask) -> int``: background pieces not connected to the border (4-connected
    background, the complement of 8-connected foreground)."""
    _check_count(fn, topology.count_holes, "holes")
