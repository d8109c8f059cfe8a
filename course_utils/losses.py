"""Losses for binary segmentation: three forms of BCE, Dice, Jaccard (soft IoU), Focal, total
variation, and the exercise sheet's centred and sparsity regularisers.

These are the reference versions of what lessons 01 and 02 have the student write; later
lessons and the check functions use them. Shapes follow ``course_utils.data``: logits
``(N, 1, H, W)`` and a float target of the same shape with values in {0, 1} (soft targets
in [0, 1] work too). The three BCE forms return one loss per element; the loss modules
return a scalar (or per-element values with ``reduction="none"`` where offered).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BCELoss_TotalVariation",
    "CenteredLoss",
    "DiceLoss",
    "FocalLoss",
    "JaccardLoss",
    "SparsityLoss",
    "bce_simplified",
    "bce_textbook",
    "breaking_logits",
    "dice_gradient",
    "focal_weight",
    "stable_bce_with_logits",
    "total_variation",
]

REDUCTIONS = ("mean", "sum", "none")


def _check_pair(logits: torch.Tensor, target: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError(f"logits and target must be tensors, got {type(logits).__name__} "
                         f"and {type(target).__name__}")
    if logits.shape != target.shape:
        raise ValueError(f"logits and target shapes differ: {tuple(logits.shape)} vs "
                         f"{tuple(target.shape)}; binary targets are float (N, 1, H, W)")
    if not target.dtype.is_floating_point:
        raise ValueError(f"target must be a float tensor of 0s and 1s, got {target.dtype}; "
                         f"use target.float()")


def _check_batch(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 4:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"expected logits (N, C, H, W), got {shape}")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def bce_textbook(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE as written in textbooks: ``-[y log s(x) + (1 - y) log(1 - s(x))]``, per element.

    Breaks in float32 once the sigmoid rounds to exactly 0 or 1 (``|x|`` above about 17):
    the log of 0 is ``-inf``, and ``0 * -inf`` is nan.
    """
    _check_pair(logits, target)
    probs = torch.sigmoid(logits)
    return -(target * torch.log(probs) + (1 - target) * torch.log(1 - probs))


def bce_simplified(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The exercise sheet's simplified BCE ``x - x y + log(1 + exp(-x))``, per element.

    Equal to the textbook form in exact arithmetic; ``exp(-x)`` overflows for large negative
    logits (below about -88 in float32), which gives inf.
    """
    _check_pair(logits, target)
    return logits - logits * target + torch.log(1 + torch.exp(-logits))


def stable_bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Numerically stable BCE ``max(x, 0) - x y + log(1 + exp(-|x|))``, per element.

    ``exp`` only ever sees ``-|x| <= 0``, so it cannot overflow, and ``log1p`` keeps the last
    term accurate when ``exp(-|x|)`` is tiny. Equal to
    ``F.binary_cross_entropy_with_logits(logits, target, reduction="none")``.
    """
    _check_pair(logits, target)
    # max(x, 0) and |x| both have a kink at 0 that cancels in the sum. torch.maximum splits
    # the gradient of a tie (1/2), giving the true derivative sigmoid(0) - y there; clamp or
    # relu (gradient 0 at the kink) would give -y.
    relu = torch.maximum(logits, torch.zeros_like(logits))
    return relu - logits * target + torch.log1p(torch.exp(-logits.abs()))


def breaking_logits(dtype: torch.dtype) -> tuple[float, float]:
    """The two logits where the naive BCE forms break in a floating-point ``dtype``.

    Returns ``(saturation, overflow)``. Above ``saturation = -log(eps / 2)`` (``24 log 2``, about
    16.64, in float32) ``1 + exp(-x)`` rounds to 1, so the sigmoid is exactly 1 and the
    textbook form takes ``log(0)``; ``eps`` is the spacing of the numbers just above 1, and
    rounding to nearest drops anything below half of it. Below ``overflow = -log(max)``
    (about -88.72 in float32) ``exp(-x)`` overflows to inf, and so does the simplified form.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    info = torch.finfo(dtype)
    return -math.log(info.eps / 2), -math.log(info.max)


def focal_weight(probs: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Focal modulating factor ``(1 - p_t) ** gamma`` per element (Lin et al., 2017).

    ``p_t`` is the predicted probability of the true class: ``p`` where ``y = 1`` and
    ``1 - p`` where ``y = 0``. The factor is clamped away from 0 before the power so that
    ``gamma < 1`` gives a zero gradient, not nan, for perfectly confident pixels.

    Args:
        probs: foreground probabilities, e.g. ``torch.sigmoid(logits)``.
        target: same shape, values in [0, 1].
        gamma: focusing parameter, ``>= 0``; 0 gives a factor of 1 everywhere.
    """
    _check_pair(probs, target)
    if not gamma >= 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    p_t = probs * target + (1 - probs) * (1 - target)
    return (1 - p_t).clamp(min=torch.finfo(probs.dtype).tiny) ** gamma


def total_variation(probs: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation of ``(N, C, H, W)`` maps: mean absolute difference between
    vertical neighbours plus mean absolute difference between horizontal neighbours.

    The exercise sheet sums the differences. Neither form is independent of the image size:
    for a mask, the differences sit along the boundary, whose length grows like ``H``, so
    the sum grows like ``H`` and the mean shrinks like ``1 / H``, while a mean per-pixel loss
    such as BCE stays about the same. Scale the weight of the term with ``H`` to keep the
    balance when the image size changes.
    """
    _check_batch(probs)
    if probs.shape[-2] < 2 or probs.shape[-1] < 2:
        raise ValueError(f"total variation needs at least 2 x 2 pixels, got {tuple(probs.shape)}")
    vertical = (probs[..., 1:, :] - probs[..., :-1, :]).abs().mean()
    horizontal = (probs[..., :, 1:] - probs[..., :, :-1]).abs().mean()
    return vertical + horizontal


class DiceLoss(nn.Module):
    """Smoothed Dice loss of the exercise sheet on sigmoid probabilities ``X``, target ``Y``:
    ``1 - mean(2 X Y + s) / (mean(X + Y) + s)``.

    The means run over each image's pixels (and channels); the per-image losses are then
    averaged over the batch. ``s`` keeps the ratio defined for empty masks; because it is
    added to *means*, which lie in [0, 2], ``s = 1`` is a large offset: the loss stays well
    below ``1 - Dice`` (about 0.2 for a prediction that misses a 28 % cell entirely).

    Args:
        smooth: the constant ``s`` (the sheet uses 1).
    """

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        if smooth < 0:
            raise ValueError(f"smooth must be >= 0, got {smooth}")
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(logits, target)
        _check_batch(logits)
        probs = torch.sigmoid(logits)
        dims = tuple(range(1, logits.ndim))
        numerator = 2 * (probs * target).mean(dims) + self.smooth
        denominator = (probs + target).mean(dims) + self.smooth
        return (1 - numerator / denominator).mean()


def dice_gradient(probs: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """The closed-form gradient of ``DiceLoss(smooth)`` with respect to the probabilities.

    For image ``b`` with ``N`` elements, ``M = mean(p + y) + s`` and the smoothed Dice
    ``D = (2 mean(p y) + s) / M``, the batch mean ``L = mean_b (1 - D_b)`` has
    ``dL / dp_i = (D_b - 2 y_i) / (B N M_b)``: it depends on the pixel's target, not on its
    probability, and a cell pixel is pulled up ``(2 - D) / D`` times harder than a
    background pixel is pushed down (``1 / J`` for ``s = 0``, with ``J = D / (2 - D)``).
    """
    _check_pair(probs, target)
    _check_batch(probs)
    dims = tuple(range(1, probs.ndim))
    size = probs[0].numel()
    m = (probs + target).mean(dims, keepdim=True) + smooth
    dice = (2 * (probs * target).mean(dims, keepdim=True) + smooth) / m
    return (dice - 2 * target) / (len(probs) * size * m)


class JaccardLoss(nn.Module):
    """Soft Jaccard (IoU) loss on sigmoid probabilities ``p`` and target ``y``, per image:
    ``1 - sum(p y) / (sum(y) + sum(p) - sum(p y) + eps)``, then the mean over the batch.

    With ``squared=True`` the sizes in the denominator are sums of squares,
    ``sum(y**2) + sum(p**2) - sum(p y)`` (Duque-Arias et al., 2021). For hard masks both
    equal ``1 - IoU``; for soft probabilities the squared form charges an unsure pixel
    ``p**2`` instead of ``p`` in the union.

    Args:
        squared: use the squared sizes in the denominator.
        eps: keeps the denominator away from 0 when both masks are empty.
    """

    def __init__(self, squared: bool = False, eps: float = 1e-6):
        super().__init__()
        if eps < 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.squared, self.eps = bool(squared), eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(logits, target)
        _check_batch(logits)
        probs = torch.sigmoid(logits)
        dims = tuple(range(1, logits.ndim))
        intersection = (probs * target).sum(dims)
        if self.squared:
            sizes = (target**2).sum(dims) + (probs**2).sum(dims)
        else:
            sizes = target.sum(dims) + probs.sum(dims)
        return (1 - intersection / (sizes - intersection + self.eps)).mean()


class FocalLoss(nn.Module):
    """Binary focal loss of Lin et al. (2017): ``-alpha_t (1 - p_t)^gamma log p_t``.

    Both terms of the BCE are modulated: a confident, correct pixel counts little whether it
    is foreground or background. With ``alpha=None`` and ``reduction="mean"`` this equals
    ``torchvision.ops.sigmoid_focal_loss(logits, target, alpha=-1, reduction="mean")``;
    ``gamma=0`` gives BCE exactly.

    Args:
        gamma: focusing parameter ``>= 0`` (2 in the paper).
        alpha: weight of the foreground term in [0, 1] (background gets ``1 - alpha``),
            or None for no class weighting.
        reduction: "mean", "sum" or "none".
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, reduction: str = "mean"):
        super().__init__()
        if not gamma >= 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if alpha is not None and not 0 <= alpha <= 1:
            raise ValueError(f"alpha must lie in [0, 1] or be None, got {alpha}")
        _check_reduction(reduction)
        self.gamma, self.alpha, self.reduction = gamma, alpha, reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(logits, target)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        loss = focal_weight(torch.sigmoid(logits), target, self.gamma) * bce
        if self.alpha is not None:
            loss = (self.alpha * target + (1 - self.alpha) * (1 - target)) * loss
        return _reduce(loss, self.reduction)


class BCELoss_TotalVariation(nn.Module):  # the exercise sheet's name, kept for its slides
    """BCE plus ``lam`` times the total variation of the sigmoid probabilities.

    The total variation (see ``total_variation``) grows with every jump between neighbouring
    pixels, in both directions, so it favours masks with short, smooth boundaries.

    Args:
        lam: weight of the total-variation term, ``>= 0``.
    """

    def __init__(self, lam: float = 1.0):
        super().__init__()
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.lam = lam

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(logits, target)
        bce = F.binary_cross_entropy_with_logits(logits, target)
        return bce + self.lam * total_variation(torch.sigmoid(logits))


class CenteredLoss(nn.Module):
    """The sheet's "centred" regulariser ``1 - sigmoid(x at the centre pixel)``, batch mean.

    For data where the object always covers the image centre: the penalty is near 1 when the
    centre pixel is predicted as background. The centre is pixel ``(H // 2, W // 2)``.
    """

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        _check_batch(logits)
        centre = logits[..., logits.shape[-2] // 2, logits.shape[-1] // 2]
        return torch.sigmoid(-centre).mean()  # 1 - sigmoid(x) without the cancellation


class SparsityLoss(nn.Module):
    """The sheet's sparsity (L1) regulariser: the mean foreground probability.

    Probabilities are non-negative, so their mean is their L1 norm per pixel; adding it to
    a loss favours masks with fewer foreground pixels.
    """

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        _check_batch(logits)
        return torch.sigmoid(logits).mean()
