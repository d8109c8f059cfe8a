# %% [markdown]
# # 07 · Evaluation: metrics, thresholds and topology
#
# A segmentation is only as good as the number that judges it, and different numbers judge
# different things. This lesson builds the usual metrics from scratch, shows where each one
# can be fooled, and then looks at the one decision every binary segmentation makes silently:
# the **threshold** that turns probabilities into a mask.
#
# **Learning goals**
#
# - compute Dice, IoU, accuracy, sensitivity and specificity from the four pixel counts,
#   including the edge cases of empty masks;
# - see that IoU and Dice carry the same information, $\text{IoU} = \text{Dice}/(2-\text{Dice})$;
# - see why accuracy rewards a predictor that finds nothing when objects are small;
# - measure boundary errors with the Hausdorff distance and its robust cousin HD95;
# - count connected components and holes, and see two masks with nearly equal Dice but
#   hundreds of components apart;
# - choose the threshold on validation data with an interactive slider.

# %% [markdown]
# ## Parameters

# %%
import numpy as np
import torch
from scipy import ndimage

from course_utils import config, data, metrics, models, plotting, topology, training, widgets

SEED = 0
QUICK = config.is_quick()
DEVICE = config.get_device()
DATA_ROOT = None
SIZE = 64 if QUICK else 128
EPOCHS = 10 if QUICK else 30
WIDTH = 16 if QUICK else 32
POS_WEIGHT = 5.0  # weight of the foreground pixels in the second model's BCE
config.seed_everything(SEED);

# %% [markdown]
# ## Overlap metrics from four counts
#
# Compare a predicted mask $P$ with the true mask $T$ pixel by pixel. Every pixel is one of
#
# | | true foreground | true background |
# |---|---|---|
# | **predicted foreground** | TP (true positive) | FP (false positive) |
# | **predicted background** | FN (false negative) | TN (true negative) |
#
# and every common overlap metric is a ratio of these counts:
#
# | metric | formula | reads as |
# |---|---|---|
# | Dice | $2TP / (2TP + FP + FN) = 2\lvert P\cap T\rvert / (\lvert P\rvert + \lvert T\rvert)$ | overlap relative to the two sizes |
# | IoU (Jaccard) | $TP / (TP + FP + FN) = \lvert P\cap T\rvert / \lvert P\cup T\rvert$ | overlap relative to the union |
# | accuracy | $(TP + TN) / (TP + FP + FN + TN)$ | share of pixels labelled right |
# | sensitivity (recall) | $TP / (TP + FN)$ | share of the object found |
# | specificity | $TN / (TN + FP)$ | share of the background left alone |
#
# A ratio can have a zero denominator: both masks empty (Dice, IoU), no true foreground
# (sensitivity), no true background (specificity). In each case the prediction cannot be
# wrong in the respect the metric measures, so the course scores it **1.0**; write this
# policy into your functions (the checks test it).
#
# ### Task: the five metrics
#
# Each function takes two hard masks of one image (tensors of 0/1 of the same shape) and
# returns a Python float.

# %%
def confusion_counts(pred: torch.Tensor, target: torch.Tensor) -> tuple[float, float, float, float]:
    # HINT: turn both into bool; TP = (p & t).sum(), FP = (p & ~t).sum(), and so on; return floats
    ### BEGIN SOLUTION
    p, t = pred.bool(), target.bool()
    tp = (p & t).sum().item()
    fp = (p & ~t).sum().item()
    fn = (~p & t).sum().item()
    tn = (~p & ~t).sum().item()
    return float(tp), float(fp), float(fn), float(tn)
    ### END SOLUTION


def ratio(num: float, den: float) -> float:
    """num / den, and 1.0 when den is 0 (the course's empty-mask policy)."""
    return num / den if den > 0 else 1.0


def dice(pred, target) -> float:
    tp, fp, fn, tn = confusion_counts(pred, target)
    # HINT: ratio(2 TP, 2 TP + FP + FN)
    ### BEGIN SOLUTION
    return ratio(2 * tp, 2 * tp + fp + fn)
    ### END SOLUTION


def iou(pred, target) -> float:
    tp, fp, fn, tn = confusion_counts(pred, target)
    # HINT: ratio(TP, TP + FP + FN)
    ### BEGIN SOLUTION
    return ratio(tp, tp + fp + fn)
    ### END SOLUTION


def accuracy(pred, target) -> float:
    tp, fp, fn, tn = confusion_counts(pred, target)
    # HINT: correct pixels over all pixels
    ### BEGIN SOLUTION
    return ratio(tp + tn, tp + fp + fn + tn)
    ### END SOLUTION


def sensitivity(pred, target) -> float:
    tp, fp, fn, tn = confusion_counts(pred, target)
    # HINT: ratio(TP, TP + FN)
    ### BEGIN SOLUTION
    return ratio(tp, tp + fn)
    ### END SOLUTION


def specificity(pred, target) -> float:
    tp, fp, fn, tn = confusion_counts(pred, target)
    # HINT: ratio(TN, TN + FP)
    ### BEGIN SOLUTION
    return ratio(tn, tn + fp)
    ### END SOLUTION


# %%
from course_utils.checks.metrics import check_binary_metric

for name, fn in [("dice", dice), ("iou", iou), ("accuracy", accuracy),
                 ("sensitivity", sensitivity), ("specificity", specificity)]:
    check_binary_metric(name, fn)

# %% [markdown]
# ## IoU and Dice say the same thing
#
# Write $S = FP + FN$ for the pixels on which the masks disagree. Then
# $\text{Dice} = 2TP/(2TP+S)$ and $\text{IoU} = TP/(TP+S)$, and a line of algebra gives
#
# $$\frac{\text{Dice}}{2-\text{Dice}} = \frac{2TP/(2TP+S)}{(2TP+2S)/(2TP+S)} = \frac{TP}{TP+S} = \text{IoU}.$$
#
# The map $d \mapsto d/(2-d)$ is increasing, so for one image both metrics rank any two
# predictions the same way; IoU is just the stricter-looking scale (IoU ≤ Dice, equal only at
# 0 and 1). Numerically, for two 10 x 10 squares shifted against each other:

# %%
# NBVAL_CHECK_OUTPUT
def square(shift: int, size: int = 24) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[5 : 15, 5 + shift : 15 + shift] = 1
    return mask


truth = square(0)
print(f"{'shift':>5s} {'Dice':>7s} {'IoU':>7s} {'Dice/(2-Dice)':>14s}")
dices, ious = [], []
for shift in (0, 1, 2, 4, 6, 8, 10):
    d, j = dice(square(shift), truth), iou(square(shift), truth)
    dices.append(d)
    ious.append(j)
    print(f"{shift:5d} {d:7.4f} {j:7.4f} {d / (2 - d):14.4f}")
mean_dice = sum(dices) / len(dices)
print(f"mean IoU over the shifts {sum(ious) / len(ious):.4f}; "
      f"mean Dice {mean_dice:.4f} mapped through d/(2-d): {mean_dice / (2 - mean_dice):.4f}")

# %% [markdown]
# The identity holds row by row, to the last digit. It does **not** hold for averages over
# many images (last line): the mean of the IoUs is higher than the mean Dice mapped through
# $d/(2-d)$, because the map is convex. So report which mean you took, and never convert a
# *mean* Dice into a mean IoU with the formula.

# %% [markdown]
# ## Accuracy and the predictor that finds nothing
#
# Accuracy counts every pixel, and the background has most of them. Take the validation
# cells and pretend each crop is a small window of a larger image by padding it with
# background: the same cells, ever smaller objects. Then score the laziest possible model,
# one that predicts background everywhere.

# %%
cells_val = data.PhCDataset("val", DATA_ROOT, size=SIZE)
targets_small = cells_val.targets[:, 0].float()

rows = []
for factor in (1, 2, 4, 8):
    pad = (factor - 1) * SIZE // 2
    targets = torch.nn.functional.pad(targets_small, (pad, pad, pad, pad))
    nothing = torch.zeros_like(targets)
    scores = {name: np.mean([fn(p, t) for p, t in zip(nothing, targets, strict=True)])
              for name, fn in [("accuracy", accuracy), ("dice", dice),
                               ("sensitivity", sensitivity), ("specificity", specificity)]}
    rows.append((targets.mean().item(), scores))
print(f"{'object share':>12s} {'accuracy':>9s} {'Dice':>6s} {'sensitivity':>12s} {'specificity':>12s}")
for share, s in rows:
    print(f"{share:12.2%} {s['accuracy']:9.4f} {s['dice']:6.3f} {s['sensitivity']:12.3f} "
          f"{s['specificity']:12.3f}")
assert rows[-1][1]["accuracy"] > 0.99 and rows[-1][1]["dice"] == 0

# %% [markdown]
# The model that finds nothing reaches an accuracy of one minus the object's share: above
# 99 % once the cell covers less than a percent of the image, while its Dice and its
# sensitivity are 0. Specificity is perfect too, since it only looks at the background.
# For small objects report Dice or IoU, or sensitivity *together with* specificity, never
# accuracy alone.

# %% [markdown]
# ## Boundary distances: Hausdorff and HD95
#
# Overlap metrics count pixels, wherever they are. A single false pixel far from the object
# costs one pixel of overlap, but for a surgeon planning a margin, or for a counting
# algorithm, it may be the worst error in the image. Distance metrics look at *where* the
# boundaries are. Let $\partial P$ and $\partial T$ be the boundary pixels of the two masks
# and $d(x, B)$ the distance from pixel $x$ to the nearest pixel of $B$. The **directed**
# distance $h(P, T) = \max_{x\in\partial P} d(x, \partial T)$ is the worst boundary pixel of
# $P$; the **Hausdorff distance** takes the worse direction,
#
# $$\text{HD}(P, T) = \max\bigl(h(P, T),\ h(T, P)\bigr).$$
#
# One stray pixel sets HD on its own. **HD95** replaces each maximum by the 95th percentile
# of the distances, so up to 5 % of the boundary may be far off without moving the score.
# When both masks are empty the distance is 0; when exactly one is, there is nothing to
# measure to, and the distance is infinite.
#
# ### Task: Hausdorff distance and HD95
#
# Use `topology.boundary(mask)` for the boundary pixels and SciPy for the distances:
# `ndimage.distance_transform_edt(~edge)` gives, at every pixel, the Euclidean distance to
# the nearest pixel where `edge` is True. Read it at the other mask's boundary pixels.

# %%
def hausdorff(pred, target, percentile: float = 100) -> float:
    pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    # HINT: handle empty masks; dist to target's edge at pred's edge pixels and vice versa; np.percentile each; max
    ### BEGIN SOLUTION
    if not pred.any() and not target.any():
        return 0.0
    if not pred.any() or not target.any():
        return float("inf")
    edge_p, edge_t = topology.boundary(pred), topology.boundary(target)
    to_target = ndimage.distance_transform_edt(~edge_t)[edge_p]
    to_pred = ndimage.distance_transform_edt(~edge_p)[edge_t]
    return float(max(np.percentile(to_target, percentile), np.percentile(to_pred, percentile)))
    ### END SOLUTION


# %%
from course_utils.checks.metrics import check_hausdorff

check_hausdorff(hausdorff)

# %% [markdown]
# A blob-shaped "cell" of 128 x 128 pixels, and three predictions: shifted by three pixels,
# exact but with one stray pixel in a corner, and exact but with a small second blob nearby.

# %%
size = 128
yy, xx = np.mgrid[:size, :size]
angle = np.arctan2(yy - 64, xx - 64)
blob = np.hypot(yy - 64, xx - 64) < 34 + 4 * np.sin(3 * angle) + 2 * np.cos(5 * angle)

stray = blob.copy()
stray[2, 2] = True
twin = blob | (np.hypot(yy - 20, xx - 110) < 4)
predictions = {"shifted 3 px": np.roll(blob, 3, axis=1), "one stray pixel": stray,
               "small extra blob": twin}
print(f"{'prediction':16s} {'Dice':>7s} {'HD':>7s} {'HD95':>7s}")
for name, pred in predictions.items():
    d = dice(torch.from_numpy(pred), torch.from_numpy(blob))
    print(f"{name:16s} {d:7.4f} {hausdorff(pred, blob):7.2f} {hausdorff(pred, blob, 95):7.2f}")

# %% [markdown]
# The stray pixel leaves Dice at 0.9999 but sets the Hausdorff distance to the distance of
# that corner from the blob; HD95 ignores it. The extra blob is larger, so it holds more
# than 5 % of the prediction's boundary pixels, and HD95 sees it as well. The uniform 3-pixel
# shift is the other way round: it costs the most Dice of the three, while both distances
# call it small, 3 pixels everywhere.

# %% [markdown]
# ## Topology: components and holes
#
# Two more numbers describe the *shape* of a mask rather than its overlap: the number of
# **connected components** (separate pieces of foreground) and the number of **holes**
# (pieces of background enclosed by foreground). A single cell should have one and zero.
# `scipy.ndimage.label(mask, structure)` numbers the connected pieces of the True pixels;
# with the 3 x 3 structure of ones, diagonal neighbours count as connected (8-connectivity).
#
# ### Task: count components and holes
#
# For holes, label the *background* and discard the pieces that touch the image border. Use
# 4-connectivity for the background (`ndimage.generate_binary_structure(2, 1)`) when the
# foreground is 8-connected: otherwise a hole could leak out through a diagonal gap that the
# foreground itself considers closed.

# %%
EIGHT = np.ones((3, 3), dtype=bool)
FOUR = ndimage.generate_binary_structure(2, 1)


def count_components(mask) -> int:
    # HINT: ndimage.label(mask, EIGHT) returns (labels, count)
    ### BEGIN SOLUTION
    return int(ndimage.label(np.asarray(mask, dtype=bool), EIGHT)[1])
    ### END SOLUTION


def count_holes(mask) -> int:
    # HINT: pad the background with a ring of True (np.pad), label it with FOUR; the ring's piece is the outside
    ### BEGIN SOLUTION
    background = np.pad(~np.asarray(mask, dtype=bool), 1, constant_values=True)
    labels, count = ndimage.label(background, FOUR)
    return int(count - 1)  # every piece but the one connected to the padded ring
    ### END SOLUTION


# %%
from course_utils.checks.metrics import check_count_components, check_count_holes

check_count_components(count_components)
check_count_holes(count_holes)

# %% [markdown]
# ### Equal Dice, very different masks
#
# Three predictions of the blob: **A** is three pixels too small (eroded), **B** three pixels
# too large (dilated), and **C** is exact except for salt-and-pepper noise: 3 % of the
# background pixels switched on, 6 % of the object's pixels switched off.

# %%
# NBVAL_CHECK_OUTPUT
noise = np.random.default_rng(0).random(blob.shape)
candidates = {
    "A eroded": ndimage.binary_erosion(blob, iterations=3),
    "B dilated": ndimage.binary_dilation(blob, iterations=3),
    "C speckle": np.where(blob, noise >= 0.06, noise < 0.03),
}
print(f"{'':10s} {'Dice':>7s} {'IoU':>7s} {'accuracy':>9s} {'components':>11s} {'holes':>6s} "
      f"{'HD':>6s} {'HD95':>6s}")
table = {}
for name, pred in candidates.items():
    p, t = torch.from_numpy(pred), torch.from_numpy(blob)
    table[name] = (dice(p, t), count_components(pred), count_holes(pred))
    print(f"{name:10s} {dice(p, t):7.4f} {iou(p, t):7.4f} {accuracy(p, t):9.4f} "
          f"{count_components(pred):11d} {count_holes(pred):6d} {hausdorff(pred, blob):6.1f} "
          f"{hausdorff(pred, blob, 95):6.1f}")

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, (name, pred) in zip(axes, candidates.items(), strict=True):
    ax.imshow(pred, cmap="gray", interpolation="nearest")
    ax.contour(blob, levels=[0.5], colors="#ffd400", linewidths=1)
    ax.set_title(f"{name}: Dice {table[name][0]:.3f}\n{table[name][1]} components, "
                 f"{table[name][2]} holes", fontsize=9)
    ax.set_axis_off()
fig.tight_layout()
dice_values = [v[0] for v in table.values()]
assert max(dice_values) - min(dice_values) < 0.01 and table["C speckle"][1] > 100

# %% [markdown]
# All three Dice values agree to within a hundredth (the accuracies too), yet A and B are
# one clean piece each while C falls apart into hundreds of components and holes. A
# downstream step that counts cells, measures their shape or tracks them over time would
# work on A and B and fail completely on C. Overlap metrics cannot tell these apart; the
# component and hole counts (and here the Hausdorff distances) can. When the shape
# matters, report them next to Dice.

# %% [markdown]
# ## The decision threshold
#
# A network outputs probabilities; a mask needs a threshold $t$ (foreground where
# $p \ge t$). 0.5 is the default, but nothing in training promises that 0.5 maximises the
# metric you report. To see this, train two small U-Nets on the cells for the same
# budget: one with plain BCE, one with BCE whose foreground pixels weigh `POS_WEIGHT` times
# more (the binary version of lesson 06's class weights).

# %%
cells = {split: data.PhCDataset(split, DATA_ROOT, size=SIZE) for split in ("train", "val", "test")}
train_loader = data.InMemoryLoader(cells["train"], 16, shuffle=True, device=DEVICE, drop_last=True,
                                   seed=SEED)
val_loader = data.InMemoryLoader(cells["val"], 32, device=DEVICE)
test_loader = data.InMemoryLoader(cells["test"], 64, device=DEVICE)


def train_cells(pos_weight: float) -> torch.nn.Module:
    config.seed_everything(SEED)
    net = models.UNet(out_channels=1, width=WIDTH)
    loss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=DEVICE))
    training.fit(net, loss, train_loader, val_loader, epochs=EPOCHS, lr=3e-3, device=DEVICE)
    return net


nets = {"BCE": train_cells(1.0), f"BCE, pos_weight {POS_WEIGHT:g}": train_cells(POS_WEIGHT)}
val_probs = {name: training.predict(net, val_loader, device=DEVICE) for name, net in nets.items()}
val_targets = cells["val"].targets.float()

# %% [markdown]
# ### The slider
#
# Move the threshold and watch the mask (magenta) against the true outline (yellow), the
# numbers under the figure, and the markers on the metric-vs-threshold curves. The curves
# are means over all validation images; the title and the component count are for the
# image chosen with the second slider. (The figure also appears, without the slider, in a
# notebook that is not running.)

# %%
weighted = list(nets)[1]
val_images = cells["val"].images.float() / 255
widgets.threshold_slider(val_probs[weighted], val_targets, val_images, threshold=0.5)

# %% [markdown]
# What to look for while sliding:
#
# - at a **low** threshold the mask swells past the outline: sensitivity approaches 1,
#   specificity drops, and faint responses in the background appear as extra components;
# - at a **high** threshold the mask shrinks inside the outline: specificity approaches
#   1, sensitivity drops; at 1 nothing is left;
# - Dice and IoU peak in between, on a plateau; the question is where.
#
# The same sweep as numbers, for the image the slider starts on:

# %%
for t in (0.05, 0.5, 0.95):
    print(widgets.describe_threshold(widgets.threshold_view(t, val_probs[weighted], val_targets)))

# %% [markdown]
# ### Choosing the threshold on validation data
#
# Pick the threshold that maximises the validation Dice, then check it **once** on the test
# set, next to the default 0.5.

# %%
print(f"{'model':22s} {'best t':>6s} {'val Dice @0.5':>14s} {'@best':>7s} "
      f"{'test Dice @0.5':>15s} {'@best':>7s}")
chosen = {}
for name, net in nets.items():
    curves = widgets.threshold_curves(val_probs[name], val_targets)
    t_best, val_best = widgets.best_threshold(curves, "dice")
    val_half = curves["dice"][np.argmin(np.abs(curves["threshold"] - 0.5))]
    test_probs = training.predict(net, test_loader, device=DEVICE)
    test_targets = cells["test"].targets.float()
    test_half = metrics.dice_score((test_probs >= 0.5).float(), test_targets)
    test_best = metrics.dice_score((test_probs >= t_best).float(), test_targets)
    chosen[name] = (t_best, val_half, val_best, test_half, test_best)
    print(f"{name:22s} {t_best:6.2f} {val_half:14.4f} {val_best:7.4f} {test_half:15.4f} "
          f"{test_best:7.4f}")
config.record_result(f"test Dice @0.5 ({weighted})", chosen[weighted][3], echo=False)
config.record_result(f"test Dice @{chosen[weighted][0]:.2f} ({weighted})", chosen[weighted][4],
                     echo=False)

# %%
view_half = widgets.threshold_view(0.5, val_probs[weighted], val_targets)
view_best = widgets.threshold_view(chosen[weighted][0], val_probs[weighted], val_targets)
curves = widgets.threshold_curves(val_probs[weighted], val_targets)
for view in (view_half, view_best):
    widgets.draw_threshold_view(view, val_images[0], val_targets[0], curves)
assert chosen[weighted][0] > 0.5  # the weighted model's best threshold lies above 0.5
assert abs(chosen["BCE"][0] - 0.5) <= 0.2 and chosen["BCE"][2] - chosen["BCE"][1] < 0.005

# %% [markdown]
# For the plain BCE model the best validation threshold lies close to 0.5 and the gain
# over 0.5 is small: BCE is minimised by the true probability, so "foreground if more
# likely than not" is already about right. The foreground-weighted model is different.
# Weighting the foreground pixels by $w$ shifts its probabilities upwards: where the true
# probability is $q$, the weighted loss is minimised by $p = wq/(wq + 1 - q)$, so the even
# bet $q = 1/2$ appears as $p = w/(w+1) = 5/6 \approx 0.83$ for $w = 5$. Its best
# validation threshold accordingly lies well above 0.5, and the table shows the gain it
# brings on the test set. Re-tuning the threshold on validation data is the cheap way to
# undo a loss's bias; a threshold tuned on the test set would be a biased estimate of the
# test score.

# %% [markdown]
# ## Questions
#
# 1. A colleague reports "accuracy 98.7 %" for a model that segments small lesions.
#    What two numbers do you ask for, and why?
# 2. Why is HD95 preferred to the plain Hausdorff distance for comparing methods, and when
#    would you still look at the plain one?
# 3. Masks A and C above have nearly equal Dice. Which training loss of lesson 02 would
#    you expect to push a network from C-like towards A-like outputs?
# 4. Why must the threshold be chosen on the validation set and not on the test set?

# %% [markdown]
# ### BEGIN SOLUTION
# 1. Dice (or IoU) and sensitivity. With lesions covering about 1 % of the image, a model
#    that finds no lesion at all scores about 99 % accuracy; Dice and sensitivity would
#    both be 0 for it. Specificity would add little: it is near 1 for almost any model.
# 2. A single stray pixel, which may be an annotation error or a speck of no consequence,
#    sets the plain Hausdorff distance on its own, so rankings by HD are noisy. HD95 lets
#    up to 5 % of the boundary be far off. When any far-off error is unacceptable (a
#    false detection far from the organ in radiotherapy planning, say), the plain maximum
#    is exactly what you want to know.
# 3. The total-variation (contiguity) regulariser: it penalises every change between
#    neighbouring pixels, and speckle is made of such changes, while a clean blob has them
#    only along its outline.
# 4. The threshold is a fitted parameter like any weight of the network. Chosen on the test
#    set, it makes the test score optimistically biased: it no longer estimates how the
#    model does on new data.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - Dice, IoU, accuracy, sensitivity and specificity are ratios of four counts; fix the
#   empty-mask policy explicitly.
# - IoU = Dice / (2 − Dice) for each image, so the two rank predictions identically; their
#   means over images are not related by the same formula.
# - Accuracy rewards finding nothing when objects are small; Dice and sensitivity do not.
# - Hausdorff and HD95 measure how far the boundaries are apart; components and holes
#   describe the shape. Masks with equal Dice can differ by hundreds of components.
# - The threshold is a parameter: choose it on validation data, especially after a weighted
#   loss has moved the network's probabilities.
#
# **References**
#
# - Dice, *Measures of the amount of ecologic association between species*, Ecology 1945;
#   Jaccard, *The distribution of the flora in the alpine zone*, New Phytologist 1912.
# - Huttenlocher, Klanderman and Rucklidge, *Comparing images using the Hausdorff
#   distance*, IEEE TPAMI 1993.
# - Maier-Hein et al., *Metrics reloaded: recommendations for image analysis validation*,
#   Nature Methods 2024.
