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
# - compute Dice, IoU, accuracy, sensitivity, specificity and precision from the four pixel
#   counts, per image, including the edge cases of empty masks;
# - see that Dice is the F1 score of precision and recall, and that IoU and Dice carry the
#   same information, $\text{IoU} = \text{Dice}/(2-\text{Dice})$;
# - see why accuracy rewards a predictor that finds nothing when objects are small;
# - measure boundary errors with the Hausdorff distance and its robust cousin HD95, and
#   know that libraries define HD95 differently;
# - count connected components and holes, and see two masks with nearly equal Dice but
#   hundreds of components apart;
# - choose the threshold on validation data with an interactive slider, and measure how
#   far a single brightness threshold on the image (Otsu's) gets on the cells.

# %% [markdown]
# ## Parameters

# %%
import numpy as np
import torch
from scipy import ndimage

from course_utils import (
    config,
    data,
    metrics,
    models,
    plotting,
    reporting,
    thresholds,
    topology,
    training,
    widgets,
)

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
# | precision | (yours to write) | share of the predicted foreground that is right |
#
# A ratio can have a zero denominator: both masks empty (Dice, IoU), no true foreground
# (sensitivity), nothing predicted (precision), no true background (specificity). In each
# case the prediction cannot be wrong in the respect the metric measures, so the course
# scores it **1.0** (the checks test this policy).
#
# Over a batch of images there are two ways to average: score each image and take the mean
# (what the course's metrics do), or pool the counts of all pixels as if the batch were one
# big image. Pooling lets the images with many foreground pixels dominate; a number below
# shows the difference.
#
# ### Task: every metric in one function
#
# Write `binary_metrics(pred, target)`: both are batches of hard masks of the same shape,
# `(N, H, W)` or `(N, 1, H, W)`, with values 0/1 as float, bool or uint8. Return a dict with
# the keys `"dice"`, `"iou"`, `"accuracy"`, `"sensitivity"`, `"specificity"` and
# `"precision"`, each the mean over the images of that image's score, as a Python float.

# %%
def binary_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    # HINT: count the four kinds of pixel first, one count per image (which dims hold one image?); then each metric is a ratio of counts
    ### BEGIN SOLUTION
    p, t = pred.bool().flatten(1), target.bool().flatten(1)  # (N, pixels)
    tp = (p & t).sum(1).double()
    fp = (p & ~t).sum(1).double()
    fn = (~p & t).sum(1).double()
    tn = (~p & ~t).sum(1).double()

    def mean_ratio(num: torch.Tensor, den: torch.Tensor) -> float:
        return torch.where(den > 0, num / den.clamp(min=1), 1.0).mean().item()

    return {
        "dice": mean_ratio(2 * tp, 2 * tp + fp + fn),
        "iou": mean_ratio(tp, tp + fp + fn),
        "accuracy": mean_ratio(tp + tn, tp + fp + fn + tn),
        "sensitivity": mean_ratio(tp, tp + fn),
        "specificity": mean_ratio(tn, tn + fp),
        "precision": mean_ratio(tp, tp + fp),
    }
    ### END SOLUTION


# %% points=3
from course_utils.checks.metrics import check_binary_metrics

check_binary_metrics(binary_metrics)

# %% [markdown]
# ### Dice is the F1 score
#
# Precision asks how much of what was predicted is right, sensitivity (recall) how much of
# what is there was found. Their harmonic mean is the **F1 score**, and with
# $\text{precision} = TP/(TP+FP)$ and $\text{recall} = TP/(TP+FN)$ it is
#
# $$F_1 = \frac{2\,\text{precision}\cdot\text{recall}}{\text{precision}+\text{recall}}
#       = \frac{2TP}{(TP+FN) + (TP+FP)} = \text{Dice}.$$
#
# Dice is therefore high only when *both* are high: a prediction that is too small has high
# precision and low recall, one that is too large the reverse. Numerically, for a 10 x 10
# square and three predictions of it:

# %%
# NBVAL_CHECK_OUTPUT
def square(shift: int = 0, grow: int = 0, size: int = 24) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[5 - grow : 15 + grow, 5 + shift - grow : 15 + shift + grow] = 1
    return mask


truth = square()
print(f"{'prediction':18s} {'precision':>9s} {'recall':>7s} {'F1':>7s} {'Dice':>7s}")
for name, pred in [("2 px too small", square(grow=-2)), ("2 px too large", square(grow=2)),
                   ("shifted 3 px", square(shift=3))]:
    m = binary_metrics(pred[None], truth[None])
    f1 = 2 * m["precision"] * m["sensitivity"] / (m["precision"] + m["sensitivity"])
    print(f"{name:18s} {m['precision']:9.4f} {m['sensitivity']:7.4f} {f1:7.4f} {m['dice']:7.4f}")

# %% [markdown]
# The same three predictions as one batch: the mean of their per-image scores, and the
# score of all their pixels pooled as one tall image, where the too-large prediction, with
# the most pixels, weighs most.

# %%
trio, truths = torch.stack([square(grow=-2), square(grow=2), square(shift=3)]), truth.expand(3, -1, -1)
per_image = binary_metrics(trio, truths)["dice"]
pooled = binary_metrics(trio.reshape(1, -1, trio.shape[-1]), truths.reshape(1, -1, trio.shape[-1]))
print(f"mean of the per-image Dice {per_image:.4f}; Dice of all pixels pooled {pooled['dice']:.4f}")

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
print(f"{'shift':>5s} {'Dice':>7s} {'IoU':>7s} {'Dice/(2-Dice)':>14s}")
shifts = (0, 1, 2, 4, 6, 8, 10)
for shift in shifts:
    m = binary_metrics(square(shift)[None], truth[None])
    print(f"{shift:5d} {m['dice']:7.4f} {m['iou']:7.4f} {m['dice'] / (2 - m['dice']):14.4f}")
batch = binary_metrics(torch.stack([square(s) for s in shifts]), truth.expand(len(shifts), -1, -1))
mean_dice = batch["dice"]
print(f"mean IoU over the shifts {batch['iou']:.4f}; "
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
cells = {split: data.PhCDataset(split, DATA_ROOT, size=SIZE) for split in ("train", "val", "test")}
targets_small = cells["val"].targets[:, 0].float()

print(f"{'object share':>12s} {'accuracy':>9s} {'Dice':>6s} {'sensitivity':>12s} {'specificity':>12s}")
for factor in (1, 2, 4, 8):
    pad = (factor - 1) * SIZE // 2
    targets = torch.nn.functional.pad(targets_small, (pad, pad, pad, pad))
    lazy = binary_metrics(torch.zeros_like(targets), targets)
    print(f"{targets.mean().item():12.2%} {lazy['accuracy']:9.4f} {lazy['dice']:6.3f} "
          f"{lazy['sensitivity']:12.3f} {lazy['specificity']:12.3f}")
reporting.record_outcome("empty predictor accuracy, smallest objects", lazy["accuracy"])

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
# of the distances, so up to 5 % of a boundary may be far off without moving the score.
# When both masks are empty the distance is 0; when exactly one is, there is nothing to
# measure to, and the distance is infinite.
#
# Libraries do not agree on HD95, so always say which one you report. This lesson (like
# MONAI's `compute_hausdorff_distance` with `percentile=95`) takes the 95th percentile of
# each direction and then the larger of the two:
# $\text{HD95} = \max\bigl(P_{95}\{d(x,\partial T)\}_{x\in\partial P},\ P_{95}\{d(y,\partial P)\}_{y\in\partial T}\bigr)$.
# MedPy's `hd95` instead pools the distances of both directions into one set and takes its
# 95th percentile. Boundaries differ too (inner boundary pixels here, as in MedPy; surface
# elements elsewhere), and so does the distance between pixels (Euclidean here).
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


# %% points=3
from course_utils.checks.metrics import check_hausdorff

check_hausdorff(hausdorff)

# %% [markdown]
# A blob-shaped "cell" of 128 x 128 pixels, and three predictions: shifted by three pixels,
# exact but with one stray pixel in a corner, and exact but with a small second blob nearby.
# The last column is MedPy's pooled HD95, for comparison.

# %%
# NBVAL_CHECK_OUTPUT
size = 128
yy, xx = np.mgrid[:size, :size]
angle = np.arctan2(yy - 64, xx - 64)
blob = np.hypot(yy - 64, xx - 64) < 34 + 4 * np.sin(3 * angle) + 2 * np.cos(5 * angle)


def boundary_distances(pred, target) -> tuple[np.ndarray, np.ndarray]:
    """Distances of pred's boundary pixels to target's boundary, and the other way round."""
    edge_p, edge_t = topology.boundary(pred), topology.boundary(target)
    return (ndimage.distance_transform_edt(~edge_t)[edge_p],
            ndimage.distance_transform_edt(~edge_p)[edge_t])


stray = blob.copy()
stray[2, 2] = True
twin = blob | (np.hypot(yy - 20, xx - 110) < 4)
predictions = {"shifted 3 px": np.roll(blob, 3, axis=1), "one stray pixel": stray,
               "small extra blob": twin}
print(f"{'prediction':16s} {'Dice':>7s} {'HD':>7s} {'HD95':>7s} {'pooled HD95':>12s}")
for name, pred in predictions.items():
    d = binary_metrics(torch.from_numpy(pred)[None], torch.from_numpy(blob)[None])["dice"]
    pooled = np.percentile(np.concatenate(boundary_distances(pred, blob)), 95)
    print(f"{name:16s} {d:7.4f} {hausdorff(pred, blob):7.2f} {hausdorff(pred, blob, 95):7.2f} "
          f"{pooled:12.2f}")

shift_d = np.concatenate(boundary_distances(predictions["shifted 3 px"], blob))
print(f"shifted 3 px: {shift_d.size} boundary distances from {shift_d.min():.2f} to "
      f"{shift_d.max():.2f} px, median {np.median(shift_d):.2f}, {np.mean(shift_d == 0):.0%} "
      f"exactly 0, {np.mean(shift_d == shift_d.max()):.0%} equal to the maximum")

# %% [markdown]
# The stray pixel leaves Dice at 0.9999 but sets the Hausdorff distance to the distance of
# that corner from the blob; HD95 ignores it. The extra blob is larger: it holds more than
# 5 % of the *prediction's* boundary pixels, so the prediction's direction, and with it this
# lesson's HD95, sees it (31 px). Pooled with the true boundary's distances, which are all
# 0, those same pixels fall under 5 % of the set, and MedPy's pooled HD95 reports 0: the
# same masks, two conventions, 31 px against 0.
#
# The 3-pixel shift costs the most Dice of the three, while both distances call it small.
# It is *not* "3 pixels everywhere": where the outline runs along the direction of the
# shift, the shifted boundary lies on or next to the old one, so its boundary distances run
# from 0 to 3 pixels (last line). HD and HD95 report the largest of them, 3.

# %% [markdown]
# ## Topology: components and holes
#
# Two more numbers describe the *shape* of a mask rather than its overlap: the number of
# **connected components** (separate pieces of foreground) and the number of **holes**
# (pieces of background enclosed by foreground). A single cell should have one and zero.
# `scipy.ndimage.label(mask, structure)` numbers the connected pieces of the True pixels;
# with the 3 x 3 structure of ones, diagonal neighbours count as connected (8-connectivity).
#
# ### Task: count holes
#
# `topology.count_components(mask)` counts the components: `ndimage.label(mask, EIGHT)`
# returns the label image and their number. Holes take one more idea: label the
# *background* and discard the pieces that touch the image border. Use 4-connectivity for
# the background (`ndimage.generate_binary_structure(2, 1)`) when the foreground is
# 8-connected: otherwise a hole could leak out through a diagonal gap that the foreground
# itself considers closed.

# %%
EIGHT = np.ones((3, 3), dtype=bool)
FOUR = ndimage.generate_binary_structure(2, 1)


def count_holes(mask) -> int:
    # HINT: pad the background with a ring of True (np.pad), label it with FOUR; the ring's piece is the outside
    ### BEGIN SOLUTION
    background = np.pad(~np.asarray(mask, dtype=bool), 1, constant_values=True)
    labels, count = ndimage.label(background, FOUR)
    return int(count - 1)  # every piece but the one connected to the padded ring
    ### END SOLUTION


# %% points=1
from course_utils.checks.metrics import check_count_holes

check_count_holes(count_holes)
### BEGIN HIDDEN TESTS
from course_utils.checks import CheckFailed

_rng = np.random.default_rng(2516)
for _i in range(5):
    _m = _rng.random((13, 17)) > 0.45
    if count_holes(_m) != topology.count_holes(_m):
        raise CheckFailed(f"a random 13 x 17 mask ({_i}): expected "
                          f"{topology.count_holes(_m)} holes, got {count_holes(_m)}")
### END HIDDEN TESTS

# %% [markdown]
# ### Task: objects found, objects missed (instance F1)
#
# Counting components says *how many* pieces a mask has, not whether they are the right
# ones. An object-level score does: treat every component as an object, pair each
# predicted object with a true one, and count a pair as found (a true positive) when the two
# overlap with IoU at least 0.5. Predicted objects left without a partner are false
# positives, true objects left without one are false negatives, and
# $F_1 = 2\,TP / (2\,TP + FP + FN)$, the Dice formula one level up.
#
# Before you write it, work out on paper what these cases must give, since the check tries
# them: a prediction that covers two small true objects and the gap between them; a true
# object predicted as two halves, each of IoU 0.5 with it; two masks that are both empty
# (the course's policy for the pixel metrics: 1.0).
#
# Write `instance_f1(pred, target, threshold=0.5)` for two binary masks `(H, W)`,
# components 8-connected (`EIGHT`), returning `{"tp": ..., "fp": ..., "fn": ..., "f1": ...}`.
# A component may take part in one pair only. (Why does the order in which you pair them
# not matter at threshold 0.5? Two disjoint objects cannot both cover more than half of the
# union with a third.)

# %%
def instance_f1(pred, target, threshold: float = 0.5) -> dict[str, float]:
    # HINT: label both masks; count the pixels each predicted piece shares with each true piece (np.add.at, or a loop), turn the counts into IoUs, and pair the highest IoUs first
    ### BEGIN SOLUTION
    labels_p, n_p = ndimage.label(np.asarray(pred, dtype=bool), EIGHT)
    labels_t, n_t = ndimage.label(np.asarray(target, dtype=bool), EIGHT)
    shared = np.zeros((n_p + 1, n_t + 1), dtype=np.int64)
    np.add.at(shared, (labels_p.ravel(), labels_t.ravel()), 1)
    inter = shared[1:, 1:]
    union = shared.sum(1)[1:, None] + shared.sum(0)[None, 1:] - inter
    iou = inter / np.maximum(union, 1)
    pairs = sorted(((iou[i, j], i, j) for i in range(n_p) for j in range(n_t)), reverse=True)
    used_p, used_t = set(), set()
    for value, i, j in pairs:
        if value >= threshold and i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    tp = len(used_p)
    fp, fn = n_p - tp, n_t - tp
    f1 = 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    return {"tp": tp, "fp": fp, "fn": fn, "f1": f1}
    ### END SOLUTION


# %% points=3
from course_utils.checks.instances import check_instance_f1

check_instance_f1(instance_f1)
### BEGIN HIDDEN TESTS
from course_utils.checks import CheckFailed

_rng = np.random.default_rng(25)
for _i in range(6):
    _t = ndimage.binary_opening(_rng.random((24, 31)) > 0.55)
    _p = ndimage.binary_dilation(_t) if _i % 2 else _rng.random((24, 31)) > 0.6
    for _threshold in (0.5, 0.7):
        _want, _got = topology.instance_f1(_p, _t, _threshold), instance_f1(_p, _t, _threshold)
        if any(abs(float(_got[_k]) - _want[_k]) > 1e-9 for _k in _want):
            raise CheckFailed(f"random 24 x 31 masks ({_i}, threshold {_threshold}): "
                              f"expected {_want}, got {_got}")
### END HIDDEN TESTS

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
    m = binary_metrics(torch.from_numpy(pred)[None], torch.from_numpy(blob)[None])
    table[name] = (m["dice"], topology.count_components(pred), count_holes(pred),
                   hausdorff(pred, blob, 95))
    print(f"{name:10s} {m['dice']:7.4f} {m['iou']:7.4f} {m['accuracy']:9.4f} "
          f"{table[name][1]:11d} {table[name][2]:6d} {hausdorff(pred, blob):6.1f} "
          f"{table[name][3]:6.1f}")

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
print(f"The three Dice values span {max(dice_values) - min(dice_values):.4f}; the component "
      f"counts span {min(v[1] for v in table.values())} to {max(v[1] for v in table.values())}.")
reporting.record_outcome("equal-Dice masks: Dice spread", max(dice_values) - min(dice_values))
reporting.record_outcome("equal-Dice masks: speckle components", table["C speckle"][1])
reporting.record_outcome("equal-Dice masks: speckle HD95 minus dilated HD95",
                      table["C speckle"][3] - table["B dilated"][3])

# %% [markdown]
# All three Dice values agree to within a hundredth (the accuracies too), yet A and B are
# one clean piece each while C falls apart into hundreds of components and holes. A
# downstream step that counts cells, measures their shape or tracks them over time would
# work on A and B and fail completely on C. Overlap metrics cannot tell these apart; the
# component and hole counts (and here the Hausdorff distances) can. When the shape
# matters, report them next to Dice.

# %% [markdown]
# Your `instance_f1` turns this into one number per mask: the blob is one true object, so
# each candidate can score at most one true positive, and every extra piece is a false
# positive.

# %%
object_scores = {name: instance_f1(pred, blob) for name, pred in candidates.items()}
for name, score in object_scores.items():
    print(f"{name:10s} Dice {table[name][0]:.3f}   objects found {score['tp']}, false "
          f"{score['fp']}, missed {score['fn']}: instance F1 {score['f1']:.3f}")
reporting.record_outcome("equal-Dice masks: speckle instance F1", object_scores["C speckle"]["f1"])
reporting.record_outcome("equal-Dice masks: eroded and dilated instance F1",
                         min(object_scores[name]["f1"] for name in ("A eroded", "B dilated")))

# %% [markdown]
# The eroded and the dilated blob are each one object that overlaps the truth well beyond
# IoU 0.5, so they score as perfect objects; the speckled mask finds the blob too, but
# drowns it in false positives, one per speck. An instance F1 is what a cell-counting or
# tracking pipeline would care about, and it sets apart the mask that the equal Dice
# values hide.

# %% [markdown]
# ## The decision threshold
#
# A network outputs probabilities; a mask needs a threshold $t$ (foreground where
# $p \ge t$). 0.5 is the default, but nothing in training promises that 0.5 maximises the
# metric you report. To see this, train two small U-Nets on the cells for the same
# budget: one with plain BCE, one with BCE whose foreground pixels weigh `POS_WEIGHT` times
# more (the binary version of lesson 06's class weights).

# %%
val_loader = data.InMemoryLoader(cells["val"], 32, device=DEVICE)
test_loader = data.InMemoryLoader(cells["test"], 64, device=DEVICE)


def train_cells(pos_weight: float) -> torch.nn.Module:
    loss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=DEVICE))
    net, _ = training.train_model(lambda: models.UNet(out_channels=1, width=WIDTH), loss,
                                  cells["train"], epochs=EPOCHS, batch_size=16, seed=SEED,
                                  device=DEVICE, lr=3e-3)
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
    curves = thresholds.threshold_curves(val_probs[name], val_targets)
    t_best, val_best = thresholds.best_threshold(curves, "dice")
    val_half = curves["dice"][np.argmin(np.abs(curves["threshold"] - 0.5))]
    test_probs = training.predict(net, test_loader, device=DEVICE)
    test_targets = cells["test"].targets.float()
    test_half = metrics.dice_score((test_probs >= 0.5).float(), test_targets)
    test_best = metrics.dice_score((test_probs >= t_best).float(), test_targets)
    chosen[name] = (t_best, val_half, val_best, test_half, test_best)
    print(f"{name:22s} {t_best:6.2f} {val_half:14.4f} {val_best:7.4f} {test_half:15.4f} "
          f"{test_best:7.4f}")
reporting.record_result(f"test Dice @0.5 ({weighted})", chosen[weighted][3], echo=False)
reporting.record_result(f"test Dice @{chosen[weighted][0]:.2f} ({weighted})", chosen[weighted][4],
                     echo=False)

# %%
view_half = widgets.threshold_view(0.5, val_probs[weighted], val_targets)
view_best = widgets.threshold_view(chosen[weighted][0], val_probs[weighted], val_targets)
curves = thresholds.threshold_curves(val_probs[weighted], val_targets)
for view in (view_half, view_best):
    widgets.draw_threshold_view(view, val_images[0], val_targets[0], curves)
for name, (t_best, val_half, val_best, test_half, test_best) in chosen.items():
    side = "close to" if abs(t_best - 0.5) <= 0.05 else ("above" if t_best > 0.5 else "below")
    print(f"In this run the {name} model's best validation threshold, {t_best:.2f}, lies {side} "
          f"0.5; tuning it changes validation Dice by {round(val_best - val_half, 4) + 0:+.4f} and "
          f"test Dice by {round(test_best - test_half, 4) + 0:+.4f}.")
reporting.record_outcome("weighted model: best threshold", chosen[weighted][0])
reporting.record_outcome("BCE model: best threshold", chosen["BCE"][0])
reporting.record_outcome("BCE model: validation gain of tuning", chosen["BCE"][2] - chosen["BCE"][1])
reporting.record_outcome("weighted model: test gain of tuning",
                      chosen[weighted][4] - chosen[weighted][3])

# %% [markdown]
# What usually happens, and why. BCE is minimised by the true probability, so for a model
# trained with plain BCE "foreground if more likely than not" is already about right: its
# best threshold tends to lie near 0.5 and tuning gains little. The foreground-weighted model
# is different. Weighting the foreground pixels by $w$ shifts its probabilities upwards:
# where the true probability is $q$, the weighted loss is minimised by
# $p = wq/(wq + 1 - q)$, so the even bet $q = 1/2$ appears as $p = w/(w+1) = 5/6 \approx 0.83$
# for $w = 5$. Its best validation threshold therefore tends to lie well above 0.5, and
# tuning it undoes part of the loss's bias; the lines above say how far this run follows
# that pattern (a short training run on a small validation set makes the optimum a broad,
# noisy plateau). Re-tuning the threshold on validation data is the cheap way to undo a
# loss's bias; a threshold tuned on the test set would be a biased estimate of the test
# score.

# %% [markdown]
# ### A threshold on the image itself: Otsu's baseline
#
# Lesson 00 showed that the inside of a cell is, on average, as bright as its
# surroundings, and claimed that no single brightness threshold can separate them. Here is
# the number. **Otsu's method** picks, for each image, the one grey level that best splits
# its histogram into two classes (it maximises the variance between the two classes'
# means). Which side is the cell, the brighter or the darker one, is chosen once, on the
# validation set; the masks are then scored on the test set exactly like the networks'.

# %%
from course_utils import baselines, verdicts

test_truth = cells["test"].targets.bool()
val_otsu = {side: metrics.dice_score(baselines.otsu_masks(cells["val"].images, side),
                                     cells["val"].targets.bool()) for side in ("bright", "dark")}
side = max(val_otsu, key=val_otsu.get)
otsu_test = baselines.otsu_masks(cells["test"].images, side)
otsu_dice = metrics.dice_score(otsu_test, test_truth)
# an oracle that picks the better side for every test image, knowing the answer
both_sides = [max(metrics.dice_score(m[None], t[None]), metrics.dice_score(~m[None], t[None]))
              for m, t in zip(otsu_test, test_truth, strict=True)]
print(f"Otsu, {side} side as cell (chosen on validation): test Dice {otsu_dice:.4f}; "
      f"with the better side chosen per test image by an oracle: {np.mean(both_sides):.4f}")
reporting.record_result("test Dice, Otsu baseline", otsu_dice, echo=False)
unet_dice = chosen[weighted][4]
verdicts.compare(f"the weighted U-Net (threshold {chosen[weighted][0]:.2f})",
                 {"test Dice": unet_dice}, "Otsu's threshold", {"test Dice": otsu_dice})
reporting.record_outcome("U-Net minus Otsu test Dice", unet_dice - otsu_dice)
reporting.record_outcome("U-Net minus Otsu oracle test Dice", unet_dice - float(np.mean(both_sides)))

# %% [markdown]
# On cells like these a global threshold usually fails by a wide margin, even when an
# oracle picks the better side for every image: the threshold cuts through the textured
# interior and the bright halo, not along the cell's outline. The network has learnt the
# *shape* of the dark rim and the halo, which a brightness histogram cannot see. (On
# images where the object really is brighter than its surroundings, a fluorescence stain
# say, Otsu is a strong baseline, and a network must be compared with it before it is
# trusted.)

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
# 5. On one image a model has precision 0.95 and sensitivity 0.60. What is its Dice, and
#    which way would you move its threshold?

# %% [markdown] points=2
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
# 5. Dice is the F1 score: $2 \cdot 0.95 \cdot 0.60 / (0.95 + 0.60) \approx 0.735$. The model
#    misses 40 % of the object while what it predicts is nearly all right, so its masks are
#    too small: lower the threshold, trading some precision for sensitivity, and check on
#    validation data that Dice goes up.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - Dice, IoU, accuracy, sensitivity, specificity and precision are ratios of four counts;
#   fix the empty-mask policy explicitly, and say whether you average per image or pool.
# - Dice is the F1 score, the harmonic mean of precision and recall.
# - IoU = Dice / (2 − Dice) for each image, so the two rank predictions identically; their
#   means over images are not related by the same formula.
# - Accuracy rewards finding nothing when objects are small; Dice and sensitivity do not.
# - Hausdorff and HD95 measure how far the boundaries are apart (say which HD95: the
#   larger of the two directed percentiles here, a pooled percentile in MedPy); components
#   and holes describe the shape. Masks with equal Dice can differ by hundreds of components.
# - The threshold is a parameter: choose it on validation data, especially after a weighted
#   loss has moved the network's probabilities. A global brightness threshold (Otsu) is the
#   baseline a network has to beat; on cells like these it is usually far behind.
#
# **References**
#
# - Dice, *Measures of the amount of ecologic association between species*, Ecology 1945;
#   Jaccard, *The distribution of the flora in the alpine zone*, New Phytologist 1912.
# - Huttenlocher, Klanderman and Rucklidge, *Comparing images using the Hausdorff
#   distance*, IEEE TPAMI 1993.
# - Otsu, *A threshold selection method from gray-level histograms*, IEEE Transactions on
#   Systems, Man, and Cybernetics 1979.
# - Maier-Hein et al., *Metrics reloaded: recommendations for image analysis validation*,
#   Nature Methods 2024.
