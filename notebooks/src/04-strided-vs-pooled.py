# %% [markdown]
# # 04 · Strided and transposed convolutions instead of pooling and upsampling
#
# The U-Net of lesson 03 shrinks its feature maps with max-pooling and grows them back with
# nearest-neighbour upsampling; neither has anything to learn. A convolution with stride 2
# also halves the height and width, but with weights that are trained; a *transposed*
# convolution with stride 2 doubles them, again with trained weights. This lesson works out
# the size arithmetic of both layers, shows the checkerboard pattern a badly chosen
# transposed convolution paints, and compares a U-Net built this way with the pooled one.
#
# **Learning goals**
#
# - compute the output size of a convolution and of a transposed convolution from kernel
#   size, stride, padding, dilation and output padding, and check the formulas against
#   PyTorch;
# - explain where checkerboard artefacts come from and pick a transposed convolution that
#   does not make them;
# - build `UNet2`, a U-Net with stride-2 convolutions down and stride-2 transposed
#   convolutions up, and compare it with the pooled U-Net on parameters, time and accuracy.

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
DEPTH = 4  # number of 2x down-sampling steps
BATCH_SIZE = 8
TOLERANCE = SIZE // 64  # pixels of slack for the boundary score

# %% [markdown]
# ## How big is the output?
#
# A convolution slides a kernel of `k` pixels over an input of `n` pixels (one dimension;
# height and width follow the same rule). With padding `p` on both sides the padded input
# has `n + 2p` pixels. A dilation `d` spreads the kernel's taps `d` pixels apart, so the
# kernel spans `d (k - 1) + 1` pixels. The first position fits at the start, and each
# further position is `s` pixels (the stride) to the right, as long as the kernel still
# fits:
#
# $$n_\text{out} = \left\lfloor \frac{n + 2p - d(k-1) - 1}{s} \right\rfloor + 1 .$$
#
# The floor matters: with stride 2, inputs of 63 and 64 pixels both give 32, so a size
# cannot always be recovered from the output. (The lecture slides write the formula without
# the floor and without dilation, which is right only when the division comes out even and
# `d = 1`.)
#
# A transposed convolution runs the same bookkeeping backwards: each input pixel pastes a
# copy of the kernel, scaled by its value, into the output, and consecutive pastes are `s`
# pixels apart. `n` pastes, `s` apart, of a kernel spanning `d(k-1) + 1` pixels cover
# `(n - 1)s + d(k - 1) + 1` pixels; the padding `p` is then *cropped* from both sides, and
# `output_padding` adds pixels on one side to resolve the ambiguity that the floor created:
#
# $$n_\text{out} = (n - 1)s - 2p + d(k - 1) + \text{output\_padding} + 1 .$$

# %% [markdown]
# ### Task: the two size formulas
#
# Write both formulas as functions of plain integers.

# %%
def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    # HINT: the first formula above; Python's // is a floor division
    ### BEGIN SOLUTION
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    ### END SOLUTION


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    # HINT: the second formula above; no floor is needed
    ### BEGIN SOLUTION
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    ### END SOLUTION


# %% [markdown]
# PyTorch is the referee: the cell below builds `nn.Conv2d` and `nn.ConvTranspose2d` for every
# combination of a grid of settings, runs each on an input of the given size and compares
# the output's size with your formula. It prints a few rows that matter for U-Nets and
# fails if any setting disagrees.

# %%
# NBVAL_CHECK_OUTPUT
import itertools

import torch
from torch import nn


def measured_size(layer: nn.Module, size: int) -> int:
    with torch.no_grad():
        return layer(torch.zeros(1, 1, size, size)).shape[-1]


checked, wrong = 0, []
for n, k, s, p, d in itertools.product((5, 8, 63, 64), (1, 2, 3, 4), (1, 2, 3), (0, 1, 2),
                                       (1, 2)):
    if n + 2 * p >= d * (k - 1) + 1:  # the kernel fits at least once
        got = conv_output_size(n, k, s, p, d)
        if got != measured_size(nn.Conv2d(1, 1, k, s, p, d), n):
            wrong.append(("conv", n, k, s, p, d))
        checked += 1
    for op in range(max(s, d)):  # output padding must be smaller than stride or dilation
        if (n - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1:
            layer = nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d)
            if conv_transpose_output_size(n, k, s, p, op, d) != measured_size(layer, n):
                wrong.append(("transposed", n, k, s, p, op, d))
            checked += 1
print(f"{checked} settings checked, {len(wrong)} disagree {wrong[:3]}")

rows = [  # layer, n, kernel, stride, padding, dilation, output padding
    ("conv", 64, 3, 1, 1, 1, 0), ("conv", 64, 3, 1, 0, 1, 0), ("conv", 64, 3, 2, 1, 1, 0),
    ("conv", 63, 3, 2, 1, 1, 0), ("conv", 64, 2, 2, 0, 1, 0), ("conv", 64, 3, 1, 4, 4, 0),
    ("transposed", 32, 2, 2, 0, 1, 0), ("transposed", 32, 4, 2, 1, 1, 0),
    ("transposed", 32, 3, 2, 1, 1, 0), ("transposed", 32, 3, 2, 1, 1, 1),
]
print(f"{'layer':11s} {'n':>3s} {'k':>2s} {'s':>2s} {'p':>2s} {'d':>2s} {'op':>3s} "
      f"{'formula':>8s} {'PyTorch':>8s}")
for kind, n, k, s, p, d, op in rows:
    if kind == "conv":
        formula, torch_size = conv_output_size(n, k, s, p, d), measured_size(
            nn.Conv2d(1, 1, k, s, p, d), n)
    else:
        formula = conv_transpose_output_size(n, k, s, p, op, d)
        torch_size = measured_size(nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d), n)
    print(f"{kind:11s} {n:3d} {k:2d} {s:2d} {p:2d} {d:2d} {op:3d} {formula:8d} {torch_size:8d}")
assert not wrong

# %% [markdown]
# Read the rows as recipes. A 3 x 3 convolution keeps the size with padding 1 and loses two
# pixels without it; with stride 2 and padding 1 it halves an even size (64 to 32) and
# rounds an odd one up (63 to 32). A dilated 3 x 3 kernel with dilation 4 keeps the size
# with padding 4: in general, padding `d` for a 3 x 3 kernel with dilation `d` (lesson 05
# uses this). To double a size with a transposed convolution, kernel 2 with stride 2 and no
# padding works, and so does kernel 4 with stride 2 and padding 1; kernel 3 with stride 2
# and padding 1 gives 63, one pixel short, which `output_padding=1` makes up.

# %% [markdown]
# ## Checkerboard artefacts
#
# Which of these doubling layers should a decoder use? Take the simplest possible case: a
# constant input, all weights 1, no bias. A good upsampling layer should turn a constant into
# a constant. The transposed convolution pastes one copy of its kernel per input pixel, so
# each output pixel ends up with the *number of pastes that cover it*.

# %%
# NBVAL_CHECK_OUTPUT
import matplotlib.pyplot as plt

upsamplers = {
    "transposed 3x3, stride 2": nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1,
                                                   output_padding=1),
    "transposed 2x2, stride 2": nn.ConvTranspose2d(1, 1, 2, stride=2),
    "transposed 4x4, stride 2": nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1),
    "nearest x2, then 3x3 conv": nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                               nn.Conv2d(1, 1, 3, padding=1)),
}
outputs = {}
for name, layer in upsamplers.items():
    for module in layer.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    with torch.no_grad():
        outputs[name] = layer(torch.ones(1, 1, 8, 8))[0, 0]
print(f"{'upsampling':27s} {'output':>7s}  values away from the border")
for name, out in outputs.items():
    inner = out[2:-2, 2:-2]
    print(f"{name:27s} {'x'.join(map(str, out.shape)):>7s}  "
          f"{sorted(set(inner.int().flatten().tolist()))}")

# %%
fig, axes = plt.subplots(1, len(outputs), figsize=(3.2 * len(outputs), 3.3))
for ax, (name, out) in zip(axes, outputs.items(), strict=True):
    im = ax.imshow(out.numpy(), cmap="magma", vmin=0)
    ax.set_title(name, fontsize=9)
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, fraction=0.046)
fig.tight_layout()

# %% [markdown]
# With kernel 3 and stride 2, neighbouring pastes overlap by one pixel: along a row the
# coverage alternates 1, 2, 1, 2, and in two dimensions the products 1, 2 and 4 form a
# checkerboard, although the input was perfectly flat. A trained network has to spend effort
# on cancelling this pattern and often leaves a trace of it in its outputs (Odena et al.,
# 2016). When the kernel size is a multiple of the stride (2 or 4 with stride 2), every
# output pixel away from the border is covered equally often and a constant stays constant.
# (A trained 2 x 2 kernel can still give the four pixels of each block different weights,
# but nothing in the layer's geometry pushes it to.) Resizing first and convolving
# afterwards avoids the problem by construction: every output pixel is computed the same
# way, and only the border, where the zero padding enters, differs.
#
# The reference `UNet2` below therefore uses kernel 2, stride 2 for its transposed
# convolutions.

# %% [markdown]
# ## Data

# %%
from course_utils import data, metrics, models, plotting, training

cells = {split: data.PhCDataset(split, DATA_ROOT, size=SIZE) for split in ("train", "val", "test")}
val_loader = data.InMemoryLoader(cells["val"], 32, device=DEVICE)
test_loader = data.InMemoryLoader(cells["test"], 32, device=DEVICE)
print({split: len(ds) for split, ds in cells.items()})

# %% [markdown]
# ### Task: `UNet2`
#
# Below is the U-Net of lesson 03. Replace
#
# - each `self.pool` by its own learned down-sampling: a 3 x 3 convolution with stride 2 and
#   padding 1 (followed, like every convolution here, by BatchNorm and ReLU), one per level,
#   in an `nn.ModuleList` called `self.down`;
# - each `self.up` by its own transposed convolution with kernel 2 and stride 2, one per
#   level, in an `nn.ModuleList` called `self.up`.
#
# Unlike pooling and upsampling, these layers have weights, so each level needs its own.
# Use the size table above to convince yourself that both keep the shapes of lesson 03.

# %%
from course_utils.models import check_input_size, conv_block


class UNet2(nn.Module):
    """U-Net with stride-2 convolutions down and stride-2 transposed convolutions up."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 depth: int = 4, batch_norm: bool = True):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be at least 1, got {depth} and {width}")
        self.depth = depth
        self.encoder = nn.ModuleList(
            conv_block(in_channels if i == 0 else width, width, batch_norm) for i in range(depth)
        )
        self.bottleneck = conv_block(width, width, batch_norm)
        self.decoder = nn.ModuleList(
            conv_block(2 * width, width, batch_norm) for _ in range(depth - 1)
        )
        self.head = nn.Conv2d(2 * width, out_channels, 3, padding=1)
        # HINT: self.down: depth x (Conv2d(width, width, 3, stride=2, padding=1), BatchNorm2d, ReLU); self.up: depth x ConvTranspose2d(width, width, 2, stride=2)
        ### BEGIN SOLUTION
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1, bias=not batch_norm),
                          nn.BatchNorm2d(width) if batch_norm else nn.Identity(),
                          nn.ReLU(inplace=True))
            for _ in range(depth)
        )
        self.up = nn.ModuleList(nn.ConvTranspose2d(width, width, 2, stride=2)
                                for _ in range(depth))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.depth)
        # HINT: as in UNet, with self.down[i] in place of self.pool and self.up[i] in place of self.up (the first up belongs to the deepest level)
        ### BEGIN SOLUTION
        skips = []
        for conv, down in zip(self.encoder, self.down, strict=True):
            x = conv(x)
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        for conv, up in zip(self.decoder, self.up, strict=False):
            x = conv(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(torch.cat([self.up[-1](x), skips.pop()], dim=1))
        ### END SOLUTION


# %% [markdown]
# The check tests the output size, the gradients, that every skip is used, the message for
# a bad input size, and that the forward pass calls no pooling or upsampling but one
# stride-2 convolution and one stride-2 transposed convolution per level.

# %%
from course_utils.checks.models import check_unet2

check_unet2(UNet2)

# %% [markdown]
# ## Pooled U-Net against strided U-Net
#
# The pooled U-Net is the reference of lesson 03, `models.UNet`. Both train with the same
# seed, batches, loss and number of epochs.

# %%
criterion = nn.BCEWithLogitsLoss()


def train(model_cls):
    config.seed_everything(SEED)
    model = model_cls(width=WIDTH, depth=DEPTH)
    train_loader = data.InMemoryLoader(cells["train"], BATCH_SIZE, shuffle=True, device=DEVICE,
                                       drop_last=True, seed=SEED)
    history = training.fit(model, criterion, train_loader, val_loader, epochs=EPOCHS,
                           device=DEVICE)
    return model, history


trained = {"UNet (pooling)": train(models.UNet), "UNet2 (strided)": train(UNet2)}
fig = plotting.plot_history({name: history for name, (_, history) in trained.items()})

# %% [markdown]
# Parameters, time per epoch and test scores. The time is the median over the epochs after
# the first (the first one also pays for one-off set-up work), for one pass over the
# training set plus the validation pass.

# %%
import statistics


def test_scores(model) -> dict[str, float]:
    pred = training.predict(model, test_loader, DEVICE) >= 0.5
    target = cells["test"].targets.bool()
    return {"Dice": metrics.dice_score(pred, target), "IoU": metrics.iou_score(pred, target),
            "boundary F1": metrics.boundary_f1(pred, target, tolerance=TOLERANCE)}


table = {}
for name, (model, history) in trained.items():
    table[name] = {"parameters": models.count_parameters(model),
                   "s / epoch": statistics.median(history["seconds"][1:])} | test_scores(model)
print(f"{'':16s}" + "".join(f"{k:>12s}" for k in table["UNet (pooling)"]))
for name, row in table.items():
    print(f"{name:16s}{row['parameters']:12,d}" +
          "".join(f"{v:12.3f}" for k, v in row.items() if k != "parameters"))
pooled, strided = table.values()
print(f"UNet2 / UNet: {strided['parameters'] / pooled['parameters']:.2f} x the parameters, "
      f"{strided['s / epoch'] / pooled['s / epoch']:.2f} x the time per epoch, "
      f"Dice {strided['Dice'] - pooled['Dice']:+.3f}, IoU {strided['IoU'] - pooled['IoU']:+.3f}")
config.record_result("Dice UNet/UNet2", f"{pooled['Dice']:.3f}/{strided['Dice']:.3f}",
                     echo=False)

# %% [markdown]
# The learned re-sampling costs parameters: every stride-2 convolution has `9 width²`
# weights and every 2 x 2 transposed convolution `4 width²`, where pooling and upsampling
# had none, so `UNet2` is about one and a half times the size of `UNet`. The time per epoch
# grows by much less than the parameter count (compare the two ratios printed above),
# because the new layers run at the lower resolution of each pair of levels they connect,
# where there are four times fewer pixels to compute.
#
# The accuracy is the same within a few thousandths on every score. The exercise sheet says
# that strided convolutions "generally" work better than pooling; on this data and budget
# that is not borne out, and the next cell holds the lesson to the honest statement that
# neither is clearly ahead. Learned re-sampling tends to pay off in deeper networks trained
# on more varied data, where a fixed max-pooling throws away information the task needs; a
# single, centred cell is not such a task.

# %%
assert strided["parameters"] > 1.4 * pooled["parameters"]
assert min(pooled["Dice"], strided["Dice"]) > 0.95
assert abs(strided["Dice"] - pooled["Dice"]) < 0.01
assert abs(strided["boundary F1"] - pooled["boundary F1"]) < 0.02

# %% [markdown]
# ## Predictions side by side
#
# The first six test images, then a close-up of the right half of each cell.

# %%
images = cells["test"].images[:6].float() / 255
targets = cells["test"].targets[:6]
preds = {name: training.predict(model, images, DEVICE) for name, (model, _) in trained.items()}
fig = plotting.compare_predictions(images, targets, preds)

# %%
fig = plotting.compare_predictions(images, targets, preds, size=2.4,
                                   crop=(SIZE // 4, SIZE // 2, SIZE // 2, SIZE // 2))

# %% [markdown]
# The two sets of masks are hard to tell apart: both follow the rim closely, as their equal
# boundary F1 scores say.

# %% [markdown]
# ## Questions
#
# **1.** A colleague builds the decoder with `nn.ConvTranspose2d(width, width, 3, stride=2,
# padding=1)` and finds that a 4 x 4 map comes back 7 x 7. Explain, and give two ways to get
# 8 x 8.

# %% [markdown]
# ### BEGIN SOLUTION
# The transposed size formula gives `(4 - 1) * 2 - 2 * 1 + (3 - 1) + 1 = 7`. Either add
# `output_padding=1`, which makes it 8, or use kernel 4 with padding 1 (or kernel 2 without
# padding), which also gives 8. The second way is better: with kernel 3 and stride 2 the
# pastes overlap unevenly and the layer paints a checkerboard, whatever output padding is
# chosen.
# ### END SOLUTION

# %% [markdown]
# **2.** A stride-2 convolution on a 63-pixel input gives 32 pixels, as it does on 64. What
# does this mean for a U-Net fed a 63 x 63 image, and what does `check_input_size` do about
# it?

# %% [markdown]
# ### BEGIN SOLUTION
# Going down, 63 becomes 32 (with 2 x 2 max-pooling, 31), but coming back up the transposed
# convolution doubles 32 to 64 (31 to 62), so the decoder map no longer matches the 63 x 63
# encoder map it should be concatenated with, and `torch.cat` fails deep inside the
# network. `check_input_size` refuses such an input at the start of `forward`
# with a message naming the bad size and the nearest sizes that work (multiples of
# `2**depth`), so the user can resize or pad.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - Output sizes: $\lfloor (n + 2p - d(k-1) - 1)/s \rfloor + 1$ for a convolution and
#   $(n-1)s - 2p + d(k-1) + \text{output\_padding} + 1$ for a transposed convolution, both
#   confirmed by PyTorch on every setting of a grid.
# - A transposed convolution whose kernel size is not a multiple of its stride covers the
#   output unevenly and paints a checkerboard; kernel 2 or 4 with stride 2, or resizing
#   followed by a convolution, does not.
# - `UNet2` learns its down- and up-sampling. Here it has about 1.5 times the parameters of
#   the pooled U-Net for the same accuracy; the sheet's "generally better" did not show on
#   this task.
# - `course_utils.models.UNet2` is the reference version.
#
# **References**
#
# - Dumoulin and Visin, *A guide to convolution arithmetic for deep learning*, 2016.
# - Odena, Dumoulin and Olah, *Deconvolution and checkerboard artifacts*, Distill 2016.
# - Springenberg et al., *Striving for simplicity: the all convolutional net*, ICLR 2015
#   workshop (strided convolutions in place of pooling).
