# %% [markdown]
# # 01 · An encoder-decoder and a binary cross-entropy that cannot overflow
#
# This lesson trains the course's first segmentation network, a plain encoder-decoder, on the
# cell images. Its loss is one you write yourself: binary cross-entropy (BCE), derived step
# by step from the textbook formula to a form that stays finite for every logit a network
# can produce. At the end you go through the workflow of the exercise sheet's `train.py` and
# `predict.py`: save the trained weights, load them into a fresh model, and write the
# predicted test masks to disk as image files.
#
# **Learning goals**
#
# - know what the encoder-decoder does to the size of its input, and that it outputs logits;
# - derive the simplified BCE from the textbook form, and the stable form from the simplified
#   one, justifying each step;
# - show with float32 numbers where each form returns inf or nan, in value and in gradient;
# - answer the sheet's question: when is the simplified form still unstable, and how to fix it;
# - write the training loop (one epoch of optimiser steps) and an evaluation pass yourself,
#   and know what `model.train()`, `model.eval()`, `zero_grad` and `torch.no_grad()` are for;
# - train with your own loss and loop, read the curves, and measure Dice and IoU on the test
#   set;
# - save a checkpoint, reload it, and write predictions to disk that match the ones in memory.

# %% [markdown]
# ## Parameters
#
# Quick mode (`COURSE_QUICK=1`, used by CI) trains a narrower, shallower network on 64 x 64
# images for a few epochs; full mode uses the original 128 x 128 images.

# %%
from pathlib import Path

from course_utils import config, reporting

SEED = 0
config.seed_everything(SEED)
QUICK = config.is_quick()
DEVICE = config.get_device()
DATA_ROOT = None
SIZE = 64 if QUICK else 128  # images are resized to SIZE x SIZE
WIDTH = 32 if QUICK else 64  # channels of every hidden layer
DEPTH = 3 if QUICK else 4  # number of 2x down-sampling steps
EPOCHS = 12 if QUICK else 40
LOOP_EPOCHS = 6 if QUICK else 10  # short runs with the training loop you write
BATCH_SIZE = 16
LR = 1e-3
OUT_DIR = Path("outputs") / "01-encoder-decoder"  # checkpoint and predicted masks

# %% [markdown]
# ## Data
#
# The cell images of lesson 00: `train` to fit the weights, `val` to watch training, and
# `test` touched only at the end. The loaders keep the decoded images in memory (on the
# training device) and hand out float batches; the training loader reshuffles every epoch.

# %%
import torch

from course_utils import data, metrics, models, plotting, training

train_set, val_set, test_set = (data.PhCDataset(split, DATA_ROOT, size=SIZE)
                                for split in ("train", "val", "test"))
train_loader = data.InMemoryLoader(train_set, BATCH_SIZE, shuffle=True, device=DEVICE,
                                   drop_last=True, seed=SEED)
val_loader = data.InMemoryLoader(val_set, 64, device=DEVICE)
test_loader = data.InMemoryLoader(test_set, 64, device=DEVICE)
print(f"train {len(train_set)}, val {len(val_set)}, test {len(test_set)} images of "
      f"{SIZE} x {SIZE}; {len(train_loader)} batches of {BATCH_SIZE} per epoch")

# %% [markdown]
# ## The encoder-decoder
#
# `models.EncDec` is the network of the exercise sheet. Its **encoder** repeats
# *3 x 3 convolution, then 2 x 2 max-pooling* `DEPTH` times, so every step halves the height
# and the width; a **bottleneck** convolution works on the smallest grid; the **decoder**
# repeats *nearest-neighbour upsampling, then 3 x 3 convolution* until the original size is
# back. The last convolution, the **head**, has one output channel: one number per pixel.
# (Each convolution except the head is followed by BatchNorm and ReLU; BatchNorm is not in
# the sheet's version, but it makes short training runs like ours far more reliable.)

# %%
model = models.EncDec(in_channels=3, out_channels=1, width=WIDTH, depth=DEPTH).to(DEVICE)
images, targets = next(iter(val_loader))  # the loader already put them on DEVICE
with torch.no_grad():
    logits = model.eval()(images[:4])
print(f"input {tuple(images[:4].shape)} -> output {tuple(logits.shape)}; "
      f"smallest grid {SIZE // 2**DEPTH} x {SIZE // 2**DEPTH}; "
      f"{models.count_parameters(model):,} parameters")
print(f"output values from {logits.min():.4f} to {logits.max():.4f}")

# %% [markdown]
# The output has the shape of the target, one channel per image, but its values are not
# probabilities: they are **logits**, any real numbers (for the untrained network all close
# to 0, which means "no opinion"). The sigmoid
# $\sigma(x) = 1 / (1 + e^{-x})$ turns a logit $x$ into the probability that the pixel
# belongs to the cell. The network leaves the sigmoid to the loss on purpose: as the next
# sections show, a loss that sees the logit can be computed safely, while one that only
# sees the rounded probability cannot.

# %% [markdown]
# ## Binary cross-entropy, three ways
#
# For one pixel with logit $x$ and target $y \in \{0, 1\}$, BCE is the negative log of the
# probability the model gives to the true answer. Written with the sigmoid, it is the
# **textbook form**
#
# $$\ell(x, y) = -\big[\, y \log \sigma(x) + (1 - y) \log\big(1 - \sigma(x)\big) \big].$$
#
# The exercise sheet sums $\ell$ over the pixels; here we average it (`.mean()`), which
# has the same minimum but does not grow with the image size or the batch size, so the
# learning rate need not change when they do. Every function below returns one loss per
# element, and the training loop averages.
#
# The textbook form is given; you will meet its problems in the table further down.

# %%
import torch.nn.functional as F


def bce_textbook(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-[y log s(x) + (1 - y) log(1 - s(x))] per element."""
    probs = torch.sigmoid(logits)
    return -(target * torch.log(probs) + (1 - target) * torch.log(1 - probs))


# %% [markdown]
# ### From the textbook form to the simplified form
#
# Two identities of the sigmoid do all the work.
#
# 1. The log of the sigmoid:
#    $\log \sigma(x) = \log \dfrac{1}{1 + e^{-x}} = -\log\left(1 + e^{-x}\right).$
# 2. One minus the sigmoid: put both terms over the same denominator,
#    $1 - \sigma(x) = \dfrac{1 + e^{-x} - 1}{1 + e^{-x}} = \dfrac{e^{-x}}{1 + e^{-x}}$,
#    and take the log of the quotient:
#    $\log\big(1 - \sigma(x)\big) = \log e^{-x} - \log\left(1 + e^{-x}\right)
#    = -x - \log\left(1 + e^{-x}\right).$
#
# Substitute both into the textbook form and collect the terms. Three terms are left, and
# none of them computes $\sigma(x)$ and then takes the log of it, which was the weak spot: in
# float32, $\sigma(x)$ rounds to exactly 1 once $x$ is large enough, and
# $\log(1 - 1) = -\infty$.

# %% [markdown]
# ### Task: the simplified form
#
# Do the substitution on paper, then write `bce_simplified(logits, target)`: your result,
# element by element, with `torch.exp` and `torch.log` as it stands (no tricks against
# overflow yet). Return a tensor of the same shape as `logits` (no `.mean()`). The check
# compares it with PyTorch's BCE at moderate logits, so it tells you whether your algebra
# was right.

# %%
def bce_simplified(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # HINT: substitute identities 1 and 2 into the textbook form; the factors of the two log(1 + e^(-x)) terms add up to y + (1 - y)
    ### BEGIN SOLUTION
    return logits - logits * target + torch.log(1 + torch.exp(-logits))
    ### END SOLUTION


# %% points=2
from course_utils.checks.losses import check_bce_simplified

check_bce_simplified(bce_simplified)

# %% [markdown]
# Your result should read $\ell = x - x y + \log\left(1 + e^{-x}\right)$, the **simplified
# form** of the exercise sheet.

# %% [markdown]
# ### Task: predict where the forms break
#
# Both forms are exact on paper; in float32 they can only break where a number rounds. Two
# facts about a floating-point type decide where, and `torch.finfo(dtype)` holds both:
#
# - `eps`, the gap between 1 and the next larger number ($2^{-23}$ in float32, which keeps
#   24 significant bits). Every result is rounded to the *nearest* representable number.
# - `max`, the largest finite number (about $3.4 \times 10^{38}$ in float32); anything
#   larger becomes inf.
#
# PyTorch's sigmoid computes $1 / (1 + e^{-x})$. Work out, before the sweep below shows
# them, (a) the **saturation** logit above which $1 + e^{-x}$ rounds to exactly 1, so that
# the sigmoid is 1 and the textbook form takes $\log 0$ for $y = 0$; and (b) the
# **overflow** logit below which $e^{-x}$ is inf, and with it the simplified form. Write
# them as a function of the dtype, so that the same reasoning answers for float64 too.

# %%
import math


def breaking_logits(dtype: torch.dtype) -> tuple[float, float]:
    # HINT: for which e^(-x) does 1 + e^(-x) round to 1 rather than to 1 + eps, and for which x is e^(-x) larger than max? Solve each for x with math.log
    ### BEGIN SOLUTION
    info = torch.finfo(dtype)
    return -math.log(info.eps / 2), -math.log(info.max)
    ### END SOLUTION


# %% points=2
from course_utils.checks.floats import check_breaking_logits

check_breaking_logits(breaking_logits)
### BEGIN HIDDEN TESTS
from course_utils import losses

for _got, _want in zip(breaking_logits(torch.float64), losses.breaking_logits(torch.float64),
                       strict=True):
    assert abs(_got - _want) < 0.01, f"float64: expected {_want:.4f}, got {_got:.4f}"
### END HIDDEN TESTS

# %% [markdown]
# ### Where does the simplified form still break?
#
# The check above used logits between -20 and 20. Network outputs are not bounded like that.
# The cell below scans float32 logits from -200 to 200 in steps of 0.01 and reports, for each
# form and each target, the range of logits where the loss is not a finite number.

# %%
SWEEP = torch.arange(-200, 200.005, 0.01)


def broken_ranges(form) -> str:
    """The logits of SWEEP where form(x, y) is inf or nan, for y = 0 and y = 1."""
    parts = []
    for y in (0.0, 1.0):
        bad = ~torch.isfinite(form(SWEEP, torch.full_like(SWEEP, y)))
        below = SWEEP[bad & (SWEEP < 0)]
        above = SWEEP[bad & (SWEEP > 0)]
        ranges = ([f"x <= {below.max():.2f}"] if len(below) else []) + \
                 ([f"x >= {above.min():.2f}"] if len(above) else [])
        parts.append(f"y = {y:.0f}: " + (" and ".join(ranges) or "never"))
    return "; ".join(parts)


for name, form in {"textbook": bce_textbook, "simplified": bce_simplified}.items():
    print(f"{name:10s} not finite for  {broken_ranges(form)}")
saturation, overflow = breaking_logits(torch.float32)
print(f"your prediction: saturation at x = {saturation:.4f}, overflow at x = {overflow:.4f}")

# %% [markdown]
# Compare the sweep with your prediction: the sweep steps by 0.01, so it reports the first
# grid point past each threshold. $1 + e^{-x}$ rounds to 1 once $e^{-x}$ is below half the
# gap to the next number, $\text{eps} / 2 = 2^{-24}$, that is for $x > 24 \ln 2 \approx 16.636$;
# $e^{-x}$ overflows once $-x > \ln(\text{max}) \approx 88.723$.
#
# The textbook form breaks on both sides, for both targets: from $x = 16.64$ up the sigmoid
# rounds to exactly 1, so $\log(1 - \sigma(x)) = \log 0$; from $x = -88.73$ down PyTorch's
# sigmoid returns exactly 0 (it computes $1 / (1 + e^{-x})$ and $e^{-x}$ has overflowed), so
# $\log \sigma(x) = \log 0$. Where the target makes the broken term irrelevant, it still
# poisons the result, because $0 \times (-\infty)$ is nan. The simplified form survives
# every positive logit, but **every logit from -88.73 down** gives inf, whatever the target.
# The reason is $e^{-x}$: past your overflow logit the exponential is inf, and
# $\log(1 + \infty) = \infty$. The true loss there is perfectly ordinary: about
# $-x$ for $y = 1$ (a confident mistake) and nearly 0 for $y = 0$ (a confident, correct
# background pixel: the most common pixel there is).
#
# The gradient fails too. The derivative of $\log(1 + e^{-x})$ is
# $-e^{-x} / (1 + e^{-x})$, which becomes $\infty / \infty$, i.e. nan; one nan in the
# backward pass turns every weight into nan after the next optimiser step.

# %% [markdown]
# ### From the simplified form to the stable form
#
# Only the term $\log(1 + e^{-x})$ can overflow, and only for negative $x$. Your task is to
# rewrite it so that the exponential never sees a positive number, without changing its
# value. Two ways in, either is enough:
#
# - treat the signs of $x$ separately; for $x < 0$, factor the large exponential out of the
#   sum $1 + e^{-x}$;
# - read $\log(1 + e^{-x}) = \log(e^{0} + e^{-x})$ as a *log-sum-exp*,
#   $\mathrm{LSE}(a, b) = \log(e^{a} + e^{b})$, and pull the larger exponent out of the sum.
#
# Then write both signs as one expression (with $\max(\cdot, 0)$ and $|x|$) and put it back
# into the simplified form: a term of it combines with the $x$ in front.
#
# **Two details for the code**, whatever expression you find:
#
# - `torch.log1p(z)` computes $\log(1 + z)$ without first rounding $1 + z$. For $x = 20$ and
#   $y = 1$ the true loss is $e^{-20} \approx 2 \times 10^{-9}$; `torch.log(1 + z)` returns 0
#   because $1 + 2 \times 10^{-9}$ rounds to 1 in float32. Harmless for training, but `log1p`
#   gets it right for free.
# - $\max(x, 0)$ and $|x|$ each have a kink at $x = 0$; in the loss the two kinks cancel,
#   but autograd picks a slope for each separately. `torch.clamp` and `relu` use slope 0 at
#   the kink, which makes the gradient at exactly $x = 0$ come out as $-y$ instead of
#   $\sigma(0) - y = 0.5 - y$. `torch.maximum(x, torch.zeros_like(x))` splits a tie half and
#   half, which gives the right value.

# %% [markdown]
# ### Task: the stable form
#
# Write `bce_stable(logits, target)`: your stable expression, element by element. It must
# equal PyTorch's `binary_cross_entropy_with_logits` (with `reduction="none"`) for every
# finite input, and so must its gradient. Keep the input's dtype: build any constant tensor
# with `torch.zeros_like(logits)`.

# %%
def bce_stable(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # HINT: your expression term by term: torch.maximum(logits, torch.zeros_like(logits)) for a max with 0 (the kink detail above), torch.log1p for a log(1 + .)
    ### BEGIN SOLUTION
    relu = torch.maximum(logits, torch.zeros_like(logits))
    return relu - logits * target + torch.log1p(torch.exp(-logits.abs()))
    ### END SOLUTION


# %% points=3
from course_utils.checks.losses import check_bce_stable

check_bce_stable(bce_stable)
### BEGIN HIDDEN TESTS
from course_utils.checks import expect_close

_gen = torch.Generator().manual_seed(2516)
_x, _y = torch.randn(4, 3, generator=_gen) * 60, torch.rand(4, 3, generator=_gen).round()
expect_close("a 4 x 3 batch of logits up to about 200", bce_stable(_x, _y),
             F.binary_cross_entropy_with_logits(_x, _y, reduction="none"))
### END HIDDEN TESTS

# %% [markdown]
# ### The derivation, to compare with yours
#
# Only the term $\log(1 + e^{-x})$ can overflow, and only for negative $x$. Treat the two
# signs of $x$ separately.
#
# - If $x \ge 0$: then $-x = -|x| \le 0$ and $e^{-x} \le 1$, nothing to fix:
#   $\log(1 + e^{-x}) = \log(1 + e^{-|x|})$.
# - If $x < 0$: factor the large exponential out of the sum,
#   $1 + e^{-x} = e^{-x}\left(e^{x} + 1\right)$, so
#   $\log(1 + e^{-x}) = -x + \log(1 + e^{x}) = -x + \log(1 + e^{-|x|})$.
#
# In both cases the term is $\max(-x, 0) + \log(1 + e^{-|x|})$. Put that into the
# simplified form and use $x + \max(-x, 0) = \max(x, 0)$ (for $x \ge 0$ both sides are $x$;
# for $x < 0$ both are 0):
#
# $$\ell = \max(x, 0) - x y + \log\left(1 + e^{-|x|}\right).$$
#
# This is the **stable form**. It is the same function as the other two, because every step
# was an identity; only the rounding differs. And now nothing can go wrong: the exponential
# only ever sees $-|x| \le 0$, so $e^{-|x|}$ lies in $(0, 1]$ and the log's argument in
# $(1, 2]$. No overflow, no log of 0.
#
# **Two names for the same trick.** Writing $\log(1 + e^{-x}) = \log(e^{0} + e^{-x})$ shows a
# *log-sum-exp*, $\mathrm{LSE}(a, b) = \log(e^{a} + e^{b})$, and the safe way to compute any
# log-sum-exp is to pull out the largest exponent $m = \max(a, b)$:
# $\mathrm{LSE}(a, b) = m + \log(e^{a - m} + e^{b - m})$, where every exponent is now at most
# 0. With $a = 0$, $b = -x$ that is exactly the case analysis above. The function
# $\log(1 + e^{z})$ is also called *softplus*, and since
# $\mathrm{softplus}(x) = x + \log(1 + e^{-x})$, the loss is simply
# $\ell = \mathrm{softplus}(x) - x y$. Its derivative is
# $\partial \ell / \partial x = \sigma(x) - y$, a number between -1 and 1 for every $x$.
# `torch.nn.functional.binary_cross_entropy_with_logits` (and `softplus`) compute the same
# function in the same overflow-free way.
#
# %% [markdown]
# ## The numbers: values, gradients, and a sweep
#
# The three forms at the same float32 logits, for both targets. Values below $10^{-30}$ are
# printed as 0: the smallest ones here are subnormal float32 numbers, which some hardware
# flushes to 0, and none of them matters next to a loss of order 1.

# %%
# NBVAL_CHECK_OUTPUT
TABLE_LOGITS = torch.tensor([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0])
FORMS = {"textbook": bce_textbook, "simplified": bce_simplified, "stable": bce_stable}


def fmt(value) -> str:
    value = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{0.0 if abs(value) < 1e-30 else value:>12.4g}"


print(f"{'y':>2} {'logit x':>8}" + "".join(f"{name:>12}" for name in FORMS))
for y in (0.0, 1.0):
    target = torch.full_like(TABLE_LOGITS, y)
    values = [form(TABLE_LOGITS, target) for form in FORMS.values()]
    for i, x in enumerate(TABLE_LOGITS.tolist()):
        print(f"{y:>2.0f} {x:>8.0f}" + "".join(fmt(v[i]) for v in values))

# %% [markdown]
# Read the table row by row:
#
# - **textbook**: already wrong at $x = \pm 20$: nan for $y = 1, x = 20$ (the unused term is
#   $0 \times \log 0 = 0 \times (-\infty)$), inf for $y = 0, x = 20$, and worse further out.
# - **simplified**: inf at $x = -100$ and $-1000$ for both targets (the overflow of
#   $e^{-x}$); elsewhere right, except that it returns 0 instead of
#   $2 \times 10^{-9}$ for $y = 1, x = 20$ (the rounding of $1 + e^{-20}$).
# - **stable**: finite everywhere, with the loss of a confident mistake growing linearly,
#   $|x|$, as it should.
#
# A loss that is finite can still be useless if its **gradient** is not. The same table for
# $\partial \ell / \partial x$, computed by autograd, next to the exact value
# $\sigma(x) - y$:

# %%
# NBVAL_CHECK_OUTPUT
def gradient(form, logits: torch.Tensor, y: float) -> torch.Tensor:
    x = logits.clone().requires_grad_()
    form(x, torch.full_like(x, y)).sum().backward()
    return x.grad


print(f"{'y':>2} {'logit x':>8}" + "".join(f"{name:>12}" for name in FORMS) + f"{'s(x) - y':>12}")
for y in (0.0, 1.0):
    grads = [gradient(form, TABLE_LOGITS, y) for form in FORMS.values()]
    grads.append(torch.sigmoid(TABLE_LOGITS) - y)
    for i, x in enumerate(TABLE_LOGITS.tolist()):
        print(f"{y:>2.0f} {x:>8.0f}" + "".join(fmt(g[i]) for g in grads))

# %% [markdown]
# The textbook form's gradient is nan wherever the sigmoid has rounded to 0 or 1, even where
# its value was finite; the simplified form's is nan wherever its value overflowed. The
# stable form's gradient equals $\sigma(x) - y$ in every row: $\pm 1$ for confident
# mistakes, 0 for confident right answers, and $\pm 0.5$ at $x = 0$.
#
# The same story as a picture: the loss of each form over a sweep of logits. The forms agree
# wherever they are finite, so their curves lie on top of each other; the markers at the top
# show where a form returns inf or nan instead.

# %%
import matplotlib.pyplot as plt

sweep = torch.linspace(-120, 120, 961)
styles = {"textbook": dict(color="tab:red", lw=4, alpha=0.5),
          "simplified": dict(color="tab:blue", lw=2.5, ls="--"),
          "stable": dict(color="black", lw=1)}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
for ax, y in zip(axes, (0.0, 1.0), strict=True):
    for row, (name, form) in enumerate(FORMS.items()):
        loss = form(sweep, torch.full_like(sweep, y))
        ok = torch.isfinite(loss)
        ax.plot(sweep[ok], loss[ok], label=name, **styles[name])
        ax.plot(sweep[~ok], torch.full((int((~ok).sum()),), 140.0 - 6 * row), "|",
                color=styles[name]["color"], ms=6)
    ax.axhline(128, color="0.7", lw=0.8)
    ax.text(-118, 146, "inf or nan:", fontsize=8, va="bottom")
    ax.set(title=f"target y = {y:.0f}", xlabel="logit x", ylim=(-5, 155))
    ax.grid(alpha=0.3)
axes[0].set_ylabel("loss of one pixel")
axes[0].legend(loc="center left")
fig.tight_layout()

# %% [markdown]
# Finally, the promise in numbers: over a fine sweep from -1000 to 1000 plus the two most
# extreme float32 values, and for hard and soft targets, your stable form equals PyTorch's
# `binary_cross_entropy_with_logits`, and its gradient is finite and equals $\sigma(x) - y$.

# %%
x = torch.cat([torch.linspace(-1000, 1000, 20001), torch.tensor([-3.4e38, 3.4e38])])
x.requires_grad_()
for y in (0.0, 0.3, 1.0):
    target = torch.full_like(x, y)
    loss = bce_stable(x, target)
    reference = F.binary_cross_entropy_with_logits(x, target, reduction="none")
    torch.testing.assert_close(loss, reference, atol=1e-6, rtol=1e-6)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(grad, torch.sigmoid(x.detach()) - y)
print(f"stable BCE = PyTorch's BCE with logits at {x.numel():,} logits x 3 targets; "
      f"gradients finite and equal to sigmoid(x) - y")

# %% [markdown]
# ### What an overflow does to training
#
# Is this only a curiosity? Take a network that is (far too) sure that every pixel is
# background: the same encoder-decoder, with the bias of its head set to -100. Train it for
# three epochs with each form, starting from the same weights.

# %%
def overconfident_model() -> torch.nn.Module:
    config.seed_everything(SEED)
    net = models.EncDec(width=WIDTH, depth=DEPTH).to(DEVICE)
    with torch.no_grad():
        net.head.bias.fill_(-100.0)
    return net


overconfident = {}
for name, form in {"simplified": bce_simplified, "stable": bce_stable}.items():
    try:
        history = training.fit(overconfident_model(), lambda lg, t, f=form: f(lg, t).mean(),
                               train_loader, epochs=3, lr=LR, device=DEVICE, progress=False)
        overconfident[name] = history["train_loss"]
        losses_per_epoch = ", ".join(f"{loss:.1f}" for loss in history["train_loss"])
        print(f"{name:10s} trains: mean loss of epochs 1-3: {losses_per_epoch}")
    except training.NonFiniteLossError as err:
        print(f"{name:10s} stops: {err}")

stable_losses = overconfident.get("stable", [])
stable_falls = len(stable_losses) > 1 and all(
    later < earlier for earlier, later in zip(stable_losses[:-1], stable_losses[1:], strict=True))
simplified_stops = "simplified" not in overconfident
print(f"In this run the simplified form {'stopped' if simplified_stops else 'trained'} and the "
      f"stable form's loss {'fell' if stable_falls else 'did not fall'} in every epoch.")
reporting.record_outcome("simplified form stops", simplified_stops)
reporting.record_outcome("stable form's loss falls every epoch", stable_falls)

# %% [markdown]
# With the simplified form the very first step fails: the loss is inf, and the training loop
# refuses to go on. The stable form starts from a large but finite loss (each cell pixel is
# a confident mistake costing about 100) and keeps going with finite gradients, so the loss
# can fall (the verdict line says whether it fell in every epoch of this run). Slowly,
# though: Adam moves each weight by roughly the learning rate per step, so climbing back from
# a bias of -100 takes many epochs. Good initialisation
# matters too, but it cannot help a loss that returns inf.
#
# ### Question
#
# The exercise sheet asks: can the simplified form still be unstable, and how would you
# change it? Answer in two or three sentences, with the numbers above.

# %% [markdown] points=2
# ### BEGIN SOLUTION
# Yes. The term $\log(1 + e^{-x})$ overflows for large negative logits: in float32,
# $e^{-x}$ is inf as soon as $x$ is below about $-88.72$, so the loss is inf and its
# gradient nan, although the true loss there is finite (about $|x|$ for a cell pixel, about
# 0 for a background pixel). Nothing bounds a network's output: a network that grows very
# confident about the background, or takes one large step, gets there, and a single such
# pixel makes the whole batch's loss inf (the experiment above). The fix is to pull the
# largest exponent out of the log-sum-exp: $\ell = \max(x, 0) - x y + \log(1 + e^{-|x|})$,
# where the exponential never sees a positive argument (best with `log1p`); in practice, use
# `torch.nn.functional.binary_cross_entropy_with_logits`, which computes exactly this.
# ### END SOLUTION

# %% [markdown]
# ## Training with your loss, in a loop you write
#
# Time to use it. The criterion averages your per-pixel stable BCE over the batch:

# %%
def criterion(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return bce_stable(logits, target).mean()


# %% [markdown]
# Training is a loop over the batches of the training set, repeated once per **epoch**.
# For every batch the network predicts, the loss scores the prediction, backpropagation
# computes the gradient of the loss with respect to every weight, and the optimiser moves
# the weights a small step against it. Two details trip up almost everyone once:
#
# - **Gradients add up.** `loss.backward()` *adds* each new gradient to what is already stored
#   in every weight's `.grad`. PyTorch does this on purpose (it lets you sum gradients over
#   several small batches), so clearing the old gradients before each backward pass is your
#   job: `optimizer.zero_grad()`.
# - **A model has two modes.** `model.train()` and `model.eval()` switch layers that behave
#   differently in training: BatchNorm normalises each batch with the batch's own mean and
#   variance in training mode and updates running averages of them; in eval mode it uses
#   those running averages instead, so that a prediction does not depend on the other images
#   in the batch. (Dropout, which this network does not use, is on in training mode only.)
#
# ### Task: one training epoch
#
# Write `train_one_epoch(model, criterion, optimizer, loader)`: one pass over `loader`, one
# optimiser step per batch, returning the mean of the batch losses as a plain Python number.
# The loader's batches are already on the model's device.

# %%
def train_one_epoch(model, criterion, optimizer, loader) -> float:
    # HINT: which mode must the model be in? Per batch there are five steps, the first of which clears what backward() left behind; add up plain numbers (loss.item()), not tensors
    ### BEGIN SOLUTION
    model.train()
    total = 0.0
    for images, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)
    ### END SOLUTION


# %% points=3
from course_utils.checks.training import check_evaluate, check_train_one_epoch

check_train_one_epoch(train_one_epoch, DEVICE)

# %% [markdown]
# ### Task: one evaluation pass
#
# Write `evaluate(model, criterion, loader)`: the loss and the Dice of the predicted masks
# (probability at least 0.5) as **means over the images** of the loader; return both as
# `{"loss": ..., "dice": ...}`. Score each batch with `criterion(logits, targets)` (a mean
# over its pixels) and `metrics.dice_score(pred, target)` (a mean over its images), and
# weight each batch's value by its number of images: a loader without `drop_last` ends with
# a smaller batch, and a plain mean of the per-batch values would let its few images count
# as much as a full batch, so the result would depend on the batch size. Evaluation must not
# change the model, and it needs no gradients: computing them would keep every batch's
# intermediate results in memory for a backward pass that never comes.

# %%
def evaluate(model, criterion, loader) -> dict[str, float]:
    # HINT: which mode, and which context manager turns off the recording for autograd? The network returns logits: what makes them probabilities? Add up value * len(images) and divide by the number of images
    ### BEGIN SOLUTION
    model.eval()
    loss_sum, dice_sum, count = 0.0, 0.0, 0
    with torch.no_grad():
        for images, targets in loader:
            logits = model(images)
            loss_sum += criterion(logits, targets).item() * len(images)
            dice_sum += metrics.dice_score(torch.sigmoid(logits) >= 0.5, targets) * len(images)
            count += len(images)
    return {"loss": loss_sum / count, "dice": dice_sum / count}
    ### END SOLUTION


# %% points=2
check_evaluate(evaluate, DEVICE)

# %% [markdown]
# ### Your loop at work, and a lesson about BatchNorm
#
# BatchNorm's running averages are updated after every training batch as
# $r \leftarrow (1 - m)\,r + m \cdot s$, where $s$ is the batch's statistic and $m$ the
# **momentum** (torch's default is 0.1). They start at mean 0 and variance 1, and that start
# keeps a weight of $(1 - m)^n$ after $n$ batches. In a long training run that is soon
# negligible; in our short runs it is not:

# %%
steps = len(train_loader)
for momentum in (0.1, models.BN_MOMENTUM):
    print(f"momentum {momentum}: after 1 epoch ({steps} batches) the starting values still "
          f"weigh {(1 - momentum) ** steps:.0%}; after 3 epochs {(1 - momentum) ** (3 * steps):.0%}")

# %% [markdown]
# On top of that, the weights change fast in the first epochs, so even the batches the
# averages did see were computed by an older network. In eval mode every layer is then
# normalised with statistics that do not fit, and the prediction can be far off even when the
# same weights, normalised with each batch's own statistics (training mode), already find
# the cells; the cell after the two runs measures exactly that. This course's models therefore use
# `models.BN_MOMENTUM` = 0.3. To see the difference, train the encoder-decoder with your two
# functions for `LOOP_EPOCHS` epochs, once with momentum 0.1 and once with 0.3, from the
# same initial weights and on the same batches:

# %%
def train_with_your_loop(momentum: float) -> tuple[torch.nn.Module, list[float]]:
    """Train a fresh EncDec with train_one_epoch and evaluate; the net and its val Dice per epoch."""
    config.seed_everything(SEED)
    net = models.EncDec(width=WIDTH, depth=DEPTH).to(DEVICE)
    for layer in net.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = momentum
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    loader = data.InMemoryLoader(train_set, BATCH_SIZE, shuffle=True, device=DEVICE,
                                 drop_last=True, seed=SEED)
    dice_per_epoch = []
    for epoch in range(1, LOOP_EPOCHS + 1):
        train_loss = train_one_epoch(net, criterion, optimizer, loader)
        val = evaluate(net, criterion, val_loader)
        dice_per_epoch.append(val["dice"])
        print(f"momentum {momentum}, epoch {epoch}: train loss {train_loss:.3f}, "
              f"val loss {val['loss']:.3f}, val Dice {val['dice']:.3f}")
    return net, dice_per_epoch


loop_nets, loop_dice = {}, {}
for momentum in (0.1, models.BN_MOMENTUM):
    loop_nets[momentum], loop_dice[momentum] = train_with_your_loop(momentum)

# %%
stuck = {momentum: sum(dice < 0.05 for dice in dices) for momentum, dices in loop_dice.items()}
print(f"In this run the validation Dice stayed below 0.05 in {stuck[0.1]} of {LOOP_EPOCHS} "
      f"epochs with momentum 0.1 and in {stuck[models.BN_MOMENTUM]} of {LOOP_EPOCHS} with "
      f"momentum {models.BN_MOMENTUM}; after the last epoch it was {loop_dice[0.1][-1]:.3f} vs "
      f"{loop_dice[models.BN_MOMENTUM][-1]:.3f}.")
reporting.record_outcome("epochs stuck with momentum 0.1", stuck[0.1])
reporting.record_outcome("epochs stuck with momentum 0.3", stuck[models.BN_MOMENTUM])
reporting.record_outcome("last val Dice, momentum 0.3 minus 0.1",
                         loop_dice[models.BN_MOMENTUM][-1] - loop_dice[0.1][-1])

# %% [markdown]
# Compare the training losses of the two runs: they are the same, epoch by epoch, because in
# training mode BatchNorm never looks at its running averages; only evaluation does. So the
# two runs end with the same kind of network, and differ only in the statistics that eval
# mode uses. To see that the stale statistics, not the weights, hold the Dice down, score the
# momentum-0.1 network once more on the validation images, this time in training mode, where
# each layer normalises with the statistics of the batch in hand (a copy, so that the
# running averages stay as they were):

# %%
import copy


def dice_in_training_mode(net: torch.nn.Module) -> float:
    """Validation Dice with BatchNorm normalising each batch with its own statistics."""
    probe = copy.deepcopy(net).train()
    with torch.no_grad():
        masks = [(torch.sigmoid(probe(images)) >= 0.5, targets) for images, targets in val_loader]
    return metrics.dice_score(torch.cat([m for m, _ in masks]), torch.cat([t for _, t in masks]))


train_mode_dice = dice_in_training_mode(loop_nets[0.1])
print(f"momentum 0.1, after epoch {LOOP_EPOCHS}: validation Dice {loop_dice[0.1][-1]:.3f} in "
      f"eval mode (running averages), {train_mode_dice:.3f} in training mode (batch statistics)")
print(f"The momentum-{models.BN_MOMENTUM} network scored {loop_dice[models.BN_MOMENTUM][-1]:.3f} "
      f"in eval mode after the same epoch, with weights trained on the same batches.")
reporting.record_outcome("momentum 0.1: train-mode minus eval-mode val Dice",
                         train_mode_dice - loop_dice[0.1][-1])
reporting.record_outcome("momentum 0.1 in training mode minus momentum 0.3 in eval mode",
                         train_mode_dice - loop_dice[models.BN_MOMENTUM][-1])

# %% [markdown]
# With momentum 0.1 a network that has already learnt to find the cells typically scores a
# Dice near 0 on the validation images in eval mode for the first few epochs: its stale
# running statistics turn every pixel into background. Scored with each batch's own
# statistics (training mode), the same weights typically do about as well as the
# momentum-0.3 network does in eval mode, which is what the last two lines compare: the
# weights were never the problem. The counts printed above are this run's; the course's own
# tests check that in quick mode the momentum-0.1 run stays near 0 for more epochs than the
# 0.3 run and still trails it after the last. (Training-mode evaluation is a diagnosis, not
# a fix: it makes each prediction depend on the other images in the batch.) How many epochs it
# takes depends on the number of batches per epoch and on how fast the weights move, which
# is why a bigger momentum matters most in short runs like the ones in this course. If a
# validation score sits at 0 while the training loss falls, suspect the eval-mode
# statistics before the model.
#
# ## `training.fit` takes over
#
# From here on the course trains with `training.fit`. Inside it are
# `training.train_one_epoch` and `training.evaluate`, the same loop and pass you just wrote
# (the check compared yours with them), plus what every longer experiment needs: it moves
# the model and the batches to the device, creates the optimiser (Adam), shows a progress
# bar, records a **history** (losses and validation scores per epoch, ready for plotting),
# scores the validation set with Dice, IoU, sensitivity and specificity, and stops with a
# message naming the epoch and step if the loss stops being finite (the overconfident
# experiment above ran into exactly that). It also offers mixed precision on a GPU.
#
# A fresh encoder-decoder, trained for `EPOCHS` epochs:

# %%
config.seed_everything(SEED)
model = models.EncDec(width=WIDTH, depth=DEPTH).to(DEVICE)
history = training.fit(model, criterion, train_loader, val_loader, epochs=EPOCHS, lr=LR,
                       device=DEVICE)
print(f"{sum(history['seconds']):.1f} s; last epoch: train loss {history['train_loss'][-1]:.3f}, "
      f"val loss {history['val_loss'][-1]:.3f}, val Dice {history['val_dice'][-1]:.3f}")
fig = plotting.plot_history(history)

# %%
train_losses, val_losses = history["train_loss"], history["val_loss"]
rises = sum(b > a for a, b in zip(train_losses[:-1], train_losses[1:], strict=True))
best_epoch = min(range(EPOCHS), key=val_losses.__getitem__) + 1
print(f"In this run the training loss fell from {train_losses[0]:.3f} to {train_losses[-1]:.3f} "
      f"(it rose in {rises} of {EPOCHS - 1} epochs); the validation loss was lowest after "
      f"epoch {best_epoch} of {EPOCHS}.")
reporting.record_outcome("training loss fell overall", train_losses[-1] < 0.5 * train_losses[0])

# %% [markdown]
# The training loss usually falls fast at first and then more slowly, with small bumps: each
# epoch sees the batches in a new order, and Adam's steps are noisy. The validation loss and
# Dice show how well that carries over to images the network has not seen. The validation
# loss often jumps about more than the training loss in short runs (a few dozen images, and
# BatchNorm statistics that still move); if it rose steadily over several epochs while the
# training loss kept falling, the network would be memorising the training images, and the
# epoch where the validation loss was lowest would be the one to keep.
#
# Now the test set, once. Dice and IoU count overlapping pixels (lesson 07 looks at them
# and at other scores in detail): Dice $= 2|P \cap T| / (|P| + |T|)$ and
# IoU $= |P \cap T| / |P \cup T|$ for the predicted mask $P$ (probability at least 0.5) and
# the true mask $T$, averaged over the test images.

# %%
test_metrics = training.evaluate(model, test_loader, DEVICE)
config.print_table({name: f"{value:.3f}" for name, value in test_metrics.items()})
reporting.record_result("test Dice", test_metrics["dice"])
reporting.record_result("test IoU", test_metrics["iou"], echo=False)

# %% [markdown]
# Two galleries: the first six test images, then the six where the network does worst,
# titled with their per-image Dice. In each, the top row shows the image with the true
# outline (yellow), the bottom row adds the predicted mask (magenta).

# %%
probs = training.predict(model, test_loader, DEVICE)
masks = probs >= 0.5
truth = test_set.targets.bool()
per_image_dice = (2 * (masks & truth).sum((1, 2, 3)) /
                  (masks.sum((1, 2, 3)) + truth.sum((1, 2, 3))).clamp(min=1))
test_images = test_set.images.float() / 255
fig = plotting.show_samples(test_images[:6], truth[:6], masks[:6],
                            titles=test_set.names[:6], max_items=6)
worst = per_image_dice.argsort()[:6]
fig = plotting.show_samples(test_images[worst], truth[worst], masks[worst], max_items=6,
                            titles=[f"Dice {per_image_dice[i]:.2f}" for i in worst])

# %% [markdown]
# ## `train.py` and `predict.py`: weights on disk, masks on disk
#
# The exercise sheet splits the work into two scripts: one trains and **saves** the model,
# the other **loads** it and writes the predicted test masks as images. Here are the same
# steps, with a check at each that nothing got lost on the way.
#
# First the training side: save the weights, with the settings needed to rebuild the model.

# %%
checkpoint = training.save_checkpoint(OUT_DIR / "encdec.pt", model, width=WIDTH, depth=DEPTH,
                                      size=SIZE, epochs=EPOCHS)
print(f"saved {checkpoint.name}: {checkpoint.stat().st_size / 1e3:.0f} kB")

# %% [markdown]
# Now the prediction side, as if in a new process: build a **fresh** model (its weights are
# random), load the checkpoint into it, and predict the test set. The fresh model must give
# the same probabilities as the trained one still in memory.

# %%
config.seed_everything(SEED + 1)
fresh = models.EncDec(width=WIDTH, depth=DEPTH).to(DEVICE)
print(f"before loading: max |difference| to the trained model's probabilities "
      f"{(training.predict(fresh, test_loader, DEVICE) - probs).abs().max():.3f}")
settings = training.load_checkpoint(checkpoint, fresh)
fresh_probs = training.predict(fresh, test_loader, DEVICE)
difference = (fresh_probs - probs).abs().max().item()
print(f"checkpoint settings {settings}")
print(f"after loading:  max |difference| {difference:.1e}")
assert difference < 1e-5

# %% [markdown]
# Last, write one PNG per test image: 0 for background, 255 for cell, named like the
# dataset's own label files (`label_NNNNN.png`), so a prediction and its true label can be
# compared file by file. Then read the files back and compare them with the masks in memory.

# %%
import numpy as np
from PIL import Image

fresh_masks = fresh_probs >= 0.5
names = [name.replace("img_", "label_") for name in test_set.names]
paths = training.save_masks(fresh_masks, names, OUT_DIR / "test_masks")
from_disk = torch.from_numpy(np.stack([np.asarray(Image.open(p)) for p in paths]))
print(f"{len(paths)} files in {paths[0].parent.name}/: {paths[0].name}, {paths[1].name}, ..., "
      f"{paths[-1].name}")
print(f"pixel values in the files: {sorted(np.unique(from_disk.numpy()).tolist())}")
assert torch.equal(from_disk[:, None] == 255, masks)
print(f"all {len(paths)} masks on disk equal the in-memory predictions")

# %% [markdown]
# ## Conclusion
#
# - The encoder-decoder shrinks the image `DEPTH` times by pooling and grows it back by
#   upsampling; it outputs one logit per pixel, and the loss applies the sigmoid.
# - The textbook BCE, the simplified BCE and the stable BCE are one function written three
#   ways. In float32 the textbook form fails from $x = 16.64$ up and from $x = -88.73$ down,
#   the simplified form from $x = -88.73$ down (where $e^{-x}$ overflows); the stable form
#   $\max(x, 0) - x y + \log(1 + e^{-|x|})$ (log-sum-exp with the largest exponent pulled
#   out, i.e. $\mathrm{softplus}(x) - x y$) never does, and its gradient is
#   $\sigma(x) - y$. In your own code, use `F.binary_cross_entropy_with_logits` or
#   `nn.BCEWithLogitsLoss`: they compute exactly this.
# - A training epoch is, per batch: clear the gradients, predict, compute the loss,
#   backpropagate, step; in training mode. An evaluation pass runs in eval mode without
#   gradients. BatchNorm's running statistics are what eval mode uses; in short runs they
#   lag behind unless their momentum is raised.
# - A checkpoint holds the weights; the code and the settings rebuild the model around them.
#   Reloaded weights must reproduce the in-memory predictions, and masks written to disk must
#   read back unchanged; both are cheap to check, so check them.
#
# Lesson 02 replaces BCE with losses designed for segmentation: Dice, Focal, and BCE with a
# smoothness term.
#
# **References**
#
# - I. Goodfellow, Y. Bengio, A. Courville, *Deep Learning*, MIT Press 2016, section 4.1
#   (overflow and underflow) and section 3.10 (the softplus function).
# - PyTorch documentation: `torch.nn.BCEWithLogitsLoss` and `torch.log1p`.
# - IEEE 754 single precision: largest finite value about $3.4 \times 10^{38}$.
# - Ulman et al., *An objective comparison of cell-tracking algorithms*, Nature Methods 2017
#   (the Cell Tracking Challenge, source of the cell images).
