# %% [markdown]
# # 03 · U-Net: skip connections
#
# The encoder-decoder of lesson 01 pools the image `depth` times, each time halving its
# height and width, down to a grid `2**depth` times coarser in each direction, and then has
# to paint the cell's outline back at full resolution from that coarse summary alone. The
# U-Net of Ronneberger et al. (2015) hands the decoder a second input at every
# scale: the encoder's own features of the same size, taken *before* they were pooled. In
# this lesson you turn the given encoder-decoder into a U-Net and measure what those extra
# connections buy.
#
# **Learning goals**
#
# - follow the tensor shapes through the encoder-decoder and see where spatial detail goes;
# - add skip connections with `torch.cat` and work out how much each decoder convolution's
#   input grows;
# - train the encoder-decoder and the U-Net on the same budget and compare them with Dice,
#   IoU and a score that looks only at the outline (boundary F1);
# - look at the outlines up close.

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
# ## Data
#
# The cell images of lesson 00: `train` for fitting, `val` to watch training, `test` for the
# final comparison only.

# %%
import torch
from torch import nn

from course_utils import data, models, plotting, training, verdicts

cells = {split: data.PhCDataset(split, DATA_ROOT, size=SIZE) for split in ("train", "val", "test")}
val_loader = data.InMemoryLoader(cells["val"], 32, device=DEVICE)
test_loader = data.InMemoryLoader(cells["test"], 32, device=DEVICE)
print({split: len(ds) for split, ds in cells.items()})

# %% [markdown]
# ## The given encoder-decoder, shape by shape
#
# `models.EncDec` repeats *convolution, 2 x 2 max-pooling* `depth` times, applies one more
# convolution at the bottom (the bottleneck), then repeats *nearest-neighbour upsampling,
# convolution* until the image size is back; the last convolution (the head) outputs one
# logit per pixel. Every convolution is 3 x 3 with padding 1, so only pooling and
# upsampling change the height and width.
#
# The small function below records what goes into and comes out of every convolution during
# one forward pass. Shapes are written channels x height x width for one image.

# %%
def conv_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[str, str]]:
    """{layer name: (input shape, output shape)} of every Conv2d in one forward pass."""
    shapes, hooks = {}, []

    def recorder(name):
        def record(module, args, out):
            shapes[name] = tuple("x".join(map(str, t.shape[1:])) for t in (args[0], out))
        return record

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(recorder(name.removesuffix(".0"))))
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return shapes


example = torch.rand(1, 3, 64, 64)
shapes = conv_shapes(models.EncDec(width=16, depth=4), example)
print(f"{'layer':12s} {'input':>10s} {'output':>10s}")
for name, (shape_in, shape_out) in shapes.items():
    print(f"{name:12s} {shape_in:>10s} {shape_out:>10s}")
width, grid, _ = map(int, shapes["bottleneck"][1].split("x"))
print(f"{len(shapes)} convolutions; the bottleneck's grid is {grid} x {grid}, "
      f"{64 // grid} times coarser than the input in each direction, and holds "
      f"{width} x {grid} x {grid} = {width * grid * grid} numbers")

# %% [markdown]
# Read the table top to bottom. In this example (width 16, depth 4, a 64 x 64 image) the
# encoder halves the grid four times, so each bottleneck pixel stands for a 16 x 16 patch of
# the input (the last line above says so, counted from the shapes). Whatever the decoder knows about *where exactly* the outline runs must pass
# through that coarse grid: `width` numbers per grid cell, which say *what* is in the patch
# far better than *where*. Pooling keeps the strongest response in each 2 x 2 window and
# forgets where in the window it was; after `depth` poolings the grid itself places things
# only to within `2**depth` pixels. Finer position survives only as far as the `width`
# numbers of a grid cell encode it (how much of the patch is cell, how strong an edge
# response was), which they do, but loosely: the encoder-decoder below still draws much of
# its outline within a pixel of the truth, just less of it than the U-Net. For an $H \times W$ image and depth $D$ the bottleneck holds
# $\text{width} \cdot \frac{H}{2^D} \cdot \frac{W}{2^D}$ numbers, a $4^D$-th of the pixels
# times the channels. Upsampling then copies each value into a block, so the decoder starts
# from blocky maps and its 3 x 3 convolutions can only smooth them.
#
# The encoder, however, *had* the precise information: its first convolution ran at full
# resolution. A skip connection passes that map straight across to the decoder step of the
# same size.
#
# The grid depends on the image size and the depth, not on the architecture alone, so it
# differs between lessons and between quick and full mode (lesson 01 prints its own in its
# model cell). For the networks this lesson trains:

# %%
print(f"training images {SIZE} x {SIZE}, depth {DEPTH}: bottleneck grid "
      f"{SIZE // 2**DEPTH} x {SIZE // 2**DEPTH}, {2**DEPTH} times coarser, {WIDTH} channels")

# %% [markdown]
# ### Task: write the U-Net
#
# Follow the exercise sheet: copy `EncDec` (its code is below, already copied and renamed),
# then
#
# 1. in `forward`, keep the output of every encoder convolution *before* it is pooled, and
#    in the decoder concatenate the matching one along the channel dimension,
#    `torch.cat([upsampled, skip], dim=1)`, before each decoder convolution and before the
#    head. The deepest encoder level meets the first decoder step, so use the saved maps in
#    reverse order (a list's `pop()` does this);
# 2. in `__init__`, give every convolution that now receives a concatenation the right
#    number of input channels.
#
# Keep the names `encoder`, `bottleneck`, `decoder` and `head`: the check looks for them.

# %%
from course_utils.models import check_input_size, conv_block


class UNet(nn.Module):
    """EncDec with skip connections: encoder features concatenated into the decoder."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 depth: int = 4, batch_norm: bool = True):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be at least 1, got {depth} and {width}")
        self.depth = depth
        self.encoder = nn.ModuleList(
            conv_block(in_channels if i == 0 else width, width, batch_norm) for i in range(depth)
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = conv_block(width, width, batch_norm)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        # HINT: each decoder conv and the head now read upsampled features AND a skip: how many channels is that?
        ### BEGIN SOLUTION
        self.decoder = nn.ModuleList(
            conv_block(2 * width, width, batch_norm) for _ in range(depth - 1)
        )
        self.head = nn.Conv2d(2 * width, out_channels, 3, padding=1)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.depth)
        # HINT: keep each encoder output before it is pooled; each decoder step joins the upsampled map with the kept map of the same size (which one is that, and along which dimension?)
        ### BEGIN SOLUTION
        skips = []
        for conv in self.encoder:
            x = conv(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for conv in self.decoder:
            x = conv(torch.cat([self.up(x), skips.pop()], dim=1))
        return self.head(torch.cat([self.up(x), skips.pop()], dim=1))
        ### END SOLUTION


# %% [markdown]
# The check builds small versions of your class and tests that the output has the input's
# size for several sizes, that gradients reach the first encoder layer, that **every** skip
# is used (it perturbs one encoder level while feeding the deeper levels their unperturbed
# input, so only a skip can carry the change to the output), that the parameter count
# matches, and that an input the network cannot halve `depth` times is refused with a
# clear message.

# %% points=4
from course_utils.checks.models import check_unet

check_unet(UNet)

# %% [markdown]
# ## Where the channels change
#
# The same forward pass, now through both networks side by side. Only the decoder rows and
# the head differ.

# %%
# NBVAL_CHECK_OUTPUT
plain = conv_shapes(models.EncDec(width=16, depth=4), example)
skipped = conv_shapes(UNet(width=16, depth=4), example)
print(f"{'layer':12s} {'EncDec input':>13s} {'UNet input':>11s}  extra")
for name in plain:
    extra = int(skipped[name][0].split("x")[0]) - int(plain[name][0].split("x")[0])
    print(f"{name:12s} {plain[name][0]:>13s} {skipped[name][0]:>11s}  {f'+{extra}' if extra else ''}")

# %% [markdown]
# Each decoder convolution and the head read the upsampled decoder map (16 channels here)
# *and* the encoder map of the same height and width (another 16): twice `width`. The
# height and width do not change, which is why the encoder map must be taken before its
# pooling. The encoder and the bottleneck are untouched.
#
# A 3 x 3 convolution from `c_in` to `c_out` channels has `9 c_in c_out + c_out` weights
# and biases (no bias when BatchNorm follows), so doubling `c_in` doubles its weights.

# %%
encdec = models.EncDec(width=WIDTH, depth=DEPTH)
unet = UNet(width=WIDTH, depth=DEPTH)
for name, model in (("EncDec", encdec), ("UNet", unet)):
    print(f"{name:7s} {models.count_parameters(model):7,d} parameters")
extra = models.count_parameters(unet) - models.count_parameters(encdec)
assert extra == 9 * WIDTH * WIDTH * (DEPTH - 1) + 9 * WIDTH * 1, extra
print(f"extra: {extra:,d} = 9 x {WIDTH} x {WIDTH} x {DEPTH - 1} decoder convs + 9 x {WIDTH} (head)")

# %% [markdown]
# ## The original U-Net: unpadded convolutions, copy and crop
#
# Lecture 001 shows the U-Net of the paper and asks why its input and output have different
# sizes (572 x 572 in, 388 x 388 out). Ronneberger et al. use *unpadded* 3 x 3
# convolutions: by lesson 04's count of kernel positions, a 3 x 3 kernel without padding
# fits `n - 2` times into `n` pixels, so every convolution loses a pixel on each side. Each
# level has two of them, and the encoder's map is taken before the decoder's losses: when
# the two meet, the skip is *larger* than the upsampled decoder map. The paper crops the
# skip to the decoder's size, keeping its centre ("copy and crop"), and then concatenates.

# %% [markdown]
# ### Task: copy and crop
#
# Write `center_crop(skip, size)`: the centre `size = (height, width)` of a batch
# `(N, C, H, W)`, every image and channel alike. Cut half of the difference from each side;
# where the difference is odd, start at `(H - height) // 2`, so that the extra pixel is cut at
# the bottom (and right). A `size` larger than the map cannot be cropped to: raise a
# `ValueError` that says both sizes (slicing past the end would silently return a smaller
# tensor).

# %%
def center_crop(skip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # HINT: how many rows lie above the centre block, and how many columns to its left? Slice the last two dimensions only
    ### BEGIN SOLUTION
    height, width = size
    if height > skip.shape[-2] or width > skip.shape[-1]:
        raise ValueError(f"cannot crop {tuple(skip.shape[-2:])} to the larger {tuple(size)}")
    top, left = (skip.shape[-2] - height) // 2, (skip.shape[-1] - width) // 2
    return skip[..., top:top + height, left:left + width]
    ### END SOLUTION


# %% points=2
from course_utils.checks.crop import check_center_crop

check_center_crop(center_crop)
### BEGIN HIDDEN TESTS
_gen = torch.Generator().manual_seed(2519)
for _shape, _size in (((2, 3, 10, 9), (4, 5)), ((1, 1, 568, 568), (392, 392)), ((3, 2, 5, 8), (5, 1))):
    _skip = torch.rand(_shape, generator=_gen)
    assert torch.equal(center_crop(_skip, _size), models.center_crop(_skip, _size)), (
        f"center_crop of {_shape} to {_size} differs from the centre crop")
### END HIDDEN TESTS

# %% [markdown]
# With your crop, a 572 x 572 tile goes through the paper's layout (depth 4; one channel per
# map, random weights: only the sizes matter here). Each level prints the skip it keeps, and
# each decoder step how much of it the crop cuts.

# %%
def valid_pair(in_channels: int) -> nn.Module:
    """Two unpadded 3 x 3 convolutions with ReLU, one output channel."""
    return nn.Sequential(nn.Conv2d(in_channels, 1, 3), nn.ReLU(),
                         nn.Conv2d(1, 1, 3), nn.ReLU()).to(DEVICE)


tile = torch.rand(1, 1, 572, 572, device=DEVICE)
x, kept = tile, []
with torch.no_grad():
    for level in range(4):
        x = valid_pair(1)(x)
        kept.append(x)
        print(f"encoder {level}: {x.shape[-1]:3d} kept as skip, pooled to {x.shape[-1] // 2}")
        x = nn.functional.max_pool2d(x, 2)
    x = valid_pair(1)(x)
    print(f"bottleneck: {x.shape[-1]}")
    for level in reversed(range(4)):
        up = nn.ConvTranspose2d(1, 1, 2, stride=2).to(DEVICE)(x)
        skip = kept.pop()
        cropped = center_crop(skip, tuple(up.shape[-2:]))
        x = valid_pair(2)(torch.cat([up, cropped], dim=1))
        print(f"decoder {level}: upsampled {up.shape[-1]:3d}, skip {skip.shape[-1]:3d} cropped by "
              f"{(skip.shape[-1] - up.shape[-1]) // 2:2d} per side, output {x.shape[-1]}")
print(f"input {tile.shape[-1]} x {tile.shape[-1]} -> output {x.shape[-1]} x {x.shape[-1]}")
assert x.shape[-1] == 388  # the paper's figure

# %% [markdown]
# Each output pixel of the paper's network is computed from input pixels only, never from
# padding zeros, and the output is the centre of the tile: the paper segments a large image
# tile by tile, with tiles that overlap by the lost border (and mirrors the image at its
# edges). The maps before every pooling must have even sizes (568, 280, 136, 64 above),
# which 572 is chosen for. The networks of this course pad instead: every size is kept, no
# crop is needed, and the border pixels see zeros where the paper's see more image.

# %% [markdown]
# ## Training both on the same budget
#
# Both networks start from the same seed, see the same batches in the same order, and train
# for the same number of epochs with Adam and the stable BCE of lesson 01
# (`nn.BCEWithLogitsLoss`). `training.train_model` seeds, builds a fresh model, shuffles the
# training set into batches with that seed and runs `training.fit`.

# %%
criterion = nn.BCEWithLogitsLoss()
budget = {"epochs": EPOCHS, "batch_size": BATCH_SIZE, "seed": SEED, "device": DEVICE}
encdec, encdec_history = training.train_model(lambda: models.EncDec(width=WIDTH, depth=DEPTH),
                                              criterion, cells["train"], val_loader, **budget)
unet, unet_history = training.train_model(lambda: UNet(width=WIDTH, depth=DEPTH),
                                          criterion, cells["train"], val_loader, **budget)
fig = plotting.plot_history({"EncDec": encdec_history, "UNet": unet_history})
for name, history in (("EncDec", encdec_history), ("UNet", unet_history)):
    print(f"{name:7s} last epoch: train loss {history['train_loss'][-1]:.3f}, "
          f"val Dice {history['val_dice'][-1]:.3f}")
loss_ratio = encdec_history["train_loss"][-1] / unet_history["train_loss"][-1]
print(verdicts.describe_ratio("the encoder-decoder's last training loss",
                              encdec_history["train_loss"][-1], unet_history["train_loss"][-1],
                              larger="larger than the U-Net's", smaller="smaller than the U-Net's"))
reporting.record_outcome("encdec over unet train loss", loss_ratio)

# %% [markdown]
# Look at the *training* loss, not only the validation curves. Usually the
# encoder-decoder's training loss levels off well above the U-Net's (the ratio printed
# above). That is not overfitting: a network that overfits fits its training images *better*.
# The encoder-decoder cannot fit the outlines even of the images it is trained on, because
# the information it would need does not reach its decoder. If your run shows a ratio near
# 1, both networks are still far from fitting (too few epochs) or the outlines are easy
# enough to paint from the coarse grid.
#
# Neither loss can reach zero. The hand-drawn masks wander a pixel in and out of the visible
# rim (lesson 00), and no network can predict that wander from the image; those pixels keep
# a floor under both training losses, which makes their ratio smaller than the difference in
# how well the two fit the outlines.

# %% [markdown]
# ## Test scores, and a score for the outline
#
# Dice and IoU count pixels, and most of a cell's pixels are in its interior, which both
# networks get right. A blurred or jagged outline moves only the thin band of pixels along
# it, so it changes Dice little. The **boundary F1** score looks at the outline alone: it
# extracts the boundary pixels of the prediction and of the truth, and asks what share of
# each lies within `TOLERANCE` pixels of the other (precision and recall of the outline);
# the score is their harmonic mean (`metrics.boundary_f1`).

# %%
per_image = {name: training.test_scores(model, test_loader, DEVICE, tolerance=TOLERANCE,
                                       per_image=True)
             for name, model in (("EncDec", encdec), ("UNet", unet))}
scores = {name: {k: v.mean().item() for k, v in row.items()} for name, row in per_image.items()}
print(f"{'':8s}" + "".join(f"{k:>13s}" for k in scores["UNet"]))
for name, row in scores.items():
    print(f"{name:8s}" + "".join(f"{v:13.3f}" for v in row.values()))
for key in ("Dice", "boundary F1"):
    reporting.record_result(f"{key} EncDec/UNet", f"{scores['EncDec'][key]:.3f}/{scores['UNet'][key]:.3f}",
                         echo=False)

# %%
gaps = verdicts.compare("the U-Net", per_image["UNet"], "the encoder-decoder", per_image["EncDec"])
wider = "wider" if gaps["boundary F1"] > gaps["Dice"] else "not wider"
print(f"The gap on the outline score is {wider} than the gap on Dice "
      f"({gaps['boundary F1']:+.3f} against {gaps['Dice']:+.3f}).")
for key, gap in gaps.items():
    reporting.record_outcome(f"unet minus encdec {key}", gap)

# %% [markdown]
# What to expect, and why: the skips hand the decoder the full-resolution features, so the
# U-Net usually wins on every score, and by more on the outline score than on Dice, because
# the skips help where the outline runs and Dice is dominated by the easy interior. Read the
# lines above for what *your* run shows. Each gap comes with a 95 % confidence interval
# from a paired bootstrap over the test images (lesson 02): how much the gap could move on
# other test images for these two trained networks. It says nothing about another seed;
# this lesson trains one. How large the gaps are depends on the image size and the budget:
# in quick mode, with seed 0 on one machine, the U-Net led by a few hundredths of Dice and
# two to three tenths of boundary F1. **In full mode expect smaller gaps**: on the previous,
# easier cell twin (version 3) with 128 x 128 images, 30 epochs and seeds 0, 1 and 2 on an
# NVIDIA H100 (benchmarks/README.md), both networks got better and the gaps shrank to about
# +0.01 Dice and +0.06 to +0.07 boundary F1: the encoder-decoder's 8 x 8 grid and longer
# training let it draw a fair outline too. The outline gap stayed the wider one in all six
# runs, but how wide depends on the setting, and the U-Net's lead on Dice is small enough in
# full mode to sit within the labels' own wobble (lesson 00).

# %% [markdown]
# ## Looking at the outlines
#
# The first six test images, truth outlined in yellow and prediction filled in magenta, one
# row per network; then a close-up of the right half of each cell.

# %%
images = cells["test"].images[:6].float() / 255
targets = cells["test"].targets[:6]
preds = {"EncDec": training.predict(encdec, images, DEVICE),
         "UNet": training.predict(unet, images, DEVICE)}
fig = plotting.compare_predictions(images, targets, preds)

# %%
fig = plotting.compare_predictions(images, targets, preds, size=2.4,
                                   crop=(SIZE // 4, SIZE // 2, SIZE // 2, SIZE // 2))

# %% [markdown]
# What to look for: the encoder-decoder usually puts its masks in the right place with
# roughly the right size, but its outlines tend to step along in blocks and cut across the
# cell's corners and protrusions, since detail smaller than the bottleneck's
# `2**DEPTH`-pixel cells was pooled away before the decoder could use it. The U-Net's last
# convolution reads the full-resolution encoder features, so its outline can follow the rim
# into the corners. Compare the two rows of the close-up yourself: how clear the difference
# is depends on how well each network trained in your run.

# %% [markdown]
# ## What about gradients?
#
# The exercise sheet also says skips let gradients travel more freely. In the
# encoder-decoder, the loss reaches the first convolution only through every layer of the
# network; in the U-Net the first level's skip is a short cut: from the head straight back
# to the first encoder convolution, two convolutions in all. A gradient that passes through
# many layers is multiplied by many Jacobians and can shrink (or grow); the short path keeps
# it closer to the size it had at the output. The cell below counts the convolutions on
# each path and measures the gradient that reaches the first convolution of each network,
# freshly initialised, for one batch.

# %%
n_convs = sum(isinstance(m, nn.Conv2d) for m in models.EncDec(width=WIDTH, depth=DEPTH).modules())
print(f"convolutions from the loss back to the first one: {n_convs} in the encoder-decoder, "
      f"2 along the U-Net's first skip")
images_batch, targets_batch = next(iter(val_loader))
grad_norms = {}
for name, model_cls in (("EncDec", models.EncDec), ("UNet", UNet)):
    config.seed_everything(SEED)
    model = model_cls(width=WIDTH, depth=DEPTH).to(DEVICE).train()
    criterion(model(images_batch), targets_batch).backward()
    grad_norms[name] = model.encoder[0][0].weight.grad.norm().item()
    print(f"{name:7s} gradient norm at the first convolution: {grad_norms[name]:.4f}")
print(verdicts.describe_ratio("the U-Net's first-layer gradient", grad_norms["UNet"],
                              grad_norms["EncDec"], larger="larger than the encoder-decoder's",
                              smaller="smaller than the encoder-decoder's"))
reporting.record_outcome("first-layer gradient ratio unet/encdec", grad_norms["UNet"] / grad_norms["EncDec"])

# %% [markdown]
# How much the short cut changes the gradient depends on how much the long path loses, and
# that depends on the depth, the width, the image size and the data, not on the skips
# alone. With BatchNorm after every convolution, each layer rescales its output, so a path
# of nine convolutions neither vanishes nor explodes at initialisation; the long path
# loses something, but not orders of magnitude, and the sheet's statement is really about
# deep networks, where the product of many Jacobians drifts far from one. Measured on the
# synthetic twin with seeds 0, 1 and 2, on one machine: in quick mode (64 x 64, `WIDTH`
# 32) the U-Net's first-layer gradient came out one to two times larger; in full mode
# (128 x 128, `WIDTH` 64) about two times; on the course's real cell images, full mode,
# about three times.
# So the skips do help the gradient reach the first layer, as the sheet says, and more so
# in the larger setting; at this depth, though, the encoder-decoder trains too, and what
# the skips change most visibly is the *information* the decoder receives, as the outlines
# above showed.

# %% [markdown]
# ## Questions
#
# **1.** Why must the encoder map be saved *before* the pooling, and not after?

# %% [markdown] points=2
# ### BEGIN SOLUTION
# After pooling, the map has half the height and width, so it no longer matches the
# upsampled decoder map it is concatenated with (`torch.cat` along channels needs equal
# height and width). More importantly, the map before pooling is the one that still knows
# exactly where each edge is; the pooled one has already thrown that away, which is the
# very loss the skip is meant to undo.
# ### END SOLUTION

# %% [markdown]
# **2.** Instead of concatenating, one could *add* the encoder map to the upsampled decoder
# map (as residual networks do). What would change in the constructor, and what might be
# lost?

# %% [markdown] points=2
# ### BEGIN SOLUTION
# Nothing would change in the constructor: the sum has `width` channels, as before, so the
# parameter count stays that of the encoder-decoder. But the decoder convolution can no
# longer tell the two sources apart; it sees one mixture, whereas with a concatenation it
# learns separate weights for "what the coarse context says" and "what the fine features
# say" and can weigh them differently per channel.
# ### END SOLUTION

# %% [markdown]
# **3.** Suppose one model's Dice is only a little higher than another's, but its boundary F1
# is clearly higher. Which score would you report for a task where the outline matters,
# such as measuring a cell's perimeter, and why?

# %% [markdown] points=2
# ### BEGIN SOLUTION
# The boundary score. Dice is dominated by the interior, which is easy; a mask with a
# smooth, wrong outline loses only the thin band of pixels along the rim and still scores
# high. A perimeter computed from such a mask would be far off, and only a score that looks
# at the outline itself (boundary F1, or a distance such as Hausdorff, lesson 07) shows it.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - `depth` poolings leave the encoder-decoder's bottleneck with a grid `2**depth` times
#   coarser than the image (4 x 4 for 64 x 64 with depth 4, 8 x 8 in full mode); position
#   finer than `2**depth` pixels gets through only as far as the channels encode it, which
#   is loosely: the outline suffers more than the interior.
# - A U-Net concatenates each encoder map, taken before pooling, into the decoder step of the
#   same size; every decoder convolution and the head then read `2 * width` channels.
# - On the same budget the U-Net usually scores higher on Dice and IoU and on boundary F1:
#   the skips sharpen the outline. The printed verdicts say what your run shows.
# - Skips also shorten the path of the gradient to the first layer; how much that matters
#   depends on depth, width, image size and data (one to two times larger on the twin in
#   quick mode, about two in full mode, about three on the real cells in full mode, on one
#   machine each).
# - `course_utils.models.UNet` is the reference version the next lessons build on.
#
# **References**
#
# - Ronneberger, Fischer and Brox, *U-Net: Convolutional networks for biomedical image
#   segmentation*, MICCAI 2015.
# - Csurka, Larlus and Perronnin, *What is a good evaluation measure for semantic
#   segmentation?*, BMVC 2013 (the boundary F1 score).
