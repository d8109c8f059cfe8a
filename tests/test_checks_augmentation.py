"""course_utils.checks.augmentation and .instances: right answers pass, slips are named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from torchvision import tv_tensors
from torchvision.transforms import v2

from course_utils import topology, transforms
from course_utils.checks import CheckFailed
from course_utils.checks.augmentation import check_facade_augmentation, check_paired_augmentation
from course_utils.checks.instances import check_instance_f1, check_split_instances
from course_utils.facade_classes import IGNORE_INDEX

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


# --- the facades' pipeline ---------------------------------------------------------------------

def facade_task(hflip=0.5, vflip=0.0, degrees=5, fill=IGNORE_INDEX):
    """Lesson 08's facade pipeline (with one choice changed)."""
    parts = [v2.RandomHorizontalFlip(hflip)] + ([v2.RandomVerticalFlip(vflip)] if vflip else [])
    return v2.Compose(parts + [
        v2.RandomAffine(degrees, translate=(0.05, 0.05), scale=(0.9, 1.1), interpolation=BILINEAR,
                        fill={tv_tensors.Image: 0.0, tv_tensors.Mask: fill}),
        v2.ColorJitter(brightness=0.2, contrast=0.2)])


def test_the_facade_pipeline_passes(capsys):
    check_facade_augmentation(facade_task())
    check_facade_augmentation(facade_task(degrees=10), size=(96, 64))
    check_facade_augmentation(transforms.paired_augmentation(degrees=5, mask_fill=IGNORE_INDEX))
    assert capsys.readouterr().out.count("✔ facade augmentation: all 6 checks passed.") == 3


def facade_separately(image, mask):
    augment = facade_task()
    return augment(image), augment(mask)


def facade_mask_as_image(image, mask):
    """The mask rotated bilinearly as if it were an image, outside filled with 255."""
    turn = dict(angle=10.0, interpolation=BILINEAR, fill=float(IGNORE_INDEX))
    rotated = v2.functional.rotate(tv_tensors.Image(mask.float()[None]), **turn)[0]
    return v2.functional.rotate(image, **turn), rotated


@pytest.mark.parametrize(("transform", "message"), [
    (facade_task(fill=0), r"^draw 0: pixels brought in from outside the photo got label 0"),
    (transforms.paired_augmentation(degrees=5), "got label 0, which is a class"),  # mask_fill=0
    (facade_task(vflip=0.5), r"^the pipeline holds v2.RandomVerticalFlip\(p=0.5\)"),
    (facade_task(degrees=180), "came out upside down"),
    (facade_task(hflip=0.0), "never mirrored"),
    (v2.Compose([v2.RandomHorizontalFlip(), v2.ColorJitter(0.2, 0.2)]),
     "no pixel came in from outside"),
    (facade_separately, "not moved together"),
    (facade_mask_as_image, r"holds values \[.*\] that are no class id"),
    (lambda image, mask: mask, "return the pair"),
    (lambda image, mask: (image[:, :8], mask[:8]), "shapes changed"),
])
def test_facade_slips_are_named(transform, message):
    with pytest.raises(CheckFailed, match=message):
        check_facade_augmentation(transform)


def test_check_facade_augmentation_lets_the_stub_through():
    def stub(image, mask):
        raise NotImplementedError("write it")
    with pytest.raises(NotImplementedError):
        check_facade_augmentation(stub)


# --- instance_f1 -------------------------------------------------------------------------------

EIGHT = np.ones((3, 3), dtype=bool)


def _f1(pred, target, threshold=0.5, *, structure=EIGHT, strict=False, greedy=True,
        empty=1.0, formula=None):
    """A student's instance_f1, right by default, or with one slip switched on."""
    labels_p, n_p = ndimage.label(pred, structure)
    labels_t, n_t = ndimage.label(target, structure)
    pairs = []
    for i in range(1, n_p + 1):
        for j in range(1, n_t + 1):
            inter = ((labels_p == i) & (labels_t == j)).sum()
            union = ((labels_p == i) | (labels_t == j)).sum()
            pairs.append((inter / union, i, j))
    used_p, used_t = set(), set()
    for iou, i, j in sorted(pairs, reverse=True):
        if (iou > threshold if strict else iou >= threshold) and (
                not greedy or (i not in used_p and j not in used_t)):
            used_p.add(i)
            used_t.add(j)
    tp = len(used_t) if greedy else len(used_p)
    fp, fn = n_p - tp, n_t - tp
    if formula:
        return {"tp": tp, "fp": fp, "fn": fn, "f1": formula(tp, fp, fn)}
    f1 = empty if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    return {"tp": tp, "fp": fp, "fn": fn, "f1": f1}


def test_instance_f1_right_answers_pass(capsys):
    check_instance_f1(_f1)
    check_instance_f1(topology.instance_f1)
    assert capsys.readouterr().out.count("✔ instance_f1: all 8 checks passed.") == 2


@pytest.mark.parametrize(("fn", "message"), [
    (lambda p, t, threshold=0.5: _f1(p, t, threshold, strict=True), r"^an IoU equal to the "
     r"threshold is a match.*IoU exactly 0.5\): expected \(tp, fp, fn\) = \(1, 0, 0\), got "
     r"\(0, 1, 1\)"),
    (lambda p, t, threshold=0.5: _f1(p, t, threshold, structure=None),
     r"^diagonal neighbours belong to one component"),
    (lambda p, t, threshold=0.5: _f1(p, t, threshold, greedy=False),
     r"^a true object was matched twice"),
    (lambda p, t, threshold=0.5: _f1(p, t, threshold, empty=0.0),
     r"^with nothing to find and nothing found, F1 is 1.0"),
    (lambda p, t, threshold=0.5: _f1(p, t, threshold, formula=lambda tp, fp, fn: tp / (tp + fp)),
     r"^F1 = 2 tp / \(2 tp \+ fp \+ fn\).*a true object split in two halves"),
    (lambda p, t, threshold=0.5: (1, 0, 0, 1.0), r"return a dict with the keys"),
    (lambda p, t: _f1(p, t), r"raised TypeError"),  # no threshold argument
])
def test_instance_f1_slips_are_named(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_instance_f1(fn)


def test_instance_f1_merged_prediction_is_named():
    """Counting any overlap as a match: the merged prediction matches a true object."""
    def any_overlap(pred, target, threshold=0.5):
        return _f1(pred, target, threshold=1e-9)
    with pytest.raises(CheckFailed, match=r"^a merged prediction overlaps each true object"):
        check_instance_f1(any_overlap)
