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
# - write the matrix `C` of a small convolution and see that a transposed convolution
#   multiplies by `C.T`; read it as zero insertion, and meet unpooling with indices as a
#   third way up;
# - explain where checkerboard artefacts come from and pick a transposed convolution that
#   does not make them;
# - build `UNet2`, a U-Net with stride-2 convolutions down and stride-2 transposed
#   convolutions up, and compare it with the pooled U-Net on parameters, FLOPs, time and
#   accuracy.

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
DEPTH = 4  # number of 2x down-sampling steps
BATCH_SIZE = 8
TOLERANCE = SIZE // 64  # pixels of slack for the boundary score

# %% [markdown]
# ## How big is the output?
#
# A convolution slides a kernel of `k` pixels over an input of `n` pixels (one dimension;
# height and width follow the same rule). With padding `p` on both sides the padded input
# has `n + 2p` pixels. A dilation `d` spreads the kernel's taps `d` pixels apart, so the
# kernel spans `d (k - 1) + 1` pixels. The first position sits at the left edge of the
# padded input, and each further position is `s` pixels (the stride) to the right, as long
# as the whole kernel still fits.
#
# A transposed convolution runs the same bookkeeping backwards: each of the `n` input pixels
# pastes a copy of the (dilated) kernel, scaled by its value, into the output, and
# consecutive pastes start `s` pixels apart. Then `p` pixels are *cropped* from both sides
# of what the pastes cover, and `output_padding` adds pixels on one side (it resolves an
# ambiguity that you will find in the convolution's formula).

# %% [markdown]
# ### Task: derive the two size formulas
#
# Count on paper: how many kernel positions fit, and how many pixels the pastes cover. Try
# your count on a small case before you write it down: `n = 5`, `k = 3`, `s = 2`, `p = 0`,
# `d = 1` has positions starting at pixels 0 and 2 (one starting at 4 would stick out), so
# 2 outputs; the same input with `n = 6` still gives 2. Then write both counts as functions
# of plain integers. PyTorch is the referee: the cell after them compares your formulas with
# the layers' real output sizes.

# %%
def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    # HINT: after the first position, how many pixels of the padded input are left for the kernel to move into, and how many whole steps of s fit there? Python's // is a floor division
    ### BEGIN SOLUTION
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    ### END SOLUTION


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    # HINT: where does the last of the n pastes start, and where does it end? Then remove the crop and add output_padding; no floor is needed
    ### BEGIN SOLUTION
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    ### END SOLUTION


# %% [markdown]
# The cell below builds `nn.Conv2d` and `nn.ConvTranspose2d` for every combination of a grid
# of settings, runs each on an input of the given size and compares the output's size with
# your formula. It prints a few rows that matter for U-Nets and fails if any setting
# disagrees.

# %% points=2
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
# The counts, to compare with yours. The kernel's first position uses `d(k - 1) + 1` of the
# `n + 2p` padded pixels; each further position needs `s` more, and only whole steps count:
#
# $$n_\text{out} = \left\lfloor \frac{n + 2p - d(k-1) - 1}{s} \right\rfloor + 1 .$$
#
# The floor matters: with stride 2, inputs of 63 and 64 pixels both give 32, so a size
# cannot always be recovered from the output. (The lecture slides write the formula without
# the floor and without dilation, which is right only when the division comes out even and
# `d = 1`.) For the transposed convolution, `n` pastes `s` apart cover
# `(n - 1)s + d(k - 1) + 1` pixels; the crop removes `2p` and `output_padding` adds back
# what the floor took:
#
# $$n_\text{out} = (n - 1)s - 2p + d(k - 1) + \text{output\_padding} + 1 .$$

# %% [markdown]
# Read the rows as recipes. A 3 x 3 convolution keeps the size with padding 1 and loses two
# pixels without it; with stride 2 and padding 1 it halves an even size (64 to 32) and
# rounds an odd one up (63 to 32). A dilated 3 x 3 kernel with dilation 4 keeps the size
# with padding 4: in general, padding `d` for a 3 x 3 kernel with dilation `d` (lesson 05
# uses this). To double a size with a transposed convolution, kernel 2 with stride 2 and no
# padding works, and so does kernel 4 with stride 2 and padding 1; kernel 3 with stride 2
# and padding 1 gives 63, one pixel short, which `output_padding=1` makes up.

# %% [markdown]
# ## A transposed convolution is the transpose of a convolution
#
# Why "transposed"? A convolution is linear in its input: every output pixel is a weighted
# sum of input pixels, with weights taken from the kernel. So for a one-channel 1-D input
# `x` of `n` pixels there is a matrix `C` with `conv(x) = C @ x`. Row `i` of `C` describes
# output `i`: its window starts at input `i * s - p` and tap `j` of the kernel multiplies
# input `i * s - p + j` (PyTorch's convolution is a cross-correlation: the kernel is not
# flipped). Taps that land in the padding are dropped, because the padding holds zeros.
# `C` has one row per output (the size formula above) and one column per input.
#
# A stride-2 convolution gives a wide matrix: about half as many rows as columns. Its
# transpose `C.T` maps the `n_out` outputs back to `n` numbers, and that is exactly what
# `nn.ConvTranspose1d` computes with the same kernel. The transpose restores the *shape*,
# not the values: `C.T` is not the inverse of `C`.

# %% [markdown]
# ### Task: the matrix of a convolution
#
# Write `conv_matrix(weight, size, stride, padding)`: the matrix `C` of a one-channel 1-D
# convolution with the kernel `weight` (a 1-D tensor of `k` taps) on an input of `size`
# pixels. Your `conv_output_size` gives the number of rows.

# %%
def conv_matrix(weight: torch.Tensor, size: int, stride: int = 1, padding: int = 0
                ) -> torch.Tensor:
    """The (n_out, size) matrix C with C @ x == F.conv1d(x, weight, stride=stride,
    padding=padding) for a one-channel input x of `size` pixels."""
    # HINT: fill one row per output; which input pixel does tap j of output i read, and is it inside 0..size-1?
    ### BEGIN SOLUTION
    k = len(weight)
    matrix = torch.zeros(conv_output_size(size, k, stride, padding), size)
    for i in range(len(matrix)):
        for j in range(k):
            if 0 <= i * stride - padding + j < size:
                matrix[i, i * stride - padding + j] = weight[j]
    return matrix
    ### END SOLUTION


# %% [markdown]
# The check compares `C @ x` with `F.conv1d` for several kernels, strides and paddings, and
# names the usual slips (a flipped kernel, a forgotten stride or padding, swapped axes).

# %% points=3
from course_utils.checks.conv_matrix import check_conv_matrix

check_conv_matrix(conv_matrix)

# %% [markdown]
# Now the claim of this section. Take a 3-tap kernel with stride 2 and padding 1 on 6
# pixels: 3 outputs. Its transpose maps 3 numbers to 6. The size formula of the transposed
# convolution gives `(3 - 1) * 2 - 2 + 3 = 5` without output padding: inputs of 5 and 6
# pixels both give 3 outputs, and `output_padding=1` picks 6, the size of `C`'s columns.

# %%
import torch.nn.functional as F

w = torch.tensor([1.0, 2.0, 3.0])
C = conv_matrix(w, 6, stride=2, padding=1)
x, y = torch.arange(6.0), torch.tensor([1.0, -1.0, 2.0])
down = F.conv1d(x.view(1, 1, -1), w.view(1, 1, -1), stride=2, padding=1).flatten()
up = F.conv_transpose1d(y.view(1, 1, -1), w.view(1, 1, -1), stride=2, padding=1,
                        output_padding=1).flatten()
print(f"C =\n{C.int()}\nC.T =\n{C.T.int()}")
print(f"conv1d(x)           = {down.tolist()}\nC @ x               = {(C @ x).tolist()}")
print(f"conv_transpose1d(y) = {up.tolist()}\nC.T @ y             = {(C.T @ y).tolist()}")
assert torch.allclose(C @ x, down) and torch.allclose(C.T @ y, up)

# %% [markdown]
# This is also how autograd runs a convolution backwards: for `out = C @ x` the gradient
# with respect to `x` is `C.T @ grad_out`, a transposed convolution. (Some papers call the
# layer a "deconvolution"; it undoes nothing, it only runs the convolution's wiring
# backwards.)

# %%
x = torch.arange(6.0, requires_grad=True)
grad_out = torch.tensor([0.5, 1.0, -2.0])
F.conv1d(x.view(1, 1, -1), w.view(1, 1, -1), stride=2, padding=1).flatten().backward(grad_out)
print(f"x.grad = {x.grad.tolist()}\nC.T @ grad_out = {(C.T @ grad_out).tolist()}")
assert torch.allclose(x.grad, C.T @ grad_out)

# %% [markdown]
# ### Two more ways to read it, and a third way up
#
# **Zero insertion.** Read `C.T` by columns and you get the paste picture of the size
# section: input `i` pastes the kernel into the output, starting `i * s - p`. Read it by rows
# and you get an ordinary convolution: put `s - 1` zeros between the inputs (so they sit `s`
# apart), pad `k - 1 - p` zeros on each side (plus `output_padding` on the right), and slide
# the *flipped* kernel over the result with stride 1. The flip appears because a tap that
# lands *right* of the paste's start is read, from the output's side, from an input to its
# *left*. (When `p > k - 1` the padding turns into cropping.)

# %%
k, s, p, op = 3, 2, 1, 1
spread = torch.zeros((len(y) - 1) * s + 1)
spread[::s] = y
padded = F.pad(spread, (k - 1 - p, k - 1 - p + op))
via_zeros = F.conv1d(padded.view(1, 1, -1), w.flip(0).view(1, 1, -1)).flatten()
print(f"zeros inserted: {spread.tolist()}\npadded:         {padded.tolist()}")
print(f"conv1d with the flipped kernel = {via_zeros.tolist()}\nconv_transpose1d(y)            = {up.tolist()}")
assert torch.allclose(via_zeros, up)

# %% [markdown]
# In this view the checkerboard of the next section is plain to see: a 3-tap window sliding
# over `y0 0 y1 0 y2` covers two real inputs at some positions and one at the next.
#
# **Unpooling with indices.** A third way up has no weights at all. `nn.MaxPool2d(2,
# return_indices=True)` also returns *where* in each 2 x 2 window the maximum was, and
# `nn.MaxUnpool2d(2)` puts each value back at that position, with zeros elsewhere. SegNet
# (Badrinarayanan et al., 2017) decodes this way: like a skip connection, the decoder gets
# positions from the encoder, but only the positions, not the features.

# %%
grid = torch.tensor([[1, 5, 2, 0], [3, 4, 8, 6], [9, 2, 1, 1], [0, 7, 3, 4]],
                    dtype=torch.float32).view(1, 1, 4, 4)
pooled, indices = nn.MaxPool2d(2, return_indices=True)(grid)
unpooled = nn.MaxUnpool2d(2)(pooled, indices)
print(f"input\n{grid[0, 0].int()}\npooled\n{pooled[0, 0].int()}\nindices (row * 4 + column)\n"
      f"{indices[0, 0]}\nunpooled\n{unpooled[0, 0].int()}")
assert torch.equal(unpooled.flatten()[indices.flatten()], pooled.flatten())
assert torch.count_nonzero(unpooled) == pooled.numel()

# %% [markdown]
# So a decoder can go up in three ways: a fixed interpolation (nearest, bilinear), which
# knows neither weights nor positions; unpooling, which knows the positions of the
# encoder's maxima; and a transposed convolution, which learns its weights. The U-Nets of
# lessons 03 and 04 use the first and the third.

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
from course_utils import cost, data, models, plotting, training, verdicts

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
#   padding 1, followed, like every convolution here, by BatchNorm and ReLU, one per level,
#   in an `nn.ModuleList` called `self.down`. Give its BatchNorm the momentum every
#   `conv_block` uses, `models.BN_MOMENTUM` (imported below as `BN_MOMENTUM`): the
#   comparison should change one thing, the re-sampling, and torch's default momentum would
#   change the normalisation too;
# - each `self.up` by its own transposed convolution with kernel 2 and stride 2, one per
#   level, in an `nn.ModuleList` called `self.up`.
#
# Unlike pooling and upsampling, these layers have weights, so each level needs its own.
# Use the size table above to convince yourself that both keep the shapes of lesson 03.

# %%
from course_utils.models import BN_MOMENTUM, check_input_size, conv_block


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
        # HINT: each level needs its own down block (conv_block's three layers, but with a stride that halves the size) and its own up block (which kernel size paints no checkerboard?)
        ### BEGIN SOLUTION
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1, bias=not batch_norm),
                          nn.BatchNorm2d(width, momentum=BN_MOMENTUM) if batch_norm
                          else nn.Identity(),
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
# a bad input size, that the forward pass calls no pooling or upsampling but one
# stride-2 convolution and one stride-2 transposed convolution per level, and that every
# BatchNorm uses `BN_MOMENTUM`.

# %% points=3
from course_utils.checks.models import check_unet2

check_unet2(UNet2)

# %% [markdown]
# ## Pooled U-Net against strided U-Net
#
# The pooled U-Net is the reference of lesson 03, `models.UNet`. Both train with the same
# seed, batches, loss and number of epochs (`training.train_model`).

# %%
criterion = nn.BCEWithLogitsLoss()
budget = {"epochs": EPOCHS, "batch_size": BATCH_SIZE, "seed": SEED, "device": DEVICE}
trained = {name: training.train_model(lambda cls=cls: cls(width=WIDTH, depth=DEPTH), criterion,
                                      cells["train"], val_loader, **budget)
           for name, cls in (("UNet (pooling)", models.UNet), ("UNet2 (strided)", UNet2))}
fig = plotting.plot_history({name: history for name, (_, history) in trained.items()})

# %% [markdown]
# Parameters, time per epoch and test scores. The time is the median over the epochs after
# the first (the first one also pays for one-off set-up work), for one pass over the
# training set plus the validation pass.

# %%
import statistics

table, per_image = {}, {}
for name, (model, history) in trained.items():
    per_image[name] = training.test_scores(model, test_loader, DEVICE, tolerance=TOLERANCE,
                                           per_image=True)
    table[name] = {"parameters": models.count_parameters(model),
                   "s / epoch": statistics.median(history["seconds"][1:])} | \
        {k: v.mean().item() for k, v in per_image[name].items()}
print(f"{'':16s}" + "".join(f"{k:>12s}" for k in table["UNet (pooling)"]))
for name, row in table.items():
    print(f"{name:16s}{row['parameters']:12,d}" +
          "".join(f"{v:12.3f}" for k, v in row.items() if k != "parameters"))
pooled, strided = table.values()
reporting.record_result("Dice UNet/UNet2", f"{pooled['Dice']:.3f}/{strided['Dice']:.3f}",
                     echo=False)
gaps = verdicts.compare("UNet2", per_image["UNet2 (strided)"], "UNet",
                        per_image["UNet (pooling)"], tie=0.005)
for key, gap in gaps.items():
    reporting.record_outcome(f"unet2 minus unet {key}", gap)
reporting.record_outcome("lower Dice of the two", min(pooled["Dice"], strided["Dice"]))

# %% [markdown]
# The exercise sheet says that strided convolutions "generally" work better than pooling.
# Both U-Nets have the same skips and the same decoder; only UNet2 learns its down- and
# up-sampling, so any difference comes from there, and on a single, centred cell it is
# small. On Dice the two usually land within a hundredth of each other; where UNet2 tends
# to gain is the outline (boundary F1), the part that a fixed max-pooling and a copied-up
# map blur. When this lesson was written, in quick mode with seeds 0, 1 and 2 on one
# machine, UNet2 led on boundary F1 by two to three hundredths and on Dice by less than a
# hundredth, in every seed: three seeds of one sign, which on their own are weak evidence
# (the sign test's $p = 0.25$, lesson 02). Read the verdict above for your run; a
# difference within 0.005 counts as a tie, and the intervals under it (lesson 02) say
# whether a gap even stands out of the choice of test images. On the course's previous,
# easier cell twin (version 3, sharp dark outlines) the two tied within a few thousandths,
# in quick mode and in full mode (0.968 against 0.969 Dice with seed 0 on an NVIDIA H100,
# benchmarks/README.md): learned re-sampling pays off where the information that pooling
# throws away is what the task needs, here the faint outline.
#
# ## What does the learned re-sampling cost?
#
# Every stride-2 convolution has `9 width²` weights and every 2 x 2 transposed convolution
# `4 width²`, where pooling and upsampling had none, so `UNet2` has more parameters:

# %%
assert strided["parameters"] > pooled["parameters"]  # the new layers have weights
print(f"UNet2 / UNet parameters: {strided['parameters'] / pooled['parameters']:.2f}")

# %% [markdown]
# Parameters are not the cost, though. A weight is used once per output pixel of its layer,
# so a layer costs `2 x weights x output pixels` floating-point operations (FLOPs: one
# multiply and one add per weight and pixel). `cost.count_flops_per_child` runs one image
# through a model and counts the FLOPs of each part with PyTorch's `FlopCounterMode`
# (convolutions only; BatchNorm, ReLU, pooling and upsampling are cheap and not counted).

# %%
shape = (1, 3, SIZE, SIZE)
flops = {name: cost.count_flops_per_child(model, shape) for name, (model, _) in trained.items()}
parts = sorted(dict.fromkeys([*flops["UNet (pooling)"], *flops["UNet2 (strided)"]]),
               key=lambda part: min(list(f).index(part) for f in flops.values() if part in f))
print(f"{'MFLOPs per image':18s}" + "".join(f"{name:>17s}" for name in flops))
for part in parts:
    print(f"{part:18s}" + "".join(f"{f.get(part, 0) / 1e6:17.1f}" for f in flops.values()))
totals = {name: cost.count_flops(model, shape) for name, (model, _) in trained.items()}
print(f"{'total':18s}" + "".join(f"{t / 1e6:17.1f}" for t in totals.values()))
ratios = {"parameters": strided["parameters"] / pooled["parameters"],
          "FLOPs": totals["UNet2 (strided)"] / totals["UNet (pooling)"],
          "time per epoch": strided["s / epoch"] / pooled["s / epoch"]}
print("UNet2 / UNet: " + ", ".join(f"{k} x {v:.2f}" for k, v in ratios.items()))
reporting.record_outcome("unet2 over unet flops", ratios["FLOPs"])

# %% [markdown]
# Read the table by rows. The pooled U-Net's encoder, bottleneck, decoder and head are
# unchanged in `UNet2`; what is new is the `down` and `up` rows. The new layers do not sit
# "at low resolution" only: the first stride-2 convolution reads the full-resolution
# features and writes `width` channels at half the size, so it costs as much as a whole
# `width`-to-`width` convolution one level down, while the pooled U-Net's own
# full-resolution convolutions are cheap (the first reads 3 channels, the head writes 1).
# The parameters miss this: the weights of the deepest level, applied to few pixels, count
# as much as those of the first. FLOPs ignore it less: the FLOP ratio is what the new layers
# cost per image.
#
# Time follows the FLOPs only roughly. BatchNorm, ReLU, pooling, concatenation, memory
# traffic, the optimiser step and the validation pass take time that the count leaves out,
# and much of it is the same in both networks; on a GPU, small layers also wait on kernel
# launches more than on arithmetic. That shared work dilutes the difference, so the time
# ratio usually lands between 1 and the FLOP ratio, and it varies from machine to machine
# and run to run. What this run measured:

# %%
t, f = ratios["time per epoch"], ratios["FLOPs"]
where = ("between 1 and the FLOP ratio" if 1 <= t <= f else
         "above the FLOP ratio" if t > f else "below 1: UNet2 was faster")
print(f"In this run the time per epoch changed by a factor of {t:.2f}, {where} ({f:.2f}); "
      f"the parameter ratio is {ratios['parameters']:.2f}.")

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
# When the verdict above is a tie or a difference of a few thousandths, the two sets of
# masks are hard to tell apart: both follow the rim, because both have the skips of lesson
# 03. Look for places where one outline cuts a corner the other follows.

# %% [markdown]
# ## Questions
#
# **1.** A colleague builds the decoder with `nn.ConvTranspose2d(width, width, 3, stride=2,
# padding=1)` and finds that a 4 x 4 map comes back 7 x 7. Explain, and give two ways to get
# 8 x 8.

# %% [markdown] points=2
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

# %% [markdown] points=2
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
# - A convolution is multiplication by a matrix `C`; a transposed convolution with the same
#   kernel multiplies by `C.T` (and is what autograd runs backwards through a convolution).
#   Equivalently, it inserts `s - 1` zeros between the inputs and convolves with the flipped
#   kernel. Unpooling with the pooling indices is a third, weight-free way up.
# - A transposed convolution whose kernel size is not a multiple of its stride covers the
#   output unevenly and paints a checkerboard; kernel 2 or 4 with stride 2, or resizing
#   followed by a convolution, does not.
# - `UNet2` learns its down- and up-sampling. It has about 1.6 times the parameters of the
#   pooled U-Net and about 1.4 times its FLOPs; FLOPs, not parameters, say what a layer
#   costs, because they count the pixels each weight is applied to. On these cells its
#   Dice is usually within a hundredth of the pooled U-Net's and its outline a little
#   better (the verdict says what your run shows); the sheet's "generally better" shows
#   where the task needs what pooling throws away.
# - `course_utils.models.UNet2` is the reference version.
#
# **References**
#
# - Dumoulin and Visin, *A guide to convolution arithmetic for deep learning*, 2016.
# - Odena, Dumoulin and Olah, *Deconvolution and checkerboard artifacts*, Distill 2016.
# - Springenberg et al., *Striving for simplicity: the all convolutional net*, ICLR 2015
#   workshop (strided convolutions in place of pooling).
# - Badrinarayanan, Kendall and Cipolla, *SegNet: A deep convolutional encoder-decoder
#   architecture for image segmentation*, IEEE TPAMI 2017 (unpooling with indices).
