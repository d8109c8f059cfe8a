# %% [markdown]
# # 02 · Losses for segmentation: Dice, Focal, total variation
#
# BCE treats every pixel as a separate yes/no question and weighs all of them equally. In
# segmentation that is not always what we want: background pixels usually outnumber the
# object, most pixels are easy, and masks have shapes. This lesson implements the losses of
# the exercise sheet that answer these points, trains the same network with each on the same
# budget, and compares what comes out.
#
# **Learning goals**
#
# - write the sheet's smoothed Dice loss, the lecture's soft Jaccard loss and its squared
#   variant, the focal loss of Lin et al. (both terms modulated; the sheet's formula is
#   missing one) and BCE with a total-variation term;
# - write the sheet's "centred" and "sparsity" regularisers, see what each rewards, and see
#   how the centred one breaks a convolutional network's translation equivariance on purpose;
# - turn class frequencies into BCE weights and know what `pos_weight` does;
# - train with seven losses and compare Dice, IoU, sensitivity, specificity, boundary length
#   and how confident the probabilities are, telling real differences from noise with a sign
#   test over seeds and a bootstrap confidence interval over test images;
# - see with a slider how the focal loss's gamma moves the loss onto the pixels a model
#   gets wrong.

# %% [markdown]
# ## Parameters
#
# Each loss trains the same encoder-decoder, once per seed in `SEEDS`, so that a difference
# between two losses can be told from the noise of a single training run (how far three
# seeds go is worked out in the comparison below). In quick
# mode every model is scored on the first `TEST_IMAGES` test images rather than on all of
# them: predicting the whole test set after each of the 21 trainings took a fifth of the
# lesson's time. Full mode scores on the whole test set.

# %%
from course_utils import config, reporting

SEED = 0
config.seed_everything(SEED)
QUICK = config.is_quick()
DEVICE = config.get_device()
DATA_ROOT = None
SIZE = 64 if QUICK else 128  # images are resized to SIZE x SIZE
WIDTH = 32 if QUICK else 64  # channels of every hidden layer
DEPTH = 3 if QUICK else 4  # number of 2x down-sampling steps
EPOCHS = 3 if QUICK else 30
SEEDS = (0, 1, 2)
TEST_IMAGES = 200 if QUICK else None  # test images every model is scored on (None: all)
BATCH_SIZE = 16
LR = 1e-3
GAMMA = 2.0  # focal loss
TV_LAMBDA = 5.0 * SIZE / 64  # weight of the total-variation term, grows with the image size

# %% [markdown]
# ## Data, and how unbalanced it is

# %%
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import data, metrics, models, plotting, training, verdicts

train_set, val_set = (data.PhCDataset(split, DATA_ROOT, size=SIZE) for split in ("train", "val"))
test_set = data.PhCDataset("test", DATA_ROOT, size=SIZE, limit=TEST_IMAGES)
val_loader = data.InMemoryLoader(val_set, 64, device=DEVICE)
test_loader = data.InMemoryLoader(test_set, 64, device=DEVICE)
fg_share = train_set.targets.float().mean().item()
print(f"train {len(train_set)}, val {len(val_set)}, test {len(test_set)} images of {SIZE} x {SIZE}")
print(f"cell pixels: {fg_share:.1%} of the training pixels; background: {1 - fg_share:.1%}")

# %% [markdown]
# About one pixel in four is cell. A network could reach about 72 % pixel accuracy by
# predicting background everywhere, which is why this course reports Dice and IoU instead.
# The losses below approach the imbalance in different ways.

# %% [markdown]
# ## Dice loss
#
# The Dice coefficient of two masks $X$ and $Y$ is $D = 2|X \cap Y| / (|X| + |Y|)$: 1 for
# identical masks, 0 for disjoint ones. As a function of a *hard* mask it has no useful
# gradient (it jumps when a pixel flips). The trick is to put the soft prediction in its
# place: with $X$ the sigmoid probabilities and $Y$ the target, $X \cdot Y$ (element by
# element) is a soft intersection and $X + Y$ a soft total size. The exercise sheet's
# version, with a smoothing constant $s$ (the sheet uses $s = 1$):
#
# $$\mathcal{L}_D = 1 - \frac{\operatorname{mean}(2 X \cdot Y) + s}{\operatorname{mean}(X + Y) + s}.$$
#
# The constant keeps the ratio defined when both masks are empty. Take the means over the
# pixels of each image, then average the per-image losses over the batch, as the Dice score
# itself is averaged per image.
#
# Dice compares the overlap with the *size of the cell*, not with the whole image, so the
# background's majority does not dominate it the way it dominates the average BCE.

# %% [markdown]
# ### Task: `DiceLoss`

# %%
class DiceLoss(nn.Module):
    """The sheet's smoothed Dice loss on sigmoid probabilities, per image, batch mean."""

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # HINT: the formula above on the probabilities, one value per image (which dims hold one image?), then the batch's average; where does the smoothing enter?
        ### BEGIN SOLUTION
        probs = torch.sigmoid(logits)
        dims = (1, 2, 3)
        numerator = 2 * (probs * target).mean(dims) + self.smooth
        denominator = (probs + target).mean(dims) + self.smooth
        return (1 - numerator / denominator).mean()
        ### END SOLUTION


# %% points=2
from course_utils.checks.losses import check_dice_loss

check_dice_loss(DiceLoss)
### BEGIN HIDDEN TESTS
from course_utils import losses
from course_utils.checks import expect_close

_gen = torch.Generator().manual_seed(2516)
_x, _y = torch.randn(3, 1, 7, 5, generator=_gen) * 3, torch.rand(3, 1, 7, 5, generator=_gen).round()
for _s in (1.0, 0.5):
    expect_close(f"DiceLoss({_s}) on a 3 x 1 x 7 x 5 batch", DiceLoss(_s)(_x, _y),
                 losses.DiceLoss(_s)(_x, _y))
### END HIDDEN TESTS

# %% [markdown]
# A consequence of the sheet's choice to smooth *means*: the means lie between 0 and 2, so
# $s = 1$ is not a small correction. For the test set's true masks, compare a perfect
# prediction and one that misses every cell entirely, with $s = 1$ and $s = 0$:

# %%
truth = test_set.targets.float()
certain = {"perfect": 20 * (2 * truth - 1), "all background": torch.full_like(truth, -20.0)}
for name, logits in certain.items():
    print(f"{name:15s} DiceLoss(s=1) {DiceLoss(1.0)(logits, truth):.3f}   "
          f"DiceLoss(s=0) {DiceLoss(0.0)(logits, truth):.3f}")

# %% [markdown]
# With $s = 0$ the loss is $1 - \text{Dice}$: 1 for a prediction that misses the cell. With
# $s = 1$, missing the cell costs only about 0.2, because the constant outweighs the
# cell's share of the image. The minimum (a perfect mask) is the same, and Adam rescales its
# steps, so training still works; but do not read the sheet's loss as $1 - \text{Dice}$.
# The more common variant smooths *sums* over pixels, where $s = 1$ is negligible.

# %% [markdown]
# ## Jaccard loss, and its squared variant
#
# The Jaccard index (IoU) of two masks is $J = |X \cap Y| / |X \cup Y|$. For soft
# predictions the union needs a soft version too: the sizes of the two masks minus their
# overlap, so that the overlap is not counted twice. With $p_i$ the probabilities and $y_i$
# the target of the pixels of one image, the soft Jaccard loss of the lecture is
#
# $$\mathcal{L}_J = 1 - \frac{\sum_i p_i y_i}{\sum_i y_i + \sum_i p_i - \sum_i p_i y_i + \epsilon},$$
#
# with a small $\epsilon$ that only guards the denominator against two empty masks (sums,
# not means: here $\epsilon$ is meant to be negligible). The **squared variant** replaces
# the two sizes by sums of squares, $\sum_i y_i^2 + \sum_i p_i^2$. For hard masks nothing
# changes ($0^2 = 0$, $1^2 = 1$), and both are $1 - \text{IoU}$. For a soft prediction the
# squared version counts an unsure pixel with $p^2$ instead of $p$ in the union: a pixel at
# $p = 0.3$ outside the cell costs 0.09 instead of 0.3. As with Dice, compute the loss per
# image and average over the batch.
#
# For one image, IoU is a function of Dice, $J = D / (2 - D)$, and an increasing one, so the
# two rank the masks *of one image* the same way; do not expect a large difference between
# the two losses' scores. Averaged over a test set they can disagree, because the mean of
# $D/(2 - D)$ is not a function of the mean of $D$: two images, model A with Dice 1.0 and
# 0.5, model B with 0.76 on both:

# %%
def iou_from_dice(d: float) -> float:
    return d / (2 - d)


for model_name, dices in (("A", (1.0, 0.5)), ("B", (0.76, 0.76))):
    ious = [iou_from_dice(d) for d in dices]
    print(f"model {model_name}: Dice {dices} -> mean {sum(dices) / 2:.3f}; IoU "
          f"({ious[0]:.3f}, {ious[1]:.3f}) -> mean {sum(ious) / 2:.3f}")

# %% [markdown]
# B wins on mean Dice and A on mean IoU: IoU punishes a poor image harder (Dice 0.5 is IoU
# 1/3), so a model with one bad image and one perfect one can rank differently under the two
# means. What the losses reward on the way there differs too.

# %% [markdown]
# ### Task: `JaccardLoss`

# %%
class JaccardLoss(nn.Module):
    """The lecture's soft Jaccard loss per image (batch mean); squared=True for the variant."""

    def __init__(self, squared: bool = False, eps: float = 1e-6):
        super().__init__()
        self.squared, self.eps = squared, eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # HINT: like DiceLoss, one value per image (which dims hold one image?), but sums instead of means; what is the soft union, and where do the squares go?
        ### BEGIN SOLUTION
        probs = torch.sigmoid(logits)
        dims = (1, 2, 3)
        intersection = (probs * target).sum(dims)
        if self.squared:
            sizes = (target**2).sum(dims) + (probs**2).sum(dims)
        else:
            sizes = target.sum(dims) + probs.sum(dims)
        return (1 - intersection / (sizes - intersection + self.eps)).mean()
        ### END SOLUTION


# %% points=2
from course_utils.checks.losses import check_jaccard_loss

check_jaccard_loss(JaccardLoss)
### BEGIN HIDDEN TESTS
from course_utils import losses
from course_utils.checks import expect_close

_gen = torch.Generator().manual_seed(2517)
_x, _y = torch.randn(3, 1, 7, 5, generator=_gen) * 3, torch.rand(3, 1, 7, 5, generator=_gen).round()
_y[0] = 0  # one image without any foreground
for _sq in (False, True):
    expect_close(f"JaccardLoss(squared={_sq}) on a 3 x 1 x 7 x 5 batch",
                 JaccardLoss(squared=_sq)(_x, _y), losses.JaccardLoss(squared=_sq)(_x, _y))
### END HIDDEN TESTS

# %% [markdown]
# The two predictions of the Dice example, plus a hedging one (probability 0.3 everywhere):

# %%
certain["hedging (0.3)"] = torch.full_like(truth, torch.logit(torch.tensor(0.3)).item())
print(f"{'prediction':15s} {'Jaccard':>8s} {'squared':>8s}")
for name, logits in certain.items():
    print(f"{name:15s} {JaccardLoss()(logits, truth):>8.3f} "
          f"{JaccardLoss(squared=True)(logits, truth):>8.3f}")

# %% [markdown]
# Unlike the sheet's Dice loss, the Jaccard loss of a prediction that misses the cell is 1:
# the small $\epsilon$ on sums does not dampen it. The hedging prediction shows the
# difference between the two: the squared union charges the many background pixels at
# 0.3 only $0.3^2$ each, so the squared loss is lower for it.

# %% [markdown]
# ## Where the Dice loss pushes: its gradient
#
# A loss teaches the network only through its gradient, so it pays to know where each loss
# pushes. Take the probabilities $p$ as the variables (the sigmoid's own derivative is the
# same for every loss that works on $p$). For a batch of $B$ images of $N = C H W$ elements
# each, the sheet's loss is $L = \frac{1}{B} \sum_b (1 - D_b)$ with
#
# $$D_b = \frac{2 \operatorname{mean}_i(p_i y_i) + s}{\operatorname{mean}_i(p_i + y_i) + s},$$
#
# the means running over the $N$ elements of image $b$.

# %% [markdown]
# ### Task: the gradient of the Dice loss, by hand
#
# Derive $\partial L / \partial p_i$ for one element $i$ of image $b$ on paper, then write
# `dice_gradient(probs, target, smooth)`: your formula for every element at once, a tensor
# of the shape of `probs`, without autograd. The check compares it with autograd. Before you
# run it, look at your formula: which of $p_i$ and $y_i$ does it depend on?

# %%
def dice_gradient(probs: torch.Tensor, target: torch.Tensor, smooth: float) -> torch.Tensor:
    # HINT: quotient rule on D_b; one p_i changes mean(p y) by y_i / N and mean(p + y) by 1 / N; .mean(dims, keepdim=True) keeps one number per image that broadcasts over its pixels
    ### BEGIN SOLUTION
    dims = (1, 2, 3)
    size = probs[0].numel()
    m = (probs + target).mean(dims, keepdim=True) + smooth
    dice = (2 * (probs * target).mean(dims, keepdim=True) + smooth) / m
    return (dice - 2 * target) / (len(probs) * size * m)
    ### END SOLUTION


# %% points=3
from course_utils.checks.loss_gradients import check_dice_gradient

check_dice_gradient(dice_gradient)
### BEGIN HIDDEN TESTS
from course_utils import losses
from course_utils.checks import expect_close

_gen = torch.Generator().manual_seed(2518)
for _shape, _s in (((2, 1, 3, 5), 0.5), ((1, 2, 4, 4), 1.0), ((4, 1, 2, 3), 0.0)):
    _p = torch.rand(_shape, generator=_gen, dtype=torch.float64)
    _y = torch.rand(_shape, generator=_gen, dtype=torch.float64).round()
    expect_close(f"dice_gradient on a batch {_shape}, s = {_s}", dice_gradient(_p, _y, _s),
                 losses.dice_gradient(_p, _y, _s), atol=1e-9, rtol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# The derivative is $\partial L / \partial p_i = (D_b - 2 y_i) / (B N M_b)$ with
# $M_b = \operatorname{mean}(p + y) + s$: it depends on the pixel's target, not on its own
# probability. Every cell pixel is pulled up by the same amount, every background pixel
# pushed down by the same amount, and the ratio of the two is $(2 - D_b) / D_b$. The cell
# below measures that ratio for three predictions of the test masks, without smoothing and
# with the sheet's $s = 1$, next to $1 / J$ for the soft Jaccard index
# $J = \sum p y / (\sum p + \sum y - \sum p y)$ (the median over the test images).

# %%
masks = truth.to(DEVICE)
guesses = {"hedging (0.3)": torch.full_like(masks, 0.3),
           "almost nothing (0.05)": torch.full_like(masks, 0.05),
           "right, unsure (0.8 / 0.2)": 0.2 + 0.6 * masks}
dims = (1, 2, 3)
print(f"{'prediction':26s} {'pull / push, s=0':>17s} {'1 / J':>7s} {'pull / push, s=1':>17s}")
for name, p in guesses.items():
    ratios = []
    for smooth in (0.0, 1.0):
        g = dice_gradient(p, masks, smooth)
        pull = -(g * masks).sum(dims) / masks.sum(dims)  # per image, on its cell pixels
        push = (g * (1 - masks)).sum(dims) / (1 - masks).sum(dims)
        ratios.append((pull / push).nanmedian().item())
    overlap = (p * masks).sum(dims)
    jaccard = overlap / (p.sum(dims) + masks.sum(dims) - overlap)
    print(f"{name:26s} {ratios[0]:17.2f} {(1 / jaccard).nanmedian().item():7.2f} "
          f"{ratios[1]:17.2f}")

# %% [markdown]
# Without smoothing the ratio is exactly $1 / J$: with $D = 2J / (1 + J)$,
# $(2 - D) / D = 1 / J$. The Jaccard loss has the same asymmetry: the derivative of $J$ is
# $1 / U$ on cell pixels and $-J / U$ on background pixels, $U$ the soft union. So the unsmoothed
# Dice and Jaccard losses both pull the cell's pixels up the harder the worse the overlap:
# a poor prediction is told mostly "find the cell", a good one is corrected on both sides
# about equally. The sheet's $s = 1$ on *means* changes that: it adds to numerator and
# denominator alike, so $D_b$ moves towards 1 and the ratio towards 1: cell and background
# pixels are pushed about equally hard, whatever the overlap. What separates the sheet's
# Dice loss from the Jaccard loss is this smoothing, not the difference between Dice and
# IoU.

# %% [markdown]
# ## Weighted BCE
#
# The direct answer to imbalance: give each pixel a weight $\alpha_i$ that is larger for the
# rare class, traditionally the inverse of its class's frequency, $1/f$ for cell pixels and
# $1/(1 - f)$ for background pixels. Dividing both weights by $1/(1-f)$ changes the loss by
# a constant factor only, which leaves the minimum where it was; what remains is one number,
# the weight of the cell pixels relative to the background, $(1 - f)/f$. That is PyTorch's
# `pos_weight` argument of `BCEWithLogitsLoss`: it multiplies the $y = 1$ term.

# %%
pos_weight = (1 - fg_share) / fg_share
print(f"pos_weight = (1 - f) / f = {pos_weight:.2f}")

logits, target = torch.randn(4, 1, 8, 8), (torch.rand(4, 1, 8, 8) < fg_share).float()
alpha = torch.where(target > 0, 1 / fg_share, 1 / (1 - fg_share))  # inverse frequencies
by_hand = (alpha * F.binary_cross_entropy_with_logits(logits, target, reduction="none")).mean()
with_pos_weight = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))(logits, target)
torch.testing.assert_close(by_hand, with_pos_weight / (1 - fg_share))
print(f"inverse-frequency weights {by_hand:.4f} = pos_weight version {with_pos_weight:.4f} "
      f"x 1/(1 - f) = {with_pos_weight / (1 - fg_share):.4f}")

# %% [markdown]
# ## Focal loss
#
# Most pixels are *easy*: deep inside the cell or far out in the background, where the model
# is right with high confidence. Each contributes a little BCE, but there are many of them.
# Lin et al. (2017) scale each pixel's BCE by a factor that vanishes for easy pixels. Write
# $p_t$ for the probability the model gives to the **true** class ($p_t = \sigma(x)$ if
# $y = 1$, $p_t = 1 - \sigma(x)$ if $y = 0$); then BCE is $-\log p_t$ and the focal loss is
#
# $$\mathcal{L}_{focal} = -\alpha_t\,(1 - p_t)^{\gamma} \log p_t .$$
#
# With $\gamma = 0$ it is BCE. With $\gamma = 2$ (the paper's choice) a pixel with
# $p_t = 0.9$ keeps $(0.1)^2 = 1\%$ of its BCE, while a misclassified pixel with
# $p_t = 0.3$ keeps $0.7^2 = 49\%$. The optional $\alpha_t$ is a class weight as in weighted
# BCE ($\alpha$ for cell pixels, $1 - \alpha$ for background); `alpha=None` leaves it out.
# Mind its direction in the paper: Lin et al. found $\alpha = 0.25$ best with $\gamma = 2$,
# for the *rare* foreground class, so their $\alpha$ **lowers** the weight of the rare class
# (0.25 against 0.75 for the background). The modulating factor already moves so much of the
# loss onto the hard pixels, most of them in the rare class, that $\alpha$ pulls some of it
# back. Where a summary says the focal loss raises the weight of rare classes (lecture 004's
# slide does), that is the work of $(1 - p_t)^\gamma$, not of $\alpha$.
#
# **The exercise sheet's formula differs.** Written with the two terms of BCE, it multiplies
# only the cell term by $(1 - \sigma(x))^\gamma$ and leaves the background term
# $-(1 - y)\log(1 - \sigma(x))$ as it was. Lin et al. modulate *both* terms: the background
# term by $\sigma(x)^\gamma$, which is $(1 - p_t)^\gamma$ for a background pixel. The table
# after the task shows what the missing factor changes.

# %% [markdown]
# ### Task: `FocalLoss`
#
# Compute the BCE part with `F.binary_cross_entropy_with_logits(..., reduction="none")` (the
# stable form of lesson 01), so that logits of $\pm 1000$ stay finite. It must equal
# `torchvision.ops.sigmoid_focal_loss(logits, target, alpha=-1, gamma=gamma,
# reduction="mean")` (torchvision's `alpha=-1` means no $\alpha$), and BCE when $\gamma = 0$.

# %%
class FocalLoss(nn.Module):
    """Binary focal loss of Lin et al. (2017), both terms modulated, mean over all pixels."""

    def __init__(self, gamma: float = 2.0, alpha: float | None = None):
        super().__init__()
        self.gamma, self.alpha = gamma, alpha

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # HINT: p_t is the probability given to the true class (what is it where the target is 0?); scale each pixel's BCE, kept in logits, by the focal factor, and by alpha_t when alpha is set
        ### BEGIN SOLUTION
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        probs = torch.sigmoid(logits)
        p_t = probs * target + (1 - probs) * (1 - target)
        loss = (1 - p_t) ** self.gamma * bce
        if self.alpha is not None:
            loss = (self.alpha * target + (1 - self.alpha) * (1 - target)) * loss
        return loss.mean()
        ### END SOLUTION


# %% points=3
from course_utils.checks.losses import check_focal_loss

check_focal_loss(FocalLoss)

# %% [markdown]
# The factor $(1 - p_t)^\gamma$ is what the focal loss keeps of the **loss**. Training
# follows the **gradient**, which falls less. With respect to the logit, BCE's gradient has
# size $1 - p_t$; the focal loss's, by the product rule, has size
# $(1 - p_t)^\gamma\,[(1 - p_t) - \gamma\,p_t \log p_t]$, so it keeps
# $(1 - p_t)^{\gamma - 1}\,[(1 - p_t) - \gamma\,p_t \log p_t]$ of BCE's gradient. Your
# `FocalLoss` under autograd, next to that formula, for cell pixels ($y = 1$, so
# $p_t = \sigma(x)$):

# %%
p_true = torch.tensor([0.5, 0.8, 0.9, 0.99], dtype=torch.float64)
logit_t = torch.logit(p_true).requires_grad_()
ones = torch.ones_like(logit_t)
bce_each = F.binary_cross_entropy_with_logits(logit_t, ones, reduction="none")
focal_each = torch.stack([FocalLoss(GAMMA)(logit_t[i:i + 1], ones[i:i + 1])
                          for i in range(len(p_true))])  # one pixel at a time
(bce_grad,) = torch.autograd.grad(bce_each.sum(), logit_t)
(focal_grad,) = torch.autograd.grad(focal_each.sum(), logit_t)
loss_kept, grad_kept = focal_each / bce_each, focal_grad.abs() / bce_grad.abs()
torch.testing.assert_close(loss_kept, (1 - p_true) ** GAMMA)
torch.testing.assert_close(grad_kept, (1 - p_true) ** (GAMMA - 1) *
                           ((1 - p_true) - GAMMA * p_true * torch.log(p_true)))
print(f"{'p_t':>5} {'loss kept':>10} {'gradient kept':>14}")
for pt, lk, gk in zip(p_true.tolist(), loss_kept.tolist(), grad_kept.tolist(), strict=True):
    print(f"{pt:>5.2f} {lk:>10.2%} {gk:>14.2%}")

# %% [markdown]
# At $p_t = 0.8$ the loss is cut to 4 % but the gradient only to about 11 %: a pixel on the
# right side is still pushed on, though about nine times more gently than under BCE. The
# extra term $-\gamma\,p_t\log p_t$ comes from the factor itself, which shrinks as
# $p_t$ grows and so adds its own pull towards 1.
#
# Four pixels, two easy and two hard, under BCE, your focal loss and the sheet's version
# ($\gamma = 2$):

# %%
def focal_as_on_the_sheet(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0):
    """The sheet's formula, per pixel: only the cell (y = 1) term is modulated."""
    p_cell = torch.sigmoid(logits)
    minus_log_p = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits),
                                                     reduction="none")
    minus_log_1mp = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits),
                                                       reduction="none")
    return target * (1 - p_cell) ** gamma * minus_log_p + (1 - target) * minus_log_1mp


pixels = [("easy cell", 3.0, 1.0), ("easy background", -3.0, 0.0),
          ("hard cell", -1.0, 1.0), ("hard background", 1.0, 0.0)]
print(f"{'pixel':16s} {'x':>4} {'y':>2} {'p_t':>6} {'BCE':>9} {'focal':>9} {'sheet':>9}")
for name, x, y in pixels:
    logit, tgt = torch.tensor([[[[x]]]]), torch.tensor([[[[y]]]])
    p_t = torch.sigmoid(logit if y else -logit).item()
    print(f"{name:16s} {x:>4.0f} {y:>2.0f} {p_t:>6.3f} "
          f"{F.binary_cross_entropy_with_logits(logit, tgt):>9.5f} "
          f"{FocalLoss(GAMMA)(logit, tgt):>9.5f} {focal_as_on_the_sheet(logit, tgt).item():>9.5f}")

# %% [markdown]
# The focal loss treats the two easy pixels alike (both keep about 0.2 % of their BCE) and
# the two hard pixels alike. The sheet's version agrees for cell pixels but charges an easy
# background pixel its full BCE, over 400 times what an equally easy cell pixel costs.
# Since background is the majority, the loss would again be dominated by the many easy
# background pixels, which is the very effect the focal loss was designed to remove. We use
# Lin et al.'s form.

# %% [markdown]
# ## Total variation: a preference for short boundaries
#
# The sheet's third idea is a **regulariser**: a term added to the loss that encodes prior
# knowledge about masks rather than about individual pixels. Total variation (TV) adds up
# how much the probability map $p = \sigma(x)$ changes between neighbouring pixels, in both
# directions:
#
# $$\mathrm{TV}(p) = \operatorname{mean}_{i,j} |p_{i+1,j} - p_{i,j}| + \operatorname{mean}_{i,j} |p_{i,j+1} - p_{i,j}|.$$
#
# For a hard mask, every cell pixel next to a background pixel contributes 1, so TV measures
# the length of the boundary. Ragged outlines and isolated specks have long boundaries for
# their area; the loss $\mathrm{BCE} + \lambda\,\mathrm{TV}$ trades pixel accuracy for
# shorter, smoother outlines. The sheet writes sums; we take means, like BCE. That does
# **not** make $\lambda$ independent of the image size: see the numbers after the task. The
# class keeps the sheet's name.

# %% [markdown]
# ### Task: `BCELoss_TotalVariation`

# %%
class BCELoss_TotalVariation(nn.Module):
    """BCE plus lam times the total variation of the sigmoid probabilities."""

    def __init__(self, lam: float = 1.0):
        super().__init__()
        self.lam = lam

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # HINT: BCE from the logits, plus the weighted TV term above on the probabilities; compare each map with itself shifted by one pixel, down and across
        ### BEGIN SOLUTION
        bce = F.binary_cross_entropy_with_logits(logits, target)
        probs = torch.sigmoid(logits)
        vertical = (probs[..., 1:, :] - probs[..., :-1, :]).abs().mean()
        horizontal = (probs[..., :, 1:] - probs[..., :, :-1]).abs().mean()
        return bce + self.lam * (vertical + horizontal)
        ### END SOLUTION


# %% points=2
from course_utils.checks.regularisers import check_total_variation_loss

check_total_variation_loss(BCELoss_TotalVariation)

# %% [markdown]
# How does TV depend on the image size? The true test masks at `SIZE` and shrunk to a half
# and a quarter of it (area interpolation, then threshold 0.5). Next to their TV, the BCE of
# one soft prediction, the same at every size: the true masks blurred at `SIZE` (a 5 x 5 box
# filter), then shrunk like the masks.

# %%
def shrunk(masks: torch.Tensor, size: int) -> torch.Tensor:
    return (F.interpolate(masks, size=(size, size), mode="area") >= 0.5).float()


tv_only = BCELoss_TotalVariation(lam=1.0)  # on certain logits of a mask its BCE is ~0
soft = F.avg_pool2d(truth, 5, stride=1, padding=2, count_include_pad=False)
print(f"{'H':>4} {'mean TV':>8} {'H x TV':>7} {'BCE':>6}")
for size in (SIZE // 4, SIZE // 2, SIZE):
    masks = shrunk(truth, size)
    tv = tv_only(torch.where(masks > 0, 30.0, -30.0), masks).item()
    probs_at_size = F.interpolate(soft, size=(size, size), mode="area").clamp(0.02, 0.98)
    bce = F.binary_cross_entropy_with_logits(torch.logit(probs_at_size), masks).item()
    print(f"{size:>4} {tv:>8.4f} {size * tv:>7.2f} {bce:>6.3f}")

# %% [markdown]
# A mask's TV counts the pixel pairs along its outline, and the outline's length grows like
# $H$, while the number of pixel pairs grows like $H^2$: the mean TV halves each time the
# image doubles, and $H \times \mathrm{TV}$ stays about constant. BCE is a mean over
# pixels of a per-pixel loss; for a prediction that is equally good at every size (here the
# same soft map, resampled) it stays about the same. A fixed
# $\lambda$ would therefore regularise half as strongly at 128 x 128 as at 64 x 64. This
# lesson scales it with the image size, `TV_LAMBDA = 5.0 * SIZE / 64`: 5 in quick mode and
# 10 in full mode, so that both modes weigh the outline alike.
#
# Which outlines count as short? The TV above adds the absolute changes along rows and
# along columns separately (the *anisotropic* TV), so on a hard mask it counts the outline
# in **city-block** length: a step along a diagonal costs one horizontal plus one vertical
# pixel edge, $\sqrt 2$ times its Euclidean length. Three shapes of about equal area on a
# 128 x 128 grid: a square along the pixel axes, a disc, and the square turned by 45°.
# Their summed TV (pixel edges along the outline) against the Euclidean perimeter:

# %%
import math


def city_block_length(mask: torch.Tensor) -> float:
    """Summed anisotropic TV of a hard mask (H, W): its outline in pixel edges."""
    return ((mask[1:, :] - mask[:-1, :]).abs().sum() + (mask[:, 1:] - mask[:, :-1]).abs().sum()).item()


rows, cols = torch.meshgrid(torch.arange(128.0) - 63.5, torch.arange(128.0) - 63.5, indexing="ij")
side = 60.0  # the aligned square's side; the others get the same area
radius, half_diagonal = side / math.pi ** 0.5, side / 2 ** 0.5
shapes = {
    "square along the axes": ((rows.abs() <= side / 2) & (cols.abs() <= side / 2), 4 * side),
    "disc": (rows**2 + cols**2 <= radius**2, 2 * math.pi * radius),
    "square turned by 45°": (rows.abs() + cols.abs() <= half_diagonal, 4 * side),
}
print(f"{'shape':22s} {'area':>6s} {'TV (edges)':>11s} {'perimeter':>10s} {'ratio':>6s}")
for name, (mask, perimeter) in shapes.items():
    tv_edges = city_block_length(mask.float())
    print(f"{name:22s} {int(mask.sum()):>6d} {tv_edges:>11.0f} {perimeter:>10.1f} "
          f"{tv_edges / perimeter:>6.2f}")

# %% [markdown]
# The aligned square is charged its true perimeter; the disc $4/\pi \approx 1.27$ times
# its perimeter (it costs as much as the square around it); the turned square
# $\sqrt 2 \approx 1.41$ times. Of shapes with one area, the anisotropic TV therefore
# prefers the square along the axes to the disc, which the Euclidean length would prefer,
# and it penalises diagonal edges most: the term pulls outlines towards the pixel axes.
# The *isotropic* TV, $\operatorname{mean} \sqrt{(\Delta_i p)^2 + (\Delta_j p)^2}$,
# removes most of that bias; for round cells it is the better prior, though it needs a
# small constant under the root to keep its gradient finite where $p$ is flat.

# %% [markdown]
# ## Two more priors: centred and sparse
#
# The sheet lists two more regularisers, each for a particular kind of data.
#
# - **Centred**: if the object always covers the image centre, penalise a centre pixel
#   predicted as background: $\mathcal{L}_{centred} = 1 - \sigma(x_{h/2,\,w/2})$.
# - **Sparsity**: if foreground is rare (small, scattered patches), penalise foreground
#   itself with an L1 term on the probabilities: $\mathcal{L}_{sparsity} = \operatorname{mean}\,\sigma(x)$.
#   Probabilities are never negative, so their mean is their L1 norm per pixel.
#
# Both take only the logits: they say nothing about the target, only about what a plausible
# mask looks like. They are added to a loss, e.g. `bce(logits, y) + 0.1 * centred(logits)`.

# %% [markdown]
# ### Task: `CenteredLoss` and `SparsityLoss`
#
# Use the pixel `(H // 2, W // 2)` as the centre, and average over the batch.

# %%
class CenteredLoss(nn.Module):
    """1 - sigmoid of the centre pixel's logit, mean over the batch."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        # HINT: which pixel is the centre of an H x W map, and which loss says that it should be cell? Keep it finite for large logits (lesson 01)
        ### BEGIN SOLUTION
        centre = logits[..., logits.shape[-2] // 2, logits.shape[-1] // 2]
        return torch.sigmoid(-centre).mean()
        ### END SOLUTION


class SparsityLoss(nn.Module):
    """Mean foreground probability (an L1 penalty on the probabilities)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        # HINT: the share of cell pixels that the probabilities predict, over the whole batch
        ### BEGIN SOLUTION
        return torch.sigmoid(logits).mean()
        ### END SOLUTION


# %% points=2
from course_utils.checks.regularisers import check_centered_loss, check_sparsity_loss

check_centered_loss(CenteredLoss)
check_sparsity_loss(SparsityLoss)

# %% [markdown]
# One example: the test set's true masks turned into confident logits ($\pm 20$), the same
# masks moved a quarter of the image to the side, and the two trivial predictions.

# %%
shift = SIZE // 4
examples = {
    "true masks": truth,
    f"moved {shift} px right": torch.roll(truth, shifts=shift, dims=-1),
    "all background": torch.zeros_like(truth),
    "all cell": torch.ones_like(truth),
}
print(f"{'prediction':20s} {'centred':>8} {'sparsity':>9}")
for name, mask in examples.items():
    logits = 20 * (2 * mask - 1)
    print(f"{name:20s} {CenteredLoss()(logits):>8.3f} {SparsityLoss()(logits):>9.3f}")

# %% [markdown]
# The true masks cost almost nothing under the centred term: the cells of this dataset sit
# at the centre, so the prior fits and would only penalise predictions that lose the cell
# there. Moving the masks sideways raises the penalty sharply. The sparsity term, by
# contrast, charges the true masks their area, and is lowest for the empty prediction: on
# cells that fill a quarter of every image it would push towards missing them. It suits data
# with small, scattered foreground, not this one. Neither is trained below.

# %% [markdown]
# ### Translation equivariance, and a prior that breaks it on purpose
#
# A convolution applies the same small filter at every position, so moving the input moves
# the output by the same amount: $f(\text{shift}(x)) = \text{shift}(f(x))$. A function with
# this property is **translation equivariant**. A stack of convolutions and pointwise
# nonlinearities keeps it, up to the image border, where zero padding sees different
# neighbours. Here is a small random convolutional network (three 3 x 3 convolutions) applied
# to four test images and to the same images moved by `SHIFT` pixels down and to the right,
# compared away from the border:

# %%
SHIFT = SIZE // 8
test_images = test_set.images.float() / 255
torch.manual_seed(SEED)
plain_net = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
    nn.Conv2d(8, 1, 3, padding=1),
).to(DEVICE).eval()


def shifted(x: torch.Tensor, shift: int) -> torch.Tensor:
    return torch.roll(x, shifts=(shift, shift), dims=(-2, -1))


x = test_images[:4].to(DEVICE)
with torch.no_grad():
    out, out_of_shifted = plain_net(x), plain_net(shifted(x, SHIFT))
margin = SHIFT + 3  # rows and columns that wrapped around, plus the reach of 3 layers
inner = (..., slice(margin, -margin), slice(margin, -margin))
print(f"away from the border: max |f(shift x) - shift f(x)| = "
      f"{(out_of_shifted - shifted(out, SHIFT))[inner].abs().max():.1e}, "
      f"max |f(shift x) - f(x)| = {(out_of_shifted - out)[inner].abs().max():.2f}")

# %% [markdown]
# Away from the border the two agree to float32 rounding: the network's output moved with
# its input, and it would have found a moved cell just as well. (The encoder-decoder is
# equivariant only for shifts by multiples of $2^{\text{DEPTH}}$, its pooling grid; for other
# shifts the pooling windows group the pixels differently.)
#
# The centred prior is the opposite on purpose: it looks at one fixed pixel. Move the
# prediction and the penalty changes, although the predicted shape is the same:

# %%
certain_masks = 20 * (2 * truth[:4] - 1)
for shift in (0, SHIFT, 2 * SHIFT, 3 * SHIFT):
    print(f"masks moved by {shift:2d} px: centred loss "
          f"{CenteredLoss()(shifted(certain_masks, shift)):.3f}")

# %% [markdown]
# A loss built from pixel-wise terms (BCE, Dice, Jaccard, Focal, TV) treats every position
# alike, so it keeps the network free to be equivariant. The centred term adds what the
# network cannot know from a small window: *where* in the image an object is likely. That
# is useful knowledge for data like these cells, and wrong for data where objects can be
# anywhere. The lecture's example is an eye fundus image: the papilla and the macula sit at
# typical positions, and equivariance is not what one wants there. Other ways to give a
# network position are extra input channels with the pixel coordinates, or a mask of the
# region of interest.

# %% [markdown]
# ## Seven losses, one budget
#
# Each loss trains the same encoder-decoder (same initial weights and batch order for a
# given seed, through `training.train_model`) for `EPOCHS` epochs, once per seed in `SEEDS`.
# For every model we predict the test set and measure:
#
# - **Dice** and **IoU** of the mask (probability at least 0.5);
# - **sensitivity** (share of cell pixels found) and **specificity** (share of background
#   pixels left alone);
# - **boundary**: the length of the predicted outline in pixel edges (cell pixels next to a
#   background pixel, counted in both directions: the summed TV of the hard mask), mean per
#   image; the true masks' value is printed for reference;
# - **pieces**: connected components per mask (a single cell per image is the truth);
# - **unsure**: the share of pixels with a probability between 0.1 and 0.9.
#
# Each image's own Dice is kept too, for the confidence intervals further down.

# %%
from course_utils import topology


def boundary_length(masks: torch.Tensor) -> torch.Tensor:
    """Pixel edges between cell and background, per mask (N, 1, H, W) -> (N,)."""
    m = masks.float()
    return ((m[..., 1:, :] - m[..., :-1, :]).abs().sum((1, 2, 3)) +
            (m[..., :, 1:] - m[..., :, :-1]).abs().sum((1, 2, 3)))


def summarise(probs: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    masks = probs >= 0.5
    scores = metrics.binary_metrics(masks, target)
    return {
        "Dice": scores["dice"], "IoU": scores["iou"],
        "sensitivity": scores["sensitivity"], "specificity": scores["specificity"],
        "boundary": boundary_length(masks).mean().item(),
        "pieces": sum(topology.count_components(m) for m in masks) / len(masks),
        "unsure": ((probs > 0.1) & (probs < 0.9)).float().mean().item(),
        "per-image Dice": metrics.per_image_scores(masks, target)["Dice"],
    }


print(f"true masks: boundary {boundary_length(truth).mean():.1f} pixel edges, pieces "
      f"{sum(topology.count_components(m) for m in truth) / len(truth):.2f} per mask")

# %%
import time

criteria = {
    "BCE": nn.BCEWithLogitsLoss(),
    "weighted BCE": nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=DEVICE)),
    "Dice": DiceLoss(),
    "Jaccard": JaccardLoss(),
    "Jaccard squared": JaccardLoss(squared=True),
    "Focal": FocalLoss(GAMMA),
    "BCE + TV": BCELoss_TotalVariation(TV_LAMBDA),
}


def build() -> nn.Module:
    return models.EncDec(width=WIDTH, depth=DEPTH)


results, probs, histories = {}, {}, {}
for name, criterion in criteria.items():
    for seed in SEEDS:
        start = time.perf_counter()
        first = seed == SEEDS[0]  # the first seed also records validation curves
        model, history = training.train_model(
            build, criterion, train_set, val_loader if first else None, epochs=EPOCHS,
            batch_size=BATCH_SIZE, seed=seed, device=DEVICE, lr=LR, progress=False)
        test_probs = training.predict(model, test_loader, DEVICE)
        results[name, seed] = summarise(test_probs, truth)
        if first:
            probs[name], histories[name] = test_probs, history
        print(f"{name:15s} seed {seed}: test Dice {results[name, seed]['Dice']:.3f} "
              f"({time.perf_counter() - start:.1f} s)")

# %% [markdown]
# First the mean over the seeds for each loss:

# %%
columns = ["Dice", "IoU", "sensitivity", "specificity", "boundary", "pieces", "unsure"]
formats = {"boundary": "{:>12.1f}", "pieces": "{:>12.2f}"}
mean = {name: {c: sum(results[name, s][c] for s in SEEDS) / len(SEEDS) for c in columns}
        for name in criteria}
print(f"{'loss':16s}" + "".join(f"{c:>12s}" for c in columns))
for name in criteria:
    print(f"{name:16s}" + "".join(formats.get(c, "{:>12.3f}").format(mean[name][c])
                                  for c in columns))
reporting.record_result("test Dice BCE", mean["BCE"]["Dice"], echo=False)
reporting.record_result("test Dice Dice loss", mean["Dice"]["Dice"], echo=False)

# %% [markdown]
# Are these differences real? A seed fixes the initial weights and the order of the
# batches. How much does it move the scores, compared with how much the losses differ? For
# each loss, the spread of its Dice over the seeds (highest minus lowest), next to the spread
# of the mean Dice over the losses:

# %%
seed_spread = {name: max(results[name, s]["Dice"] for s in SEEDS) -
               min(results[name, s]["Dice"] for s in SEEDS) for name in criteria}
loss_means = [mean[name]["Dice"] for name in criteria]
print("Dice, seed to seed:  " + ", ".join(f"{name} {spread:.3f}"
                                         for name, spread in seed_spread.items()))
typical_seed_spread = sorted(seed_spread.values())[len(criteria) // 2]  # the median loss
loss_spread = max(loss_means) - min(loss_means)
print(f"Dice, loss to loss:  {loss_spread:.3f} between the highest and the lowest mean")
print(verdicts.describe_ratio("the spread between the losses' mean Dice, compared with the "
                              "median seed-to-seed spread,", loss_spread, typical_seed_spread,
                              tie=0.5))
names = list(criteria)
pairs = [(x, y) for i, x in enumerate(names) for y in names[i + 1:]]
wider = sum(abs(mean[x]["Dice"] - mean[y]["Dice"]) > typical_seed_spread for x, y in pairs)
print(f"{wider} of {len(pairs)} pairs of losses differ in mean Dice by more than that median "
      f"seed-to-seed spread ({typical_seed_spread:.3f}).")

# %% [markdown]
# When the two spreads are of the same size, one run per loss cannot rank the losses on
# Dice: another seed could reverse the order, for every pair closer than a seed-to-seed
# spread. A fairer comparison pairs each loss with BCE **trained with the same seed** (same
# initial weights, same batches), so that the luck of the start cancels in part. The table
# shows, for each loss, the lowest and the highest of these same-seed differences; the
# lines under it say which differences kept their direction in every seed of this run.

# %%
paired = ["Dice", "sensitivity", "specificity", "boundary", "unsure"]
words = {"boundary": ("longer", "shorter")}
print(f"{'vs BCE':16s}" + "".join(f"{c:>18s}" for c in paired))
paired_diffs = {}
for name in list(criteria)[1:]:
    cells = []
    for c in paired:
        diffs = [results[name, s][c] - results["BCE", s][c] for s in SEEDS]
        paired_diffs[name, c] = diffs
        digits = 1 if c == "boundary" else 3
        cells.append(f"{min(diffs):+.{digits}f} to {max(diffs):+.{digits}f}")
    print(f"{name:16s}" + "".join(f"{cell:>18s}" for cell in cells))


def same_direction(name: str) -> str:
    """What kept its direction in every seed, for one loss against BCE."""
    kept, mixed = [], []
    for c in paired:
        diffs = paired_diffs[name, c]
        more, less = words.get(c, ("higher", "lower"))
        if all(d > 0 for d in diffs):
            kept.append(f"{c} {more}")
        elif all(d < 0 for d in diffs):
            kept.append(f"{c} {less}")
        else:
            mixed.append(c)
    if not kept:
        return f"{name} vs BCE: no difference kept its direction ({', '.join(mixed)})."
    every = verdicts.sign_test([1.0] * len(SEEDS))  # the sign test's p for all seeds alike
    return (f"{name} vs BCE: {', '.join(kept)} in every seed (p = {every:g} each)"
            + (f"; {', '.join(mixed)} either way." if mixed else "."))


print()
for name in list(criteria)[1:]:
    print(same_direction(name))
reporting.record_outcome("weighted BCE sensitivity gain, smallest",
                      min(paired_diffs["weighted BCE", "sensitivity"]))
reporting.record_outcome("weighted BCE specificity change, largest",
                      max(paired_diffs["weighted BCE", "specificity"]))
reporting.record_outcome("Focal unsure gain, smallest", min(paired_diffs["Focal", "unsure"]))
reporting.record_outcome("Dice loss unsure change, largest", max(paired_diffs["Dice", "unsure"]))
reporting.record_outcome("TV Dice change, largest", max(paired_diffs["BCE + TV", "Dice"]))
reporting.record_outcome("Focal Dice change, largest size",
                      max(abs(d) for d in paired_diffs["Focal", "Dice"]))
reporting.record_outcome("loss-to-loss Dice spread", loss_spread)
reporting.record_outcome("pairs of losses further apart than a seed spread", wider)
reporting.record_outcome("largest mean Dice gain over BCE",
                         max(mean[name]["Dice"] - mean["BCE"]["Dice"] for name in criteria))

# %% [markdown]
# ### How much is "in every seed" worth? The sign test
#
# Suppose a loss made no difference at all. Each seed's difference would then be as likely
# positive as negative, like a coin toss, and all three seeds would agree in sign with
# probability $2 \times (1/2)^3 = 1/4$. That is the **sign test**: its $p$ is the
# probability, if there were no effect, of signs at least as lopsided as those seen
# (`verdicts.sign_test`). Three seeds of one sign give $p = 0.25$, and three seeds can give
# nothing smaller; it takes six seeds that all agree to reach $p = 2/64 \approx 0.03$. The
# table above makes many such comparisons at once, so some will keep their direction by
# chance alone:

# %%
comparisons = len(paired_diffs)
kept_all = sum(len({d > 0 for d in diffs}) == 1 and 0 not in diffs
           for diffs in paired_diffs.values())
print(f"{kept_all} of {comparisons} comparisons kept their direction in all {len(SEEDS)} seeds; "
      f"with no effect anywhere, about {comparisons * verdicts.sign_test([1.0] * len(SEEDS)):.1f} "
      f"would (p = {verdicts.sign_test([1.0] * len(SEEDS)):g} each).")

# %% [markdown]
# So "kept its direction in every seed" is a filter, not a proof: with three seeds, a
# difference that passes it could still be noise one time in four. Trust it more when it
# also has a reason (weighted BCE's masks *must* grow, see Question 1), when it is large
# against the seed-to-seed spread, or when it holds with more seeds.
#
# ### A confidence interval over the test images
#
# The seeds measure one kind of noise: how much a training run moves. Another is which
# test images happened to be scored. Other images from the same source would give a
# somewhat different mean Dice, and a difference between two models is only as solid as
# it is large against that. The **paired bootstrap** estimates this without new data: draw
# as many images as the test set has, with replacement, from the test images; take the mean
# of the two models' per-image Dice differences on that draw (paired: each image brings the
# difference of its two scores, so the images' own difficulty cancels); repeat a few
# thousand times. The middle 95 % of those means is a **95 % confidence interval** (CI) of
# the mean difference. `verdicts.compare` prints it when it gets per-image scores, and the
# sign test over the seeds when it gets the seeds' differences. Here each loss against BCE,
# with each image's Dice averaged over the seeds first:

# %%
seed_mean_dice = {name: torch.stack([results[name, s]["per-image Dice"] for s in SEEDS]).mean(0)
                  for name in criteria}
for name in names[1:]:
    verdicts.compare(name, {"Dice": seed_mean_dice[name]}, "BCE", {"Dice": seed_mean_dice["BCE"]},
                     seed_diffs={"Dice": paired_diffs[name, "Dice"]})

# %% [markdown]
# Read the two together. An interval that excludes 0 says that *these* trained models differ
# by more than the choice of test images explains; it says nothing about a fresh training
# run, which is what the seeds are for. An interval that straddles 0 says that even these
# models cannot be told apart on a test set of this size. And a sign test's $p = 0.25$ next
# to a narrow interval away from 0 says the difference is real for these runs but three
# seeds are too few to say it would come back.

# %% [markdown]
# The validation Dice after each epoch, for the first seed:

# %%
fig = plotting.plot_history(histories, keys=("val_dice",))

# %% [markdown]
# Quick mode's budget is short: the validation Dice typically sits near 0 for the first
# epoch or two (the eval-mode BatchNorm lag of lesson 01) and rises only then, so the models
# compared here have just started to converge, and many of their pixels are still unsure.
# A quick-mode comparison therefore measures **how fast** each loss brings a model along as
# much as **where** it leads: a loss whose gradients fade early (the focal loss) or that
# pulls neighbours together (TV) can look worse after three epochs and tie after thirty.
#
# **In full mode expect the losses to come closer on Dice.** Measured on the course's
# previous, easier cell twin (version 3, benchmarks/README.md; the current twin, whose cells
# look like phase contrast, was not yet run in full mode), 30 epochs at 128 x 128, seed means
# over 0, 1 and 2: the seven
# losses' mean Dice lay within 0.004 of each other on an NVIDIA H100 and within 0.003 on a
# 2-core CPU, BCE and the Dice loss both at about 0.956; what stayed was the shape of the
# probabilities and outlines (on the CPU run the focal loss left the most unsure pixels, and
# BCE + TV drew the shortest outline, in every seed). Read your full-mode verdict lines
# rather than these notes' numbers.

# %% [markdown]
# ### What to notice
#
# The lines just above are this run's verdicts; the notes below say what usually happens,
# and why, so that you can tell whether your run is typical. "When this course was written"
# means quick mode (64 x 64 synthetic cells, 3 epochs, seeds 0, 1 and 2).
#
# - **Overlap is close to a tie, except where a loss costs.** Most pairs of losses differ
#   in mean Dice by less than one loss's seed-to-seed spread (this run's count is printed
#   above, under the ratio of the two spreads). The imbalance (one cell pixel in four) is
#   mild, and BCE already finds the cells, so no imbalance remedy buys a clearly better mask
#   on this budget: when this course was written none beat BCE's mean Dice by as much as a
#   hundredth. Where a loss does cost Dice (in quick mode typically BCE + TV and the plain
#   Jaccard loss, below), part of the cost is a slower start. Focal and the squared Jaccard
#   loss typically stay within a hundredth of BCE.
# - **Weighted BCE trades specificity for sensitivity.** Counting each cell pixel about 2.6
#   times makes a missed cell pixel cost more than a false alarm, so the masks grow: more of
#   the cell is found (higher sensitivity) and more background is taken (lower specificity,
#   longer outline). This is the most reliable effect in the table: when the course was
#   written it kept its direction in every seed, and unlike most lines it has a reason that
#   does not depend on the run (Question 1), so its sign test's $p = 0.25$ is not the whole
#   evidence.
# - **The plain Jaccard loss leans the same way.** Its gradient pushes a missed cell pixel up
#   $1/J$ times as hard as it pushes a false alarm down (the intersection grows with a cell
#   pixel's probability, while a background pixel only enlarges the union), so while the
#   overlap is poor it behaves like a weighted loss and grows the masks. When this course was
#   written, plain Jaccard raised sensitivity and lowered specificity in every seed, and its
#   Dice varied most from seed to seed; the squared variant, whose union charges a
#   background pixel only $p^2$, stayed close to BCE.
# - **The losses shape the probabilities, not only the masks.** The focal loss typically
#   leaves far more pixels "unsure": once a pixel is on the right side with some
#   confidence, its loss and gradient almost vanish, so nothing pushes its probability on
#   towards 0 or 1. The Dice loss usually does the opposite and gives sharper maps than BCE
#   (in every seed of 0-2 when the course was written, though not by much). At the
#   threshold 0.5 this hardly changes the masks, but it matters as soon as you pick another
#   threshold or read the probabilities as confidence (lesson 07).
# - **TV tends to cost Dice here.** The gradient of $|p_i - p_j|$ pulls each pixel's probability
#   towards its neighbours', which works against BCE pushing the pixels along the edge to 0
#   or 1: the maps get less sharp (more unsure pixels), and the masks lose accuracy along the
#   outline (when the course was written, lower Dice in every seed of 0-2 in quick mode; in
#   full mode on an H100, on the previous cell twin (version 3), the cost shrank to between
#   -0.006 and 0, and the outline got shorter in every seed). Whether the outline gets
#   shorter depends on the run and the budget: look at the boundary column of the verdict
#   line. Every loss already gives one piece per mask, so TV finds no specks or holes to
#   clean up; it can only smooth and pull in an outline that is genuinely ragged in the true
#   masks. A prior helps where the model breaks it, and costs where it does not.

# %% [markdown]
# Side by side, for the first seed: six test images (columns), one row per loss; truth in
# yellow, mask in magenta.

# %%
fig = plotting.compare_predictions(test_images[:6], truth[:6], probs, max_items=6)

# %% [markdown]
# The masks look alike, as the close Dice scores suggest; differences, where you see them,
# sit along the outline. The probability maps differ more: one test image under each loss, and the distribution of all test
# probabilities (log scale: most pixels sit near 0 or 1).

# %%
import matplotlib.pyplot as plt

index = 0
fig, axes = plt.subplots(1, len(probs), figsize=(2.4 * len(probs) + 0.8, 2.6),
                         layout="constrained")
for ax, (name, p) in zip(axes, probs.items(), strict=True):
    shown = ax.imshow(p[index, 0], cmap="magma", vmin=0, vmax=1)
    ax.contour(truth[index, 0], levels=[0.5], colors="#33ccff", linewidths=0.8)
    ax.set_title(name, fontsize=9)
    ax.set_axis_off()
fig.colorbar(shown, ax=axes.tolist(), fraction=0.02, label="probability")

fig, ax = plt.subplots(figsize=(7, 3))
bins = torch.linspace(0, 1, 41).numpy()
for name, p in probs.items():
    ax.hist(p.flatten().numpy(), bins=bins, histtype="step", lw=1.5, label=name)
ax.set(yscale="log", xlabel="predicted probability", ylabel="test pixels")
ax.legend(fontsize=8, loc="upper center", ncol=3)
fig.tight_layout()

# %% [markdown]
# Are the unsure probabilities *too* unsure? A **reliability diagram** answers that: sort the
# test pixels into ten bins by their predicted probability, and plot, per bin, the share of
# pixels that really are cell against the bin's mean probability. A calibrated model lies on
# the diagonal: of the pixels it gives 0.7, 70 % are cell. Above the diagonal for
# probabilities over 0.5 (and below it under 0.5) means **underconfident**: the pixels are
# right more often than the probabilities say. For three of the losses (first seed):

# %%
def reliability(p: torch.Tensor, y: torch.Tensor, bins: int = 10):
    """Per probability bin: mean probability, share of cell pixels, pixel count."""
    p, y = p.flatten().double(), y.flatten().double()
    index = (p * bins).long().clamp(max=bins - 1)
    count = torch.bincount(index, minlength=bins).double()
    mean_p = torch.bincount(index, weights=p, minlength=bins) / count.clamp(min=1)
    share = torch.bincount(index, weights=y, minlength=bins) / count.clamp(min=1)
    return mean_p, share, count


fig, ax = plt.subplots(figsize=(4.4, 4.2))
ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="calibrated")
underconfidence = {}
for name in ("BCE", "Focal", "Dice"):
    mean_p, share, count = reliability(probs[name], truth)
    used = count > 0
    ax.plot(mean_p[used], share[used], marker="o", ms=4, label=name)
    unsure = (probs[name] > 0.1) & (probs[name] < 0.9)
    confidence = torch.maximum(probs[name], 1 - probs[name])[unsure].double().mean().item()
    right = ((probs[name] >= 0.5) == truth.bool())[unsure].double().mean().item()
    calibration_error = ((count / count.sum()) * (share - mean_p).abs()).sum().item()
    word = "underconfident" if right > confidence + 0.02 else (
        "overconfident" if right < confidence - 0.02 else "about calibrated")
    print(f"{name:6s} unsure pixels: mean confidence {confidence:.2f}, right {right:.2f} "
          f"({word}); calibration error over all pixels {calibration_error:.3f}")
    underconfidence[name] = right - confidence
ax.set(xlabel="mean predicted probability (bin)", ylabel="share of cell pixels",
       xlim=(0, 1), ylim=(0, 1), aspect="equal")
ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()
print(verdicts.describe_ratio("the focal model's excess of right answers over confidence on "
                              "its unsure pixels, compared with BCE's,",
                              underconfidence["Focal"], underconfidence["BCE"], tie=0.2))
reporting.record_outcome("Focal unsure pixels: right minus confidence", underconfidence["Focal"])
reporting.record_outcome("Focal minus BCE underconfidence",
                      underconfidence["Focal"] - underconfidence["BCE"])

# %% [markdown]
# The printed lines compare, for each model's unsure pixels (probability between 0.1 and
# 0.9), how confident it is on average (the larger of $p$ and $1 - p$) with how often its
# mask is right there; the calibration error is the pixel-weighted mean distance of the
# curve from the diagonal. A model whose loss stops pushing correct pixels towards 0 or 1
# ends up underconfident: right more often than it says. After three epochs of quick mode
# every model tends to be somewhat underconfident (none has had time to push its pixels
# out); the focal model typically most, with the S-shaped curve of an underconfident model,
# which is what its vanishing gradient for correct pixels predicts. The Dice loss does not
# score probabilities pixel by pixel at all, so nothing ties its curve to the diagonal.
# Lesson 07 turns such probabilities into a threshold.

# %% [markdown]
# ## The focal loss up close: a gamma slider
#
# The slider below takes the BCE model's prediction on the test image where that model does
# worst. The left panel shows the loss of one pixel against $p_t$ for the chosen $\gamma$,
# beside $\gamma = 0$ (BCE). The middle panel shows, for every pixel of the image, the
# focal weight $(1 - p_t)^\gamma$: the share of its BCE the focal loss keeps. The line under
# the figure says how much of the image's total loss the misclassified pixels carry.
#
# Move the slider from 0 upwards: the weight map goes dark wherever the model is confidently
# right and stays bright only where it is wrong or unsure (on this image: parts of the cell
# it misses, and stretches of the outline), and the share of the loss carried by the
# misclassified pixels rises. That is the focal loss's idea in one picture: spend
# the gradient on the pixels that are still wrong.

# %%
from course_utils import losses, widgets

bce_masks = probs["BCE"] >= 0.5
per_image_dice = (2 * (bce_masks & truth.bool()).sum((1, 2, 3)) /
                  (bce_masks.sum((1, 2, 3)) + truth.sum((1, 2, 3))).clamp(min=1))
hardest = int(per_image_dice.argmin())
print(f"test image {test_set.names[hardest]}: Dice of the BCE model {per_image_dice[hardest]:.3f}")
widgets.gamma_slider(probs["BCE"][hardest], truth[hardest], test_images[hardest], gamma=GAMMA)

# %% [markdown]
# The same effect over all the test images scored here, together with the sheet's variant: the share of
# each loss carried by background pixels, and by the misclassified pixels, for the BCE
# model's predictions. (The focal loss here is the package's reference
# `losses.FocalLoss`, the same formula as yours, with `reduction="none"` for one value per
# pixel.)

# %%
p = probs["BCE"].double().clamp(1e-7, 1 - 1e-7)
y = truth.double()
logit = torch.logit(p)
per_pixel = {
    "BCE": F.binary_cross_entropy_with_logits(logit, y, reduction="none"),
    f"focal (gamma {GAMMA:g})": losses.FocalLoss(GAMMA, reduction="none")(logit, y),
    "sheet's focal": focal_as_on_the_sheet(logit, y, GAMMA),
}
wrong = (p >= 0.5).double() != y
print(f"{'loss':18s} {'background share':>17s} {'misclassified share':>20s}")
for name, loss in per_pixel.items():
    print(f"{name:18s} {loss[y == 0].sum() / loss.sum():>17.1%} "
          f"{loss[wrong].sum() / loss.sum():>20.1%}")
print(f"(background is {(y == 0).double().mean():.1%} of the pixels, misclassified "
      f"{wrong.double().mean():.1%})")

# %% [markdown]
# Under BCE the misclassified pixels already carry a large share of the loss; the focal
# loss raises it further. The sheet's variant pushes the share of the background up instead,
# the majority class, by keeping every easy background pixel at full weight.

# %% [markdown]
# ### Question 1
#
# Weighted BCE raised sensitivity and lowered specificity. Explain why from the loss, and
# predict what `pos_weight = 0.5` would do.

# %% [markdown] points=2
# ### BEGIN SOLUTION
# With `pos_weight` $w$, a cell pixel's loss is $-w \log \sigma(x)$ and a background
# pixel's is $-\log(1 - \sigma(x))$. For a pixel whose features are ambiguous, the loss is
# lowest when the predicted probability equals the weighted share of cell among such
# pixels, $w q / (w q + 1 - q)$ if a fraction $q$ of them are cell. With $w \approx 2.6$ that
# is above $q$: ambiguous pixels (mostly along the outline) are pushed over 0.5 sooner, so
# masks grow, more cell pixels are found and more background pixels are taken. With
# $w = 0.5$ the opposite: smaller masks, lower sensitivity, higher specificity.
# ### END SOLUTION

# %% [markdown]
# ### Question 2
#
# The focal-loss model typically leaves many more pixels between 0.1 and 0.9 than the BCE
# model, yet its masks are about as good (compare the "unsure" and Dice columns above). Why,
# and when would that difference start to matter?

# %% [markdown] points=2
# ### BEGIN SOLUTION
# The focal loss multiplies each pixel's BCE by $(1 - p_t)^\gamma$. Once a pixel is on the
# right side with moderate confidence, say $p_t = 0.8$, its loss is cut to 4 % and its
# gradient to about 11 % of BCE's, so training pushes it on towards 0 or 1 far more gently
# (and, on a short budget, hardly at all). The threshold 0.5 only asks which side a pixel is
# on, and that is right about as often as with BCE, so Dice and IoU barely change. It
# matters when the probabilities are used as numbers: choosing another threshold (many
# pixels sit near it and would flip), averaging models, or reading the probability as the
# chance of being right. The reliability diagram measures the last: where the focal model's
# unsure pixels are right more often than their probabilities say, it is underconfident.
# Lesson 07's threshold slider shows the first effect.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - The sheet's Dice loss compares a soft overlap with the mask sizes; with $s = 1$ on
#   means it is much smaller than $1 - \text{Dice}$, though its minimum is the same.
# - Focal loss (Lin et al.) scales every pixel's BCE by $(1 - p_t)^\gamma$ for *both*
#   classes; the sheet's formula forgets the background term and thereby favours the
#   majority class again.
# - Inverse-frequency weighting is `BCEWithLogitsLoss(pos_weight=(1 - f) / f)` up to a
#   constant factor; it trades specificity for sensitivity.
# - Total variation, centring and sparsity are priors on the mask's shape, position and
#   size: they help exactly when the model's masks break the prior and cost accuracy when
#   they do not.
# - The soft Jaccard loss is $1 - $ a soft IoU with the union written as size plus size
#   minus overlap; its squared variant squares the sizes. Both equal $1 - \text{IoU}$ on hard
#   masks and differ in how they treat unsure pixels.
# - Mean TV shrinks like $1/H$ while a mean per-pixel loss does not, so its weight must grow
#   with the image size to regularise alike.
# - A convolutional network is translation equivariant away from the border; the centred
#   prior deliberately is not.
# - On these cells and this budget the losses come close on Dice, within a few times the
#   seed-to-seed spread; they differ more in where the errors go (weighted BCE, plain
#   Jaccard) and in how confident the probabilities are (Focal, Dice). In quick mode the
#   comparison also measures how fast each loss converges; in full mode the Dice scores tie.
# - Compare losses seed by seed and image by image. Three seeds of one sign are weak
#   evidence (sign test $p = 0.25$ with no effect at all); a paired bootstrap interval over
#   the test images says how much the choice of test images alone could move a difference,
#   and nothing about another training run.
#
# **References**
#
# - T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, *Focal loss for dense object
#   detection*, ICCV 2017.
# - F. Milletari, N. Navab, S.-A. Ahmadi, *V-Net: fully convolutional neural networks for
#   volumetric medical image segmentation*, 3DV 2016 (the soft Dice loss).
# - L. I. Rudin, S. Osher, E. Fatemi, *Nonlinear total variation based noise removal
#   algorithms*, Physica D 1992 (total variation).
# - J. Duque-Arias et al., *On power Jaccard losses for semantic segmentation*, VISAPP 2021
#   (the squared variant).
# - P. M. Ferreira, F. Marques, J. S. Cardoso, A. Rebelo, *Physiological inspired deep
#   neural networks for emotion recognition*, IEEE Access 2018 (the regularisers as listed
#   on the exercise sheet).
# - torchvision documentation: `torchvision.ops.sigmoid_focal_loss`; PyTorch documentation:
#   `torch.nn.BCEWithLogitsLoss` (`pos_weight`).
