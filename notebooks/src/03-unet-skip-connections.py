# %% [markdown]
# # 03 · U-Net: skip connections
#
# The encoder-decoder of lesson 01 squeezes the image to a grid 16 times coarser in each
# direction (4 x 4 for a 64 x 64 image) and then has to paint the cell's outline back at
# full resolution from that coarse summary alone. The U-Net of Ronneberger et al. (2015) hands the decoder a second input at every
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
# ## Data
#
# The cell images of lesson 00: `train` for fitting, `val` to watch training, `test` for the
# final comparison only.

# %%
import torch
from torch import nn

from course_utils import data, metrics, models, plotting, training

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
print(f"{'layer':12s} {'input':>10s} {'output':>10s}")
for name, (shape_in, shape_out) in conv_shapes(models.EncDec(width=16, depth=4), example).items():
    print(f"{name:12s} {shape_in:>10s} {shape_out:>10s}")

# %% [markdown]
# Read the table top to bottom. The encoder halves the grid four times: the bottleneck works
# on 4 x 4 pixels, each of which stands for a 16 x 16 patch of the input. Whatever the
# decoder knows about *where exactly* the outline runs must pass through that 4 x 4 grid of
# 16 numbers. Pooling keeps the strongest response in each 2 x 2 window and forgets where in
# the window it was; four poolings forget the position to within 16 pixels. Upsampling then
# copies each value into a block, so the decoder starts from blocky maps and its 3 x 3
# convolutions can only smooth them.
#
# The encoder, however, *had* the precise information: its first convolution ran at 64 x 64.
# A skip connection passes that map straight across to the decoder step of the same size.

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
        # HINT: append each encoder output to a list before pooling; in the decoder use torch.cat([self.up(x), skips.pop()], dim=1)
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

# %%
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
# ## Training both on the same budget
#
# Both networks start from the same seed, see the same batches in the same order, and train
# for the same number of epochs with Adam and the stable BCE of lesson 01
# (`nn.BCEWithLogitsLoss`).

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


encdec, encdec_history = train(models.EncDec)
unet, unet_history = train(UNet)
fig = plotting.plot_history({"EncDec": encdec_history, "UNet": unet_history})
for name, history in (("EncDec", encdec_history), ("UNet", unet_history)):
    print(f"{name:7s} last epoch: train loss {history['train_loss'][-1]:.3f}, "
          f"val Dice {history['val_dice'][-1]:.3f}")

# %% [markdown]
# The encoder-decoder's *training* loss levels off far above the U-Net's. It is not
# overfitting: it cannot even fit the outlines of the images it is trained on, because the
# information it would need does not reach its decoder.

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
def test_scores(model) -> dict[str, float]:
    pred = training.predict(model, test_loader, DEVICE) >= 0.5
    target = cells["test"].targets.bool()
    return {"Dice": metrics.dice_score(pred, target), "IoU": metrics.iou_score(pred, target),
            "boundary F1": metrics.boundary_f1(pred, target, tolerance=TOLERANCE)}


scores = {"EncDec": test_scores(encdec), "UNet": test_scores(unet)}
print(f"{'':8s}" + "".join(f"{k:>13s}" for k in scores["UNet"]))
for name, row in scores.items():
    print(f"{name:8s}" + "".join(f"{v:13.3f}" for v in row.values()))
for key in ("Dice", "boundary F1"):
    config.record_result(f"{key} EncDec/UNet", f"{scores['EncDec'][key]:.3f}/{scores['UNet'][key]:.3f}",
                         echo=False)

# %% [markdown]
# The U-Net wins on every score. The gap is wider on the boundary score than on Dice: the
# skips mostly help where the outline runs. The next cell makes this a hard requirement of
# the lesson.

# %%
gap_dice = scores["UNet"]["Dice"] - scores["EncDec"]["Dice"]
gap_boundary = scores["UNet"]["boundary F1"] - scores["EncDec"]["boundary F1"]
print(f"U-Net minus encoder-decoder: Dice {gap_dice:+.3f}, boundary F1 {gap_boundary:+.3f}")
assert all(scores["UNet"][k] > scores["EncDec"][k] for k in scores["UNet"])
assert gap_dice > 0.01 and gap_boundary > 2 * gap_dice

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
# The encoder-decoder puts its masks in the right place with roughly the right size, but
# its outlines step along in blocks and cut across the cell's corners and protrusions:
# detail smaller than the bottleneck's 16-pixel cells was pooled away before the decoder
# could use it. The U-Net's outline follows the rim into its corners, because its last
# convolution reads the full-resolution encoder features.

# %% [markdown]
# ## What about gradients?
#
# The exercise sheet also says skips let gradients travel more freely. That is true of deep
# networks without normalisation, where a gradient passing through many layers can shrink
# to nothing. Here is the size of the gradient that reaches the first convolution of each
# network, freshly initialised, for one batch:

# %%
images_batch, targets_batch = next(iter(val_loader))
grad_norms = {}
for name, model_cls in (("EncDec", models.EncDec), ("UNet", UNet)):
    config.seed_everything(SEED)
    model = model_cls(width=WIDTH, depth=DEPTH).to(DEVICE).train()
    criterion(model(images_batch), targets_batch).backward()
    grad_norms[name] = model.encoder[0][0].weight.grad.norm().item()
    print(f"{name:7s} gradient norm at the first convolution: {grad_norms[name]:.4f}")
ratio = grad_norms["UNet"] / grad_norms["EncDec"]
print(f"ratio UNet / EncDec: {ratio:.2f}")
assert 0.5 < ratio < 2

# %% [markdown]
# The two gradients are of similar size, well within a factor of two of each other: with
# BatchNorm after every convolution and only ten layers, nothing vanishes in the first
# place, so the skips have nothing to rescue here. What they change in this network is the information the decoder receives, not how
# well the encoder can be trained.

# %% [markdown]
# ## Questions
#
# **1.** Why must the encoder map be saved *before* the pooling, and not after?

# %% [markdown]
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

# %% [markdown]
# ### BEGIN SOLUTION
# Nothing would change in the constructor: the sum has `width` channels, as before, so the
# parameter count stays that of the encoder-decoder. But the decoder convolution can no
# longer tell the two sources apart; it sees one mixture, whereas with a concatenation it
# learns separate weights for "what the coarse context says" and "what the fine features
# say" and can weigh them differently per channel.
# ### END SOLUTION

# %% [markdown]
# **3.** The U-Net's Dice is only a few points higher, but its boundary F1 is much higher.
# Which score would you report for a task where the outline matters, such as measuring a
# cell's perimeter, and why?

# %% [markdown]
# ### BEGIN SOLUTION
# The boundary score. Dice is dominated by the interior, which is easy; a mask with a
# smooth, wrong outline loses only the thin band of pixels along the rim and still scores
# high. A perimeter computed from such a mask would be far off, and only a score that looks
# at the outline itself (boundary F1, or a distance such as Hausdorff, lesson 07) shows it.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - Four poolings leave the encoder-decoder's bottleneck with a 4 x 4 grid on a 64 x 64
#   image; position detail below 16 pixels does not get through.
# - A U-Net concatenates each encoder map, taken before pooling, into the decoder step of the
#   same size; every decoder convolution and the head then read `2 * width` channels.
# - On the same budget the U-Net scores higher on Dice and IoU and much higher on boundary
#   F1: the skips sharpen the outline.
# - `course_utils.models.UNet` is the reference version the next lessons build on.
#
# **References**
#
# - Ronneberger, Fischer and Brox, *U-Net: Convolutional networks for biomedical image
#   segmentation*, MICCAI 2015.
# - Csurka, Larlus and Perronnin, *What is a good evaluation measure for semantic
#   segmentation?*, BMVC 2013 (the boundary F1 score).
