"""Threshold metrics: how the scores of a binary model change with its decision threshold.

A binary model gives a probability per pixel; the mask is ``probs >= threshold``. These
functions compute Dice, IoU, sensitivity and specificity (``course_utils.metrics``, means over
images) at each threshold, and pick the best one. Lesson 07 chooses its threshold on the
validation data with them; ``widgets.threshold_slider`` shows them.
"""

from __future__ import annotations

import numpy as np
import torch

from course_utils import metrics

__all__ = ["THRESHOLD_METRICS", "best_threshold", "binary_maps", "scores_at",
           "threshold_curves"]

THRESHOLD_METRICS = ("dice", "iou", "sensitivity", "specificity")


def binary_maps(probs, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """``probs`` ``(N, 1, H, W)`` in [0, 1] and ``targets`` ``(N, 1, H, W)`` or ``(N, H, W)``,
    checked and returned as float CPU tensors of the same shape (``ValueError`` otherwise)."""
    for name, t in (("probs", probs), ("targets", targets)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a tensor, got {type(t).__name__}")
    if probs.ndim != 4 or probs.shape[1] != 1:
        raise ValueError(f"probs must be binary probabilities (N, 1, H, W), got shape "
                         f"{tuple(probs.shape)}; use training.predict on a binary model")
    if targets.ndim == 3:
        targets = targets[:, None]
    if targets.shape != probs.shape:
        raise ValueError(f"targets {tuple(targets.shape)} do not match probs "
                         f"{tuple(probs.shape)}")
    probs = probs.detach().float().cpu()
    if probs.numel() and (probs.min() < 0 or probs.max() > 1 or probs.isnan().any()):
        raise ValueError("probs must be probabilities in [0, 1]; apply torch.sigmoid to logits")
    return probs, targets.detach().float().cpu()


def scores_at(probs: torch.Tensor, targets: torch.Tensor, threshold: float) -> dict:
    """The ``THRESHOLD_METRICS`` (means over images) and the predicted foreground fraction
    of the masks ``probs >= threshold``; the inputs as ``binary_maps`` returns them."""
    pred = (probs >= threshold).float()
    scores = {"dice": metrics.dice_score(pred, targets), "iou": metrics.iou_score(pred, targets),
              "sensitivity": metrics.sensitivity(pred, targets),
              "specificity": metrics.specificity(pred, targets)}
    scores["foreground_fraction"] = pred.mean().item()
    return scores


def threshold_curves(probs: torch.Tensor, targets: torch.Tensor,
                     thresholds=None) -> dict[str, np.ndarray]:
    """Dice, IoU, sensitivity, specificity (means over images, see ``course_utils.metrics``)
    and the predicted foreground fraction at each threshold.

    Args:
        probs: probabilities ``(N, 1, H, W)``, e.g. from ``training.predict``.
        targets: true masks ``(N, 1, H, W)`` or ``(N, H, W)`` with values 0/1.
        thresholds: where to evaluate; 0, 0.01, ..., 1 by default.

    Returns:
        ``{"threshold": (T,), "dice": (T,), ..., "foreground_fraction": (T,)}`` arrays.
    """
    probs, targets = binary_maps(probs, targets)
    thresholds = np.linspace(0, 1, 101) if thresholds is None else np.asarray(thresholds, float)
    if thresholds.ndim != 1 or not len(thresholds):
        raise ValueError(f"thresholds must be a non-empty 1-D sequence, got {thresholds!r}")
    rows = [scores_at(probs, targets, float(t)) for t in thresholds]
    return {"threshold": thresholds} | {k: np.array([r[k] for r in rows]) for k in rows[0]}


def best_threshold(curves: dict[str, np.ndarray], metric: str = "dice") -> tuple[float, float]:
    """The threshold with the highest ``metric`` in ``curves`` (the lowest one on a tie) and
    the metric's value there."""
    if metric not in curves or metric == "threshold":
        raise ValueError(f"metric must be one of {[k for k in curves if k != 'threshold']}, "
                         f"got {metric!r}")
    i = int(np.argmax(curves[metric]))
    return float(curves["threshold"][i]), float(curves[metric][i])
