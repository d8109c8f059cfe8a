# %% [markdown]
# # 05 · Dilated convolutions and the receptive field
#
# An encoder-decoder shrinks its feature maps so that a 3 x 3 convolution deep in the
# network sees a large part of the image. There is another way to see far without
# shrinking anything: spread the kernel's nine taps apart. A *dilated* 3 x 3 convolution
# with dilation `d` reads the pixels `d` apart, so it covers a `2d + 1` square with the same
# nine weights. Stacking dilations 1, 2, 4, 8, ... lets a network of a few layers see the
# whole image while every layer works at full resolution (Yu and Koltun, 2016).
#
# **Learning goals**
#
# - compute the receptive field of a stack of convolutions by formula, and measure it with
#   gradients;
# - see that with doubling dilations the receptive field grows exponentially with depth
#   while the number of parameters grows linearly, as it does without dilation;
# - recognise the gaps ("gridding") that a badly chosen dilation sequence leaves;
# - build `DilatedNet` and compare it with the U-Net: parameters, memory, accuracy.

# %% [markdown]
# ## Parameters

# %%
from course_utils import config

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
BATCH_SIZE = 8
TOLERANCE = SIZE // 64  # pixels of slack for the boundary score

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
# dilations $d_l$ is $r = 1 + \sum_l d_l (k_l - 1) \prod_{j<l} s_j$: a stride does not
# widen the layer it belongs to, but every later layer's step counts `s` times in input
# pixels. `course_utils.receptive_field.receptive_field` computes it.

# %%
import torch
from torch import nn

from course_utils import models, receptive_field

for depth in (3, 5):
    print(f"{depth} layers: plain {receptive_field.receptive_field([3] * depth)}, "
          f"dilated {receptive_field.receptive_field([3] * depth, dilations=[2**i for i in range(depth)])}")

# %% [markdown]
# ## The receptive field, measured
#
# A formula is only as good as the assumptions behind it; a measurement has none. If input
# pixel `x[i, j]` can change the centre output pixel `y_c`, then the derivative
# $\partial y_c / \partial x_{ij}$ is (almost always) non-zero, and if it cannot, the
# derivative is exactly zero. So one backward pass from the centre output pixel gives the
# whole receptive field as the non-zero pattern of the input's gradient.
# `receptive_field.gradient_support` does exactly this (on a few random inputs, so that a
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
supports = {name: receptive_field.gradient_support(stack, 71) for name, stack in stacks.items()}

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
# Now the same comparison for depths 1 to 6, along with the number of parameters. The cell
# fails if a formula and its measurement disagree.

# %%
# NBVAL_CHECK_OUTPUT
rows = []
for depth in range(1, 7):
    plain, dilated = [1] * depth, [2**i for i in range(depth)]
    row = {"depth": depth,
           "plain formula": receptive_field.receptive_field([3] * depth, dilations=plain),
           "plain measured": receptive_field.measured_receptive_field(conv_stack(plain), 135)[0],
           "dilated formula": receptive_field.receptive_field([3] * depth, dilations=dilated),
           "dilated measured": receptive_field.measured_receptive_field(conv_stack(dilated), 135)[0],
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
from course_utils import data, metrics, plotting, training

cells = {split: data.PhCDataset(split, DATA_ROOT, size=SIZE) for split in ("train", "val", "test")}
val_loader = data.InMemoryLoader(cells["val"], 32, device=DEVICE)
test_loader = data.InMemoryLoader(cells["test"], 32, device=DEVICE)
print({split: len(ds) for split, ds in cells.items()})

# %% [markdown]
# ### Task: `DilatedNet`
#
# Write a network of `depth` blocks, each a 3 x 3 convolution with dilation `2**i` for
# block `i = 0, 1, ..., depth - 1` (padding equal to the dilation keeps the size; see
# lesson 04's table), followed by BatchNorm and ReLU, all with `width` channels; then a 1 x 1
# convolution to `out_channels` logits. `conv_block(in_channels, out_channels, batch_norm,
# dilation=...)` builds one block. No pooling, no stride: every layer keeps the input's
# height and width, so any input size works.

# %%
class DilatedNet(nn.Module):
    """3x3 convolutions with dilation 1, 2, 4, ... at full resolution, then a 1x1 head."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 depth: int = 5, batch_norm: bool = True):
        super().__init__()
        # HINT: self.features = nn.Sequential of depth conv_block(..., dilation=2**i); self.head = nn.Conv2d(width, out_channels, 1)
        ### BEGIN SOLUTION
        self.features = nn.Sequential(*(
            conv_block(in_channels if i == 0 else width, width, batch_norm, dilation=2**i)
            for i in range(depth)
        ))
        self.head = nn.Conv2d(width, out_channels, 1)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # HINT: the features, then the head
        ### BEGIN SOLUTION
        return self.head(self.features(x))
        ### END SOLUTION


# %% [markdown]
# The check runs your class on several input sizes (odd ones too), tests that gradients
# reach the first layer, that no layer changes the resolution, and measures the receptive
# field of depths 2, 3 and 4 against `2**(depth + 1) - 1`.

# %%
from course_utils.checks.models import check_dilated_net

check_dilated_net(DilatedNet)

# %% [markdown]
# ## DilatedNet against the U-Net
#
# `models.UNet` with `UNET_DEPTH` poolings is the baseline. Both networks use `WIDTH`
# channels; the dilated one has `DILATED_DEPTH` layers, enough for a receptive field about
# the size of the image. First, what they cost before any training: parameters, receptive
# field (measured), and the memory a training step needs for the activations that autograd
# keeps for the backward pass.
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


batch = torch.rand(BATCH_SIZE, 3, SIZE, SIZE)
costs = {}
for name in ("UNet", "DilatedNet"):
    config.seed_everything(SEED)
    costs[name] = {
        "parameters": models.count_parameters(build(name)),
        "receptive field": receptive_field.measured_receptive_field(build(name), 256)[0],
        "activation MiB": activation_bytes(build(name), batch) / 2**20,
    }
print(f"per training step on a batch of {BATCH_SIZE} images of {SIZE} x {SIZE}:")
print(f"{'':11s}{'parameters':>11s}{'receptive field':>16s}{'activation MiB':>15s}")
for name, row in costs.items():
    print(f"{name:11s}{row['parameters']:11,d}{row['receptive field']:16d}"
          f"{row['activation MiB']:15.1f}")
ratio = costs["DilatedNet"]["activation MiB"] / costs["UNet"]["activation MiB"]
print(f"DilatedNet / UNet: {costs['DilatedNet']['parameters'] / costs['UNet']['parameters']:.2f} x "
      f"the parameters, {ratio:.2f} x the activation memory")
assert costs["DilatedNet"]["parameters"] < costs["UNet"]["parameters"] and ratio > 1

# %% [markdown]
# The dilated network has fewer parameters (no decoder, no skips to concatenate) but needs
# more activation memory: each of its layers stores `WIDTH` full-resolution maps, while the
# U-Net stores full-resolution maps only at its first and last level and maps a quarter,
# a sixteenth, ... of that size in between. Both memories grow with the number of pixels,
# so the ratio holds at any image size; on a large image the dilated network is the one
# that runs out of GPU memory first. It also computes every layer at full resolution,
# which makes it slower per epoch, as the training below shows.

# %% [markdown]
# ## Training both on the same budget

# %%
criterion = nn.BCEWithLogitsLoss()


def train(name: str):
    config.seed_everything(SEED)
    model = build(name)
    train_loader = data.InMemoryLoader(cells["train"], BATCH_SIZE, shuffle=True, device=DEVICE,
                                       drop_last=True, seed=SEED)
    history = training.fit(model, criterion, train_loader, val_loader, epochs=EPOCHS,
                           device=DEVICE)
    return model, history


trained = {name: train(name) for name in ("UNet", "DilatedNet")}
fig = plotting.plot_history({name: history for name, (_, history) in trained.items()})

# %%
import statistics


def test_scores(model) -> dict[str, float]:
    pred = training.predict(model, test_loader, DEVICE) >= 0.5
    target = cells["test"].targets.bool()
    return {"Dice": metrics.dice_score(pred, target), "IoU": metrics.iou_score(pred, target),
            "boundary F1": metrics.boundary_f1(pred, target, tolerance=TOLERANCE)}


scores = {}
for name, (model, history) in trained.items():
    scores[name] = {"s / epoch": statistics.median(history["seconds"][1:])} | test_scores(model)
print(f"{'':11s}" + "".join(f"{k:>12s}" for k in scores["UNet"]))
for name, row in scores.items():
    print(f"{name:11s}" + "".join(f"{v:12.3f}" for v in row.values()))
unet_scores, dilated_scores = scores.values()
for key in ("Dice", "boundary F1"):
    config.record_result(f"{key} UNet/DilatedNet",
                         f"{unet_scores[key]:.3f}/{dilated_scores[key]:.3f}", echo=False)

# %% [markdown]
# On the same budget the two networks end up within a hundredth of each other on Dice and
# IoU, but the U-Net traces the outline better (boundary F1) and takes about half the time
# per epoch. Context is not what the dilated network lacks: its receptive field (measured
# above) spans the whole cell. A likely reason for its weaker outline is capacity, with
# 0.4 times the U-Net's parameters; giving it more channels would cost memory and time at
# full resolution, of which it already spends more.

# %%
assert abs(unet_scores["Dice"] - dilated_scores["Dice"]) < 0.02
assert unet_scores["boundary F1"] > dilated_scores["boundary F1"] + 0.005

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
assert haze["DilatedNet"] > 2 * haze["UNet"]

# %% [markdown]
# No grid shows in the dilated network's maps: its dilations start at 1 and double, so, as
# measured above, every pixel of its receptive field is seen, and there is no blind lattice
# to imprint. What does show is a grey haze around its cells and in the background: it is
# less certain away from the cell than the U-Net, as the mean background probabilities
# say. After thresholding at 0.5 the haze disappears, which is why Dice barely notices it.

# %% [markdown]
# ## Questions
#
# **1.** A colleague stacks six 3 x 3 convolutions with dilation 4 each, to "see far". What
# is the receptive field, and what is wrong with it?

# %% [markdown]
# ### BEGIN SOLUTION
# `1 + 2 · 6 · 4 = 49` pixels wide, but every tap sits at a multiple of 4 pixels from the
# centre, so only the pixels on a grid 4 apart in both directions reach the output: 13 x 13
# = 169 of the 2,401 in the square. The network never sees the pixels in between. Starting
# with dilation 1 and growing the dilation (1, 2, 4, ...) fills the square completely.
# ### END SOLUTION

# %% [markdown]
# **2.** Why can `DilatedNet` take an input of any size, while the U-Net needs multiples of
# `2**depth`?

# %% [markdown]
# ### BEGIN SOLUTION
# Every layer of the dilated network uses stride 1 and padding equal to its dilation, so
# each output has exactly the input's height and width. The U-Net halves the size `depth`
# times and doubles it back; an odd size is rounded down on the way down and cannot be
# restored on the way up, so the skip and the upsampled map no longer match.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - Receptive field of a plain stack of `L` 3 x 3 layers: `1 + 2L`; with dilations 1, 2,
#   4, ...: `2**(L+1) - 1`. The gradient of one output pixel with respect to the input
#   measures it, and the two agree at every depth.
# - Dilation costs no parameters: the curves of parameters against depth coincide.
# - Dilations that skip 1 (or repeat a large one) see the input through a grid with holes.
# - The dilated network has fewer parameters than the U-Net but more activation memory and
#   more time per epoch; on this task it matches the U-Net's Dice but not its outline.
# - `course_utils.models.DilatedNet` is the reference version.
#
# **References**
#
# - Yu and Koltun, *Multi-scale context aggregation by dilated convolutions*, ICLR 2016.
# - Wang et al., *Understanding convolution for semantic segmentation*, WACV 2018 (gridding
#   and hybrid dilated convolution).
# - Luo et al., *Understanding the effective receptive field in deep convolutional neural
#   networks*, NeurIPS 2016.
