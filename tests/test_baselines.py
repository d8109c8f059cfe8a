import numpy as np
import pytest
import torch

from course_utils import baselines


def test_otsu_splits_two_grey_levels_between_them():
    grey = np.array([[10, 10, 10, 200], [10, 10, 200, 200]], dtype=np.uint8)
    t = baselines.otsu_threshold(grey)
    assert 10 <= t < 200
    assert ((grey > t) == (grey == 200)).all()


def test_otsu_on_a_bimodal_histogram_separates_the_modes():
    rng = np.random.default_rng(0)
    grey = np.concatenate([rng.normal(60, 8, 3000), rng.normal(170, 8, 1000)])
    grey = grey.clip(0, 255).round().astype(np.uint8)
    upper = grey > baselines.otsu_threshold(grey)
    assert not upper[:3000].any() and upper[3000:].all()


def test_otsu_constant_image_gives_an_empty_upper_class():
    grey = np.full((4, 4), 7, dtype=np.uint8)
    assert not (grey > baselines.otsu_threshold(grey)).any()


def test_otsu_rejects_float_images():
    with pytest.raises(ValueError, match="uint8"):
        baselines.otsu_threshold(np.zeros((2, 2)))


def test_otsu_masks_per_image_and_polarity():
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    images[0, :, :2] = 200  # bright top half
    images[1] = 100
    images[1, :, :, 3] = 30  # dark right column
    bright = baselines.otsu_masks(images)
    assert bright.shape == (2, 1, 4, 4) and bright.dtype == torch.bool
    assert bright[0, 0, :2].all() and not bright[0, 0, 2:].any()
    dark = baselines.otsu_masks(images, polarity="dark")
    assert (dark == ~bright).all()
    assert dark[1, 0, :, 3].all() and not dark[1, 0, :, :3].any()


@pytest.mark.parametrize(("images", "polarity", "message"), [
    (torch.zeros(1, 3, 4, 4), "bright", "uint8 tensor"),
    (torch.zeros(3, 4, 4, dtype=torch.uint8), "bright", r"shape \(3, 4, 4\)"),
    (torch.zeros(1, 3, 4, 4, dtype=torch.uint8), "light", "polarity must be"),
])
def test_otsu_masks_bad_input(images, polarity, message):
    with pytest.raises(ValueError, match=message):
        baselines.otsu_masks(images, polarity)


def test_otsu_dice_takes_the_better_polarity_per_image():
    row = torch.tensor([10, 10, 200, 200], dtype=torch.uint8)
    images = row.reshape(1, 1, 1, 4).repeat(2, 3, 1, 1)
    targets = torch.tensor([[[True, True, False, False]], [[True, False, False, False]]])
    # image 0: the dark side is the target exactly; image 1: dark side {0, 1} vs {0}: 2/3
    assert baselines.otsu_dice(images, targets) == pytest.approx((1 + 2 / 3) / 2)
    assert baselines.otsu_dice(images, targets[:, None]) == pytest.approx((1 + 2 / 3) / 2)


def test_otsu_dice_scores_and_thresholds_only_kept_pixels():
    row = torch.tensor([10, 10, 200, 0], dtype=torch.uint8)
    images = row.reshape(1, 1, 1, 4).repeat(1, 3, 1, 1)
    targets = torch.tensor([[[False, False, True, False]]])
    keep = torch.tensor([[[True, True, True, False]]])  # the black padding pixel is left out
    assert baselines.otsu_dice(images, targets, keep) == 1.0
    both = torch.stack([keep[0], torch.zeros_like(keep[0])])  # an image with nothing kept
    assert baselines.otsu_dice(images.repeat(2, 1, 1, 1), targets.repeat(2, 1, 1), both) == 1.0


@pytest.mark.parametrize(("images", "targets", "keep", "message"), [
    (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.bool), None, "uint8 tensor"),
    (torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1, 3, 3, dtype=torch.bool), None,
     r"targets must have shape \(1, 2, 2\)"),
    (torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1, 2, 2, dtype=torch.bool),
     torch.zeros(2, 2, 2, dtype=torch.bool), r"keep must have shape"),
    (torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1, 2, 2, dtype=torch.bool),
     torch.zeros(1, 2, 2, dtype=torch.bool), "no pixel"),
])
def test_otsu_dice_bad_input(images, targets, keep, message):
    with pytest.raises(ValueError, match=message):
        baselines.otsu_dice(images, targets, keep)
