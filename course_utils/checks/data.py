"""Checks for the data tour (foreground fraction)."""

from __future__ import annotations

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
