"""The check of lesson 02's closed-form Dice gradient: it passes the reference, names the
usual slips, and refuses answers of the wrong kind."""

from __future__ import annotations

import pytest
import torch

from course_utils import losses
from course_utils.checks import CheckFailed
from course_utils.checks.loss_gradients import check_dice_gradient


def test_the_reference_passes(capsys):
    check_dice_gradient(losses.dice_gradient)
    assert "checks passed" in capsys.readouterr().out


def _scaled(factor_of):
    def fn(probs, target, smooth):
        return losses.dice_gradient(probs, target, smooth) * factor_of(probs)
    return fn


def _per_pixel_sums(probs, target, smooth):
    """The loss written with sums instead of the sheet's means (s is then not scaled)."""
    dims = tuple(range(1, probs.ndim))
    m = (probs + target).sum(dims, keepdim=True) + smooth
    dice = (2 * (probs * target).sum(dims, keepdim=True) + smooth) / m
    return (dice - 2 * target) / (len(probs) * m)


@pytest.mark.parametrize(("fn", "message"), [
    (_scaled(lambda p: len(p)), "the batch size"),
    (_scaled(lambda p: p[0].numel()), "the pixels per image"),
    (_scaled(lambda p: len(p) * p[0].numel()), "the pixels per image"),  # B = 1 first
    (_scaled(lambda p: -1), "gradient of the Dice coefficient"),
    (lambda p, y, s: losses.dice_gradient(p, y, 1.0), "Use the smooth argument"),
    (_per_pixel_sums, "values differ"),
    (lambda p, y, s: losses.dice_gradient(p, y, s)[:, :, :, :1], "one derivative per probability"),
    (lambda p, y, s: losses.dice_gradient(p, y, s).tolist(), "return a tensor"),
    (lambda p, y, s: p.mul_(0), "changed its input in place"),
    (lambda p, y, s: p * float("nan"), "contains nan"),
    (lambda p, y, s: p.view(-1) @ y, "raised RuntimeError"),
])
def test_wrong_answers_fail_naming_the_slip(fn, message):
    with pytest.raises(CheckFailed) as info:
        check_dice_gradient(fn)
    assert message in str(info.value)


def test_the_first_case_is_the_hand_computed_one():
    # one image, p = [0.5, 0.5], y = [1, 0], s = 0: D = 0.5 / 1, dL/dp = (D - 2y) / (N M)
    probs, target = torch.tensor([[[[0.5, 0.5]]]]), torch.tensor([[[[1.0, 0.0]]]])
    torch.testing.assert_close(losses.dice_gradient(probs, target, 0.0),
                               torch.tensor([[[[-0.75, 0.25]]]]))


def test_a_stub_raises_not_implemented():
    def stub(probs, target, smooth):
        raise NotImplementedError("derive it")
    with pytest.raises(NotImplementedError):
        check_dice_gradient(stub)
