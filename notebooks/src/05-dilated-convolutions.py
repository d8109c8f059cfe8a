# %% [markdown]
# # 05 · Dilated convolutions and the receptive field
#
# An encoder-decoder shrinks its feature maps so that a 3 x 3 convolution deep in the
# network sees a large part of the image. There is another way to see far without
# shrinking anything: spread the kernel's nine taps apart. A *dilated* 3 x 3 convolution
# with dilation `d` reads the pixels `d` apart, so it covers a `2d + 1` square with the same
# nine weights. Stacking dilations 1, 2, 4, 8, ... lets a network of a few layers see the
# whole image while every layer works at full resolution (Yu and Koltun, 2016). DeepLab
# calls the same operation *atrous* convolution and runs several dilations side by side in an
# *atrous spatial pyramid pooling* (ASPP) block (Chen et al., 2017).
#
# **Learning goals**
#
# - write the receptive-field formula for a chain of convolutions, and check it against a
#   measurement with gradients;
# - see that with doubling dilations the receptive field grows exponentially with depth
#   while the number of parameters grows linearly, as it does without dilation;
# - recognise the gaps ("gridding") that a badly chosen dilation sequence leaves;
# - build `DilatedNet` and compare it with the U-Net: parameters, FLOPs, memory, accuracy;
# - build an ASPP block, DeepLab's multi-scale module, and compare a network that uses it
#   with the plain dilated stack.

# %% [markdown]
# ## Parameters

# %%
from course_utils import config, reporting

SEED = 0
config.seed_everything(SEED)
QUICK = config.is_quick()
DEVICE = config.get_device()
DATA_ROOT = None
SIZE = 64 if QUICK else 128  # images are resized to SIZE x SIZE
EPOCHS = 10 if QUICK else 30
WIDTH = 32 if QUICK else 64  # channels of every hidden layer
UNET_DEPTH = 4  # the U-Net's number of 2x down-sampling steps
DILATED_DEPTH = 5 if QUICK else 6  # receptive field 2**(depth + 1) - 1: 63 or 127 pixels
STEM_DEPTH = DILATED_DEPTH - 2  # dilated layers before the ASPP block: receptive field 15 or 31
ASPP_DILATIONS = (1, SIZE // 16, SIZE // 8, 3 * SIZE // 16)  # 1, 4, 8, 12 or 1, 8, 16, 24
BATCH_SIZE = 8
TOLERANCE = SIZE // 64  # pixels of slack for the boundary score
TEST_IMAGES = 200 if QUICK else None  # test images the networks are scored on (None: all)

# %% [markdown]
# ## The receptive field, by formula
#
# The receptive field of an output pixel is the set of input pixels that can change its
# value. For the networks of this lesson it is a square, so one number, its width `r`,
# describes it.
#
# **A plain stack.** One 3 x 3 convolution (padding 1) reads its pixel and one neighbour on
# each side: `r = 3`. A second one reads one more neighbour on each side *of the first
# layer's outputs*, each of which already reached one pixel further: `r = 5`. Every layer
# adds one pixel on each side, so after `L` layers
#
# $$r_\text{plain}(L) = 1 + 2L .$$
#
# **A dilated stack.** A 3 x 3 kernel with dilation `d` reads the pixels at offsets `-d, 0,
# +d`, so it adds `d` pixels on each side. With dilations $d_1, \dots, d_L$,
# $r = 1 + 2\,(d_1 + \dots + d_L)$. With the doubling sequence $d_l = 2^{l-1}$ the sum is
# $1 + 2 + 4 + \dots + 2^{L-1} = 2^L - 1$, so
#
# $$r_\text{dilated}(L) = 1 + 2\,(2^L - 1) = 2^{L+1} - 1 .$$
#
# Worked for three layers: plain `1 + 2·3 = 7`; dilated `1 + 2·(1 + 2 + 4) = 15`. Five
# layers: 11 against 63, which already spans a 64-pixel image.
#
# The general rule for a chain of layers with kernel sizes $k_l$, strides $s_l$ and
# dilations $d_l$ is
#
# $$r = 1 + \sum_l d_l\,(k_l - 1) \prod_{j<l} s_j .$$
#
# A stride does not widen the layer it belongs to, but after it one step of every later
# layer spans `s` input pixels. A 2 x 2 pooling with stride 2 is a layer with `k = 2`,
# `s = 2`: conv 3 x 3, pool, conv 3 x 3 gives `1 + 2 + 1 + 2·2 = 8`.

# %% [markdown]
# ### Task: `receptive_field`
#
# Write `receptive_field(kernel_sizes, strides=None, dilations=None)`: one entry per layer,
# first layer first, `None` meaning 1 for every layer; it returns the width `r` in input
# pixels. The check tries a table of chains (with and without strides and dilations) and
# names the usual slips.

# %%
import torch
from torch import nn

from course_utils import models
from course_utils.receptive_field import (
    gradient_support,
    measured_receptive_field,
    split_gradient_support,
)


def receptive_field(kernel_sizes, strides=None, dilations=None) -> int:
    """Width in input pixels of the receptive field of a chain of convolutions or poolings."""
    # HINT: go through the layers in order, keeping two numbers: the width so far, and how many input pixels one step of the current layer spans
    ### BEGIN SOLUTION
    n = len(kernel_sizes)
    strides = [1] * n if strides is None else strides
    dilations = [1] * n if dilations is None else dilations
    width, step = 1, 1
    for k, s, d in zip(kernel_sizes, strides, dilations, strict=True):
        width += d * (k - 1) * step
        step *= s
    return width
    ### END SOLUTION


# %% points=2
from course_utils.checks.receptive import check_receptive_field

check_receptive_field(receptive_field)
### BEGIN HIDDEN TESTS
from course_utils import receptive_field as reference
from course_utils.checks import CheckFailed

for _k, _s, _d in [([5, 1, 3, 2], [2, 1, 3, 1], [1, 1, 2, 3]), ([7], [4], [2]),
                   ([3, 3, 3, 3, 3], [1, 2, 1, 2, 1], None)]:
    _want = reference.receptive_field(_k, _s, _d)
    if receptive_field(_k, _s, _d) != _want:
        raise CheckFailed(f"receptive_field({_k}, {_s}, {_d}): expected {_want}, "
                          f"got {receptive_field(_k, _s, _d)}")
### END HIDDEN TESTS

# %%
for depth in (3, 5):
    print(f"{depth} layers: plain {receptive_field([3] * depth)}, "
          f"dilated {receptive_field([3] * depth, dilations=[2**i for i in range(depth)])}")

# %% [markdown]
# ## The receptive field, measured
#
# A formula is only as good as the assumptions behind it; a measurement has none. If input
# pixel `x[i, j]` can change the centre output pixel `y_c`, then the derivative
# $\partial y_c / \partial x_{ij}$ is (almost always) non-zero, and if it cannot, the
# derivative is exactly zero. So one backward pass from the centre output pixel gives the
# whole receptive field as the non-zero pattern of the input's gradient.
# `course_utils.receptive_field.gradient_support` does exactly this (on a few random inputs, so that a
# ReLU that happens to be off for one of them hides nothing) and
# `measured_receptive_field` reads off the width of the box around it.
#
# Two stacks of the same depth and width, one plain and one dilated, and the dilation
# sequence 2, 4, 8, 16, which skips dilation 1:

# %%
from course_utils.models import conv_block


def conv_stack(dilations, width: int = 8) -> nn.Sequential:
    """3x3 conv blocks with the given dilations, then a 1x1 convolution to one channel."""
    layers = [conv_block(3 if i == 0 else width, width, dilation=d) for i, d in enumerate(dilations)]
    return nn.Sequential(*layers, nn.Conv2d(width, 1, 1))


stacks = {"plain 1, 1, 1, 1": conv_stack([1, 1, 1, 1]),
          "dilated 1, 2, 4, 8": conv_stack([1, 2, 4, 8]),
          "dilated 2, 4, 8, 16": conv_stack([2, 4, 8, 16])}
supports = {name: gradient_support(stack, 71) for name, stack in stacks.items()}

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for ax, (name, support) in zip(axes, supports.items(), strict=True):
    ax.imshow(support.numpy(), cmap="Greys", interpolation="nearest")
    ax.set_title(f"{name}\n{int(support.sum())} of the input pixels", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("input pixels that reach the centre output pixel (71 x 71 input)", fontsize=10)
fig.tight_layout()

# %%
for name, support in supports.items():
    rows, cols = support.any(1).nonzero(), support.any(0).nonzero()
    box = (rows.max() - rows.min() + 1).item(), (cols.max() - cols.min() + 1).item()
    share = support.sum().item() / (box[0] * box[1])
    print(f"{name:20s} box {box[0]} x {box[1]}, of which {share:.0%} reach the centre output")

# %% [markdown]
# The plain stack sees a solid 9 x 9 square, the doubling stack a solid 31 x 31 one: with
# dilation 1 first, each later layer's wider steps land on positions the earlier layers
# already filled in. Leave out dilation 1 and every tap sits at an even offset: the box
# grows to 61 x 61, but only about a quarter of the pixels inside it, those on a grid two
# pixels apart, reach the output. This is **gridding**: a network built like that is blind to
# every other pixel, and its output can show the same grid as a pattern. The rule of thumb
# is to start at dilation 1 and never let a dilation exceed the receptive field built so
# far.

# %% [markdown]
# ## Formula and measurement, depth by depth
#
# Now your formula against the measurement for depths 1 to 6, along with the number of
# parameters. The cell fails if a formula and its measurement disagree: that is an
# invariant, true for any seed and on any device.

# %%
# NBVAL_CHECK_OUTPUT
rows = []
for depth in range(1, 7):
    plain, dilated = [1] * depth, [2**i for i in range(depth)]
    row = {"depth": depth,
           "plain formula": receptive_field([3] * depth, dilations=plain),
           "plain measured": measured_receptive_field(conv_stack(plain), 135)[0],
           "dilated formula": receptive_field([3] * depth, dilations=dilated),
           "dilated measured": measured_receptive_field(conv_stack(dilated), 135)[0],
           "plain params": models.count_parameters(conv_stack(plain)),
           "dilated params": models.count_parameters(conv_stack(dilated))}
    assert row["plain formula"] == row["plain measured"] == 1 + 2 * depth
    assert row["dilated formula"] == row["dilated measured"] == 2 ** (depth + 1) - 1
    rows.append(row)
print("  ".join(f"{k:>8s}" if len(k) <= 8 else k for k in rows[0]))
for row in rows:
    print("  ".join(f"{v:>{max(8, len(k))}d}" for k, v in row.items()))

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
depths = [row["depth"] for row in rows]
for kind, marker in (("plain", "o"), ("dilated", "s")):
    axes[0].plot(depths, [row[f"{kind} measured"] for row in rows], marker=marker, label=kind)
    axes[1].plot(depths, [row[f"{kind} params"] for row in rows], marker=marker, label=kind,
                 linestyle="-" if kind == "plain" else "--")
axes[0].set(xlabel="depth (3 x 3 layers)", ylabel="receptive field (pixels)",
            title="receptive field: linear vs exponential")
axes[1].set(xlabel="depth (3 x 3 layers)", ylabel="parameters (width 8)",
            title="parameters: the same for both")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()

# %% [markdown]
# The left panel is the point of dilation: the plain stack's receptive field grows by two
# pixels a layer, the dilated one doubles (plus one) every layer. The right panel shows what
# it costs: nothing. A dilated kernel has the same nine weights per channel pair as a plain
# one, so the two parameter curves lie on top of each other, both growing linearly (each
# layer after the first adds the same `9 x 8 x 8` weights plus its BatchNorm).

# %% [markdown]
# ## Data

# %%
from course_utils import cost, data, plotting, training, verdicts

# Quick mode scores on the first TEST_IMAGES test images: the three networks predict the
# test set five times in all, and the whole of it took about a tenth of the lesson.
cells = {split: data.PhCDataset(split, DATA_ROOT, size=SIZE,
                                limit=TEST_IMAGES if split == "test" else None)
         for split in ("train", "val", "test")}
val_loader = data.InMemoryLoader(cells["val"], 32, device=DEVICE)
test_loader = data.InMemoryLoader(cells["test"], 32, device=DEVICE)
print({split: len(ds) for split, ds in cells.items()})

# %% [markdown]
# ### Task: `DilatedNet`
#
# Write a network of `depth` blocks, each a 3 x 3 convolution followed by BatchNorm and
# ReLU, all with `width` channels; then a 1 x 1 convolution to `out_channels` logits.
# `conv_block(in_channels, out_channels, batch_norm, dilation=...)` builds one block (its
# padding equals the dilation, which keeps the size; see lesson 04's table). No pooling, no
# stride: every layer keeps the input's height and width, so any input size works.
#
# The dilations are yours to choose. The network must see a square of
# `2**(depth + 1) - 1` pixels, the size of the images here for `DILATED_DEPTH`, and every
# pixel in it: no gridding. Work out from the formula what the dilations must add up to,
# and from the experiment above what order keeps the square solid.

# %%
class DilatedNet(nn.Module):
    """Dilated 3x3 convolutions at full resolution, then a 1x1 head."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 depth: int = 5, batch_norm: bool = True):
        super().__init__()
        # HINT: choose the dilation of block i from the formula r = 1 + 2 * (sum of the dilations); how many channels does the first block read? An nn.Sequential holds the blocks
        ### BEGIN SOLUTION
        self.features = nn.Sequential(*(
            conv_block(in_channels if i == 0 else width, width, batch_norm, dilation=2**i)
            for i in range(depth)
        ))
        self.head = nn.Conv2d(width, out_channels, 1)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # HINT: features first, then the head
        ### BEGIN SOLUTION
        return self.head(self.features(x))
        ### END SOLUTION


# %% [markdown]
# The check runs your class on several input sizes (odd ones too), tests that gradients
# reach the first layer, that no layer changes the resolution, measures the receptive
# field of depths 2, 3 and 4 against `2**(depth + 1) - 1`, and looks for pixels inside it
# that never reach the centre output.

# %% points=3
from course_utils.checks.models import check_dilated_net

check_dilated_net(DilatedNet)

# %% [markdown]
# ## DilatedNet against the U-Net
#
# `models.UNet` with `UNET_DEPTH` poolings is the baseline. Both networks use `WIDTH`
# channels; the dilated one has `DILATED_DEPTH` layers, enough for a receptive field about
# the size of the image. First, what they cost before any training: parameters, receptive
# field (measured), the floating-point operations of one forward pass on one image
# (`cost.count_flops`, two per multiply-add), and the memory a training step needs for
# the activations that autograd keeps for the backward pass.
#
# That memory can be measured on any device: `torch.autograd.graph.saved_tensors_hooks`
# calls a function for every tensor autograd saves during the forward pass; adding up their
# sizes (each storage once, weights left out) gives the activation memory of one step.

# %%
def activation_bytes(model: nn.Module, images: torch.Tensor) -> int:
    """Bytes of the activations autograd keeps from one training forward pass."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model.train()(images)
    return sum(kept.values())


def build(name: str) -> nn.Module:
    if name == "UNet":
        return models.UNet(width=WIDTH, depth=UNET_DEPTH)
    return DilatedNet(width=WIDTH, depth=DILATED_DEPTH)


def costs_of(model: nn.Module) -> dict[str, float]:
    model = model.to(DEVICE)
    return {"parameters": models.count_parameters(model),
            "GFLOPs / image": cost.count_flops(model, (1, 3, SIZE, SIZE)) / 1e9,
            "activation MiB": activation_bytes(model, batch) / 2**20}


batch = torch.rand(BATCH_SIZE, 3, SIZE, SIZE, device=DEVICE)
costs = {}
for name in ("UNet", "DilatedNet"):
    torch.manual_seed(SEED)
    costs[name] = costs_of(build(name))
    costs[name]["receptive field"] = measured_receptive_field(build(name).to(DEVICE), 256)[0]


def print_costs(costs: dict[str, dict[str, float]]) -> None:
    print(f"per image of {SIZE} x {SIZE}; activations for a training batch of {BATCH_SIZE}:")
    print(f"{'':11s}{'parameters':>11s}{'GFLOPs / image':>15s}{'activation MiB':>15s}"
          f"{'receptive field':>16s}")
    for name, row in costs.items():
        print(f"{name:11s}{row['parameters']:11,d}{row['GFLOPs / image']:15.3f}"
              f"{row['activation MiB']:15.1f}{row['receptive field']:>16}")


print_costs(costs)
cost_ratios = {key: costs["DilatedNet"][key] / costs["UNet"][key]
               for key in ("parameters", "GFLOPs / image", "activation MiB")}
print("DilatedNet / UNet: " + ", ".join(f"{ratio:.2f} x the {key}"
                                        for key, ratio in cost_ratios.items()))
reporting.record_outcome("dilated over unet parameters", cost_ratios["parameters"])
reporting.record_outcome("dilated over unet activation memory", cost_ratios["activation MiB"])

# %% [markdown]
# What to look for in the table:
#
# - **Parameters.** The dilated network has no decoder and no skips to concatenate, so it
#   usually has far fewer weights than a U-Net of the same width.
# - **FLOPs.** Each of its layers costs `2 · 9 · WIDTH²` operations per pixel, at every
#   pixel. The U-Net's deep, wide layers run on maps a quarter, a sixteenth, ... of the
#   image, but its first and last levels work at full resolution, and its decoder
#   convolutions read twice the channels (upsampled features and skip). Which of the two
#   costs more depends on the depths and widths; the printed ratio says which here.
# - **Activation memory.** Each dilated layer keeps `WIDTH` full-resolution maps for the
#   backward pass; the U-Net keeps full-resolution maps only at its first and last level.
#   Both memories grow with the number of pixels, so the ratio barely changes with the
#   image size: where it is above 1, the dilated network is the one that runs out of GPU
#   memory first on large images.

# %% [markdown]
# ## Training both on the same budget
#
# `training.train_model` seeds, builds a fresh model, and trains it on the same shuffled
# batches for the same number of epochs, so the two networks differ only in architecture.

# %%
criterion = nn.BCEWithLogitsLoss()


def train(build_model):
    return training.train_model(build_model, criterion, cells["train"], val_loader,
                                epochs=EPOCHS, batch_size=BATCH_SIZE, seed=SEED, device=DEVICE)


trained = {name: train(lambda name=name: build(name)) for name in ("UNet", "DilatedNet")}
fig = plotting.plot_history({name: history for name, (_, history) in trained.items()})

# %%
import statistics

scores, per_image, seconds = {}, {}, {}
for name, (model, history) in trained.items():
    per_image[name] = training.test_scores(model, test_loader, DEVICE, tolerance=TOLERANCE,
                                           per_image=True)
    scores[name] = {k: v.mean().item() for k, v in per_image[name].items()}
    seconds[name] = statistics.median(history["seconds"][1:])
print(f"{'':11s}{'s / epoch':>12s}" + "".join(f"{k:>12s}" for k in scores["UNet"]))
for name, row in scores.items():
    print(f"{name:11s}{seconds[name]:12.3f}" + "".join(f"{v:12.3f}" for v in row.values()))
unet_scores, dilated_scores = scores["UNet"], scores["DilatedNet"]
gaps = verdicts.compare("the U-Net", per_image["UNet"], "the dilated network",
                        per_image["DilatedNet"])


def describe_time(a: str, b: str) -> str:
    return (f"In this run an epoch of {a} takes {seconds[a] / seconds[b]:.2f} times as long as "
            f"one of {b}, for {costs[a]['GFLOPs / image'] / costs[b]['GFLOPs / image']:.2f} "
            f"times the FLOPs.")


print(describe_time("DilatedNet", "UNet"))
for key, gap in gaps.items():
    reporting.record_outcome(f"unet minus dilated {key}", gap)
for key in ("Dice", "boundary F1"):
    reporting.record_result(f"{key} UNet/DilatedNet",
                         f"{unet_scores[key]:.3f}/{dilated_scores[key]:.3f}", echo=False)

# %% [markdown]
# What usually happens, and what to look for in the verdict above: on these centred, one-cell
# images both networks reach a high Dice, and they tend to end up within a hundredth or two
# of each other on Dice and IoU. Where they differ more is the outline (boundary F1), and
# there the U-Net more often has the edge. The intervals under the verdict (a paired
# bootstrap over the test images, lesson 02) say whether a gap is larger than the choice of
# test images explains; a different seed is another matter, and this lesson trains one.
# Look at the validation curves before you read a large gap as a verdict on the design:
# the dilated stack is the slower of the two to settle, and in quick mode it sometimes has
# not by the last epoch (when this lesson was written, seed 0 left it a hundredth behind
# the U-Net on Dice, seed 1 three tenths behind, with a hazy map). A gap like that measures
# how fast a network trains on this budget, not what it can represent.
#
# Is context what the dilated network lacks? Its receptive field (measured above) spans the
# whole cell, so it *could* see it. Whether it uses it is another question, which the
# section on the *effective* receptive field below measures (where the mass of the
# gradient lies; Luo et al. found it typically much smaller than the pixels a network can
# reach). Another handicap is that every one of its layers has to carry the fine detail
# and the context in the same `WIDTH` channels, while the U-Net's skips hand the
# full-resolution detail of its first level straight to its last. **In full mode expect
# both to get close to the Dice that the hand-drawn labels allow** (lesson 00), and the
# boundary gap to shrink to about a hundredth: on the previous, easier cell twin (version
# 3), 128 x 128 and 30 epochs, seed 0, it was 0.008 on an NVIDIA H100 and 0.010 on a CPU
# (benchmarks/README.md).
#
# Time per epoch follows the FLOPs only roughly: on a CPU the memory traffic of large
# full-resolution maps matters as much as the arithmetic, and on a GPU small models are
# often limited by kernel launches rather than by either. Compare the printed time ratio
# with the FLOP ratio above; the two need not agree.

# %% [markdown]
# ## The effective receptive field
#
# The receptive field says which pixels *can* change an output; it does not say how much
# each one does. Luo et al. (2016) measured the second: the magnitude of the gradient of
# the centre output pixel with respect to every input pixel, averaged over images. In
# trained and untrained networks alike they found most of that mass in a small patch at the
# centre of the receptive field, roughly a Gaussian whose width grows like the square root
# of the depth rather than linearly. They called the patch the *effective* receptive field.
#
# `receptive_field.gradient_mass(model, images)` returns that map, `(H, W)`, for the centre
# output pixel. One number summarises it: the radius `r` of the smallest square centred on
# that pixel, `2r + 1` wide, that holds a given share of the map's total mass.
#
# ### Task: `effective_radius`
#
# Write `effective_radius(grad_map, mass=0.9)`: the smallest `r` for which the square of
# half-width `r` around pixel `(H // 2, W // 2)`, cut off at the map's border, holds at
# least `mass` of the total of `|grad_map|`; 0 for a map without any gradient. Before you
# write it, work out two of the check's cases by hand: the gradient map of two stacked 3 x 3
# convolutions whose weights are all 1 (what numbers does it hold, and which radius holds
# half of their sum?), and a map whose centre is +1 inside a ring of eight -1.

# %%
def effective_radius(grad_map: torch.Tensor, mass: float = 0.9) -> int:
    # HINT: compare the mass inside ever larger squares with the total; which values count, and what does slicing do at the border?
    ### BEGIN SOLUTION
    weights = grad_map.abs().double()
    total = weights.sum().item()
    if total == 0:
        return 0
    h, w = weights.shape
    cy, cx = h // 2, w // 2
    largest = max(cy, h - 1 - cy, cx, w - 1 - cx)
    for r in range(largest + 1):
        inside = weights[max(cy - r, 0):cy + r + 1, max(cx - r, 0):cx + r + 1].sum().item()
        if inside >= mass * total * (1 - 1e-12):  # rounding must not push an exact share out
            return r
    return largest
    ### END SOLUTION


# %% points=2
from course_utils.checks.receptive import check_effective_radius

check_effective_radius(effective_radius)
### BEGIN HIDDEN TESTS
from course_utils import receptive_field as reference
from course_utils.checks import CheckFailed

_gen = torch.Generator().manual_seed(2516)
for _shape, _mass in (((11, 11), 0.9), ((12, 9), 0.5), ((15, 20), 0.99), ((1, 7), 0.7)):
    _map = torch.randn(*_shape, generator=_gen) * torch.rand(*_shape, generator=_gen) ** 4
    _want = reference.effective_radius(_map, _mass)
    if effective_radius(_map.clone(), mass=_mass) != _want:
        raise CheckFailed(f"a random {_shape} map, mass {_mass}: expected radius {_want}, got "
                          f"{effective_radius(_map.clone(), mass=_mass)}")
### END HIDDEN TESTS

# %% [markdown]
# Now both trained networks, on test images: the receptive field that the measurement above
# found (the pixels that can reach the centre output) next to the effective one (the
# square holding 90 % of the gradient mass), and the width of a typical cell for scale.
# Guess before you run it: which of the two networks spreads its gradient wider?

# %%
from course_utils.receptive_field import gradient_mass

MASS = 0.9
probe = cells["test"].images[:32].float().div(255).to(DEVICE)
areas = cells["test"].targets.flatten(1).float().sum(1)
cell_width = 2 * (areas.median().item() / torch.pi) ** 0.5  # a disc of the median area
effective = {}
for name in ("UNet", "DilatedNet"):
    mass_map = gradient_mass(trained[name][0], probe)
    effective[name] = 2 * effective_radius(mass_map, MASS) + 1
    print(f"{name:11s} receptive field {costs[name]['receptive field']:4d} px; "
          f"{MASS:.0%} of the gradient within {effective[name]:3d} px "
          f"(of a {SIZE}-pixel image); a typical cell is {cell_width:.0f} px wide")
wider = max(effective, key=effective.get)
spans = [name for name in effective if effective[name] >= cell_width]
print(("In this run the two effective fields are equally wide" if len(set(effective.values())) == 1
       else f"In this run {wider}'s effective field is the wider "
            f"({effective[wider]} against {min(effective.values())} px)")
      + "; " + (f"{' and '.join(spans)} spread{'s' if len(spans) == 1 else ''} "
                f"{MASS:.0%} of the gradient over at least a cell's width."
                if spans else f"neither spreads {MASS:.0%} of the gradient over a cell's width."))
for name in effective:
    reporting.record_outcome(f"{name} effective field over cell width",
                             effective[name] / cell_width)

# %% [markdown]
# Read the lines above with Luo et al.'s finding in mind: a receptive field of dozens or
# hundreds of pixels does not mean that the network weighs all of them; most of its
# attention is near the pixel it labels. The effective field depends on the weights, so on
# the training too: the same architecture measured before training would give another
# number. A network whose effective field spans a cell can weigh the cell's whole outline
# when it labels its centre; one whose field is narrower decides from local texture, and
# context beyond that is there in principle but barely used. Note also that the mass map
# is measured at one pixel, the image centre, which on these images lies inside the cell.

# %% [markdown]
# ## Looking for gridding
#
# Gridding would show as a fine periodic pattern in the predicted probabilities. Here are
# the probability maps (not thresholded) of both networks for three test images.

# %%
images = cells["test"].images[:3].float() / 255
probs = {name: training.predict(model, images, DEVICE) for name, (model, _) in trained.items()}
fig, axes = plt.subplots(3, 3, figsize=(7.5, 7.5))
for c in range(3):
    axes[0, c].imshow(images[c].permute(1, 2, 0).numpy())
    for r, name in enumerate(probs, start=1):
        axes[r, c].imshow(probs[name][c, 0].numpy(), cmap="gray", vmin=0, vmax=1)
for r, name in enumerate(["image", *probs]):
    axes[r, 0].set_ylabel(name)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
targets = cells["test"].targets.bool()
far_from_cell = torch.nn.functional.max_pool2d(targets.float(), 9, stride=1, padding=4) == 0
haze = {}
for name, (model, _) in trained.items():
    haze[name] = training.predict(model, test_loader, DEVICE)[far_from_cell].mean().item()
    print(f"{name:11s} mean probability on background pixels (5+ px from the cell): "
          f"{haze[name]:.3f}")
haze_ratio = haze["DilatedNet"] / max(haze["UNet"], 1e-6)
print(f"In this run the dilated network's background probability is {haze_ratio:.1f} times the "
      f"U-Net's.")
reporting.record_outcome("dilated over unet haze", haze_ratio)

# %% [markdown]
# No grid should show in the dilated network's maps: its dilations start at 1 and double,
# so, as measured above, every pixel of its receptive field is seen, and there is no blind
# lattice to imprint. What to look for instead is a grey haze in the background, away from
# the cell: a sign that a network is unsure there. The dilated network is often the hazier
# of the two, since every one of its outputs is computed from the same few full-resolution
# layers, without a decoder that cleans up; the numbers above say how it went in this run.
# After thresholding at 0.5 a faint haze disappears, which is why Dice barely notices it.
# Longer training (full mode) shrinks both hazes to almost nothing; the ratio can stay
# large while both numbers are tiny, so read it together with the two probabilities.

# %% [markdown]
# ## Atrous spatial pyramid pooling (DeepLab)
#
# DeepLab (Chen et al., 2017 and 2018) calls dilated convolutions *atrous* ("with holes")
# and uses them in two ways. First, in its backbone: the last down-sampling steps of a
# classification network are replaced by dilation, so the feature maps stay at 1/16 of the
# image (instead of 1/32) while the receptive field keeps growing, at no extra parameters.
# Second, in the **ASPP** block on top of the backbone, which looks at every position at
# several scales at once:
#
# - parallel 3 x 3 convolutions on the *same* input, each with its own dilation (DeepLabv3
#   uses 6, 12 and 18 next to a 1 x 1 convolution);
# - an **image pooling** branch: the global average of the input (one vector per image),
#   a 1 x 1 convolution, and that vector broadcast back to every pixel. This gives every
#   output the context of the whole image, a summary whose size does not depend on the
#   image size;
# - the branches' outputs concatenated along the channels and mixed by a 1 x 1 convolution.
#
# DeepLab's rates are chosen for features 16 times smaller than the image; here the
# networks work at full resolution on `SIZE`-pixel images, so the rates are scaled down to
# `ASPP_DILATIONS`. The largest stays within the receptive field of the dilated layers
# before the block (`STEM_DEPTH` of them), so that, as the gridding experiment above
# showed, no pixel falls between the taps.

# %%
print(f"ASPP dilations {ASPP_DILATIONS}; the {STEM_DEPTH} dilated layers before the block see "
      f"{receptive_field([3] * STEM_DEPTH, dilations=[2**i for i in range(STEM_DEPTH)])} pixels")

# %% [markdown]
# ### Task: `ASPP`
#
# Write `ASPP(in_channels, out_channels, dilations)`:
#
# - one branch per dilation: `conv_block(in_channels, out_channels, dilation=d)`, every
#   branch applied to the block's input `x`;
# - the image pooling branch: `nn.AdaptiveAvgPool2d(1)`, a 1 x 1 convolution to
#   `out_channels`, ReLU, no BatchNorm (the check explains why if you add one), and the
#   result brought back to the height and width of `x`;
# - `torch.cat` of all branches along the channels, then a 1 x 1 convolution to
#   `out_channels` with BatchNorm and ReLU.
#
# The output has `out_channels` channels and the height and width of the input, whatever
# they are.

# %%
class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: dilated 3x3 branches and image pooling, side by side."""

    def __init__(self, in_channels: int, out_channels: int, dilations=(1, 6, 12, 18)):
        super().__init__()
        # HINT: an nn.ModuleList keeps one branch per dilation; how many channels does the projection receive from the concatenation?
        ### BEGIN SOLUTION
        self.branches = nn.ModuleList(conv_block(in_channels, out_channels, dilation=d)
                                      for d in dilations)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1),
                                  nn.ReLU(inplace=True))
        self.project = nn.Sequential(
            nn.Conv2d((len(dilations) + 1) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels, momentum=models.BN_MOMENTUM), nn.ReLU(inplace=True))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # HINT: every branch reads x; the pooled map is 1 x 1, so what must happen to it before torch.cat?
        ### BEGIN SOLUTION
        pooled = self.pool(x).expand(-1, -1, *x.shape[-2:])
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], dim=1))
        ### END SOLUTION


# %% [markdown]
# The check runs your block on odd sizes and on a training batch of one, and measures what
# its centre output pixel sees. An average pooling passes the same gradient back to every
# pixel, so `split_gradient_support` separates that uniform part from the local one: the
# local part must be exactly the taps of your dilations, and the uniform part must exist.

# %% points=3
from course_utils.checks.receptive import check_aspp

check_aspp(ASPP)

# %%
torch.manual_seed(SEED)
aspp_size = 4 * max(ASPP_DILATIONS) + 1
taps, everywhere = split_gradient_support(ASPP(3, 8, ASPP_DILATIONS).to(DEVICE), aspp_size)
fig, ax = plt.subplots(figsize=(3.6, 3.8))
ax.imshow(taps.numpy(), cmap="Greys", interpolation="nearest")
ax.set_title(f"ASPP, dilations {ASPP_DILATIONS}:\nthe {int(taps.sum())} pixels seen locally "
             f"({aspp_size} x {aspp_size} input)", fontsize=9)
ax.set_xticks([])
ax.set_yticks([])
fig.tight_layout()
print(f"every other input pixel still reaches the centre output through image pooling: "
      f"{everywhere}")

# %% [markdown]
# On its own the block sees a sparse pattern: nine taps per dilation, at four scales, plus
# the whole image through the pooling branch. Put behind the dilated stem, each tap becomes
# a solid square as wide as the stem's receptive field, and since no dilation exceeds that
# width the squares of neighbouring taps meet.
#
# ## A network with ASPP against the dilated stack
#
# `ASPPNet` is DeepLab in miniature, without down-sampling: `STEM_DEPTH` dilated layers as in
# `DilatedNet` (dilations 1, 2, 4, ...), your ASPP block, a 1 x 1 head. Its branches have
# `WIDTH // 2` channels, which keeps its FLOPs close to those of `DilatedNet`, so the two
# are compared at about the same cost, and then on the same training budget.

# %%
class ASPPNet(nn.Module):
    """A dilated stem, an ASPP block and a 1x1 head, all at full resolution."""

    def __init__(self, width: int, stem_depth: int, dilations):
        super().__init__()
        self.stem = nn.Sequential(*(conv_block(3 if i == 0 else width, width, dilation=2**i)
                                    for i in range(stem_depth)))
        self.aspp = ASPP(width, width // 2, dilations)
        self.head = nn.Conv2d(width // 2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.aspp(self.stem(x)))


def build_aspp_net() -> nn.Module:
    return ASPPNet(WIDTH, STEM_DEPTH, ASPP_DILATIONS)


torch.manual_seed(SEED)
costs["ASPPNet"] = costs_of(build_aspp_net())
stem_dilations = [2**i for i in range(STEM_DEPTH)]
local_field = receptive_field([3] * (STEM_DEPTH + 1),
                              dilations=[*stem_dilations, max(ASPP_DILATIONS)])
costs["ASPPNet"]["receptive field"] = f"{local_field} + all"
print_costs(costs)

# %% [markdown]
# The receptive field of `ASPPNet` is the whole image (the pooling branch), but its local
# part, through the convolutions alone, is what your `receptive_field` gives for the stem
# followed by the widest branch: the value before "+ all".

# %%
trained["ASPPNet"] = train(build_aspp_net)
aspp_model, aspp_history = trained["ASPPNet"]
per_image["ASPPNet"] = training.test_scores(aspp_model, test_loader, DEVICE,
                                            tolerance=TOLERANCE, per_image=True)
scores["ASPPNet"] = {k: v.mean().item() for k, v in per_image["ASPPNet"].items()}
seconds["ASPPNet"] = statistics.median(aspp_history["seconds"][1:])
fig = plotting.plot_history({name: trained[name][1] for name in ("DilatedNet", "ASPPNet")})
print(f"{'':11s}{'s / epoch':>12s}" + "".join(f"{k:>12s}" for k in scores["ASPPNet"]))
for name in ("DilatedNet", "ASPPNet"):
    print(f"{name:11s}{seconds[name]:12.3f}"
          + "".join(f"{v:12.3f}" for v in scores[name].values()))
aspp_gaps = verdicts.compare("the ASPP network", per_image["ASPPNet"], "the dilated stack",
                             per_image["DilatedNet"])
print(describe_time("ASPPNet", "DilatedNet"))
for key, gap in aspp_gaps.items():
    reporting.record_outcome(f"aspp minus dilated {key}", gap)
reporting.record_result("Dice ASPPNet", f"{scores['ASPPNet']['Dice']:.3f}", echo=False)

# %% [markdown]
# What to expect, and why the verdict can go either way here: ASPP was designed for scenes
# where the same class appears at very different sizes (a person close by and far away) and
# where the whole image tells what is likely in it (a boat is likelier on water). These
# images have one cell each, of similar size, always near the centre. A plain stack whose
# receptive field spans the cell already has all the context there is, and the pooling
# branch adds little: every image has the same kind of content. So on this task ASPP has
# nothing to add in principle, and what a short run shows is mostly which of the two
# trained faster: when this lesson was written, in quick mode, ASPP trailed the stack by
# five hundredths of Dice with seed 0 and beat it by three tenths with seed 1 (where the
# stack had not settled, above). Neither design should be declared the winner from one
# run; look at the two validation curves. Where ASPP earns its place is on the multi-class
# facades of lesson 06 or on large street scenes, with objects at many scales.
#
# The last line compares time with FLOPs. Equal FLOPs need not mean equal time: the ASPP
# network writes five sets of full-resolution maps, concatenates them and reads them
# again (its activation memory in the table above), and convolutions with large dilations
# read memory in a less regular pattern than plain ones.

# %% [markdown]
# ## Questions
#
# **1.** A colleague stacks six 3 x 3 convolutions with dilation 4 each, to "see far". What
# is the receptive field, and what is wrong with it?

# %% [markdown] points=2
# ### BEGIN SOLUTION
# `1 + 2 · 6 · 4 = 49` pixels wide, but every tap sits at a multiple of 4 pixels from the
# centre, so only the pixels on a grid 4 apart in both directions reach the output: 13 x 13
# = 169 of the 2,401 in the square. The network never sees the pixels in between. Starting
# with dilation 1 and growing the dilation (1, 2, 4, ...) fills the square completely.
# ### END SOLUTION

# %% [markdown]
# **2.** Why can `DilatedNet` take an input of any size, while the U-Net needs multiples of
# `2**depth`?

# %% [markdown] points=2
# ### BEGIN SOLUTION
# Every layer of the dilated network uses stride 1 and padding equal to its dilation, so
# each output has exactly the input's height and width. The U-Net halves the size `depth`
# times and doubles it back; an odd size is rounded down on the way down and cannot be
# restored on the way up, so the skip and the upsampled map no longer match.
# ### END SOLUTION

# %% [markdown]
# **3.** DeepLab applies its ASPP block to feature maps of about 33 x 33 (a 513-pixel crop
# at 1/16). What happens to a 3 x 3 branch with dilation 24 there, and what takes over the
# job of seeing the whole image?

# %% [markdown] points=2
# ### BEGIN SOLUTION
# Its outer taps sit 24 pixels from the centre. On a 33-pixel map no position has both its
# left and right taps inside the map (that would take 49 pixels), and at the centre of the
# map all eight outer taps read the zero padding: there the branch is a 1 x 1 convolution
# that sees its own pixel only. Past a point a larger dilation brings less context, not
# more. This is why DeepLabv3 keeps its rates at 6, 12 and 18 and adds the image pooling
# branch: the global average sees every pixel, whatever the size of the map, and costs one
# 1 x 1 convolution on a single vector.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - Receptive field of a chain: `r = 1 + sum_l d_l (k_l - 1) prod_{j<l} s_j`; for a plain
#   stack of `L` 3 x 3 layers `1 + 2L`, with dilations 1, 2, 4, ...: `2**(L+1) - 1`. The
#   gradient of one output pixel with respect to the input measures it, and formula and
#   measurement agree at every depth.
# - Dilation costs no parameters: the curves of parameters against depth coincide.
# - Dilations that skip 1 (or repeat a large one) see the input through a grid with holes.
# - The dilated network has fewer parameters than the U-Net but works at full resolution in
#   every layer; the printed FLOPs, memory and time say what that costs. On the cells its
#   Dice is usually close to the U-Net's, its outline often a little worse, and on a short
#   budget it is the slower to settle.
# - ASPP looks at several scales at once and adds the whole image's context through a
#   pooling branch; on one centred cell per image it has little to add, and the verdict
#   says how it went in your run.
# - `course_utils.models.DilatedNet` and `course_utils.models.ASPP` are the reference
#   versions.
#
# **References**
#
# - Yu and Koltun, *Multi-scale context aggregation by dilated convolutions*, ICLR 2016.
# - Chen, Papandreou, Schroff and Adam, *Rethinking atrous convolution for semantic image
#   segmentation* (DeepLabv3), arXiv 1706.05587, 2017.
# - Chen, Zhu, Papandreou, Schroff and Adam, *Encoder-decoder with atrous separable
#   convolution for semantic image segmentation* (DeepLabv3+), ECCV 2018.
# - Wang et al., *Understanding convolution for semantic segmentation*, WACV 2018 (gridding
#   and hybrid dilated convolution).
# - Luo et al., *Understanding the effective receptive field in deep convolutional neural
#   networks*, NeurIPS 2016.
