# %% [markdown]
# # 08 · Further thoughts: augmentation, transfer learning, instances
#
# Three ideas that go beyond the exercises, each tried out on a small scale:
#
# 1. **Paired data augmentation**: more training images for free, provided that every
#    geometric change to an image is applied to its mask in exactly the same way.
# 2. **Transfer learning**: a U-Net whose encoder is the convolutional part of VGG16, a
#    network trained for classification, either frozen or fine-tuned.
# 3. **Instances from a semantic mask**: when two cells touch, a semantic mask says "cell"
#    for both; connected components and a watershed split them apart.
#
# **Learning goals**
#
# - build a paired augmentation pipeline with `torchvision.transforms.v2` and
#   `tv_tensors.Mask`, and prove that image and mask stay aligned;
# - compare training with and without augmentation on a small training set;
# - put a VGG16 encoder into a U-Net, freeze it or fine-tune it, and know what changes
#   without pretrained weights;
# - turn a binary mask into instances with connected components and a distance-transform
#   watershed, and say what a dedicated instance method does differently.

# %% [markdown]
# ## Parameters

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import ndimage
from torchvision import tv_tensors
from torchvision.transforms import v2

from course_utils import config, data, models, plotting, reporting, topology, training, transforms

SEED = 0
QUICK = config.is_quick()
DEVICE = config.get_device()
DATA_ROOT = None
SIZE = 64 if QUICK else 128
WIDTH = 16 if QUICK else 32
SMALL_TRAIN = 24  # training images in the augmentation experiment: "little data"
AUG_EPOCHS = 30 if QUICK else 80
TL_SIZE = 32 if QUICK else 128  # VGG16 is heavy: quick mode trains it on 32 x 32 crops
VGG_DEPTH = 3 if QUICK else 5  # VGG16 blocks used as the encoder (5 = all)
TL_EPOCHS = 5 if QUICK else 20
config.seed_everything(SEED);

# %% [markdown]
# ## 1 · Paired augmentation
#
# Augmentation shows the network each training image in many slightly changed versions, so
# that it learns what does not matter: a cell is a cell whether it is rotated, mirrored,
# a bit larger, or seen in dimmer light. For segmentation the changes fall into two kinds:
#
# - **geometric** (flip, rotate, scale, shift) move pixels: they must move the image *and*
#   its mask, with the *same* random parameters, or the mask no longer covers the object;
# - **photometric** (brightness, contrast, noise) change pixel values: they apply to the
#   image only; "brighter" means nothing for a label.
#
# The cell images are grey phase-contrast frames *rendered through the viridis colour map*,
# so a brighter microscope would move each pixel along viridis's dark-blue-to-yellow curve,
# while `ColorJitter` scales R, G and B together and makes colours viridis never produces;
# mild jitter is still useful, since it stops the network from keying on exact colour
# values (JPEG compression and another rendering shift them too), but it is not a
# physical brightness change: that would map the colours back to grey, change the grey,
# and render it again.
#
# One more trap: a rotated or scaled mask must be resampled with **nearest-neighbour**
# interpolation. Bilinear interpolation, right for photos, invents values between labels:

# %%
facade = data.FacadeDataset("train", DATA_ROOT, size=(96, 64), limit=1)
cells = {split: data.PhCDataset(split, DATA_ROOT, size=SIZE) for split in ("train", "val", "test")}
cell_mask = cells["train"].targets[0].float()  # (1, H, W), values 0/1
facade_ids = facade.targets[0].float()[None]  # (1, H, W), class ids 0..11 and 255
bilinear = v2.InterpolationMode.BILINEAR
for name, mask, labels in [("cell mask", cell_mask, {0, 1}),
                           ("facade labels", facade_ids, set(range(12)) | {data.IGNORE_INDEX})]:
    rotated = v2.functional.rotate(mask, 20, interpolation=bilinear)
    invented = ~torch.isin(rotated, torch.tensor(sorted(labels), dtype=rotated.dtype))
    print(f"{name}: rotated 20° bilinearly, {invented.float().mean():.1%} of the pixels "
          f"hold values that are no label (e.g. {rotated[invented][:3].tolist()})")

# %% [markdown]
# A value of 0.5 in a binary mask might be rounded either way. For class ids rounding does
# not help at all: halfway between a window (2) and a cornice (4) lies 3, a valid id, that
# of a *door*; and next to the padding (255) the values mean nothing. torchvision's
# v2 transforms avoid both traps when you tell them what each tensor is: wrap the image in
# `tv_tensors.Image` and the mask in `tv_tensors.Mask`, pass both **in one call**, and
# every geometric transform draws its parameters once and applies them to both,
# resampling the `Mask` with nearest-neighbour; photometric transforms skip the `Mask`.
# Pixels that a rotation brings in from outside the image get a fill value, which can be
# set per type: `fill={tv_tensors.Image: ..., tv_tensors.Mask: ...}`.
#
# ### The cells' pipeline
#
# A phase-contrast cell has no up, no down and no handedness: mirrored, turned upside down
# or rotated, it is still a plausible cell. So the cells get every flip: random horizontal
# and vertical flips, a `v2.RandomAffine` (rotation up to 30°, shifts up to 5 %, scale
# 0.9-1.1, bilinear resampling for the image, and 0, the background, for mask pixels brought
# in from outside) and a `v2.ColorJitter` of brightness and contrast 0.2.
# `transforms.paired_augmentation` builds such a pipeline from its strengths:

# %%
augment = transforms.paired_augmentation(degrees=30, vflip=0.5)
print(augment)

# %% [markdown]
# ### Proof of alignment
#
# Top row: five random draws of the pipeline, image and mask passed together; the magenta
# outline is the *transformed mask* drawn on the *transformed image*. Bottom row: the same
# pipeline called twice, once for the image and once for the mask, as a hurried
# implementation might do.

# %%
image = cells["train"].images[0].float() / 255
torch.manual_seed(SEED)
paired = [augment(tv_tensors.Image(image), tv_tensors.Mask(cell_mask)) for _ in range(5)]
apart = [(augment(tv_tensors.Image(image)), augment(tv_tensors.Mask(cell_mask))) for _ in range(5)]
fig, axes = plt.subplots(2, 5, figsize=(10, 4.4))
for row, pairs, title in [(0, paired, "one call: aligned"), (1, apart, "two calls: misaligned")]:
    for ax, (img, msk) in zip(axes[row], pairs, strict=True):
        ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
        ax.contour(msk[0].numpy(), levels=[0.5], colors="#ff2e88", linewidths=1.2)
        ax.set_axis_off()
    axes[row, 0].set_title(title, fontsize=9, loc="left")
fig.tight_layout()

# %% [markdown]
# The eye can judge the top row only roughly, since the cell's boundary is subtle. A
# sharper test uses an image that *is* its mask: a bright letter F on a dark ground (F has
# no symmetry, so any mismatch shows). After each transform, threshold the image and
# compare the result with the transformed mask.

# %%
letter = torch.zeros(32, 32)
letter[6:26, 8:13] = 1
letter[6:11, 13:24] = 1
letter[14:18, 13:20] = 1


def alignment_iou(one_call: bool, draws: int = 50) -> float:
    torch.manual_seed(SEED)
    scores = []
    for _ in range(draws):
        img, msk = tv_tensors.Image(letter.expand(3, -1, -1)), tv_tensors.Mask(letter[None])
        if one_call:
            img, msk = augment(img, msk)
        else:
            img, msk = augment(img), augment(msk)
        bright = img.mean(0) > (img.mean(0)[msk[0] > 0].mean() + img.mean(0)[msk[0] == 0].mean()) / 2
        scores.append(((bright & (msk[0] > 0)).sum() / (bright | (msk[0] > 0)).sum()).item())
    return float(np.mean(scores))


print(f"IoU of the letter in the image and in the mask, mean of 50 draws: one call "
      f"{alignment_iou(True):.3f}, two calls {alignment_iou(False):.3f}")

# %% [markdown]
# Passed together, image and mask agree almost perfectly (the small gap comes from the
# bilinear blur at the letter's edges); passed separately, they overlap only by chance.
# `transforms.paired_augmentation()` without arguments is milder than the cells' pipeline:
# rotations up to 15° rather than 30°, and no vertical flip. `transforms.BatchAugment`
# applies a pipeline to every sample of a batch with its own random draw, so that it can
# serve as an `InMemoryLoader(transform=...)`; the comparison further below uses `augment`.

# %% [markdown]
# ### Task: a pipeline for the facades
#
# Facade photos are another matter, and the pipeline is yours to decide. Think about what a
# test photo can look like: is a facade seen upside down one of them? One seen in a mirror?
# The labels are class ids 0..11, 0 being *background* (sky, neighbouring buildings), and
# 255 for pixels nobody labelled. Which label should a pixel get that a rotation or a shift
# brings in from outside the photo, and what would the network learn from each choice?
#
# Write `make_facade_augmentation()`: a `v2.Compose` with the flips you decided on, a small
# `v2.RandomAffine` (a few degrees, a few per cent of shift, mild scaling; bilinear for the
# image) with the fill values you decided on, and a `v2.ColorJitter`. The check runs it on
# a toy facade, a window at the upper left and a shop front along the bottom, and looks at
# what comes out.

# %%
def make_facade_augmentation() -> v2.Compose:
    # HINT: start from the cells' pipeline above and change what a facade's layout and its label ids call for
    ### BEGIN SOLUTION
    return v2.Compose([
        v2.RandomHorizontalFlip(0.5),  # a mirrored facade is still a facade; no vertical flip
        v2.RandomAffine(degrees=5, translate=(0.05, 0.05), scale=(0.9, 1.1),
                        interpolation=bilinear,
                        fill={tv_tensors.Image: 0.0, tv_tensors.Mask: data.IGNORE_INDEX}),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
    ])
    ### END SOLUTION


# %% points=3
from course_utils.checks.augmentation import check_facade_augmentation

augment_facade = make_facade_augmentation()
check_facade_augmentation(augment_facade)
### BEGIN HIDDEN TESTS
for _size in ((64, 40), (96, 64)):
    check_facade_augmentation(make_facade_augmentation(), size=_size)
### END HIDDEN TESTS

# %% [markdown]
# Four draws on a facade of the training set (black marks the ignored pixels):

# %%
torch.manual_seed(SEED)
facade_image = tv_tensors.Image(facade.images[0].float() / 255)
facade_mask = tv_tensors.Mask(facade.targets[0].long())
drawn = [augment_facade(facade_image, facade_mask) for _ in range(4)]
plotting.show_facades(torch.stack([image for image, _ in drawn]),
                      torch.stack([mask for _, mask in drawn]));

# %% [markdown]
# ### Does augmentation help?
#
# Augmentation matters most when there is little data. Train the same small U-Net on only
# `SMALL_TRAIN` training images, once on the images as they are and once through the
# augmentation, for the same number of epochs, and evaluate both on the full validation
# and test sets.

# %%
small_train = data.PhCDataset("train", DATA_ROOT, size=SIZE, limit=SMALL_TRAIN)
val_loader = data.InMemoryLoader(cells["val"], 32, device=DEVICE)
test_loader = data.InMemoryLoader(cells["test"], 64, device=DEVICE)
criterion = torch.nn.BCEWithLogitsLoss()


def train_small(transform) -> tuple[torch.nn.Module, dict]:
    config.seed_everything(SEED)
    loader = data.InMemoryLoader(small_train, 8, shuffle=True, device=DEVICE, drop_last=True,
                                 seed=SEED, transform=transform)
    net = models.UNet(out_channels=1, width=WIDTH)
    history = training.fit(net, criterion, loader, val_loader, epochs=AUG_EPOCHS, lr=3e-3,
                           device=DEVICE)
    return net, history


def geometric_part(pipeline: v2.Compose) -> v2.Compose:
    """The same pipeline without its photometric steps (those that change only the image)."""
    return v2.Compose([t for t in pipeline.transforms if not isinstance(t, v2.ColorJitter)])


aug_runs = {"no augmentation": train_small(None),
            "geometric only": train_small(transforms.BatchAugment(geometric_part(augment),
                                                                  seed=SEED)),
            "paired augmentation": train_small(transforms.BatchAugment(augment, seed=SEED))}
plotting.plot_history({n: h for n, (_, h) in aug_runs.items()}, keys=("train_loss", "val_dice"));

# %%
from course_utils import verdicts

middle = slice(AUG_EPOCHS // 4, AUG_EPOCHS * 3 // 4)
mid_key = f"mean val Dice over epochs {middle.start + 1}-{middle.stop}"
aug_scores, summary, final_loss = {}, {}, {}
for name, (net, history) in aug_runs.items():
    test_dice = training.test_scores(net, test_loader, DEVICE, per_image=True)["Dice"]
    aug_scores[name] = test_dice.mean().item()
    reporting.record_result(f"test Dice, {name}", aug_scores[name], echo=False)
    summary[name] = {"test Dice": test_dice,  # per image: the verdict adds an interval
                     mid_key: float(np.mean(history["val_dice"][middle]))}
    final_loss[name] = history["train_loss"][-1]
    print(f"{name:20s} final train loss {final_loss[name]:.4f}  test Dice "
          f"{aug_scores[name]:.4f}  {mid_key} {summary[name][mid_key]:.4f}")
aug, geo, plain = "paired augmentation", "geometric only", "no augmentation"
diff = verdicts.compare(aug, summary[aug], plain, summary[plain], tie=0.001, digits=4)
geo_diff = verdicts.compare("geometric augmentation alone", summary[geo], plain, summary[plain],
                            tie=0.001, digits=4)
jitter_diff = verdicts.compare("adding the colour jitter", {"test Dice": summary[aug]["test Dice"]},
                               "the geometric steps alone", {"test Dice": summary[geo]["test Dice"]},
                               tie=0.001, digits=4)
for name in (geo, aug):
    print(f"The {name} model ends with the "
          f"{'higher' if final_loss[name] > final_loss[plain] else 'lower'} training loss "
          f"({final_loss[name]:.4f} vs {final_loss[plain]:.4f} without augmentation).")
reporting.record_outcome("augmentation: test Dice gain", diff["test Dice"])
reporting.record_outcome("geometric augmentation: test Dice gain", geo_diff["test Dice"])
reporting.record_outcome("colour jitter on top of geometry: test Dice change",
                         jitter_diff["test Dice"])
reporting.record_outcome("geometric augmentation: mid-training val Dice gap", geo_diff[mid_key])
reporting.record_outcome("augmentation: final train loss ratio", final_loss[aug] / final_loss[plain])
reporting.record_outcome("geometric augmentation: final train loss ratio",
                         final_loss[geo] / final_loss[plain])

# %% [markdown]
# What to expect, and what to look for in the lines above. An augmented model usually ends
# with the *higher* training loss: each epoch shows it new variants, so it cannot memorise
# the 24 images. That is the point: with little data, augmentation turns some of the
# overfitting into generalisation, and the test Dice is where a gain, if any, shows.
#
# The two augmented runs make different bets. A flip, a rotation or a small shift shows the
# network a cell it could really meet (cells lie at any angle, and the label moves with
# them). Colour jitter bets that the test images vary in brightness and contrast as much as
# the jitter does. The second and third verdict lines say how each bet went in this run.
# When this lesson was written, on the synthetic cells in quick mode (seeds 0, 1 and 2, one
# machine), the geometric steps alone gained one to two hundredths of test Dice in every
# seed. Adding the jitter cost several hundredths in seeds 0 and 1 and almost nothing in
# seed 2, and the curves say why the seeds disagree: the jittered run's validation Dice
# jumped by up to a tenth from one epoch to the next in every seed, so its test score
# depends on which epoch happens to be the last.
#
# Part of such a cost need not come from what the network learnt, but from BatchNorm
# (lesson 01): its running averages are taken over the *jittered* batches, whose brightness
# and contrast spread more than the plain test images', so eval mode normalises the test
# images with statistics that do not fit them. Test that: keep the jittered model's
# weights, recompute its BatchNorm statistics on the plain training images
# (`torch.optim.swa_utils.update_bn`, on a copy), and score it again.

# %%
import copy

from torch.optim.swa_utils import update_bn

recalibrated = copy.deepcopy(aug_runs[aug][0])
update_bn(data.InMemoryLoader(small_train, 8, device=DEVICE), recalibrated)  # no augmentation
recalibrated_dice = training.test_scores(recalibrated, test_loader, DEVICE)["Dice"]
print(f"{aug}: test Dice {aug_scores[aug]:.4f} with the running averages of training, "
      f"{recalibrated_dice:.4f} with BatchNorm statistics of the plain training images "
      f"({recalibrated_dice - aug_scores[aug]:+.4f}); geometric only: {aug_scores[geo]:.4f}, "
      f"no augmentation: {aug_scores[plain]:.4f}.")
reporting.record_outcome("jittered model: test Dice gain of plain BatchNorm statistics",
                         recalibrated_dice - aug_scores[aug])

# %% [markdown]
# If the recalibrated score climbs most of the way back, the jittered network had learnt to
# find the cells, and its statistics, not its weights, held it down: the same diagnosis as
# lesson 01's, with augmentation as the cause. (With momentum 0.3 and three batches per
# epoch, the running averages are mostly those of the last few jittered batches, which is
# why the score jumps from epoch to epoch.) Photometric augmentation is worth its place
# where the test images really do vary that way (another microscope, another exposure);
# with BatchNorm, recompute the statistics on plain images before you evaluate, or use a
# normalisation that keeps no running averages (GroupNorm).
#
# Two caveats hold for every verdict above. First, look at the middle of training too (the
# curves, and the mid-training means): augmentation is a regulariser that needs epochs to
# pay off, and a run stopped halfway can tell the opposite story. Second, each test
# difference is one seed on one dataset. Its interval (a paired bootstrap over the test
# images, lesson 02) says whether the gain is larger than the choice of test images
# explains, for these two trained models; it says nothing about another seed. On the
# previous, easier cell twin (version 3, whose outlines were sharp dark rims) the whole
# pipeline, jitter included, gained about a hundredth of test Dice in quick mode with each
# of the seeds 0, 1 and 2 (on one machine), and +0.008 in full mode with seed 0 (0.972
# against 0.964 on an NVIDIA H100, benchmarks/README.md). Three seeds of one sign are weak
# evidence on their own: with no effect at all they happen one time in four (the sign
# test's $p = 0.25$, lesson 02). More would be needed: an interval clear of 0 in each run
# (look at yours above), and a known cause. On a real project, run more seeds (six of one
# sign give $p \approx 0.03$) before you trust a difference this small.

# %% [markdown]
# ## 2 · Transfer learning: a VGG16 encoder
#
# With few labelled images, an encoder that has already learnt general visual features
# (edges, textures, parts of objects) from a large dataset can help. A popular choice is
# the convolutional part of **VGG16**, trained on ImageNet: five blocks of 3x3
# convolutions (64, 128, 256, 512, 512 channels), each followed by max-pooling, exactly
# the shape of a U-Net encoder. `models.VGG16UNet` takes its first `depth` blocks as the
# encoder (the outputs of all but the last become skip connections), adds a U-Net decoder
# and a 1x1 head, and normalises inputs the way the ImageNet weights expect.
#
# Two ways to use it:
#
# - **frozen**: the encoder's weights stay fixed, only the decoder learns. Fast (no
#   gradients through the encoder), few trainable parameters, no risk of destroying the
#   pretrained features with a large learning rate;
# - **fine-tuned**: all weights learn, so the features can adapt to phase-contrast cells,
#   which look nothing like ImageNet photos.
#
# The pretrained weights are a 528 MB file. The course never downloads anything: it uses
# them only if they are already in the torch hub cache, as
# `$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth`; on the course hub the instructor
# provides them for everyone (the README's section "Pretrained VGG16 weights for lesson
# 08" says how). So this section runs in one of two cases, and the next cell says which.

# %%
weights_file = models.vgg16_weights_file()
PRETRAINED = weights_file is not None
if PRETRAINED:
    print(f"PRETRAINED case: ImageNet weights found at {weights_file}. The encoder starts from "
          f"features learnt on 1.2 million photos; the comparison below is about transfer: "
          f"keep those features fixed, or adapt them to the cells.")
else:
    print(f"RANDOM-WEIGHTS case: no VGG16 ImageNet weights at {torch.hub.get_dir()}/checkpoints "
          f"(and no download is attempted). The encoder starts from random weights, so nothing "
          f"is transferred: the comparison below shows what freezing saves and costs, not what "
          f"pretraining brings.")
reporting.record_result("VGG16 weights", "ImageNet" if PRETRAINED else "random (not cached)",
                     echo=False)

# %% [markdown]
# VGG16's convolutional part has hundreds of times the parameters of the small U-Nets of
# this course (next cell), so quick mode trains it on `TL_SIZE` x `TL_SIZE` crops and uses
# only its first `VGG_DEPTH` blocks.

# %%
print(f"parameters: VGG16 U-Net with all 5 blocks "
      f"{models.count_parameters(models.VGG16UNet(depth=5)):,d}, with {VGG_DEPTH} blocks "
      f"{models.count_parameters(models.VGG16UNet(depth=VGG_DEPTH)):,d}; small U-Net "
      f"{models.count_parameters(models.UNet(width=WIDTH)):,d}")
tl_data = {split: data.PhCDataset(split, DATA_ROOT, size=TL_SIZE) for split in ("train", "val", "test")}
tl_train = data.InMemoryLoader(tl_data["train"], 16, shuffle=True, device=DEVICE, drop_last=True,
                               seed=SEED)
tl_val = data.InMemoryLoader(tl_data["val"], 32, device=DEVICE)
tl_test = data.InMemoryLoader(tl_data["test"], 64, device=DEVICE)

tl_runs = {}
for name, frozen in [("frozen encoder", True), ("fine-tuned encoder", False)]:
    config.seed_everything(SEED)
    net = models.VGG16UNet(out_channels=1, depth=VGG_DEPTH, pretrained=PRETRAINED,
                           freeze_encoder=frozen)
    history = training.fit(net, criterion, tl_train, tl_val, epochs=TL_EPOCHS, lr=1e-3,
                           device=DEVICE)
    test = training.evaluate(net, tl_test, DEVICE)["dice"]
    tl_runs[name] = (models.count_parameters(net), np.mean(history["seconds"]), test)
    print(f"{name:19s} trainable parameters {tl_runs[name][0]:>9,d}  "
          f"{tl_runs[name][1]:5.1f} s/epoch  test Dice {test:.4f}")

# %%
(frozen_params, frozen_s, frozen_dice), (tuned_params, tuned_s, tuned_dice) = tl_runs.values()
assert frozen_params < tuned_params  # freezing takes the encoder's weights out of training
print(f"Freezing trains {frozen_params / tuned_params:.0%} of the parameters. In this run an "
      f"epoch with the frozen encoder takes {frozen_s:.1f} s, {frozen_s / tuned_s:.2f} times "
      f"the {tuned_s:.1f} s of the fine-tuned one.")
verdicts.compare("the fine-tuned encoder", {"test Dice": tuned_dice}, "the frozen encoder",
                 {"test Dice": frozen_dice}, digits=4)
best_vgg = max(frozen_dice, tuned_dice)
best_small = max(aug_scores, key=aug_scores.get)
verdicts.compare(f"the small U-Net ({best_small})", {"test Dice": aug_scores[best_small]},
                 "the better VGG16 run", {"test Dice": best_vgg}, digits=4)
reporting.record_outcome("VGG16 weights pretrained", PRETRAINED)
reporting.record_outcome("small U-Net minus best VGG16 test Dice",
                         aug_scores[best_small] - best_vgg)

# %% [markdown]
# What the numbers do and do not show:
#
# - **Freezing is cheaper.** Far fewer parameters learn, and an epoch usually takes less
#   time, because no gradient flows back through the encoder; the first line above gives
#   this run's times (fixed costs, such as evaluation and data handling, narrow the gap).
# - **In the random-weights case there is nothing to transfer.** A frozen random encoder
#   is a fixed set of random filters; the decoder learns to read the cells from them,
#   which can work for a task this simple. The fine-tuned run can adapt its features, but
#   must learn many more weights from the same 121 images in a few epochs. Whichever of
#   the two a short run favours (see the verdict), it says nothing about transfer
#   learning. Nor does the last verdict: from random weights VGG16, which has no
#   BatchNorm, trains slowly, and quick mode shows it only 32 x 32 crops for a few epochs,
#   so it usually stays below the best of the small U-Nets of section 1.
# - **In the pretrained case** the question becomes the interesting one: frozen pretrained
#   features usually give a good start after very few epochs, and fine-tuning, often with
#   a smaller learning rate for the encoder than for the decoder, then adapts them to the
#   new images. Compare the two verdicts with those of a random-weights run to see what the
#   ImageNet features bring on these cells.

# %% [markdown]
# ## 3 · From a semantic mask to instances
#
# A semantic mask answers "which pixels are cell?", not "which pixels belong to which
# cell?". As long as cells stay apart, **connected components** give the instances: every
# separate piece of foreground is one cell. Once two cells touch, they form one piece.
#
# To build touching cells, take the predicted masks of two test images from the best of the
# three small U-Nets of section 1 and place them side by side, overlapping by a few pixels. Of each mask we keep its
# largest piece (`topology.largest_component`): a prediction can carry a stray speck, which
# would count as an object of its own.

# %%
probs = training.predict(aug_runs[best_small][0], cells["test"].images[:2].float() / 255, device=DEVICE)
left, right = (topology.largest_component(p) for p in probs[:, 0] >= 0.5)


def touching_offset(left: np.ndarray, right: np.ndarray, shared: int = 4) -> int:
    """The largest shift of ``right`` to the right of ``left`` at which the two masks still
    share ``shared`` pixels: placed there, the cells overlap and so touch."""
    width = left.shape[1]
    for offset in range(width - 1, 0, -1):
        if (left[:, offset:] & right[:, : width - offset]).sum() >= shared:
            return offset
    return 0


offset = touching_offset(left, right)
pair = np.zeros((SIZE, offset + SIZE), dtype=bool)
pair[:, :SIZE] |= left
pair[:, offset : offset + SIZE] |= right
labels_cc, count = ndimage.label(pair, np.ones((3, 3)))
print(f"two cells, {count} connected component(s)")

# %% [markdown]
# ### The watershed
#
# The distance transform gives every foreground pixel its distance to the background. Two
# touching round cells become two hills of distance joined by a saddle at the neck where
# they touch. Place one **marker** at the top of each hill (a local maximum of the
# distance), then flood the inverted landscape $-d$ from the markers: each pixel joins the
# marker whose flood reaches it first, and the floods meet at the neck. That is a
# marker-controlled **watershed**; `topology.watershed(height, markers, mask)` implements
# it by priority flooding (SciPy has no such function: its `watershed_ift` weights the
# edges between pixels by their difference, which on a smooth distance map is nearly flat).
#
# ### Task: split a mask into instances
#
# 1. the distance map of the mask, `ndimage.distance_transform_edt`;
# 2. a smoothed copy of it, `ndimage.gaussian_filter` with `sigma`: a ragged outline puts
#    small bumps into the distance map, and each bump would become a peak;
# 3. peaks: pixels equal to the maximum of `smooth` in a `(2 * min_distance + 1)` window
#    (`ndimage.maximum_filter`) *and* at least `min_distance` from the background;
# 4. markers: `ndimage.label(peaks)` numbers the peaks (a flat peak of several pixels
#    becomes one marker);
# 5. the watershed of the inverted smoothed map, `topology.watershed(height, markers, mask)`.

# %%
def split_instances(mask: np.ndarray, min_distance: int = 5, sigma: float = 2.0) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    # HINT: edt, then gaussian_filter; peaks = (smooth == maximum_filter(smooth, ...)) & (dist >= min_distance); label; watershed
    ### BEGIN SOLUTION
    dist = ndimage.distance_transform_edt(mask)
    smooth = ndimage.gaussian_filter(dist, sigma)
    window = 2 * min_distance + 1
    peaks = (smooth == ndimage.maximum_filter(smooth, size=window)) & (dist >= min_distance)
    markers, _ = ndimage.label(peaks)
    return topology.watershed(-smooth, markers, mask)
    ### END SOLUTION


# %% points=2
from course_utils.checks.instances import check_split_instances

check_split_instances(split_instances)

# %% [markdown]
# Now the two touching predicted cells, and a harder case: a synthetic cluster of six
# discs of different sizes that touch their neighbours.

# %%
yy, xx = np.mgrid[:72, :100]
discs = [(22, 22, 15), (20, 48, 13), (26, 74, 15), (48, 24, 14), (50, 50, 15), (52, 76, 13)]
cluster = np.zeros((72, 100), dtype=bool)
for cy, cx, r in discs:
    cluster |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2


def show_instances(ax, labels: np.ndarray, title: str) -> None:
    colours = plt.get_cmap("tab10")(np.arange(10))
    rgb = np.zeros((*labels.shape, 3))
    for k in range(1, labels.max() + 1):
        rgb[labels == k] = colours[(k - 1) % 10, :3]
    ax.imshow(rgb, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


fig, axes = plt.subplots(2, 3, figsize=(10, 5.2))
counts = {}
scale = SIZE // 64  # the predicted cells grow with SIZE; the discs do not
cases = [("two predicted cells", pair, scale), ("six touching discs", cluster, 1)]
for row, (name, mask, s) in enumerate(cases):
    components = ndimage.label(mask, np.ones((3, 3)))[0]
    instances = split_instances(mask, min_distance=5 * s, sigma=2.0 * s)
    counts[name] = (components.max(), instances.max())
    axes[row, 0].imshow(mask, cmap="gray", interpolation="nearest")
    axes[row, 0].set_title(f"{name}: semantic mask", fontsize=9)
    axes[row, 0].set_axis_off()
    show_instances(axes[row, 1], components, f"connected components: {components.max()}")
    show_instances(axes[row, 2], instances, f"watershed instances: {instances.max()}")
fig.tight_layout()
for name, expected in [("two predicted cells", 2), ("six touching discs", 6)]:
    found_cc, found_ws = (int(n) for n in counts[name])
    print(f"{name}: {expected} objects; connected components find {found_cc}, the watershed "
          f"{found_ws}" + (" (all of them)." if found_ws == expected else
                           f" ({'too many' if found_ws > expected else 'too few'})."))
    reporting.record_outcome(f"watershed count, {name}", found_ws)
    reporting.record_outcome(f"component count, {name}", found_cc)

# %% [markdown]
# Connected components see one object wherever objects touch; the watershed usually
# recovers each object, in its own colour, with the cuts at the necks (the lines above
# count both for this run; the predicted cells come from a trained U-Net, so their
# outlines change with the seed). Its weak spots are built into the recipe: `min_distance` and `sigma` must suit the cell size (too
# small, and an elongated or ragged cell gets two peaks and is cut in two; too large, and
# two small neighbours share one marker), and where two cells overlap heavily there is no
# neck left to cut at.
#
# ### What a dedicated instance method does differently
#
# The pipeline above trains a network for the semantic question and answers the instance
# question afterwards with fixed rules. Instance segmentation methods make the network
# answer it:
#
# - **detect, then segment** (Mask R-CNN): the network proposes a box per object, then
#   predicts a mask inside each box. Every instance gets its own mask, so instances may
#   even overlap, and touching cells are separated by the detector, not by a saddle.
# - **predict the separation** as a target: a third class for the thin border between
#   touching cells, weighted heavily in the loss (the original U-Net paper does this for
#   cells); or, per pixel, a quantity that points to its own cell, such as the distances to
#   the cell's outline along a set of rays (StarDist) or a flow field towards the cell's
#   centre (Cellpose), from which instances are grouped.
# - all of them need **instance labels** for training: an ID per cell, not just a binary
#   mask; and they are judged with instance metrics (each predicted cell matched to a true
#   one, then average precision over IoU thresholds), not with pixel-wise Dice.

# %% [markdown]
# ## Questions
#
# 1. Which of these augmentations must be applied to the mask as well: horizontal flip,
#    Gaussian blur, rotation by 90°, gamma correction, elastic deformation, cut-out (a
#    random rectangle of the image set to grey)? For cut-out, what should the mask do?
# 2. Section 1 shows that colour jitter can cost Dice (whatever your run's verdict said).
#    Name a dataset where the same jitter would be worth its cost, and say what you would
#    check in the test images before adding it.
# 3. When would you freeze a pretrained encoder rather than fine-tune it?
# 4. The watershed split the six discs correctly. Describe a pair of touching cells it would
#    fail on, and why.

# %% [markdown] points=2
# ### BEGIN SOLUTION
# 1. Geometric ones move pixels and must be applied to the mask too: flip, rotation,
#    elastic deformation. Blur and gamma change values only: image only. Cut-out hides
#    part of the image without moving anything, so the mask stays as it is; whether the
#    hidden pixels should still count in the loss is a choice (keeping them asks the
#    network to infer the hidden part from context; setting them to the ignore index does
#    not).
# 2. Wherever the test images really vary in brightness and contrast: photos taken
#    outdoors at different times of day (the facades), or microscopy from several
#    microscopes, lamps or exposure settings. Check the spread of the test images' mean
#    brightness and contrast (per image) against the training images': if the test set
#    varies as much as the jitter, it teaches what the test needs; if it is as uniform as
#    the training set, the jitter only adds variety the network never meets, and with
#    BatchNorm its running statistics drift (recompute them on plain images).
# 3. With very few labelled images (too few to adapt millions of weights without
#    overfitting), when the new images resemble the pretraining data, when compute is
#    tight, or as a first phase before fine-tuning with a small learning rate.
# 4. Two cells of very different sizes that overlap so much that the distance map has no
#    saddle between them (the small one's peak lies on the big one's slope), or two
#    elongated cells touching along their long sides: the distance map then has ridges,
#    not peaks, and may give one marker too many or too few.
# ### END SOLUTION

# %% [markdown]
# ## Conclusion
#
# - Pass image and mask to a v2 transform **together**, wrapped as `tv_tensors.Image` and
#   `tv_tensors.Mask`: geometry then moves both identically, masks are resampled
#   nearest-neighbour, and colour changes touch only the image.
# - With little data, augmentation is a regulariser: it raises the training loss, needs
#   epochs to pay off, and its gain on the test set is small enough here that only several
#   seeds would show it reliably (the verdicts say what this run found).
# - An augmentation is a claim about the test data. Geometry that the cells really have
#   costs little; colour jitter pays only where brightness and contrast really vary, and on
#   colour-mapped images it is a robustness trick, not a physical change of brightness.
# - Augmentation also changes BatchNorm's running statistics; recompute them on plain images
#   (`update_bn`) before blaming the weights.
# - A VGG16 encoder fits into a U-Net directly. Freezing it is cheap; whether it helps
#   depends on pretrained weights, and the lesson says which case each run is in.
# - Connected components turn a semantic mask into instances until objects touch; a
#   distance-transform watershed separates touching round objects; dedicated instance
#   methods learn the separation instead.
#
# **References**
#
# - Ronneberger, Fischer and Brox, *U-Net*, MICCAI 2015 (augmentation, border weights).
# - Simonyan and Zisserman, *Very deep convolutional networks for large-scale image
#   recognition*, ICLR 2015 (VGG16); Iglovikov and Shvets, *TernausNet*, 2018 (a VGG
#   encoder in a U-Net).
# - He et al., *Mask R-CNN*, ICCV 2017; Schmidt et al., *StarDist*, MICCAI 2018; Stringer
#   et al., *Cellpose*, Nature Methods 2021.
# - Beucher and Meyer, *The morphological approach to segmentation: the watershed
#   transformation*, 1993.
# - torchvision documentation: *Transforms v2* and `tv_tensors`.
