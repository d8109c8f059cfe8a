"""Checks for multi-class segmentation: class counts, class weights, pixel-wise
cross-entropy with an ignore index, and the model/loss set-up for the facades."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import CheckFailed, expect_close, passed

__all__ = [
    "check_class_counts",
    "check_class_weights",
    "check_cross_entropy",
    "check_multiclass_setup",
]


def check_class_counts(fn) -> None:
    """Check ``fn(targets, num_classes, ignore_index=255) -> (num_classes,)`` pixel counts."""
    cases = [
        ("one image, three classes", torch.tensor([[[0, 1], [1, 2]]]), 3,
         torch.tensor([1, 2, 1])),
        ("a class that never occurs", torch.tensor([[[0, 0], [2, 2]]]), 4,
         torch.tensor([2, 0, 2, 0])),
        ("padding (255) is not counted", torch.tensor([[[1, 255], [255, 1]], [[0, 1], [1, 1]]]),
         2, torch.tensor([1, 5])),
    ]
    for case, targets, num_classes, expected in cases:
        got = fn(targets.clone(), num_classes, ignore_index=255)
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{case}: return a tensor of counts, got {type(got).__name__}")
        expect_close(case, got.double(), expected.double())
    passed("class_counts", len(cases))


def _weights(counts: torch.Tensor, power: float) -> torch.Tensor:
    freq = counts.double() / counts.sum()
    w = freq.pow(-power)
    return w / w.mean()


def check_class_weights(fn) -> None:
    """Check ``fn(counts, power=1.0) -> (C,)``: ``frequency ** -power``, scaled to mean 1."""
    cases = [
        ("balanced classes", torch.tensor([10, 10, 10]), 1.0),
        ("inverse frequency", torch.tensor([60, 30, 10]), 1.0),
        ("square root of the inverse frequency", torch.tensor([60, 30, 10]), 0.5),
        ("power 0: no weighting", torch.tensor([90, 9, 1]), 0.0),
    ]
    for case, counts, power in cases:
        got = fn(counts.clone(), power=power)
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{case}: return a tensor of weights, got {type(got).__name__}")
        expect_close(f"{case} (power={power})", got.double(), _weights(counts, power))
    passed("class_weights", len(cases))


def check_cross_entropy(fn) -> None:
    """Check ``fn(logits, target, weight=None, ignore_index=255) -> scalar`` against
    ``torch.nn.functional.cross_entropy`` (mean over the pixels that are not ignored,
    weighted by the weight of each pixel's true class)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=g) * 3
    target = torch.randint(0, 3, (2, 4, 5), generator=g)
    padded = target.clone()
    padded[:, -1] = 255
    weight = torch.tensor([0.2, 1.0, 3.0])
    cases = [
        ("plain", logits, target, None),
        ("with padding (255 ignored)", logits, padded, None),
        ("with class weights", logits, target, weight),
        ("with class weights and padding", logits, padded, weight),
        ("large logits (use log_softmax)", logits * 100, target, None),
    ]
    for case, x, y, w in cases:
        expected = F.cross_entropy(x, y, weight=w, ignore_index=255)
        got = fn(x.clone(), y.clone(), weight=None if w is None else w.clone(),
                 ignore_index=255)
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise CheckFailed(f"{case}: return a scalar tensor (the mean loss), got "
                              f"{type(got).__name__} {getattr(got, 'shape', '')}")
        expect_close(case, got.reshape(()), expected)
    passed("cross_entropy", len(cases))


def check_multiclass_setup(model: nn.Module, criterion, num_classes: int = 12,
                           size=(64, 48)) -> None:
    """Check that ``model`` maps ``(N, 3, H, W)`` to ``(N, num_classes, H, W)`` logits and
    that ``criterion`` is a cross-entropy that skips the padding label 255."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.rand(2, 3, *size, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
    if tuple(out.shape) != (2, num_classes, *size):
        raise CheckFailed(f"the model should output one logit map per class, shape "
                          f"(2, {num_classes}, {size[0]}, {size[1]}) for a batch of 2; got "
                          f"{tuple(out.shape)}. Set out_channels={num_classes}.")
    if not isinstance(criterion, nn.CrossEntropyLoss):
        raise CheckFailed(f"use nn.CrossEntropyLoss (softmax + log-loss per pixel), got "
                          f"{type(criterion).__name__}")
    if criterion.ignore_index != 255:
        raise CheckFailed(f"the padding label is 255; pass ignore_index=255 (got "
                          f"{criterion.ignore_index})")
    passed("multi-class set-up", 3)
