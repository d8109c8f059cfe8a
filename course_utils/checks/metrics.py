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
from course_utils.checks.calling import call_student

__all__ = [
    "check_binary_metrics",
    "check_count_components",
    "check_count_holes",
    "check_hausdorff",
    "check_per_class_iou",
]

BINARY_KEYS = ("dice", "iou", "accuracy", "sensitivity", "specificity", "precision")

# what each metric measures, in words, for the messages (never the formula)
_MEANING = {
    "dice": "twice the overlap over the sum of the two mask sizes",
    "iou": "the overlap over the union of the two masks",
    "accuracy": "the share of all pixels labelled right",
    "sensitivity": "the share of the TRUE foreground that the prediction finds",
    "specificity": "the share of the TRUE background that the prediction leaves alone",
    "precision": "the share of the PREDICTED foreground that is truly foreground",
}


def _mask(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def _reference(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    return metrics.binary_metrics(pred, target) | {"precision": metrics.precision(pred, target)}


def _pooled(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """The reference computed as if the batch were one big image (the pooled slip)."""
    return _reference(pred.reshape(1, 1, -1), target.reshape(1, 1, -1))


def _binary_cases():
    """(case, pred, target), each a batch of masks; floats unless the case says otherwise."""
    # one 3x3 image with TP 3, FP 1, FN 2, TN 3: precision and sensitivity differ
    odd_pred = _mask([[[1, 1, 0], [1, 1, 0], [0, 0, 0]]])
    odd_true = _mask([[[1, 1, 1], [1, 0, 0], [1, 0, 0]]])
    # two images of very different object sizes: pooled counts differ from the mean
    pair_pred = _mask([[[1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
                       [[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]])
    pair_true = _mask([[[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]],
                       [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]])
    return [
        ("one 2x2 image with one pixel of each kind (TP, FP, FN, TN)",
         _mask([[[1, 1], [0, 0]]]), _mask([[[1, 0], [1, 0]]])),
        ("one 3x3 image, TP 3, FP 1, FN 2, TN 3", odd_pred, odd_true),
        ("both masks empty", torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)),
        ("empty prediction, non-empty target", torch.zeros(1, 2, 2), _mask([[[1, 0], [1, 0]]])),
        ("everything predicted, everything true", torch.ones(1, 2, 3), torch.ones(1, 2, 3)),
        ("two images, a large and a small object (mean over images)", pair_pred, pair_true),
        ("the same two images as (N, 1, H, W)", pair_pred[:, None], pair_true[:, None]),
        ("the same two images as bool masks", pair_pred.bool(), pair_true.bool()),
        ("the same two images as uint8 masks", pair_pred.to(torch.uint8),
         pair_true.to(torch.uint8)),
    ]


def _zero_denominator(pred: torch.Tensor, target: torch.Tensor, key: str) -> bool:
    """Whether ``key``'s denominator is zero for some image of the batch."""
    p, t = pred.bool().flatten(1), target.bool().flatten(1)
    tp, fp, fn, tn = ((a & b).sum(1) for a, b in ((p, t), (p, ~t), (~p, t), (~p, ~t)))
    den = {"dice": tp + fp + fn, "iou": tp + fp + fn, "accuracy": tp + fp + fn + tn,
           "sensitivity": tp + fn, "specificity": tn + fp, "precision": tp + fp}[key]
    return bool((den == 0).any())


def _number(case: str, got) -> float:
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise CheckFailed(f"{case}: return one number, got a tensor of shape "
                              f"{tuple(got.shape)}")
        got = got.item()
    if not isinstance(got, int | float | np.number):
        raise CheckFailed(f"{case}: return a number, got {type(got).__name__}")
    return float(got)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)


def _dtype_hint(dtype: torch.dtype):
    return lambda exc: (f"It ran on float masks, so the {dtype} masks broke it: convert both "
                        f"masks with .bool() first; then & | ~ work and sums count pixels.")


def check_binary_metrics(fn) -> None:
    """Check ``fn(pred, target) -> dict`` of the six binary metrics of a batch of hard masks.

    ``pred`` and ``target`` are ``(N, H, W)`` or ``(N, 1, H, W)`` masks of 0/1 (float, bool
    or uint8). ``fn`` must return ``{"dice", "iou", "accuracy", "sensitivity",
    "specificity", "precision"}``, each the mean over images of the per-image score, with
    1.0 for a zero denominator (``course_utils.metrics``' empty-mask policy). The messages
    name the usual slips: counts pooled over the batch, prediction and target swapped, nan
    or 0 for an empty mask, a dtype the counting does not survive.
    """
    cases = _binary_cases()
    for case, pred, target in cases:
        floats = pred.dtype == torch.float32
        # NotImplementedError on float masks is the exercise's stub; on bool masks torch raises
        # it too (for `1 - mask`), and then the student must learn which input broke the code
        got = call_student(f"{case}: your function", fn, pred.clone(), target.clone(),
                           stub=floats, hint=None if floats else _dtype_hint(pred.dtype))
        if not isinstance(got, dict):
            raise CheckFailed(f"{case}: return a dict with the keys {list(BINARY_KEYS)}, "
                              f"got {type(got).__name__}")
        missing = [k for k in BINARY_KEYS if k not in got]
        if missing:
            raise CheckFailed(f"{case}: the dict lacks {missing}; return all of "
                              f"{list(BINARY_KEYS)}")
        expected = _reference(pred, target)
        pooled, swapped = _pooled(pred, target), _reference(target, pred)
        for key in BINARY_KEYS:
            value = _number(f"{key}, {case}", got[key])
            want = expected[key]
            if _close(value, want):
                continue
            label = f"{key}, {case}: expected {want:.6g}, got {value:.6g}"
            if math.isnan(value):
                raise CheckFailed(f"{label}. A zero denominator means nothing can be wrong "
                                  f"in the respect {key} measures: the course scores it 1.0")
            if want == 1.0 and value == 0.0 and _zero_denominator(pred, target, key):
                raise CheckFailed(f"{label}. Here {key}'s denominator is zero; the course's "
                                  f"policy scores that 1.0, since nothing can be wrong in "
                                  f"that respect")
            if len(pred) > 1 and _close(value, pooled[key]):
                raise CheckFailed(f"{label}, which is the score of all pixels pooled as one "
                                  f"image. Count the four kinds of pixel per image (sum over "
                                  f"the pixel dims, not the image dim), take each image's "
                                  f"ratio, then the mean over images")
            if _close(value, swapped[key]):
                raise CheckFailed(f"{label}, which is what pred and target swapped give (or FP "
                                  f"and FN swapped). {key} is {_MEANING[key]}")
            if pred.dtype != torch.float32:
                raise CheckFailed(f"{label}. The same masks as floats passed, so the "
                                  f"{pred.dtype} dtype breaks your counting (~ on uint8 flips "
                                  f"all eight bits: ~1 is 254). Convert both masks with "
                                  f".bool() first")
            raise CheckFailed(f"{label}; {key} is {_MEANING[key]}")
    passed("binary_metrics", len(cases))


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
