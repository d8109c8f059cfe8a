"""Checks for the regularisers of lesson 02: BCE plus total variation, and the centred and
sparsity terms. Failures read as the loss checks' do (``checks.losses``)."""

from __future__ import annotations

import math

import torch

from course_utils import losses
from course_utils.checks import CheckFailed, expect_close, passed
from course_utils.checks.losses import QUARTER, _certain, _grad, _loss_value, _make, _mask, _scalar

__all__ = ["check_centered_loss", "check_sparsity_loss", "check_total_variation_loss"]


def check_total_variation_loss(loss_cls) -> None:
    """Check a ``BCELoss_TotalVariation(lam=1.0)`` module: BCE plus ``lam`` times the mean
    absolute difference of vertical neighbours plus that of horizontal neighbours."""
    what = "BCELoss_TotalVariation should take the weight of the TV term as `lam`."
    columns = _mask([[1, 1, 0, 0]] * 4)  # one edge between columns 1 and 2
    rows = columns.transpose(-1, -2)  # one edge between rows 1 and 2
    checker = _mask([[(i + j) % 2 for j in range(4)] for i in range(4)])
    cases = [
        ("logits 0 everywhere, target 0 (BCE log 2, no variation)", 1.0,
         torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), math.log(2), ""),
        ("a certain mask with a vertical edge (columns differ)", 1.0, _certain(columns),
         columns, 1 / 3,
         "4 of the 12 horizontal neighbour pairs differ by 1: the mean over them is 1/3. "
         "0 means the differences along the width (dim -1) are missing; 4 means you summed "
         "instead of averaging."),
        ("a certain mask with a horizontal edge (rows differ)", 1.0, _certain(rows), rows,
         1 / 3, "0 means the differences along the height (dim -2) are missing."),
        ("a checkerboard with lam = 0.5", 0.5, _certain(checker), checker, 1.0,
         "Every neighbour pair differs in both directions: TV = 1 + 1, times lam 0.5."),
        ("logits 0 and a target with a vertical edge, lam = 0.1", 0.1,
         torch.zeros(1, 1, 4, 4), columns, math.log(2),
         "Total variation is taken on the probabilities, not on the target."),
    ]
    for case, lam, logits, target, want, hint in cases:
        out, _ = _loss_value(case, _make(loss_cls, what, lam=lam), logits, target)
        _scalar(case, out, want, hint=hint)
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 1, 5, 6, generator=g).requires_grad_()
    target = (torch.rand(2, 1, 5, 6, generator=g) > 0.5).float()
    case = "gradient on a random batch (2, 1, 5, 6), lam = 2"
    out, (x_in, _) = _loss_value(case, _make(loss_cls, what, lam=2.0), logits, target)
    _scalar(case + ", value", out, losses.BCELoss_TotalVariation(2.0)(logits, target).item())
    want = torch.autograd.grad(losses.BCELoss_TotalVariation(2.0)(logits, target), logits)[0]
    expect_close(case, _grad(case, out, x_in), want)
    passed("BCELoss_TotalVariation", len(cases) + 1)


def _check_regulariser(loss_cls, name: str, cases) -> None:
    loss = _make(loss_cls, f"{name}() takes no arguments.")
    for case, logits, want in cases:
        try:
            out, _ = _loss_value(case, loss, logits)
        except CheckFailed as exc:
            if "positional argument" in str(exc):
                raise CheckFailed(f"{case}: {name} is called with the logits only, "
                                  f"loss(logits); it needs no target. ({exc})") from exc
            raise
        _scalar(case, out, want)
    passed(name, len(cases))


def check_centered_loss(loss_cls) -> None:
    """Check a ``CenteredLoss()`` module: ``1 - sigmoid`` of the centre logit
    ``(H // 2, W // 2)``, mean over the batch."""
    def centre(value: float, size: int = 4) -> torch.Tensor:
        x = torch.full((1, 1, size, size), -1000.0)
        x[..., size // 2, size // 2] = value
        return x

    cases = [
        ("centre pixel certain foreground, rest background", centre(1000.0), 0.0),
        ("centre pixel certain background", centre(-1000.0), 1.0),
        ("centre logit 0 (probability 0.5)", centre(0.0), 0.5),
        ("a 5 x 5 image, centre logit 2", centre(2.0, 5), 1 - 1 / (1 + math.exp(-2))),
        ("a batch of two: centre right, centre wrong",
         torch.cat([centre(1000.0), centre(-1000.0)]), 0.5),
    ]
    _check_regulariser(loss_cls, "CenteredLoss", cases)


def check_sparsity_loss(loss_cls) -> None:
    """Check a ``SparsityLoss()`` module: the mean of the sigmoid probabilities."""
    cases = [
        ("all background", _certain(torch.zeros(1, 1, 4, 4)), 0.0),
        ("all foreground", _certain(torch.ones(1, 1, 4, 4)), 1.0),
        ("a quarter of the image foreground", _certain(QUARTER), 0.25),
        ("logits 0 (probability 0.5)", torch.zeros(2, 1, 3, 3), 0.5),
    ]
    _check_regulariser(loss_cls, "SparsityLoss", cases)
