# %% [markdown]
# # 06 · Multi-class segmentation: facades
#
# So far every pixel had two possible answers, cell or background. The CMP Facade photos
# ask for one of **twelve**: wall, window, door, balcony, sill and so on. The network changes
# very little (one output channel per class instead of one), but the loss becomes a softmax
# cross-entropy over the classes, and evaluation needs more care, because the classes are
# very unequal in size.
#
# **Learning goals**
#
# - show a label map in the dataset's own colours with a legend of the class names;
# - count how often each class occurs and turn the counts into class weights;
# - write pixel-wise softmax cross-entropy with an ignored padding label, and check it
#   against PyTorch;
# - turn index targets into the one-hot form `12 x H x W` of the exercise sheet, and show
#   that cross-entropy gives the same value on both;
# - adapt a U-Net to 12 output channels and train it with and without class weights;
# - read a per-class IoU table, the mean IoU and a row-normalised confusion matrix, and
#   explain which classes are confused and why.

# %% [markdown]
# ## Parameters

# %%
import torch
from torch import nn

from course_utils import config, data, metrics, models, plotting, reporting, training, verdicts

SEED = 0
QUICK = config.is_quick()
DEVICE = config.get_device()
DATA_ROOT = None
SIZE = (96, 64) if QUICK else (256, 192)  # (height, width); divisible by 2**4 for the U-Net
EPOCHS = 6 if QUICK else 40
WIDTH = 16 if QUICK else 32
BATCH_SIZE = 16
LR = 3e-3
NUM_CLASSES = data.NUM_FACADE_CLASSES
config.seed_everything(SEED);

# %% [markdown]
# ## The data
#
# Each item is a photo `(3, H, W)` and a **long** label map `(H, W)` with class indices 0..11.
# The photos are portrait and of different sizes; each is scaled to fit `SIZE` and the unused
# border is labelled **255**, a value the loss and the metrics skip. The split into train,
# validation and test is fixed (70/15/15 %).

# %%
facades = {split: data.FacadeDataset(split, DATA_ROOT, size=SIZE) for split in ("train", "val", "test")}
for split, ds in facades.items():
    print(f"{split:5s} {len(ds):3d} facades of {tuple(ds.images.shape[1:])}")
plotting.show_facades(facades["train"].images[:4].float() / 255, facades["train"].targets[:4]);

# %% [markdown]
# The colours are the dataset's own palette (black marks the padding). Facades are built
# from a few large regions (wall, windows, the shop front) and many thin or small ones:
# sills under the windows, cornices and mouldings along the floors, blinds beside windows.

# %% [markdown]
# ## How often does each class occur?
#
# ### Task: count the pixels of each class
#
# Write `class_counts(targets, num_classes, ignore_index)`: the number of pixels of each
# class in a batch of label maps, leaving out the padding. `torch.bincount` counts
# non-negative integers.

# %%
def class_counts(targets: torch.Tensor, num_classes: int,
                 ignore_index: int = data.IGNORE_INDEX) -> torch.Tensor:
    # HINT: leave the ignored pixels out, then count each class; a class that never occurs still needs its 0
    ### BEGIN SOLUTION
    kept = targets[targets != ignore_index].long()
    return torch.bincount(kept, minlength=num_classes)
    ### END SOLUTION


# %% points=1
from course_utils.checks.multiclass import check_class_counts

check_class_counts(class_counts)
### BEGIN HIDDEN TESTS
from course_utils.checks import expect_close

_t = torch.randint(0, 5, (2, 9, 4), generator=torch.Generator().manual_seed(2516))
_t[:, 0] = data.IGNORE_INDEX
expect_close("5 classes, a row of 255 in each target", class_counts(_t, 5).double(),
             torch.bincount(_t[_t != data.IGNORE_INDEX], minlength=5).double())
expect_close("a class that never occurs", class_counts(_t, 7)[5:].double(),
             torch.zeros(2, dtype=torch.float64))
### END HIDDEN TESTS

# %%
import matplotlib.pyplot as plt
import numpy as np

counts = class_counts(facades["train"].targets, NUM_CLASSES)
share = counts / counts.sum()
order = share.argsort(descending=True)
fig, ax = plt.subplots(figsize=(8, 3))
ax.bar([data.FACADE_CLASSES[i] for i in order], share[order].numpy(),
       color=np.array(data.FACADE_PALETTE)[order.numpy()] / 255, edgecolor="0.3")
ax.set(ylabel="share of labelled pixels", title="class frequencies (training set)")
ax.tick_params(axis="x", rotation=45)
fig.tight_layout()
print(f"most frequent: {data.FACADE_CLASSES[order[0]]} {share[order[0]]:.1%}; "
      f"rarest: {data.FACADE_CLASSES[order[-1]]} {share[order[-1]]:.1%}; "
      f"ratio {share[order[0]] / share[order[-1]]:.0f}:1")

# %% [markdown]
# The printed ratio is the number of pixels of the most frequent class per pixel of the
# rarest one (both named in the line). A loss that averages over pixels hears the frequent
# class that many times more often than the rare one.

# %% [markdown]
# ## Softmax cross-entropy, pixel by pixel
#
# The network returns logits `(N, C, H, W)`: at every pixel a score per class. A softmax
# over the class dimension turns them into probabilities $p_{c}$, and the loss at a pixel
# whose true class is $y$ is $-\log p_{y}$. The loss of a batch is the mean over the pixels
# that are not padding. With class weights $w_c$ each pixel counts with the weight of its
# true class, and the mean becomes a weighted mean:
#
# $$\mathcal{L} = \frac{\sum_i w_{y_i}\,\bigl(-\log p_{i, y_i}\bigr)}{\sum_i w_{y_i}},$$
#
# summed over the kept pixels $i$ (all weights 1 gives the plain mean).
# Taking `log_softmax` in one step, rather than `log(softmax(...))`, keeps large logits
# finite, for the same reason as the stable BCE of lesson 01.
#
# ### Task: cross-entropy with an ignore index

# %%
def cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                  ignore_index: int = data.IGNORE_INDEX) -> torch.Tensor:
    # HINT: log_softmax over dim 1; gather the true class's log-probability; drop ignored pixels; weighted mean
    ### BEGIN SOLUTION
    log_probs = logits.log_softmax(dim=1)
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))  # any valid index; masked below
    nll = -log_probs.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = torch.ones(logits.shape[1], dtype=logits.dtype) if weight is None else weight
    pixel_weight = w.to(logits.device)[safe] * keep
    return (pixel_weight * nll).sum() / pixel_weight.sum()
    ### END SOLUTION


# %% points=2
from course_utils.checks.multiclass import check_cross_entropy

check_cross_entropy(cross_entropy)

# %% [markdown]
# From here on the lesson uses `nn.CrossEntropyLoss`, which computes the same thing in one
# fused, faster kernel.
#
# ## Index targets and one-hot targets
#
# The exercise sheet describes each facade segmentation as a tensor of shape
# $12 \times H \times W$: a **one-hot** encoding, with a 1 in the channel of the pixel's
# class and 0 in the eleven others. Our dataset stores the same information as an index
# map $H \times W$: twelve times fewer numbers, and the form `ignore_index` works with.
# Both forms are common: a multi-class Dice loss, for example, compares the softmax output with a one-hot
# target channel by channel.
#
# What should the one-hot hold at a padding pixel (255)? It belongs to no class, so its
# vector is all **zeros**. Cross-entropy against a target vector $y$ is
# $-\sum_c y_c \log p_c$, which is 0 for a zero vector: the padding adds nothing to the sum,
# as with `ignore_index`. (A uniform vector $1/C$ would add $-\frac{1}{C}\sum_c \log p_c$, a
# loss for pixels nobody labelled.)
#
# ### Task: one-hot targets
#
# Write `one_hot(target, num_classes, ignore_index)`: from a long tensor `(N, H, W)` of class
# indices, return a float tensor `(N, num_classes, H, W)`, all zeros at ignored pixels. Leave
# the input unchanged (it is the dataset's own label tensor).

# %%
import torch.nn.functional as F


def one_hot(target: torch.Tensor, num_classes: int,
            ignore_index: int = data.IGNORE_INDEX) -> torch.Tensor:
    # HINT: F.one_hot puts the classes on the last axis and rejects 255; what must an ignored pixel's vector hold?
    ### BEGIN SOLUTION
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))  # any valid class; zeroed below
    encoded = F.one_hot(safe, num_classes).permute(0, 3, 1, 2).float()
    return encoded * keep.unsqueeze(1)
    ### END SOLUTION


# %% points=2
from course_utils.checks.multiclass import check_one_hot

check_one_hot(one_hot)

# %% [markdown]
# `F.cross_entropy` accepts both forms: a long target of indices, or a float target of
# class probabilities with the logits' shape (a one-hot is the special case of probability
# 1 on one class). Here are both on real labels, with random logits standing in for an
# untrained network:

# %%
target = facades["train"].targets[:8].long().to(DEVICE)
logits = torch.randn(len(target), NUM_CLASSES, *target.shape[1:], device=DEVICE)
target_1h = one_hot(target, NUM_CLASSES)
print(f"index target {tuple(target.shape)} {target.dtype}; one-hot {tuple(target_1h.shape)} "
      f"{target_1h.dtype}; padding {(target == data.IGNORE_INDEX).float().mean():.1%} of the pixels")
with_index = F.cross_entropy(logits, target, ignore_index=data.IGNORE_INDEX)
mean_1h = F.cross_entropy(logits, target_1h)  # the mean over every pixel, padding included
per_label_1h = F.cross_entropy(logits, target_1h, reduction="sum") / target_1h.sum()
print(f"index target, ignore_index=255: {with_index:.4f}")
print(f"one-hot, reduction='mean':       {mean_1h:.4f}")
print(f"one-hot, sum / labelled pixels:  {per_label_1h:.4f}")
assert torch.allclose(with_index, per_label_1h)  # an identity, whatever the logits

# %% [markdown]
# The padding adds nothing to the sum in either form, but `reduction="mean"` with a
# probability target divides by **every** pixel, padding included (`ignore_index` does not
# apply to probability targets), so it comes out smaller by the padding's share. Dividing
# the sum by the number of labelled pixels, `target_1h.sum()`, gives exactly the value of
# the index form.

# %% [markdown]
# ## Class weights
#
# A common remedy for unequal classes is to weight each class by its inverse frequency,
# $w_c \propto 1/f_c$, so that every class contributes about equally to the loss. That is a
# strong correction: a pixel of the rarest class then counts as much as the printed ratio
# of pixels of the most frequent class. A milder one uses the square root, $w_c \propto f_c^{-1/2}$. Both are scaled so that
# the weights average 1 (the weighted mean above does not care about the scale).
#
# ### Task: weights from frequencies

# %%
def class_weights(counts: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    # HINT: from counts to frequencies, then weights that grow as a frequency shrinks (power sets how fast), scaled so that their mean is 1
    ### BEGIN SOLUTION
    freq = counts.double() / counts.sum()
    weights = freq.pow(-power)
    return weights / weights.mean()
    ### END SOLUTION


# %% points=2
from course_utils.checks.multiclass import check_class_weights

check_class_weights(class_weights)

# %%
POWERS = {"unweighted": 0.0, "sqrt inverse freq": 0.5, "inverse freq": 1.0}
weights = {name: class_weights(counts, p).float() for name, p in POWERS.items()}
print(f"{'class':10s} {'share':>6s}  " + "  ".join(f"{name:>17s}" for name in weights))
for c in order.tolist():
    print(f"{data.FACADE_CLASSES[c]:10s} {share[c]:6.1%}  "
          + "  ".join(f"{w[c]:17.2f}" for w in weights.values()))

# %% [markdown]
# ## Per-class IoU and the mean IoU
#
# For each class $c$, $\text{IoU}_c = TP_c / (TP_c + FP_c + FN_c)$, read off the confusion
# matrix: row $c$ holds the pixels whose truth is $c$, column $c$ those predicted as $c$. A
# class that appears in neither truth nor prediction has no IoU (`nan`);
# `metrics.iou_from_confusion(cm)` returns the IoU of every class that way. The **mIoU** is
# the mean over the classes, so a rare class counts as much as the wall; **pixel accuracy**
# is dominated by the big classes.
#
# Over a set of images there are two ways to take that mean, and papers use both:
#
# - **pooled**: add up the confusion matrices of all images, then take each class's IoU and
#   their mean (PASCAL VOC and Cityscapes report this one, and so does this lesson);
# - **per image**: the mIoU of each image, over the classes that occur in *its* truth or
#   prediction, then the plain mean over the images.
#
# ### Task: the mIoU, pooled and per image
#
# Write `mean_iou(cms)`: from the confusion matrices `(N, C, C)` of `N` images, return
# `{"pooled": ..., "per_image": ...}`. Predict first, on paper, for two images and three
# classes: the first image has 8 wall and 8 window pixels, all right; the second 16 wall and
# 12 window pixels, all right, and 4 pixels of a rare class, all labelled wall. Which of the
# two numbers is higher, and why? The check uses this case.

# %%
def mean_iou(cms: torch.Tensor) -> dict[str, float]:
    # HINT: write the IoU of every class from one confusion matrix first (nan where a class has no union), then use it on the sum and on each image
    ### BEGIN SOLUTION
    def iou(cm):
        cm = cm.double()
        tp = cm.diag()
        union = cm.sum(0) + cm.sum(1) - tp
        return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))

    per_image = torch.stack([torch.nanmean(iou(cm)) for cm in cms])
    return {"pooled": torch.nanmean(iou(cms.sum(0))).item(),
            "per_image": torch.nanmean(per_image).item()}
    ### END SOLUTION


# %% points=3
from course_utils.checks.multiclass import check_mean_iou

check_mean_iou(mean_iou)
### BEGIN HIDDEN TESTS
from course_utils.checks import CheckFailed

_gen = torch.Generator().manual_seed(2516)
for _n, _c in ((1, 4), (5, 6), (3, 12)):
    _cms = torch.randint(0, 6, (_n, _c, _c), generator=_gen)
    _cms[:, :, _c - 1] = 0  # a class never predicted
    _cms[:, _c - 2, :] = 0  # a class absent from every truth
    _want, _got = metrics.mean_iou(_cms), mean_iou(_cms.clone())
    if any(abs(float(_got[_k]) - _want[_k]) > 1e-6 for _k in _want):
        raise CheckFailed(f"{_n} random {_c}-class confusion matrices: expected {_want}, "
                          f"got {_got}")
### END HIDDEN TESTS

# %% [markdown]
# ## Training: unweighted, square-root weights, inverse-frequency weights
#
# The network is the package's U-Net (lesson 03's, as a reference version) with
# `out_channels=NUM_CLASSES`: one logit map per class is the only change a multi-class
# head needs. The loss is `nn.CrossEntropyLoss(weight=..., ignore_index=255)`.
# The three runs differ only in the loss's `weight`; they share seed, epochs and data. The
# validation set decides between them; the test set is used once, at the end.

# %%
train_loader = data.InMemoryLoader(facades["train"], BATCH_SIZE, shuffle=True, device=DEVICE,
                                   drop_last=True, seed=SEED)
val_loader = data.InMemoryLoader(facades["val"], 32, device=DEVICE)
test_loader = data.InMemoryLoader(facades["test"], 32, device=DEVICE)


def train_facades(weight: torch.Tensor) -> tuple[nn.Module, dict]:
    config.seed_everything(SEED)
    net = models.UNet(out_channels=NUM_CLASSES, width=WIDTH)
    loss = nn.CrossEntropyLoss(weight=weight.to(DEVICE), ignore_index=data.IGNORE_INDEX)
    history = training.fit(net, loss, train_loader, val_loader, epochs=EPOCHS, lr=LR,
                           device=DEVICE)
    return net, history


runs = {name: train_facades(w) for name, w in weights.items()}
plotting.plot_history({name: h for name, (_, h) in runs.items()},
                      keys=("train_loss", "val_miou", "val_pixel_accuracy"));
print("validation mIoU in the last epoch: " + "; ".join(
    f"{name} {h['val_miou'][-1]:.3f} ({h['val_miou'][-1] - h['val_miou'][-2]:+.3f})"
    for name, (_, h) in runs.items()))

# %% [markdown]
# The training losses are not comparable across runs (each weighs the pixels differently);
# the validation mIoU and pixel accuracy are. The printed line gives each run's last change
# in validation mIoU: a curve that still climbs at the end was stopped early, and a longer
# run could end in a different order. Short budgets, as in quick mode, often do.

# %% [markdown]
# Per class, on the validation set (pooled, as everywhere in this lesson):

# %%
def confusion(net: nn.Module, loader, dataset) -> torch.Tensor:
    probs = training.predict(net, loader, device=DEVICE)
    return metrics.confusion_matrix(probs.argmax(1), dataset.targets.long(), NUM_CLASSES)


val_cm = {name: confusion(net, val_loader, facades["val"]) for name, (net, _) in runs.items()}
val_iou = {name: metrics.iou_from_confusion(cm) for name, cm in val_cm.items()}
recall = {name: cm.diag() / cm.sum(1).clamp(min=1) for name, cm in val_cm.items()}

print(f"{'class':10s} {'share':>6s} | " + " | ".join(f"{n:>17s}" for n in runs)
      + "\n" + " " * 18 + "| " + " | ".join(f"{'IoU':>7s} {'recall':>9s}" for _ in runs))
for c in order.tolist():
    print(f"{data.FACADE_CLASSES[c]:10s} {share[c]:6.1%} | " + " | ".join(
        f"{val_iou[n][c]:7.3f} {recall[n][c]:9.3f}" for n in runs))
summary = {n: (torch.nanmean(val_iou[n]).item(),
               (val_cm[n].diag().sum() / val_cm[n].sum()).item()) for n in runs}
print("-" * 18 + "+" + "+".join(["-" * 19] * len(runs)))
print(f"{'mIoU':17s} | " + " | ".join(f"{summary[n][0]:17.3f}" for n in runs))
print(f"{'pixel accuracy':17s} | " + " | ".join(f"{summary[n][1]:17.3f}" for n in runs))

# %% [markdown]
# Rows are sorted from the most to the least frequent class; recall is the share of a
# class's pixels that were labelled correctly (the diagonal of the row-normalised confusion
# matrix below). The next cell compares the runs on the five rarest classes, then the
# square-root weights with none on each of the three rarest.

# %%
import math

TIE = 0.005  # differences this small count as a tie in the verdicts below
rare = order[-5:]
facade = data.FACADE_CLASSES.index("facade")
print("the 5 rarest classes (training set): " + ", ".join(data.FACADE_CLASSES[c] for c in rare))
for name in runs:
    print(f"{name:17s}: mean IoU of the 5 rarest classes {val_iou[name][rare].mean():.3f}, "
          f"mean recall {recall[name][rare].mean():.3f}, "
          f"facade IoU {val_iou[name][facade]:.3f}")
print("\nThe three rarest, one by one (validation):")
for c in order[-3:].tolist():
    per_class = {name: {m: v for m, v in (("recall", recall[name][c].item()),
                                          ("IoU", val_iou[name][c].item())) if not math.isnan(v)}
                 for name in ("sqrt inverse freq", "unweighted")}
    print(f"- {data.FACADE_CLASSES[c]}: " + verdicts.describe_comparison(
        "the square-root-weighted model", per_class["sqrt inverse freq"],
        "the unweighted one", per_class["unweighted"], tie=TIE))
rarest = order[-3:]
reporting.record_outcome("rarest three with higher recall under sqrt", int(
    (recall["sqrt inverse freq"][rarest] > recall["unweighted"][rarest]).sum()))

# %% [markdown]
# What class weights usually do, and why:
#
# - **Unweighted**, a network is good at the large, compact classes and recovers only part
#   of the rare, thin ones: much of their area goes to a neighbouring class, because a
#   mistake there costs the loss little.
# - **Weights raise the recall of the rare classes.** A missed rare pixel now costs as much
#   as many missed wall pixels, so the network moves its decision boundaries towards the
#   rare classes and finds more of their pixels.
# - **The frequent classes pay.** Moving a boundary also labels some wall next to a sill or
#   a moulding as sill or moulding: false positives for the rare class, false negatives for
#   the wall. So the wall's IoU and the pixel accuracy tend to fall, the more the stronger
#   the weights.
# - **IoU gains less than recall**, or nothing: IoU counts those false positives, recall
#   does not. Strong weights (inverse frequency) often overshoot, so that the rare classes'
#   IoU barely moves or falls while their recall soars; the square-root weights are a
#   milder trade.
#
# Check each point against this run: the next cell compares each weighting with the
# unweighted model on the five rarest classes (their mean recall and mean IoU), on the
# wall's IoU and on pixel accuracy, and says how the rare classes' two gains relate.

# %%
def rare_summary(name: str) -> dict[str, float]:
    return {"rare-class recall": recall[name][rare].mean().item(),
            "rare-class IoU": val_iou[name][rare].mean().item(),
            "facade IoU": val_iou[name][facade].item(),
            "pixel accuracy": summary[name][1]}


LABELS = {"sqrt inverse freq": "the square-root-weighted model",
          "inverse freq": "the inverse-frequency model"}
for name, label in LABELS.items():
    gains = verdicts.compare(label, rare_summary(name), "the unweighted one",
                             rare_summary("unweighted"), tie=TIE)
    recall_gain, iou_gain = gains["rare-class recall"], gains["rare-class IoU"]
    if recall_gain <= 0:
        print("  These weights did not raise the rare classes' recall in this run.")
    elif abs(iou_gain) <= TIE:
        print(f"  The rare classes' IoU barely moves ({iou_gain:+.3f}) while their recall rises "
              f"({recall_gain:+.3f}): each newly found rare-class pixel comes with about as "
              "many pixels of other classes wrongly given a rare label.")
    elif iou_gain < 0:
        print(f"  The rare classes' IoU falls ({iou_gain:+.3f}) while their recall rises "
              f"({recall_gain:+.3f}): the weights overshoot, and many newly predicted "
              "rare-class pixels belong to other classes.")
    elif iou_gain < recall_gain:
        print(f"  The rare classes' IoU gains less than their recall ({iou_gain:+.3f} vs "
              f"{recall_gain:+.3f}): part of the newly predicted rare-class pixels belong to "
              "other classes.")
    else:
        print(f"  The rare classes' IoU gains at least as much as their recall ({iou_gain:+.3f} vs "
              f"{recall_gain:+.3f}): the newly predicted rare-class pixels are mostly right.")
    key = "sqrt" if name.startswith("sqrt") else "inverse"
    reporting.record_outcome(f"{key} rare recall gain", recall_gain)
    reporting.record_outcome(f"{key} rare recall gain minus iou gain", recall_gain - iou_gain)
    reporting.record_outcome(f"{key} pixel accuracy minus unweighted", gains["pixel accuracy"])
facade_ious = [val_iou[name][facade].item() for name in runs]
steady = facade_ious[0] > facade_ious[1] > facade_ious[2]
print("Facade IoU as the weights get stronger: " + " -> ".join(f"{v:.3f}" for v in facade_ious)
      + (" (it falls at every step)." if steady else " (it does not fall at every step in this run)."))
reporting.record_outcome("facade iou unweighted minus sqrt", facade_ious[0] - facade_ious[1])
reporting.record_outcome("facade iou sqrt minus inverse", facade_ious[1] - facade_ious[2])

# %% [markdown]
# Which weighting is best overall is a matter of mIoU, which weighs the rare classes' gains
# against the frequent classes' losses; the answer shifts with the budget, the image size
# and the data, which is why it is chosen on validation data. When this course was written,
# on the synthetic facades: in quick mode (seed 0, on one machine) the square-root weights
# won clearly, by a few hundredths of validation mIoU, because a short run on small images
# hardly learns the rare classes without help. **In full mode expect the unweighted run to
# do as well or better**: on an NVIDIA H100 (twin version 3, benchmarks/README.md) it won
# with seed 0 (validation mIoU 0.587 against 0.570), and over seeds 0, 1 and 2 the
# square-root weights raised the three rarest classes' test recall by 0.07 to 0.28 while
# their IoU moved by -0.04 to +0.08, leaving the test mIoU of the two within about a
# hundredth (`benchmarks/twin_difficulty.py`). The next cell names this run's choice, the
# model tested at the end.

# %%
best = max(summary, key=lambda n: summary[n][0])
others = "; ".join(f"{name} {summary[name][0]:.3f}" for name in summary if name != best)
print(f"best validation mIoU: {best} ({summary[best][0]:.3f}; {others})")
reporting.record_result("val mIoU unweighted", summary["unweighted"][0], echo=False)
reporting.record_result(f"val mIoU {best}", summary[best][0], echo=False)

# %% [markdown]
# ### Pooled or per image?
#
# The mIoU above is pooled. Here is the chosen model's validation mIoU both ways, with your
# `mean_iou`, and for each class the number of validation images it occurs in:

# %%
val_preds = training.predict(runs[best][0], val_loader, device=DEVICE).argmax(1)
val_targets = facades["val"].targets.long()
image_cms = torch.stack([metrics.confusion_matrix(p[None], t[None], NUM_CLASSES)
                         for p, t in zip(val_preds, val_targets, strict=True)])
two_ways = mean_iou(image_cms)
present = (image_cms.sum(2) > 0).sum(0)  # images whose truth holds each class
print(f"{best}: pooled mIoU {two_ways['pooled']:.3f}, per-image mIoU "
      f"{two_ways['per_image']:.3f} over {len(image_cms)} images")
print("images holding each class: " + ", ".join(
    f"{data.FACADE_CLASSES[c]} {present[c]}" for c in order.tolist()))
gap = two_ways["per_image"] - two_ways["pooled"]
print(f"In this run the per-image mean is {'higher' if gap > 0 else 'lower'} by {abs(gap):.3f}.")
reporting.record_outcome("per-image minus pooled val mIoU", gap)

# %% [markdown]
# Why they differ: pooled, every class gets one IoU from all its pixels in all images, and
# all classes count alike. Per image, a class counts only in the images that hold it (or
# where it is predicted), and there it counts as much as the wall: a rare class found in
# few images weighs less overall, but in each of those images a small region, where a
# few wrong pixels cost a large share of its IoU, weighs as much as the largest region.
# A class predicted in an image that does not hold it scores 0 there, even for a handful
# of pixels, while pooled those pixels are a few false positives among many. Which way
# the gap goes depends on which of these effects wins on the data; the line above says
# which did here. Compare only numbers computed the same way: a per-image mIoU from one
# paper and a pooled one from another can differ by more than the methods they compare.

# %% [markdown]
# ## Which classes are confused, and why?
#
# Row $i$ of the row-normalised confusion matrix shows where the pixels of true class $i$
# went; a perfect model has ones on the diagonal. First the unweighted model:

# %%
plotting.plot_confusion_matrix(val_cm["unweighted"], title="unweighted (validation)");

# %%
def top_confusion(cm: torch.Tensor, c: int) -> tuple[str, float]:
    row = cm[c].double() / cm[c].sum().clamp(min=1)
    row[c] = -1
    j = int(row.argmax())
    return data.FACADE_CLASSES[j], row[j].item()


for c in order.tolist():
    name, value = top_confusion(val_cm["unweighted"], c)
    print(f"{data.FACADE_CLASSES[c]:10s} most often mistaken for {name:10s} ({value:.0%})")
THIN = ("cornice", "sill", "molding", "deco")
mistaken = {data.FACADE_CLASSES[c]: top_confusion(val_cm["unweighted"], c)[0]
            for c in range(NUM_CLASSES)}
to_wall = [c for c in THIN if mistaken[c] == "facade"]
print(f"\nIn this run the top mistake of {len(to_wall)} of the {len(THIN)} thin classes "
      f"({', '.join(THIN)}) is the wall (facade), and blinds are most often mistaken for "
      f"{mistaken['blind']}.")
reporting.record_outcome("thin classes mistaken for facade", len(to_wall))
reporting.record_outcome("blind mistaken for window", mistaken["blind"] == "window")
COMPACT = ("background", "window", "shop", "door")
kept_share = {data.FACADE_CLASSES[c]: (val_cm["unweighted"][c, c] /
                                       val_cm["unweighted"][c].sum().clamp(min=1)).item()
              for c in range(NUM_CLASSES)}
compact_kept = sum(kept_share[c] for c in COMPACT) / len(COMPACT)
thin_kept = sum(kept_share[c] for c in THIN) / len(THIN)
compact_lines = []
for c in COMPACT:
    other, lost = top_confusion(val_cm["unweighted"], data.FACADE_CLASSES.index(c))
    compact_lines.append(f"{c} {kept_share[c]:.0%} (top mistake {other}, {lost:.0%})")
print(f"The compact classes keep {'; '.join(compact_lines)} of their pixels: "
      f"{compact_kept:.0%} on average, against {thin_kept:.0%} for the thin classes.")
reporting.record_outcome("compact minus thin classes kept share", compact_kept - thin_kept)

# %% [markdown]
# The off-diagonal mass is not random; it tends to follow the geometry of a facade. Compare
# each point with the list and the verdict above:
#
# - **Thin horizontal bands go to the wall.** Sills, cornices and mouldings are a few pixels
#   high at this resolution and lie on or against the wall; a pixel of them has wall above
#   or below it, and the network, unsure where the band ends, falls back to the class that
#   surrounds it. The same tends to happen to the small decorations (deco).
# - **Blinds go to windows, or to the wall they hang on.** A blind covers part of a window
#   or sits right beside it; the network sees window and wall all around it, and the border
#   between blind and glass is exactly the kind of border it is unsure about.
# - **The large, compact classes (background, window, shop, door) keep more of their
#   pixels** than the thin ones, since most of their pixels are far from any border. That is
#   not the same as "rarely confused": what they do lose goes to their neighbour, and it
#   can be a sizeable share (a door beside a shop front, a window framed by the wall). The
#   line under the list above gives each one's share and top mistake in this run.
#
# Every border between two regions is uncertain by a pixel or two; a class whose regions are
# only a few pixels thick is *all* border, which is why resolution matters so much for
# them. Now the square-root-weighted model:

# %%
plotting.plot_confusion_matrix(val_cm["sqrt inverse freq"], title="sqrt inverse-frequency weights (validation)");

# %% [markdown]
# With weights, one expects the thin classes' diagonal entries to grow and their "facade"
# column to lighten, while the wall's own row leaks into those thin classes instead: the
# trade described above. Not every thin class need gain, though: the weights favour the
# rarer classes more, and a fairly common thin class such as the cornice gets a square-root
# weight near or below the average (see the table of weights), so it can lose pixels to a
# rarer neighbour as well as win some from the wall. The next cell counts the trade for this
# run.

# %%
thin = [data.FACADE_CLASSES.index(c) for c in THIN]
rows = {name: val_cm[name].double() / val_cm[name].sum(1, keepdim=True).clamp(min=1)
        for name in ("unweighted", "sqrt inverse freq")}
found_more = sum(rows["sqrt inverse freq"][c, c] > rows["unweighted"][c, c] for c in thin)
less_wall = sum(rows["sqrt inverse freq"][c, facade] < rows["unweighted"][c, facade] for c in thin)
leak = {name: rows[name][facade, thin].sum().item() for name in rows}
print(f"In this run the square-root weights find more of {found_more} of the {len(thin)} thin "
      f"classes' pixels and send less to the wall for {less_wall} of them; the wall sends "
      f"{leak['sqrt inverse freq']:.1%} of its pixels to the thin classes "
      f"(unweighted {leak['unweighted']:.1%}).")
reporting.record_outcome("thin classes with higher recall under sqrt weights", int(found_more))
reporting.record_outcome("wall leak to thin classes sqrt minus unweighted",
                      leak["sqrt inverse freq"] - leak["unweighted"])

# %% [markdown]
# ## Predictions next to the truth

# %%
images, targets = facades["val"].images[:4].float() / 255, facades["val"].targets[:4]
preds = training.predict(runs[best][0], images, device=DEVICE).argmax(1)
preds[targets == data.IGNORE_INDEX] = data.IGNORE_INDEX  # padding is not scored: black
plotting.show_facades(images, targets, preds);

# %% [markdown]
# ## The test set, once
#
# The validation set chose the weighting; the test set now measures the chosen model once.

# %%
test_cm = confusion(runs[best][0], test_loader, facades["test"])
test_miou = torch.nanmean(metrics.iou_from_confusion(test_cm)).item()
reporting.record_result(f"test mIoU ({best})", test_miou)

# %% [markdown]
# ## Questions
#
# 1. A model that labels every pixel "facade" — what pixel accuracy and what mIoU does it
#    get here? Why does the lesson report mIoU?
# 2. Why do class weights usually lower the IoU of the wall even though the wall is still
#    mostly recognised?
# 3. The thin classes (cornice, sill, molding, deco) have the lowest IoU, in full mode
#    (256 x 192) as in quick mode. Name two changes that should help them, other than
#    weights.
# 4. With class weights $w$, `nn.CrossEntropyLoss(weight=w, ignore_index=255)` on index
#    targets is a weighted mean. What must the sum of `F.cross_entropy(logits, target_1h,
#    weight=w, reduction="sum")` be divided by to give the same value?

# %% [markdown] points=2
# ### BEGIN SOLUTION
# 1. Its pixel accuracy equals the wall's share of the labelled pixels (printed in the
#    class-frequency cell above), while its mIoU is that share divided by 12 (the wall's IoU is its share, every other
#    class scores 0). Pixel accuracy is dominated by the big classes, so it barely moves
#    when a rare class is missed entirely; mIoU gives each class the same say.
# 2. IoU counts false positives too. Weighted, the network moves the decision boundary
#    towards the rare classes, so some wall pixels next to a sill or moulding are now
#    labelled as that class: they are false negatives of the wall and false positives of
#    the rare class, which lowers the IoU of both even when the recall of the rare class
#    goes up.
# 3. Train at a higher resolution than either mode uses (the photos are about a thousand
#    pixels tall; full mode shrinks them to 256 x 192), so that a sill is more than a pixel
#    or two thick; train longer; use a loss that looks at regions rather than
#    pixels (a multi-class Dice or a focal loss, lesson 02); add augmentation (lesson 08);
#    or start from a pretrained encoder.
# 4. By the sum of the weights of the labelled pixels' true classes,
#    $\sum_i w_{y_i}$ = `(target_1h * w.view(1, -1, 1, 1)).sum()`: the denominator of the
#    weighted mean. The one-hot picks each pixel's weight just as it picks its
#    log-probability, and padding pixels (all zeros) add nothing. `reduction="mean"` would
#    divide by the number of pixels instead, padding included.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - Multi-class segmentation changes the head (one channel per class) and the loss
#   (softmax cross-entropy per pixel, with `ignore_index` for padding); the rest of the
#   U-Net stays.
# - Index targets `(N, H, W)` and one-hot targets `(N, C, H, W)` give the same
#   cross-entropy, provided padding pixels get all-zero vectors and the mean is taken over
#   the labelled pixels only.
# - With unequal classes, report the IoU of every class and their mean; pixel accuracy
#   hides the rare classes.
# - Class weights usually buy recall on rare classes with precision on frequent ones; the
#   strength of the weighting is a knob to tune on validation data, not a free gain.
# - The confusion matrix explains the errors: thin bands tend to merge into the wall around
#   them, blinds into the windows and wall beside them.
#
# **References**
#
# - Tyleček and Šára, *Spatial pattern templates for recognition of objects with regular
#   structure*, GCPR 2013 (the CMP Facade Database).
# - Long, Shelhamer and Darrell, *Fully convolutional networks for semantic segmentation*,
#   CVPR 2015 (pixel-wise softmax cross-entropy).
# - PyTorch documentation of `torch.nn.CrossEntropyLoss` (`weight`, `ignore_index`).
