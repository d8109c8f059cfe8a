"""Check for lesson 02's closed-form gradient of the soft Dice loss.

The student differentiates the sheet's smoothed Dice loss (batch mean of
``1 - (2 mean(p y) + s) / (mean(p + y) + s)``) with respect to the probabilities by hand;
the check compares the result with ``losses.dice_gradient`` and with autograd, and names
the usual slips (a lost ``1 / B`` or ``1 / N``, the gradient of Dice instead of the loss, a
hard-coded smoothing constant).
"""

from __future__ import annotations

import torch

from course_utils import losses
from course_utils.checks import CheckFailed, expect_close, passed

__all__ = ["check_dice_gradient"]


def _sheet_dice_loss(probs: torch.Tensor, target: torch.Tensor, smooth: float) -> torch.Tensor:
    dims = tuple(range(1, probs.ndim))
    dice = (2 * (probs * target).mean(dims) + smooth) / ((probs + target).mean(dims) + smooth)
    return (1 - dice).mean()


def _autograd(probs: torch.Tensor, target: torch.Tensor, smooth: float) -> torch.Tensor:
    p = probs.detach().clone().requires_grad_()
    (grad,) = torch.autograd.grad(_sheet_dice_loss(p, target, smooth), p)
    return grad


def _call(case: str, fn, probs: torch.Tensor, target: torch.Tensor, smooth: float):
    copies = probs.clone(), target.clone()
    try:
        got = fn(*copies, smooth)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise CheckFailed(f"{case}: your code raised {type(exc).__name__}: {exc}") from exc
    if not torch.equal(copies[0], probs) or not torch.equal(copies[1], target):
        raise CheckFailed(f"{case}: your code changed its input in place; work on new tensors")
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{case}: return a tensor, got {type(got).__name__}")
    if got.shape != probs.shape:
        raise CheckFailed(f"{case}: expected one derivative per probability, shape "
                          f"{tuple(probs.shape)}, got {tuple(got.shape)}")
    return got.detach().double()


def _slip(got: torch.Tensor, want: torch.Tensor, probs, target, smooth) -> str:
    batch, size = len(probs), probs[0].numel()
    candidates = [
        (want * batch, f"Your values are {batch} (the batch size) times too large: the loss "
                       f"is the mean over the images, which brings a factor 1 / B."),
        (want * size, f"Your values are {size} (the pixels per image) times too large: each "
                      f"mean over an image's pixels brings a factor 1 / N."),
        (want * batch * size, "Your values are B * N times too large: the batch mean and the "
                              "means over the pixels each bring a factor (1 / B, 1 / N)."),
        (-want, "The sign: that is the gradient of the Dice coefficient; the loss is 1 - D."),
    ]
    if smooth != 1.0:
        candidates.append((losses.dice_gradient(probs.double(), target.double(), 1.0),
                           "Use the smooth argument; your result is the one for s = 1."))
    for value, hint in candidates:
        if torch.allclose(got, value.double(), atol=1e-7, rtol=1e-4):
            return hint + " "
    return ""


def check_dice_gradient(fn) -> None:
    """Check ``fn(probs, target, smooth)``: dL/dp of the sheet's Dice loss, for every pixel."""
    g = torch.Generator().manual_seed(3)
    half = torch.tensor([[[[0.5, 0.5]]]])
    one_zero = torch.tensor([[[[1.0, 0.0]]]])
    random_p = torch.rand(3, 1, 5, 4, generator=g, dtype=torch.float64)
    random_y = (torch.rand(3, 1, 5, 4, generator=g) > 0.6).double()
    cases = [  # case, probs, target, smooth, expected (hand-computed where small)
        ("one image, p = [0.5, 0.5], y = [1, 0], s = 0", half, one_zero, 0.0,
         torch.tensor([[[[-0.75, 0.25]]]])),
        ("one image, p = [0.5, 0.5], y = [1, 0], s = 1", half, one_zero, 1.0,
         torch.tensor([[[[-0.3125, 0.1875]]]])),
        ("two such images, s = 0", half.repeat(2, 1, 1, 1), one_zero.repeat(2, 1, 1, 1), 0.0,
         torch.tensor([[[[-0.375, 0.125]]]]).repeat(2, 1, 1, 1)),
        ("a random batch (3, 1, 5, 4) in float64, s = 1 (compared with autograd)", random_p,
         random_y, 1.0, None),
        ("the same batch, s = 0.25 (compared with autograd)", random_p, random_y, 0.25, None),
    ]
    for case, probs, target, smooth, want in cases:
        if want is None:
            want = _autograd(probs, target, smooth)
        got = _call(case, fn, probs, target, smooth)
        if torch.isnan(got).any():
            raise CheckFailed(f"{case}: your result contains nan")
        if not torch.allclose(got, want.double(), atol=1e-7, rtol=1e-4):
            hint = _slip(got, want.double(), probs, target, smooth)
            if hint:
                raise CheckFailed(f"{hint}({case})")
            expect_close(case, got, want.double(), atol=1e-7, rtol=1e-4)
    passed("Dice gradient", len(cases))
