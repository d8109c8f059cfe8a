"""The loss checks: they pass the reference implementations and fail typical wrong answers
with a message that names the problem."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import losses
from course_utils.checks import CheckFailed, regularisers
from course_utils.checks import losses as checks


def stub(*args, **kwargs):
    raise NotImplementedError("write the loss")


@pytest.mark.parametrize(("check", "answer"), [
    (checks.check_bce_simplified, losses.bce_simplified),
    (checks.check_bce_stable, losses.stable_bce_with_logits),
    (checks.check_dice_loss, losses.DiceLoss),
    (checks.check_focal_loss, losses.FocalLoss),
    (regularisers.check_total_variation_loss, losses.BCELoss_TotalVariation),
    (regularisers.check_centered_loss, losses.CenteredLoss),
    (regularisers.check_sparsity_loss, losses.SparsityLoss),
])
def test_checks_pass_the_references(check, answer, capsys):
    check(answer)
    assert "checks passed" in capsys.readouterr().out


def clamp_form(x, y):
    return x.clamp(min=0) - x * y + torch.log1p(torch.exp(-x.abs()))


def in_place(x, y):
    return x.abs_() * 0 + losses.stable_bce_with_logits(x, y)


WRONG_BCE = [
    (checks.check_bce_simplified, losses.bce_textbook, "x = 20, target y = 0 (float32): got inf"),
    (checks.check_bce_simplified, lambda x, y: losses.bce_simplified(x, y).mean(),
     "one loss per element"),
    (checks.check_bce_simplified, lambda x, y: losses.bce_simplified(x.detach(), y),
     "carries no gradient"),
    (checks.check_bce_simplified, lambda x, y: x - x * y + torch.log(torch.exp(-x)),
     "x = -3, target y = 0 (float32): expected 0.0485874, got 0"),
    (checks.check_bce_simplified, lambda x, y: "0.69", "return a tensor, got str"),
    # the stable form would flip lesson 01's sweep and its overconfident-model verdict
    (checks.check_bce_simplified, losses.stable_bce_with_logits,
     "x = -100, target y = 0 (float32): got 3.92364e-44; the formula as written gives inf"),
    (checks.check_bce_simplified, lambda x, y: torch.sqrt(x - 100) + y, "got nan"),
    (checks.check_bce_stable, losses.bce_simplified, "x = -1000, target y = 0 (float32): got inf"),
    (checks.check_bce_stable, losses.bce_textbook, "got nan"),
    (checks.check_bce_stable, clamp_form, "kink"),
    (checks.check_bce_stable, in_place, "in place"),
    (checks.check_bce_stable, lambda x, y: losses.stable_bce_with_logits(x.float(), y.float()),
     "keep the input's dtype"),
    (checks.check_bce_stable, lambda x, y: F.binary_cross_entropy_with_logits(x, y.round()),
     "one loss per element"),
    (checks.check_bce_stable, lambda x, y: 1 / 0, "raised ZeroDivisionError"),
]


@pytest.mark.parametrize(("check", "answer", "message"), WRONG_BCE)
def test_bce_checks_name_the_broken_input(check, answer, message):
    with pytest.raises(CheckFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(answer)


class WholeBatchDice(losses.DiceLoss):
    def forward(self, logits, target):
        p = torch.sigmoid(logits)
        return 1 - (2 * (p * target).mean() + self.smooth) / ((p + target).mean() + self.smooth)


class HardCodedSmoothDice(losses.DiceLoss):
    def forward(self, logits, target):
        return losses.DiceLoss(1.0)(logits, target)


class NoSigmoidDice(losses.DiceLoss):
    def forward(self, logits, target):
        return losses.DiceLoss.forward(self, torch.logit(logits.clamp(0, 1), eps=1e-6), target)


class NoSmoothArgDice(nn.Module):
    def forward(self, logits, target):
        return losses.DiceLoss()(logits, target)


class SheetFocal(losses.FocalLoss):
    """The exercise sheet's formula: only the foreground term modulated."""

    def forward(self, logits, target):
        p = torch.sigmoid(logits)
        bce_fg = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
        bce_bg = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits),
                                                    reduction="none")
        return (target * (1 - p) ** self.gamma * bce_fg + (1 - target) * bce_bg).mean()


class FixedGammaFocal(losses.FocalLoss):
    def forward(self, logits, target):
        return losses.FocalLoss(2.0, self.alpha)(logits, target)


class LogSigmoidFocal(losses.FocalLoss):
    def forward(self, logits, target):
        p = torch.sigmoid(logits)
        p_t = p * target + (1 - p) * (1 - target)
        return (-((1 - p_t) ** self.gamma) * torch.log(p_t)).mean()


WRONG_CLASSES = [
    (checks.check_dice_loss, WholeBatchDice, "per image"),
    (checks.check_dice_loss, HardCodedSmoothDice, "self.smooth"),
    (checks.check_dice_loss, NoSigmoidDice, "expected 0.285714"),
    (checks.check_dice_loss, NoSmoothArgDice, "smooth"),
    (checks.check_focal_loss, SheetFocal, "not modulated"),
    (checks.check_focal_loss, FixedGammaFocal, "gamma = 0 the focal loss is plain BCE"),
    (checks.check_focal_loss, LogSigmoidFocal, r"logits of \+-1000 .*got inf.*stable"),
    (checks.check_focal_loss, lambda: losses.FocalLoss(), "could not build"),
]


@pytest.mark.parametrize(("check", "answer", "message"), WRONG_CLASSES)
def test_loss_checks_say_what_is_wrong(check, answer, message):
    with pytest.raises(CheckFailed, match=message):
        check(answer)


def tv_variant(tv):
    class Variant(losses.BCELoss_TotalVariation):
        def forward(self, logits, target):
            return F.binary_cross_entropy_with_logits(logits, target) + self.lam * tv(
                torch.sigmoid(logits), target)

    return Variant


WRONG_TV = [
    (lambda p, y: (p[..., 1:, :] - p[..., :-1, :]).abs().mean(), "along the width"),
    (lambda p, y: (p[..., :, 1:] - p[..., :, :-1]).abs().mean(), "along the height"),
    (lambda p, y: (p[..., 1:, :] - p[..., :-1, :]).abs().sum()
     + (p[..., :, 1:] - p[..., :, :-1]).abs().sum(), "summed instead of averaging"),
    (lambda p, y: losses.total_variation(y), "on the probabilities, not on the target"),
]


@pytest.mark.parametrize(("tv", "message"), WRONG_TV)
def test_total_variation_check_says_what_is_wrong(tv, message):
    with pytest.raises(CheckFailed, match=message):
        regularisers.check_total_variation_loss(tv_variant(tv))


def test_total_variation_check_names_the_weight_argument():
    class Weight(nn.Module):
        def __init__(self, weight=1.0):
            super().__init__()

    with pytest.raises(CheckFailed, match="as `lam`"):
        regularisers.check_total_variation_loss(Weight)


class NeedsTarget(nn.Module):
    def forward(self, logits, target):
        return torch.sigmoid(logits).mean()


class CornerCentred(nn.Module):
    def forward(self, logits):
        return torch.sigmoid(-logits[..., 0, 0]).mean()


class SummedSparsity(nn.Module):
    def forward(self, logits):
        return torch.sigmoid(logits).sum()


@pytest.mark.parametrize(("check", "answer", "message"), [
    (regularisers.check_centered_loss, NeedsTarget, "called with the logits only"),
    (regularisers.check_centered_loss, CornerCentred, "centre pixel certain foreground.*expected 0"),
    (regularisers.check_sparsity_loss, SummedSparsity, "all foreground.*expected 1, got 16"),
    (regularisers.check_sparsity_loss, NeedsTarget, "called with the logits only"),
])
def test_regulariser_checks_say_what_is_wrong(check, answer, message):
    with pytest.raises(CheckFailed, match=message):
        check(answer)


@pytest.mark.parametrize("check", [checks.check_bce_simplified, checks.check_bce_stable])
def test_a_stub_function_raises_not_implemented(check):
    with pytest.raises(NotImplementedError):
        check(stub)


class StubLoss(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, *args):
        raise NotImplementedError("write forward")


@pytest.mark.parametrize("check", [checks.check_dice_loss, checks.check_focal_loss,
                                   regularisers.check_total_variation_loss, regularisers.check_centered_loss,
                                   regularisers.check_sparsity_loss])
def test_a_stub_module_raises_not_implemented(check):
    with pytest.raises(NotImplementedError):
        check(StubLoss)


class JaccardWithoutMinus(losses.JaccardLoss):
    def forward(self, logits, target):
        p = torch.sigmoid(logits)
        inter = (p * target).sum((1, 2, 3))
        return (1 - inter / ((p + target).sum((1, 2, 3)) + self.eps)).mean()


class JaccardIndex(losses.JaccardLoss):
    def forward(self, logits, target):
        return 1 - super().forward(logits, target)


class JaccardOnLogits(losses.JaccardLoss):
    def forward(self, logits, target):
        return super().forward(torch.logit(logits.clamp(0, 1), eps=0.0), target)


class WholeBatchJaccard(losses.JaccardLoss):
    def forward(self, logits, target):
        return super().forward(logits.reshape(1, 1, -1, 1), target.reshape(1, 1, -1, 1))


class JaccardIgnoringSquared(losses.JaccardLoss):
    def forward(self, logits, target):
        return losses.JaccardLoss(eps=self.eps)(logits, target)


class JaccardSquaringEverything(losses.JaccardLoss):
    def forward(self, logits, target):
        if not self.squared:
            return super().forward(logits, target)
        p = torch.sigmoid(logits)
        inter = (p * target).pow(2).sum((1, 2, 3))
        sizes = (p**2 + target**2).sum((1, 2, 3))
        return (1 - inter / (sizes - inter + self.eps)).mean()


class JaccardOnMeans(losses.JaccardLoss):
    def forward(self, logits, target):
        p = torch.sigmoid(logits)
        inter = (p * target).mean((1, 2, 3))
        sizes = (p**2 + target**2 if self.squared else p + target).mean((1, 2, 3))
        return (1 - inter / (sizes - inter + self.eps)).mean()


class JaccardHardCodedEps(losses.JaccardLoss):
    def forward(self, logits, target):
        return losses.JaccardLoss(squared=self.squared)(logits, target)


class JaccardEpsTwice(losses.JaccardLoss):
    def forward(self, logits, target):
        p = torch.sigmoid(logits)
        inter = (p * target).sum((1, 2, 3))
        sizes = (p**2 + target**2 if self.squared else p + target).sum((1, 2, 3))
        return (1 - (inter + self.eps) / (sizes - inter + self.eps)).mean()


@pytest.mark.parametrize(("answer", "message"), [
    (losses.JaccardLoss, None),
    (JaccardWithoutMinus, "without the minus you get half the Dice"),
    (JaccardIndex, "the loss is 1 minus it"),
    (JaccardOnLogits, "apply torch.sigmoid first"),
    (WholeBatchJaccard, "the sums ran over the whole batch"),
    (JaccardIgnoringSquared, "you returned the plain loss"),
    (JaccardSquaringEverything, "not the intersection"),
    (JaccardOnMeans, "not means"),
    (JaccardHardCodedEps, "from self.eps"),
    (JaccardEpsTwice, "denominator only"),
    (losses.DiceLoss, "could not build"),
])
def test_jaccard_check_names_the_slip(answer, message, capsys):
    if message is None:
        checks.check_jaccard_loss(answer)
        assert "JaccardLoss: all 8 checks passed" in capsys.readouterr().out
        return
    with pytest.raises(CheckFailed, match=message):
        checks.check_jaccard_loss(answer)
