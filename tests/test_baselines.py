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
