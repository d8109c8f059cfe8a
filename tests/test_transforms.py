"""course_utils.transforms: paired geometry, photometric on the image only, nearest masks,
and BatchAugment as an InMemoryLoader transform."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from course_utils import data, transforms

STILL = {"degrees": 0.0, "translate": 0.0, "scale": (1.0, 1.0), "hflip": 0.0, "vflip": 0.0,
         "brightness": 0.0, "contrast": 0.0}  # every random transform switched off


def letter_f(size: int = 16) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.long)
    mask[3:13, 4:7] = 1
    mask[3:6, 7:12] = 1
    mask[7:9, 7:10] = 1
    return mask


def pair(mask: torch.Tensor):
    return tv_tensors.Image(mask.float().expand(3, -1, -1).clone()), tv_tensors.Mask(mask.clone())


@pytest.mark.parametrize(("change", "expected"), [
    ({}, lambda m: m),
    ({"hflip": 1.0}, lambda m: m.flip(-1)),
    ({"vflip": 1.0}, lambda m: m.flip(-2)),
    ({"hflip": 1.0, "vflip": 1.0}, lambda m: m.flip(-1).flip(-2)),
], ids=["identity", "hflip", "vflip", "both"])
def test_flips_move_image_and_mask_together(change, expected):
    mask = letter_f()
    image, out = transforms.paired_augmentation(**(STILL | change))(*pair(mask))
    torch.testing.assert_close(out.as_subclass(torch.Tensor), expected(mask))
    torch.testing.assert_close(image[0].as_subclass(torch.Tensor), expected(mask).float())


@pytest.mark.parametrize("mask_fill", [0, 255])
def test_rotation_keeps_labels_and_fills_the_corners(mask_fill):
    torch.manual_seed(0)
    mask = torch.randint(0, 12, (24, 24))
    augment = transforms.paired_augmentation(**(STILL | {"degrees": 45.0}), mask_fill=mask_fill)
    values = set()
    for _ in range(5):
        _, out = augment(tv_tensors.Image(torch.rand(3, 24, 24)), tv_tensors.Mask(mask))
        values |= set(out.unique().tolist())
    assert values <= set(range(12)) | {mask_fill}
    assert mask_fill in values  # the uncovered corners


def test_rotated_image_and_mask_stay_aligned():
    torch.manual_seed(0)
    augment = transforms.paired_augmentation(**(STILL | {"degrees": 30.0, "translate": 0.1}))
    for _ in range(10):
        image, mask = augment(*pair(letter_f(32)))
        bright = image[0] > 0.5
        overlap = (bright & (mask == 1)).sum() / (bright | (mask == 1)).sum()
        assert overlap > 0.85


def test_colour_jitter_changes_the_image_only():
    torch.manual_seed(0)
    augment = transforms.paired_augmentation(**(STILL | {"brightness": 0.5, "contrast": 0.5}))
    mask = letter_f()
    image, out = augment(tv_tensors.Image(torch.full((3, 16, 16), 0.5)), tv_tensors.Mask(mask))
    assert not torch.allclose(image, torch.full((3, 16, 16), 0.5))
    torch.testing.assert_close(out.as_subclass(torch.Tensor), mask)


def test_default_pipeline_is_a_v2_compose():
    assert isinstance(transforms.paired_augmentation(), v2.Compose)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"hflip": 1.5}, "hflip is a probability"),
    ({"vflip": -0.1}, "vflip is a probability"),
    ({"degrees": -1.0}, "degrees >= 0"),
    ({"translate": 2.0}, "0 <= translate <= 1"),
    ({"brightness": -0.2}, "non-negative jitter"),
    ({"scale": (1.2, 0.8)}, "0 < low <= high"),
    ({"scale": (0.0, 1.0)}, "0 < low <= high"),
])
def test_paired_augmentation_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        transforms.paired_augmentation(**kwargs)


@pytest.mark.parametrize(("targets", "dtype"), [
    (torch.randint(0, 2, (6, 1, 16, 16)).float(), torch.float32),
    (torch.randint(0, 12, (6, 16, 16)), torch.int64),
], ids=["binary", "multi-class"])
def test_batch_augment_keeps_shapes_and_types(targets, dtype):
    images = torch.rand(6, 3, 16, 16)
    out_images, out_targets = transforms.BatchAugment(transforms.paired_augmentation())(
        images, targets)
    assert type(out_images) is torch.Tensor and type(out_targets) is torch.Tensor
    assert out_images.shape == images.shape and out_targets.shape == targets.shape
    assert out_targets.dtype == dtype


def test_batch_augment_draws_per_sample_and_repeats_with_its_seed():
    mask = letter_f()
    images, targets = mask.float().expand(16, 3, -1, -1).clone(), mask.expand(16, -1, -1).clone()
    augment = transforms.paired_augmentation(**(STILL | {"hflip": 0.5}))
    state = torch.random.get_rng_state()
    _, first = transforms.BatchAugment(augment, seed=3)(images, targets)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    _, again = transforms.BatchAugment(augment, seed=3)(images, targets)
    flipped = (first == mask.flip(-1)).flatten(1).all(1)
    assert 0 < flipped.sum() < 16  # some samples flipped, some not
    assert torch.equal(first, again)
    assert ((first == mask).flatten(1).all(1) | flipped).all()


@pytest.mark.parametrize(("images", "targets", "match"), [
    (torch.rand(2, 1, 8, 8), torch.zeros(2, 1, 8, 8), r"images must be a batch \(N, 3, H, W\)"),
    (torch.rand(3, 8, 8), torch.zeros(3, 8, 8), r"images must be a batch"),
    (torch.rand(2, 3, 8, 8), torch.zeros(2, 2, 8, 8), "targets must be"),
    (torch.rand(2, 3, 8, 8), torch.zeros(3, 8, 8), "targets must be"),
    (torch.rand(2, 3, 8, 8), torch.zeros(2, 8, 4), "targets must be"),
    (torch.rand(2, 3, 8, 8), torch.zeros(2, 8), "targets must be"),
])
def test_batch_augment_rejects_bad_batches(images, targets, match):
    with pytest.raises(ValueError, match=match):
        transforms.BatchAugment(transforms.paired_augmentation())(images, targets)


def test_batch_augment_needs_a_callable():
    with pytest.raises(ValueError, match="transform must be callable"):
        transforms.BatchAugment("flip")


def test_batch_augment_serves_as_a_loader_transform(phc_root):
    dataset = data.PhCDataset("train", phc_root)
    loader = data.InMemoryLoader(dataset, batch_size=4, transform=transforms.BatchAugment(
        transforms.paired_augmentation(**(STILL | {"hflip": 1.0}))))
    images, targets = next(iter(loader))
    plain_images, plain_targets = next(iter(data.InMemoryLoader(dataset, batch_size=4)))
    torch.testing.assert_close(targets, plain_targets.flip(-1))
    torch.testing.assert_close(images, plain_images.flip(-1))
