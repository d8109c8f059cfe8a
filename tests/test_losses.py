"""Losses: tiny hand-computed cases, the reference functions of torch and torchvision, the
float32 edge cases of lesson 01's table, and every bad-input path."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from course_utils import losses, metrics

LOG2 = math.log(2)
FORMS = [losses.bce_textbook, losses.bce_simplified, losses.stable_bce_with_logits]


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


def image(rows):
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def certain(mask):
    return torch.where(mask > 0.5, 1000.0, -1000.0)


# --- the three BCE forms ---------------------------------------------------------------------

@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("x", "y", "expected"), [
    (0.0, 0.0, LOG2),
    (0.0, 1.0, LOG2),
    (2.0, 1.0, math.log1p(math.exp(-2))),  # 0.126928
    (2.0, 0.0, 2 + math.log1p(math.exp(-2))),  # 2.126928
    (-3.0, 1.0, 3 + math.log1p(math.exp(-3))),
    (0.0, 0.3, LOG2),
])
def test_bce_forms_agree_on_moderate_logits(form, x, y, expected):
    assert form(t(x), t(y)).item() == pytest.approx(expected, rel=1e-6)


# Lesson 01's table: where each form breaks in float32.
@pytest.mark.parametrize(("form", "x", "y", "check"), [
    (losses.bce_textbook, 20.0, 0.0, math.isinf),  # sigmoid rounds to 1: log(0)
    (losses.bce_textbook, 20.0, 1.0, math.isnan),  # 0 * log(0)
    (losses.bce_textbook, -1000.0, 0.0, math.isnan),
    (losses.bce_textbook, -1000.0, 1.0, math.isinf),
    (losses.bce_simplified, -100.0, 0.0, math.isinf),  # exp(100) overflows
    (losses.bce_simplified, -100.0, 1.0, math.isinf),
    (losses.bce_simplified, 1000.0, 0.0, lambda v: v == 1000.0),
    (losses.bce_simplified, 1000.0, 1.0, lambda v: v == 0.0),
    (losses.stable_bce_with_logits, -1000.0, 1.0, lambda v: v == 1000.0),
    (losses.stable_bce_with_logits, -1000.0, 0.0, lambda v: v == 0.0),
    (losses.stable_bce_with_logits, 1000.0, 0.0, lambda v: v == 1000.0),
])
def test_bce_forms_in_float32(form, x, y, check):
    assert check(form(t(x), t(y)).item())


def test_stable_bce_equals_torch_for_every_finite_input():
    x = torch.cat([torch.linspace(-1000, 1000, 2001), t(-3e38, -1e-30, 0.0, 1e-30, 3e38)])
    for y in (0.0, 0.25, 1.0):
        target = torch.full_like(x, y)
        got = losses.stable_bce_with_logits(x, target)
        want = F.binary_cross_entropy_with_logits(x, target, reduction="none")
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("y", [0.0, 0.3, 1.0])
def test_stable_bce_gradient_is_sigmoid_minus_target_even_at_the_kink(y):
    x = t(-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0).requires_grad_()
    losses.stable_bce_with_logits(x, torch.full_like(x, y)).sum().backward()
    torch.testing.assert_close(x.grad, torch.sigmoid(x.detach()) - y)
    assert x.grad[3].item() == pytest.approx(0.5 - y)  # x = 0, where max and |x| kink


def test_stable_bce_keeps_float64():
    x = torch.tensor([-700.0, 700.0], dtype=torch.float64)
    out = losses.stable_bce_with_logits(x, torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert out.dtype == torch.float64 and out.tolist() == [700.0, 700.0]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("logits", "target", "match"), [
    (torch.zeros(2, 1, 3, 3), torch.zeros(2, 1, 3, 4), "shapes differ"),
    (torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), "float tensor"),
    ([0.0, 1.0], torch.zeros(2), "must be tensors"),
])
def test_bce_forms_reject_bad_input(form, logits, target, match):
    with pytest.raises(ValueError, match=match):
        form(logits, target)


# --- Dice --------------------------------------------------------------------------------------

QUARTER = image([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize(("smooth", "logits", "target", "expected"), [
    (1.0, certain(QUARTER), QUARTER, 0.0),
    (1.0, certain(torch.zeros_like(QUARTER)), QUARTER, 1 - 1 / 1.25),  # 0.2
    (1.0, torch.zeros_like(QUARTER), QUARTER, 1 - 1.25 / 1.75),  # 0.285714
    (0.0, torch.zeros_like(QUARTER), QUARTER, 1 - 0.25 / 0.75),  # 0.666667
    (1.0, torch.cat([certain(torch.ones(1, 1, 2, 2)), certain(torch.zeros(1, 1, 2, 2))]),
     torch.ones(2, 1, 2, 2), 0.25),  # per image: (0 + 0.5) / 2, not 0.2 of the whole batch
])
def test_dice_loss(smooth, logits, target, expected):
    got = losses.DiceLoss(smooth)(logits, target)
    assert got.ndim == 0 and got.item() == pytest.approx(expected, abs=1e-6)


def test_dice_loss_has_a_finite_gradient():
    x = torch.randn(2, 1, 4, 4).mul(1000).requires_grad_()
    losses.DiceLoss()(x, (torch.rand(2, 1, 4, 4) > 0.5).float()).backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(("call", "match"), [
    (lambda: losses.DiceLoss(smooth=-1.0), "smooth must be >= 0"),
    (lambda: losses.DiceLoss()(torch.zeros(4, 4), torch.zeros(4, 4)), r"expected logits \(N"),
    (lambda: losses.DiceLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 2)), "differ"),
])
def test_dice_loss_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- Focal -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "y", "gamma", "expected"), [
    (0.9, 1.0, 2.0, 0.01),
    (0.9, 0.0, 2.0, 0.81),
    (0.5, 1.0, 1.0, 0.5),
    (0.2, 0.0, 0.0, 1.0),
    (1.0, 1.0, 0.0, 1.0),  # 0 ** 0 counts as 1: gamma 0 is BCE everywhere
    (1.0, 1.0, 2.0, 0.0),
])
def test_focal_weight(p, y, gamma, expected):
    assert losses.focal_weight(t(p), t(y), gamma).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("gamma", "alpha"), [(0.0, None), (2.0, None), (5.0, None),
                                              (0.5, None), (2.0, 0.25), (1.0, 0.9)])
def test_focal_loss_equals_torchvision(gamma, alpha):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, 8, 8, generator=g) * 4
    y = (torch.rand(3, 1, 8, 8, generator=g) > 0.7).float()
    got = losses.FocalLoss(gamma, alpha)(x, y)
    want = sigmoid_focal_loss(x, y, alpha=-1 if alpha is None else alpha, gamma=gamma,
                              reduction="mean")
    torch.testing.assert_close(got, want)


def test_focal_loss_with_gamma_0_is_bce_exactly():
    x, y = torch.randn(2, 1, 5, 5) * 5, (torch.rand(2, 1, 5, 5) > 0.5).float()
    assert torch.equal(losses.FocalLoss(gamma=0.0)(x, y), F.binary_cross_entropy_with_logits(x, y))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_focal_loss_is_finite_at_logits_of_1000(gamma):
    x = image([[1000.0, -1000.0], [1000.0, -1000.0]]).requires_grad_()
    y = image([[1.0, 0.0], [0.0, 1.0]])  # two right, two wrong
    loss = losses.FocalLoss(gamma)(x, y)
    loss.backward()
    assert loss.item() == 500.0
    assert x.grad.flatten().tolist() == [0.0, 0.0, 0.25, -0.25]  # d/dx of the mean over 4


def test_focal_loss_modulates_both_terms():
    x, y = image([[-3.0, 3.0]]), image([[0.0, 1.0]])  # both confidently right
    per_pixel = losses.FocalLoss(reduction="none")(x, y)
    want = torch.sigmoid(torch.tensor(-3.0)) ** 2 * F.softplus(torch.tensor(-3.0))  # 1.09e-4
    torch.testing.assert_close(per_pixel.flatten(), want.repeat(2))


def test_focal_loss_reductions():
    x, y = image([[0.0, 0.0]]), image([[0.0, 1.0]])
    each = 0.25 * LOG2  # (1 - 0.5)^2 * log 2
    assert losses.FocalLoss(reduction="none")(x, y).flatten().tolist() == pytest.approx([each] * 2)
    assert losses.FocalLoss(reduction="sum")(x, y).item() == pytest.approx(2 * each)
    assert losses.FocalLoss(alpha=0.25, reduction="sum")(x, y).item() == pytest.approx(each)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"gamma": -1.0}, "gamma must be >= 0"),
    ({"gamma": float("nan")}, "gamma must be >= 0"),
    ({"alpha": 1.5}, "alpha must lie in"),
    ({"alpha": -1}, "alpha must lie in"),
    ({"reduction": "avg"}, "reduction must be one of"),
])
def test_focal_loss_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        losses.FocalLoss(**kwargs)


def test_focal_weight_rejects_negative_gamma():
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        losses.focal_weight(t(0.5), t(1.0), -0.5)


# --- total variation and BCE + TV --------------------------------------------------------------

COLUMNS = image([[1, 1, 0, 0]] * 4)


@pytest.mark.parametrize(("probs", "expected"), [
    (torch.full((1, 1, 3, 3), 0.7), 0.0),
    (COLUMNS, 1 / 3),  # 4 of 12 horizontal pairs differ
    (COLUMNS.transpose(-1, -2), 1 / 3),  # 4 of 12 vertical pairs differ
    (image([[0, 1], [1, 0]]), 2.0),  # every pair differs, both directions
    (image([[0.0, 0.5], [0.0, 0.5]]), 0.5),  # horizontal pairs differ by 0.5
    (torch.cat([COLUMNS, torch.zeros_like(COLUMNS)]), 1 / 6),  # mean over the batch
])
def test_total_variation(probs, expected):
    assert losses.total_variation(probs).item() == pytest.approx(expected)


@pytest.mark.parametrize(("lam", "logits", "target", "expected"), [
    (1.0, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), LOG2),
    (1.0, certain(COLUMNS), COLUMNS, 1 / 3),
    (0.5, certain(image([[0, 1], [1, 0]])), image([[0, 1], [1, 0]]), 1.0),
    (0.0, certain(COLUMNS), torch.zeros_like(COLUMNS), 500.0),  # lam 0: plain BCE
    (0.1, torch.zeros(1, 1, 4, 4), COLUMNS, LOG2),  # TV of the probabilities, not the target
])
def test_bce_total_variation(lam, logits, target, expected):
    got = losses.BCELoss_TotalVariation(lam)(logits, target)
    assert got.item() == pytest.approx(expected)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: losses.BCELoss_TotalVariation(lam=-0.1), "lam must be >= 0"),
    (lambda: losses.total_variation(torch.zeros(4, 4)), r"expected logits \(N"),
    (lambda: losses.total_variation(torch.zeros(1, 1, 1, 4)), "at least 2 x 2"),
])
def test_total_variation_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- centred and sparsity regularisers -------------------------------------------------------

def centre(value, size=4):
    x = torch.full((1, 1, size, size), -1000.0)
    x[..., size // 2, size // 2] = value
    return x


@pytest.mark.parametrize(("logits", "expected"), [
    (centre(1000.0), 0.0),
    (centre(-1000.0), 1.0),
    (centre(0.0), 0.5),
    (centre(math.log(3), 5), 0.25),  # sigmoid(log 3) = 3/4
    (torch.cat([centre(1000.0), centre(-1000.0)]), 0.5),
])
def test_centered_loss(logits, expected):
    assert losses.CenteredLoss()(logits).item() == pytest.approx(expected)


@pytest.mark.parametrize(("logits", "expected"), [
    (certain(torch.zeros(1, 1, 4, 4)), 0.0),
    (certain(torch.ones(1, 1, 4, 4)), 1.0),
    (certain(QUARTER), 0.25),
    (torch.zeros(2, 1, 3, 3), 0.5),
])
def test_sparsity_loss(logits, expected):
    assert losses.SparsityLoss()(logits).item() == pytest.approx(expected)


@pytest.mark.parametrize("module", [losses.CenteredLoss(), losses.SparsityLoss()])
def test_regularisers_reject_a_single_map(module):
    with pytest.raises(ValueError, match=r"expected logits \(N, C, H, W\), got \(4, 4\)"):
        module(torch.zeros(4, 4))


# --- Jaccard (soft IoU) ----------------------------------------------------------------------

@pytest.mark.parametrize("squared", [False, True])
def test_jaccard_loss_is_one_minus_iou_for_hard_masks(squared):
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(4, 1, 6, 6, generator=g) > 0.5
    target = (torch.rand(4, 1, 6, 6, generator=g) > 0.5).float()
    loss = losses.JaccardLoss(squared=squared, eps=0.0)(certain(pred.float()), target)
    assert loss.item() == pytest.approx(1 - metrics.iou_score(pred, target.bool()), abs=1e-6)


@pytest.mark.parametrize(("squared", "eps", "expected"), [
    (False, 0.0, 1 - 2 / 10),  # probabilities 0.5 on a 4-of-16 target: 2 / (4 + 8 - 2)
    (True, 0.0, 1 - 2 / 6),  # 2 / (4 + 16 * 0.25 - 2)
    (False, 1.0, 1 - 2 / 11),
])
def test_jaccard_loss_on_soft_probabilities(squared, eps, expected):
    loss = losses.JaccardLoss(squared=squared, eps=eps)(torch.zeros_like(QUARTER), QUARTER)
    assert loss.item() == pytest.approx(expected)


def test_jaccard_loss_averages_per_image_losses():
    logits = torch.cat([certain(torch.ones(1, 1, 2, 2)), certain(torch.zeros(1, 1, 2, 2))])
    target = torch.cat([torch.ones(1, 1, 2, 2), torch.tensor([[[[1.0, 0], [0, 0]]]])])
    assert losses.JaccardLoss()(logits, target).item() == pytest.approx(0.5)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: losses.JaccardLoss(eps=-1.0), "eps must be >= 0"),
    (lambda: losses.JaccardLoss()(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3)),
     "shapes differ"),
    (lambda: losses.JaccardLoss()(torch.zeros(4, 4), torch.zeros(4, 4)), "expected logits"),
])
def test_jaccard_loss_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(("dtype", "saturation", "overflow"), [
    (torch.float32, 24 * math.log(2), -88.7228),
    (torch.float64, 53 * math.log(2), -709.7827),
])
def test_breaking_logits_are_where_the_naive_forms_break(dtype, saturation, overflow):
    got = losses.breaking_logits(dtype)
    assert got == pytest.approx((saturation, overflow), abs=1e-4)
    # measured: the textbook form breaks just above the first, the simplified just below the second
    step = 1e-3
    target = torch.zeros(2, dtype=dtype)
    above = torch.tensor([got[0] - step, got[0] + step], dtype=dtype)
    assert torch.isfinite(losses.bce_textbook(above, target)).tolist() == [True, False]
    below = torch.tensor([got[1] + step, got[1] - step], dtype=dtype)
    assert torch.isfinite(losses.bce_simplified(below, target)).tolist() == [True, False]


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, "float32", None])
def test_breaking_logits_reject_a_non_float_dtype(dtype):
    with pytest.raises(ValueError, match="floating-point torch.dtype"):
        losses.breaking_logits(dtype)


@pytest.mark.parametrize("smooth", [0.0, 0.5, 1.0])
def test_dice_gradient_equals_autograd(smooth):
    g = torch.Generator().manual_seed(5)
    probs = torch.rand(2, 1, 3, 4, generator=g, dtype=torch.float64).requires_grad_()
    target = (torch.rand(2, 1, 3, 4, generator=g) > 0.5).double()
    loss = losses.DiceLoss(smooth)(torch.logit(probs), target)
    (want,) = torch.autograd.grad(loss, probs)
    torch.testing.assert_close(losses.dice_gradient(probs.detach(), target, smooth), want)


def test_dice_gradient_of_a_hand_computed_case():
    # p = [0.5, 0.5], y = [1, 0], s = 1: N = 2, M = 1 + 1, D = (0.5 + 1) / 2 = 0.75,
    # dL/dp = (D - 2y) / (N M) = [-1.25, 0.75] / 4
    got = losses.dice_gradient(torch.tensor([[[[0.5, 0.5]]]]), torch.tensor([[[[1.0, 0.0]]]]))
    torch.testing.assert_close(got, torch.tensor([[[[-0.3125, 0.1875]]]]))


@pytest.mark.parametrize(("probs", "target", "match"), [
    (torch.rand(2, 3), torch.rand(2, 3), r"\(N, C, H, W\)"),
    (torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 3), "shape"),
])
def test_dice_gradient_rejects_bad_input(probs, target, match):
    with pytest.raises(ValueError, match=match):
        losses.dice_gradient(probs, target)
