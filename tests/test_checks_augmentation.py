"""course_utils.checks.augmentation and .instances: right answers pass, slips are named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from torchvision import tv_tensors
from torchvision.transforms import v2

from course_utils import topology, transforms
from course_utils.checks import CheckFailed
from course_utils.checks.augmentation import check_paired_augmentation
from course_utils.checks.instances import check_split_instances

BILINEAR = v2.InterpolationMode.BILINEAR
FILL = {tv_tensors.Image: 0.0, tv_tensors.Mask: 0}


def task(degrees=30, translate=0.05, scale=(0.9, 1.1), vflip=0.5, brightness=0.2,
         interpolation=BILINEAR):
    """Lesson 08's pipeline, as its task specifies it (with one setting changed)."""
    return v2.Compose([v2.RandomHorizontalFlip(0.5), v2.RandomVerticalFlip(vflip),
                       v2.RandomAffine(degrees=degrees, translate=(translate, translate),
                                       scale=scale, interpolation=interpolation, fill=FILL),
                       v2.ColorJitter(brightness=brightness, contrast=0.2)])


def test_the_tasks_pipeline_passes(capsys):
    check_paired_augmentation(task())
    check_paired_augmentation(transforms.paired_augmentation(degrees=30, vflip=0.5))
    assert capsys.readouterr().out.count("✔ paired augmentation: all 5 checks passed.") == 2


@pytest.mark.parametrize(("transform", "message"), [  # the strengths the task specifies
    (task(degrees=10), r"degrees is \[-10.0, 10.0\]; the task asks for rotation up to 30"),
    (task(translate=0.2), r"translate is .*0.2.*shifts up to 5 %"),
    (task(scale=(0.5, 2.0)), "scale 0.9-1.1"),
    (task(vflip=0.1), r"RandomVerticalFlip\(p=0.1\)"),
    (task(brightness=0.8), r"brightness is .*the range \(0.8, 1.2\)"),
    (task(interpolation=v2.InterpolationMode.NEAREST), "interpolation=bilinear"),
    (transforms.paired_augmentation(), r"RandomVerticalFlip\(p=0.0\)"),  # its defaults differ
])
def test_wrong_strengths_are_named(transform, message):
    with pytest.raises(CheckFailed, match=message):
        check_paired_augmentation(transform)


def separately(image, mask):
    augment = transforms.paired_augmentation(degrees=30)
    return augment(image), augment(mask)


def photometric_on_mask(image, mask):
    image, mask = transforms.paired_augmentation()(image, mask)
    return image, (mask * 2).as_subclass(type(mask))


def mask_as_image(image, mask):
    """Rotating the mask as if it were an image: bilinear, values between the labels."""
    as_image = tv_tensors.Image(mask.float()[None])
    turn = dict(angle=10.0, interpolation=BILINEAR)
    return v2.functional.rotate(image, **turn), v2.functional.rotate(as_image, **turn)[0]


@pytest.mark.parametrize(("transform", "message"), [
    (separately, "not moved together"),
    (mask_as_image, "resampled nearest-neighbour"),
    (v2.Compose([v2.ColorJitter(0.3, 0.3)]), "the mask never moved"),
    (v2.Compose([v2.RandomHorizontalFlip(), v2.RandomAffine(20, fill=FILL)]),
     "brightness never changed"),
    (photometric_on_mask, "holds values"),
    (lambda image, mask: image, "return the pair"),
    (lambda image, mask: (image[:, :16], mask), "shapes changed"),
])
def test_slips_are_named(transform, message):
    with pytest.raises(CheckFailed, match=message):
        check_paired_augmentation(transform)


def split(mask, min_distance=5):
    dist = ndimage.distance_transform_edt(mask)
    smooth = ndimage.gaussian_filter(dist, 2)
    peaks = (smooth == ndimage.maximum_filter(smooth, 2 * min_distance + 1)) & (dist >= min_distance)
    return topology.watershed(-smooth, ndimage.label(peaks)[0], mask)


def test_split_instances_right_answer_passes(capsys):
    check_split_instances(split)
    assert capsys.readouterr().out == "✔ split_instances: all 4 checks passed.\n"


@pytest.mark.parametrize(("fn", "message"), [
    (lambda mask: ndimage.label(mask)[0], "two touching discs: expected 2 instance"),
    (lambda mask: split(mask) + 1, "pixels outside the mask must be 0"),
    (lambda mask: split(mask)[:, :-1], "return a label image of shape"),
    (lambda mask: np.where(mask, 1, 0), "two discs apart: expected 2 instance"),
    (lambda mask: split(mask, min_distance=12), r"two discs apart: expected 2 instance\(s\), found 0"),
    (lambda mask: np.where(ndimage.binary_erosion(mask, iterations=2), split(mask), 0),
     "mask pixels got no instance"),
])
def test_split_instances_slips_are_named(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_split_instances(fn)
