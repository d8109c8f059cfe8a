"""Checks for the data tour (foreground fraction, the all-background baseline)."""

from __future__ import annotations

import math

import torch

from course_utils.checks import CheckFailed, expect_close, passed


def check_foreground_fraction(fn) -> None:
    """Check ``fn(masks) -> (N,)`` fraction of foreground pixels per mask ``(N, 1, H, W)``."""
    cases = [
        ("an empty mask", torch.zeros(1, 1, 4, 4), torch.tensor([0.0])),
        ("a full mask", torch.ones(1, 1, 4, 4), torch.tensor([1.0])),
        ("a quarter", torch.tensor([[[[1.0, 0], [0, 0]]]]), torch.tensor([0.25])),
        ("two masks", torch.stack([torch.ones(1, 2, 2), torch.eye(2)[None]]),
         torch.tensor([1.0, 0.5])),
    ]
    for case, masks, expected in cases:
        got = fn(masks.clone())
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{case}: return a tensor with one value per mask, "
                              f"got {type(got).__name__}")
        expect_close(case, got.float().reshape(-1), expected)
    passed("foreground_fraction", len(cases))


def _score(case: str, fn, masks: list[torch.Tensor]) -> float:
    try:
        got = fn([m.clone() for m in masks])
    except NotImplementedError:
        raise
    except Exception as exc:
        raise CheckFailed(f"{case}: your code raised {type(exc).__name__}: {exc}") from exc
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise CheckFailed(f"{case}: return one number for all the masks together, got a "
                              f"tensor of shape {tuple(got.shape)}")
        got = got.item()
    if not isinstance(got, (int, float)):
        raise CheckFailed(f"{case}: return one number, got {type(got).__name__}")
    return float(got)


def check_all_background_accuracy(fn) -> None:
    """Check ``fn(masks) -> float``: the pooled pixel accuracy of "every pixel is
    background" over a list of 0/1 masks of possibly different sizes."""
    cases = [  # hand-computed: right pixels / all pixels
        ("one 2 x 2 mask with one cell pixel", [torch.tensor([[[1.0, 0], [0, 0]]])], 0.75),
        ("two masks of 4 pixels, cell shares 1/4 and 3/4",
         [torch.tensor([[[1.0, 0], [0, 0]]]), torch.tensor([[[1.0, 1], [1, 0]]])], 0.5),
        ("a 1 x 2 mask all cell and a 2 x 3 mask all background",
         [torch.ones(1, 1, 2), torch.zeros(1, 2, 3)], 6 / 8),
        ("an empty mask of 3 x 3", [torch.zeros(1, 3, 3)], 1.0),
    ]
    for case, masks, want in cases:
        got = _score(case, fn, masks)
        if math.isclose(got, want, abs_tol=1e-6):
            continue
        per_mask = sum(float((m == 0).float().mean()) for m in masks) / len(masks)
        if math.isclose(got, 1 - want, abs_tol=1e-6):
            hint = ("That is the share of cell pixels, the pixels this predictor gets "
                    "wrong. ")
        elif math.isclose(got, per_mask, abs_tol=1e-6):
            hint = ("That is the mean of the per-mask accuracies: pooled over pixels, a "
                    "mask counts with all its pixels, so the masks' sizes matter. ")
        else:
            hint = ""
        raise CheckFailed(f"{hint}{case}: expected {want:.4g}, got {got:.4g}")
    passed("all_background_accuracy", len(cases))
