# %% [markdown]
# # 00 · Set-up and a first look at the data
#
# Before any network is trained, check that the kernel is the one you expect and get to know
# the two datasets of this course.
#
# **Learning goals**
#
# - confirm the device (GPU or CPU), the library versions and whether quick mode is on;
# - know where each dataset is read from, and how to point the course at the real data;
# - read the shape contract every later lesson relies on;
# - see why the cell images cannot be segmented by brightness alone;
# - see how unevenly the twelve facade classes are spread.

# %% [markdown]
# ## Parameters
#
# Every lesson starts with one cell like this. `QUICK` is on when the environment variable
# `COURSE_QUICK=1` is set (CI does this): smaller images, fewer epochs. Set `DATA_ROOT` to a
# folder only if the data is somewhere the course cannot find by itself.

# %%
from course_utils import config, reporting

SEED = 0
QUICK = config.is_quick()
DEVICE = config.get_device()
DATA_ROOT = None
config.seed_everything(SEED);

# %% [markdown]
# ## The environment
#
# On the course's JupyterHub the device row should read `cuda` with the GPU's name. If it
# reads `cpu` there, the kernel was started without a GPU: pick a GPU server or kernel before
# you go on. On a laptop `cpu` (or `mps` on Apple silicon) is expected; every lesson still runs,
# just more slowly.

# %%
config.print_table(config.environment_report(DEVICE))

# %% [markdown]
# ## Where the data comes from
#
# The course looks for each dataset in this order and takes the first that exists:
#
# 1. the `root=` argument you pass (or `DATA_ROOT` above);
# 2. the folder named by the environment variable `COURSE_DATA_DIR`;
# 3. a link or folder under `data_links/` in the course repository;
# 4. the course's HPC path (`/dtu/datasets1/02516/...`);
# 5. otherwise a **synthetic twin**: generated images in exactly the real files' layout and
#    formats. It lets everything run anywhere, but the numbers you get on it are not the
#    numbers of the real data. `data_links/README.md` explains how to link the real data.

# %%
from course_utils import data

for name in data.registry():
    print(f"{name:7s} <- {data.locate(name, DATA_ROOT)}")

# %% [markdown]
# ## Cells: phase-contrast microscopy
#
# Each item of `PhCDataset` is a pair `(image, target)`:
#
# - `image`: float tensor `(3, H, W)` with values in [0, 1] (an RGB rendering of a grey
#   microscope image);
# - `target`: float tensor `(1, H, W)` with values in {0, 1}: 1 marks the cell.
#
# The dataset's own `train` and `test` folders are kept; a fixed fifth of `train` is held
# out as `val` for choosing epochs and thresholds, so the test set is touched only once.
#
# One caution about these splits. The real crops come from two time-lapse sequences of 115
# frames each, and a cell moves little from one frame to the next, so crops from
# neighbouring frames are near-duplicates. Our validation fifth is drawn at random from the
# training crops, and the test folder is not split by time either (the course's copy does
# not say how it was split; `data.prepare_phc`, which builds the layout from the challenge's
# archive, keeps each frame's crops together but not its neighbours). So a validation or
# test crop can have a near-twin among the training crops, and both scores are somewhat
# optimistic about cells from a *new* sequence; a split by sequence, or by blocks of time,
# would measure that. (The synthetic twin imitates the crops' layout and look; this
# caution is about the real data.)

# %%
cells = {split: data.PhCDataset(split, DATA_ROOT) for split in ("train", "val", "test")}
for split, ds in cells.items():
    image, target = ds[0]
    print(f"{split:5s} {len(ds):4d} items  image {tuple(image.shape)} {image.dtype}  "
          f"target {tuple(target.shape)} {target.dtype} values {target.unique().tolist()}")
reporting.record_result("cells train/val/test", "/".join(str(len(ds)) for ds in cells.values()))

# %%
from course_utils import plotting

train_images = cells["train"].images[:8].float() / 255
train_masks = cells["train"].targets[:8]
plotting.show_samples(train_images, train_masks, titles=cells["train"].names[:8]);

# %% [markdown]
# The yellow outline is the annotated cell. Look at what marks it: a dark, ragged rim, bright
# fragments of halo just outside it and a grainy interior. Now look at the *brightness*.

# %% [markdown]
# ### Task: how much of each image is cell?
#
# Write `foreground_fraction(masks)` that takes masks `(N, 1, H, W)` with values 0/1 and
# returns a tensor `(N,)`: the fraction of pixels that are foreground in each mask, for
# mask $n$ with pixel values $y_{n,i,j}$
#
# $$f_n = \frac{1}{HW} \sum_{i=1}^{H} \sum_{j=1}^{W} y_{n,i,j}.$$

# %%
import torch


def foreground_fraction(masks: torch.Tensor) -> torch.Tensor:
    # HINT: a mask holds 1 on cell pixels and 0 elsewhere: what does its average over one image measure, and which dims hold one image?
    ### BEGIN SOLUTION
    return masks.float().mean(dim=(1, 2, 3))
    ### END SOLUTION


# %% points=1
from course_utils.checks.data import check_foreground_fraction

check_foreground_fraction(foreground_fraction)
### BEGIN HIDDEN TESTS
from course_utils.checks import expect_close

_masks = torch.rand(3, 1, 5, 7, generator=torch.Generator().manual_seed(2516)) > 0.7
expect_close("3 masks of 5 x 7", foreground_fraction(_masks).flatten(),
             _masks.float().mean(dim=(1, 2, 3)))
### END HIDDEN TESTS

# %% [markdown]
# ### Task: the score of a model that learned nothing
#
# The laziest "model" calls every pixel background. Before the next cells measure the data,
# work out what it scores. Write `all_background_accuracy(masks)`: its pixel accuracy, the
# share of **all** pixels of a list of masks that it gets right, pooled over the masks. The
# masks may differ in size (the facade photos below do), so think about what a large mask
# and a small one each contribute. Return one number.
#
# Then answer for yourself, before you run the cell after the check: with the cells covering
# about a quarter of each crop, what accuracy do you expect on the training set, and what
# Dice score (the overlap with the cell that the later lessons report) does the same
# predictor get?

# %%
def all_background_accuracy(masks) -> float:
    # HINT: which pixels does this predictor get right? Count them over all masks, and divide by the count of all pixels, not by the number of masks
    ### BEGIN SOLUTION
    right = sum((mask == 0).sum().item() for mask in masks)
    return right / sum(mask.numel() for mask in masks)
    ### END SOLUTION


# %% points=1
from course_utils.checks.data import check_all_background_accuracy

check_all_background_accuracy(all_background_accuracy)
### BEGIN HIDDEN TESTS
import torch  # not from the answer cells: a refused one would leave it undefined

from course_utils import baselines

_gen = torch.Generator().manual_seed(2520)
_masks = [(torch.rand(1, h, w, generator=_gen) > 0.6).float() for h, w in ((3, 5), (8, 2), (1, 1))]
assert abs(all_background_accuracy(_masks) - baselines.all_background_accuracy(_masks)) < 1e-6, (
    "three masks of different sizes: your accuracy differs from the pooled one")
### END HIDDEN TESTS

# %% [markdown]
# With a working `foreground_fraction` we can describe the whole training set: how large the
# cells are, and whether the cell is brighter than its surroundings.

# %%
import matplotlib.pyplot as plt

train = cells["train"]
fractions = foreground_fraction(train.targets)
grey = train.images.float().mean(dim=1, keepdim=True)  # mean of R, G, B
inside = (grey * train.targets).sum() / train.targets.sum()
outside = (grey * (1 - train.targets)).sum() / (1 - train.targets).sum()
print(f"cell area: median {fractions.median():.0%}, range {fractions.min():.0%}-{fractions.max():.0%}; "
      f"background pixels per cell pixel: {(1 - fractions).sum() / fractions.sum():.1f}")
print(f"mean grey level inside the cells {inside:.1f}, outside {outside:.1f} (of 255)")

fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].hist(fractions.numpy(), bins=20, color="tab:blue")
axes[0].set(xlabel="fraction of the image covered by the cell", ylabel="images")
values = grey.flatten()
is_cell = train.targets.flatten().bool()
bins = torch.linspace(0, 255, 52).numpy()
axes[1].hist(values[~is_cell].numpy(), bins=bins, density=True, alpha=0.6, label="background")
axes[1].hist(values[is_cell].numpy(), bins=bins, density=True, alpha=0.6, label="cell")
axes[1].set(xlabel="grey level (0-255)", ylabel="density")
axes[1].legend()
fig.tight_layout()

# the best single threshold on the grey level, cell either above or below it
cell_hist = torch.bincount(values[is_cell].round().long(), minlength=256).double()
background_hist = torch.bincount(values[~is_cell].round().long(), minlength=256).double()
pixels = cell_hist.sum() + background_hist.sum()
cell_at_or_above = cell_hist.flip(0).cumsum(0).flip(0)  # cell pixels with grey >= t
background_below = background_hist.cumsum(0) - background_hist  # background pixels < t
right_if_bright = (cell_at_or_above + background_below) / pixels  # "cell if grey >= t"
best_threshold = torch.maximum(right_if_bright, 1 - right_if_bright).max().item()
all_background = (background_hist.sum() / pixels).item()
print(f"best single grey-level threshold: {best_threshold:.1%} of the training pixels right; "
      f"calling every pixel background: {all_background:.1%} "
      f"(your all_background_accuracy: {all_background_accuracy(train.targets):.1%})")
reporting.record_outcome("best grey threshold minus all-background accuracy",
                      best_threshold - all_background)

# %% [markdown]
# The lazy predictor's accuracy is simply the background's share of the pixels (the last
# line above), and for crops of one size that is one minus the mean cell fraction. Its Dice
# is 0 on every crop that holds a cell: it overlaps no cell pixel. Accuracy pays it for the
# majority class; Dice, which ignores the correctly labelled background, does not.

# %% [markdown]
# Cell and background are, on average, about equally bright (compare the two printed
# means). Equal means alone would not rule out a threshold: two classes can share a mean and
# still sit apart, for instance if the cell were dark at the rim and bright inside. The
# evidence is the histograms: they lie almost on top of each other, so at every grey level
# there are cell and background pixels alike, and the last line above measures what that
# leaves to a threshold: the best single one, scanned over all 256 levels and both
# directions, is typically right only a few percentage points more often than calling every
# pixel background (lesson 07 tries a threshold per image). A network has to learn the *shape* of the rim and the *texture* inside,
# which is what convolutions are good at. The printed range says how much of each crop the
# cell covers, and the ratio how many background pixels there are per cell pixel: keep that
# imbalance in mind for the losses of lesson 02.
#
# The masks were drawn by hand. Their outline follows the dark rim to within a pixel or so,
# sometimes just outside it, sometimes just inside, and nothing in the image says which. No
# model can reproduce that wobble, so even a very good one stays a little below a perfect
# score (around a Dice of 0.97-0.98 at full resolution), and a gain of a few thousandths
# between two models can be within the labels' own uncertainty.

# %% [markdown]
# ## Facades: twelve classes
#
# `FacadeDataset` items are `(image, target)` with a float image `(3, H, W)` and a **long**
# target `(H, W)` holding class indices 0..11. The photos come in different sizes; each is
# scaled to fit into one size and the leftover border is filled with the index **255**,
# which losses and metrics skip (`ignore_index=255`).
#
# The label files store ids 1..12 in a *palette* PNG: the pixel values are the ids and the
# palette only says how to colour them. Converting such a file to greyscale would turn the
# ids into brightness values and silently destroy the labels; the dataset reads the ids as
# they are and subtracts 1.

# %%
facades = data.FacadeDataset("train", DATA_ROOT, size=(256, 192))
image, target = facades[0]
print(f"{len(facades)} training facades; image {tuple(image.shape)}, target {tuple(target.shape)} "
      f"{target.dtype}, values {sorted(target.unique().tolist())}")
plotting.show_facades(facades.images[:4].float() / 255, facades.targets[:4]);

# %% [markdown]
# Compare the labels with the photos. The annotators drew rectangles around what the facade
# is made of, not around what the camera saw: a tree or a parked car in front of a shop is
# labelled shop, a sign in front of a window is window, a neighbouring building at the edge is
# background (windows and all), and a rectangle follows an arched or recessed window only
# roughly. A network is scored against these labels, so part of every error is the
# annotation's, and the thin classes (sills, mouldings, decorations), which are only a few
# pixels high at this size, suffer most.

# %%
import numpy as np

counts = torch.bincount(facades.targets.flatten().long(), minlength=256)[: data.NUM_FACADE_CLASSES]
share = counts / counts.sum()
order = share.argsort(descending=True)
fig, ax = plt.subplots(figsize=(8, 3))
ax.bar([data.FACADE_CLASSES[i] for i in order], share[order].numpy(),
       color=np.array(data.FACADE_PALETTE)[order.numpy()] / 255, edgecolor="0.3")
ax.set_ylabel("share of labelled pixels")
ax.tick_params(axis="x", rotation=45)
fig.tight_layout()
frequent, rare = order[:3].tolist(), order[-3:].tolist()
for i in frequent + rare:
    print(f"{data.FACADE_CLASSES[i]:10s} {share[i]:6.1%}")
print(f"the 3 most frequent classes ({', '.join(data.FACADE_CLASSES[i] for i in frequent)}) "
      f"hold {share[frequent].sum():.0%} of the labelled pixels; the 3 rarest "
      f"({', '.join(data.FACADE_CLASSES[i] for i in rare)}) hold {share[rare].sum():.1%}")

# %% [markdown]
# A few classes hold most of the pixels while the rarest hold a few percent or less each:
# the last printed line names both groups. A network that ignores the rare classes still labels
# most pixels right, which is why lesson 06 reports the IoU of every class and their mean,
# not the pixel accuracy, and tries class weights.

# %% [markdown]
# ## Conclusion
#
# - The kernel, its device and quick mode are reported by `config.environment_report`.
# - Both datasets load through `course_utils.data`, from real files when linked and from a
#   synthetic twin otherwise; every item follows the shape contract above.
# - Cell and background have the same brightness: the cue is shape and texture.
# - Facade classes are very unbalanced.
#
# **References**
#
# - Ulman et al., *An objective comparison of cell-tracking algorithms*, Nature Methods 2017
#   (the Cell Tracking Challenge, source of the cell images).
# - Tyleček and Šára, *Spatial pattern templates for recognition of objects with regular
#   structure*, GCPR 2013 (the CMP Facade Database).
