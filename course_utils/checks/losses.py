"""Checks for the losses: the BCE forms (lesson 01), Dice, Jaccard and Focal (lesson 02);
``checks.regularisers`` checks the terms added to them (total variation, centred, sparsity).

Every failure names the input that broke (logit, target, batch), what came back (a value,
nan or inf, or a wrong gradient) and what was expected, and where a common slip explains
the difference, says which.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_utils import losses
from course_utils.checks import CheckFailed, expect_close, passed
from course_utils.checks.calling import call_student

__all__ = [
    "check_bce_simplified",
    "check_bce_stable",
    "check_dice_loss",
    "check_focal_loss",
    "check_jaccard_loss",
]

# The logits of lesson 01's table: from far beyond float32's exp range to moderate values.
TABLE_LOGITS = (-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0)
MODERATE_LOGITS = (-20.0, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0)


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6g}"


def _why_not_finite(value: float) -> str:
    if math.isnan(value):
        return ("nan comes from undefined operations such as inf - inf, 0 * inf or the log of "
                "a negative number")
    return ("inf comes from an overflow (exp of a number above ~88 is inf in float32) or from "
            "log(0)")


def _scalar(case: str, got, want: float, atol: float = 1e-5, rtol: float = 1e-5,
            hint: str = "") -> None:
    """Compare one number, with messages for nan/inf and an optional hint on mismatch."""
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise CheckFailed(f"{case}: expected one number, got a tensor of shape "
                              f"{tuple(got.shape)}")
        got = got.item()
    got = float(got)
    if not math.isfinite(got) and math.isfinite(want):
        raise CheckFailed(f"{case}: got {_number(got)}, expected {want:.6g}. "
                          f"{_why_not_finite(got)}." + (f" {hint}" if hint else ""))
    if not math.isclose(got, want, rel_tol=rtol, abs_tol=atol):
        raise CheckFailed(f"{case}: expected {want:.6g}, got {got:.6g}." +
                          (f" {hint}" if hint else ""))


def _in_place_hint(exc: Exception) -> str:
    return ("Your code changes its input in place, which autograd forbids; work on new tensors "
            "(x.abs(), not x.abs_())." if "in-place" in str(exc) else "")


def _call(case: str, fn, *args):
    copies = [a.detach().clone().requires_grad_(a.requires_grad) for a in args]
    out = call_student(f"{case}: your code", fn, *copies, hint=_in_place_hint)
    for arg, copy in zip(args, copies, strict=True):
        if not torch.equal(arg.detach(), copy.detach()):
            raise CheckFailed(f"{case}: your code changed its input in place; work on new "
                              f"tensors (e.g. x.abs(), not x.abs_())")
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{case}: return a tensor, got {type(out).__name__}")
    return out, copies


def _grad(case: str, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if not out.requires_grad:
        raise CheckFailed(f"{case}: the result carries no gradient; compute it with torch "
                          f"operations only (no .item(), .numpy(), .detach() or math.*)")
    (grad,) = torch.autograd.grad(out.sum(), x)
    return grad


# --- lesson 01: BCE -------------------------------------------------------------------------

def _check_bce_form(fn, name: str, logits: tuple[float, ...], kink_hint: bool) -> int:
    count = 0
    for y in (0.0, 1.0):
        for value in logits:
            case = f"{name} at logit x = {value:g}, target y = {y:g} (float32)"
            x = torch.tensor([value], requires_grad=True)
            t = torch.tensor([y])
            out, (x_in, _) = _call(case, fn, x, t)
            if out.shape != x.shape:
                raise CheckFailed(f"{case}: expected one loss per element, shape "
                                  f"{tuple(x.shape)}, got shape {tuple(out.shape)}; "
                                  f"do not reduce (no .mean() or .sum()) inside the function")
            want = F.binary_cross_entropy_with_logits(x.detach().double(), t.double()).item()
            _scalar(case, out, want, atol=1e-5, rtol=1e-5)
            grad = _grad(case, out, x_in).item()
            want_grad = torch.sigmoid(x.detach().double()).item() - y
            gcase = f"{name}: gradient d loss / d x at x = {value:g}, y = {y:g}"
            hint = ""
            if kink_hint and value == 0.0:
                hint = ("max(x, 0) and |x| both have a kink at x = 0. Their kinks cancel in "
                        "the loss, but autograd picks a slope for each on its own: clamp and "
                        "relu take 0 there. torch.maximum(x, torch.zeros_like(x)) splits a "
                        "tie 1/2 : 1/2, which gives the true derivative sigmoid(0) - y.")
            _scalar(gcase + " (expected sigmoid(x) - y)", grad, want_grad, atol=1e-5,
                    hint=hint)
            count += 1
    return count


def _check_bce_batch(fn, name: str) -> int:
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 1, 3, 3, generator=g) * 5).requires_grad_()
    t = torch.tensor([0.0, 1.0, 0.3])[torch.randint(0, 3, (2, 1, 3, 3), generator=g)]
    case = f"{name} on a batch (2, 1, 3, 3) with targets 0, 1 and 0.3"
    out, (x_in, _) = _call(case, fn, x, t)
    expect_close(case, out, F.binary_cross_entropy_with_logits(x.detach(), t, reduction="none"))
    expect_close(case + ", gradient", _grad(case, out, x_in), torch.sigmoid(x.detach()) - t)
    return 1


def check_bce_simplified(fn) -> None:
    """Check ``fn(logits, target)``: the simplified BCE ``x - x y + log(1 + exp(-x))`` per
    element, against the reference for moderate logits (it may overflow beyond them)."""
    count = _check_bce_form(fn, "simplified BCE", MODERATE_LOGITS, kink_hint=False)
    count += _check_bce_batch(fn, "simplified BCE")
    # The formula as written overflows: exp(100) is inf in float32. A finite value there
    # means a stabilised form, which would hide what the sweep below is about.
    case = "simplified BCE at logit x = -100, target y = 0 (float32)"
    out, _ = _call(case, fn, torch.tensor([-100.0]), torch.tensor([0.0]))
    if torch.isfinite(out).all():
        raise CheckFailed(f"{case}: got {_number(float(out.flatten()[0]))}; the formula as "
                          f"written gives inf there, because exp(100) overflows float32. You "
                          f"wrote a stabilised form: write x - x*y + log(1 + exp(-x)) as it "
                          f"stands (stabilising is the next task)")
    passed("simplified BCE (moderate logits)", count + 1)


def check_bce_stable(fn) -> None:
    """Check ``fn(logits, target)``: the stable BCE per element, values and gradients, for
    logits from -1000 to 1000, extreme float32 values, float64 and soft targets."""
    count = _check_bce_form(fn, "stable BCE", TABLE_LOGITS + (-3e38, 3e38), kink_hint=True)
    count += _check_bce_batch(fn, "stable BCE")
    x = torch.tensor([-700.0, -30.0, 0.0, 30.0, 700.0], dtype=torch.float64)
    for y in (0.0, 1.0):
        t = torch.full_like(x, y)
        case = f"stable BCE in float64, logits {x.tolist()}, target {y:g}"
        out, _ = _call(case, fn, x, t)
        if out.dtype != torch.float64:
            raise CheckFailed(f"{case}: the result is {out.dtype}; keep the input's dtype "
                              f"(build constants with torch.zeros_like(x), not torch.zeros(...))")
        expect_close(case, out, F.binary_cross_entropy_with_logits(x, t, reduction="none"))
        count += 1
    passed("stable BCE", count)


# --- lesson 02: Dice, Focal, TV, regularisers -----------------------------------------------

def _make(cls, what: str, **kwargs):
    try:
        return cls(**kwargs)
    except NotImplementedError:
        raise
    except TypeError as exc:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise CheckFailed(f"could not build {cls.__name__}({args}): {exc}. {what}") from exc


def _loss_value(case: str, loss, *args) -> tuple[torch.Tensor, list[torch.Tensor]]:
    out, copies = _call(case, loss, *args)
    if out.ndim != 0:
        raise CheckFailed(f"{case}: expected a single number (a 0-dim tensor), got shape "
                          f"{tuple(out.shape)}; reduce with .mean()")
    return out, copies


def _mask(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def _certain(mask: torch.Tensor) -> torch.Tensor:
    """Logits whose sigmoid is exactly ``mask`` in float32 (0 or 1)."""
    return torch.where(mask > 0.5, 1000.0, -1000.0)


QUARTER = _mask([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])


def check_dice_loss(loss_cls) -> None:
    """Check a ``DiceLoss(smooth=1.0)`` module: the sheet's smoothed formula per image, mean
    over the batch, a scalar with a gradient."""
    loss = _make(loss_cls, "DiceLoss should take smooth=1.0 as its only argument.")
    full, empty = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    cases = [
        ("a perfect prediction (probabilities exactly 0 and 1)", loss, _certain(QUARTER),
         QUARTER, 0.0, ""),
        ("a prediction of all background, target a quarter of the image", loss,
         _certain(torch.zeros_like(QUARTER)), QUARTER, 1 - 1 / 1.25, ""),
        ("probabilities 0.5 everywhere (logits 0), target a quarter of the image", loss,
         torch.zeros_like(QUARTER), QUARTER, 1 - 1.25 / 1.75,
         "Use sigmoid probabilities X and 1 - (2 mean(X * Y) + s) / (mean(X + Y) + s)."),
        ("a batch of two images: one perfect, one missed entirely", loss,
         torch.cat([_certain(full), _certain(empty)]), torch.cat([full, full]), 0.25,
         "Compute the loss per image (means over dims 1, 2, 3), then average the images' "
         "losses; 0.2 would mean the means ran over the whole batch at once."),
        ("smooth = 0, probabilities 0.5, target a quarter of the image",
         _make(loss_cls, "DiceLoss should take the smoothing constant as `smooth`.", smooth=0.0),
         torch.zeros_like(QUARTER), QUARTER, 1 - 0.25 / 0.75,
         "The constant must come from self.smooth, not a hard-coded 1."),
    ]
    for case, module, logits, target, want, hint in cases:
        out, _ = _loss_value(case, module, logits, target)
        _scalar(case, out, want, hint=hint)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 1, 5, 5, generator=g).requires_grad_()
    target = (torch.rand(3, 1, 5, 5, generator=g) > 0.6).float()
    case = "gradient on a random batch (3, 1, 5, 5)"
    out, (x_in, _) = _loss_value(case, loss, logits, target)
    want = torch.autograd.grad(losses.DiceLoss()(logits, target), logits)[0]
    expect_close(case, _grad(case, out, x_in), want)
    passed("DiceLoss", len(cases) + 1)


def _jaccard_hint(got: float, slips: dict[str, float]) -> str:
    for hint, value in slips.items():
        if math.isclose(got, value, rel_tol=1e-4, abs_tol=1e-6):
            return hint
    return ""


def check_jaccard_loss(loss_cls) -> None:
    """Check a ``JaccardLoss(squared=False, eps=1e-6)`` module: the lecture's soft Jaccard
    loss per image (sums over the pixels), mean over the batch, and its squared variant."""
    what = "JaccardLoss should take squared=False and eps=1e-6 as keyword arguments."
    plain = _make(loss_cls, what)
    squared = _make(loss_cls, what, squared=True)
    half = torch.zeros_like(QUARTER)  # probabilities 0.5: intersection 2, sizes 4 and 8
    big, small = torch.ones(1, 1, 2, 2), _mask([[1, 0], [0, 0]])
    no_sigmoid = "You used the logits as probabilities: apply torch.sigmoid first."
    not_one_minus = "That is the soft Jaccard index itself; the loss is 1 minus it."
    no_minus = ("The union is sum(y) + sum(p) minus the intersection sum(p * y); without the "
                "minus you get half the Dice.")
    cases = [
        ("a perfect prediction (probabilities exactly 0 and 1)", plain, _certain(QUARTER),
         QUARTER, 0.0, {no_minus: 0.5, not_one_minus: 1.0}),
        ("a prediction of all background, target a quarter of the image", plain,
         _certain(torch.zeros_like(QUARTER)), QUARTER, 1.0, {not_one_minus: 0.0}),
        ("probabilities 0.5 everywhere (logits 0), target a quarter of the image", plain, half,
         QUARTER, 1 - 2 / 10, {no_minus: 1 - 2 / 12, not_one_minus: 2 / 10, no_sigmoid: 1.0}),
        ("a batch of two: a 4-pixel cell found exactly, a 1-pixel cell missed", plain,
         torch.cat([_certain(big), _certain(torch.zeros_like(small))]),
         torch.cat([big, small]), 0.5, {
             "Compute the loss per image (sums over dims 1, 2, 3), then average the images' "
             "losses; 0.2 means the sums ran over the whole batch at once.": 0.2}),
        ("squared=True, probabilities 0.5, target a quarter of the image", squared, half,
         QUARTER, 1 - 2 / 6, {
             "With squared=True the sizes in the denominator are sum(y**2) + sum(p**2); you "
             "returned the plain loss.": 1 - 2 / 10,
             "Square only the two sizes in the denominator, not the intersection.":
             1 - 1 / 7}),
        ("eps=1, probabilities 0.5, target a quarter of the image",
         _make(loss_cls, what, eps=1.0), half, QUARTER, 1 - 2 / 11, {
             "eps must come from self.eps, not a hard-coded value.": 1 - 2 / 10,
             "Use sums over each image's pixels, as in the lecture's formula, not means: "
             "with means, eps weighs 16 times more here.": 1 - 0.125 / 1.625,
             "eps goes into the denominator only.": 1 - 3 / 11}),
    ]
    for case, module, logits, target, want, slips in cases:
        out, _ = _loss_value(case, module, logits, target)
        _scalar(case, out, want, hint=_jaccard_hint(out.item(), slips))
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 1, 5, 5, generator=g).requires_grad_()
    target = (torch.rand(3, 1, 5, 5, generator=g) > 0.6).float()
    for flag in (False, True):
        case = f"gradient on a random batch (3, 1, 5, 5), squared={flag}"
        out, (x_in, _) = _loss_value(case, squared if flag else plain, logits, target)
        want = torch.autograd.grad(losses.JaccardLoss(squared=flag)(logits, target), logits)[0]
        expect_close(case, _grad(case, out, x_in), want)
    passed("JaccardLoss", len(cases) + 2)


def check_focal_loss(loss_cls) -> None:
    """Check a ``FocalLoss(gamma=2.0, alpha=None)`` module against BCE (gamma 0),
    torchvision's ``sigmoid_focal_loss`` and hand-computed pixels, including logits of
    +-1000 (finite values and gradients)."""
    from torchvision.ops import sigmoid_focal_loss

    what = "FocalLoss should take gamma=2.0 and alpha=None as keyword arguments."
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 1, 4, 4, generator=g) * 3
    target = (torch.rand(2, 1, 4, 4, generator=g) > 0.7).float()

    def against_torchvision(gamma: float, alpha: float | None, hint: str = "") -> None:
        case = f"FocalLoss(gamma={gamma:g}, alpha={alpha}) on a random batch"
        out, _ = _loss_value(case, _make(loss_cls, what, gamma=gamma, alpha=alpha),
                             logits, target)
        want = sigmoid_focal_loss(logits, target, alpha=-1 if alpha is None else alpha,
                                  gamma=gamma, reduction="mean").item()
        _scalar(case + " vs torchvision.ops.sigmoid_focal_loss", out, want, hint=hint)

    against_torchvision(0.0, None, "With gamma = 0 the focal loss is plain BCE; use self.gamma.")
    loss = _make(loss_cls, what)
    for x, y, label in ((-3.0, 0.0, "background"), (3.0, 1.0, "foreground")):
        case = f"one {label} pixel predicted confidently right (x = {x:g}, y = {y:g})"
        logit, t = torch.tensor([[[[x]]]]), torch.tensor([[[[y]]]])
        out, _ = _loss_value(case, loss, logit, t)
        bce = F.binary_cross_entropy_with_logits(logit, t).item()
        want = torch.sigmoid(torch.tensor(-abs(x))).item() ** 2 * bce
        hint = ""
        if math.isclose(out.item(), bce, rel_tol=1e-3):
            hint = (f"You returned the plain BCE {bce:.4g}: this {label} term is not "
                    f"modulated. Lin et al. multiply both terms by (1 - p_t)^gamma (the "
                    f"exercise sheet's formula forgets the background term).")
        _scalar(case, out, want, atol=1e-7, hint=hint)
    against_torchvision(2.0, None)
    against_torchvision(5.0, None)
    x = torch.tensor([[[[1000.0, -1000.0], [1000.0, -1000.0]]]], requires_grad=True)
    t = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    case = "logits of +-1000 (two right, two wrong)"
    out, (x_in, _) = _loss_value(case, loss, x, t)
    _scalar(case, out, 500.0, hint="Compute the BCE part with the stable form (or "
            "F.binary_cross_entropy_with_logits), not log(sigmoid(x)).")
    grad = _grad(case, out, x_in)
    want = torch.autograd.grad(losses.FocalLoss()(x, t), x)[0]
    if not torch.isfinite(grad).all():
        raise CheckFailed(f"{case}: the gradient is {grad.flatten().tolist()}; it must be "
                          f"finite. Compute the BCE part with the stable form (or "
                          f"F.binary_cross_entropy_with_logits), not log(sigmoid(x)).")
    expect_close(case + ", gradient", grad, want)
    against_torchvision(2.0, 0.25, "alpha weights the foreground terms (y = 1) and 1 - alpha "
                        "the background terms; alpha=None means no weighting.")
    count = 7
    passed("FocalLoss", count)
