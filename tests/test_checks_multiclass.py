"""course_utils.checks.multiclass: class counts, class weights, cross-entropy, one-hot, mIoU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import CheckFailed
from course_utils.checks import multiclass as checks


def counts(targets, num_classes, ignore_index=255):
    return torch.bincount(targets[targets != ignore_index].long(), minlength=num_classes)


def weights(c, power=1.0):
    w = (c.double() / c.sum()).pow(-power)
    return w / w.mean()


def by_hand(logits, target, weight=None, ignore_index=255):
    keep = target != ignore_index
    safe = torch.where(keep, target, 0)
    nll = -logits.log_softmax(1).gather(1, safe[:, None])[:, 0]
    w = (torch.ones(logits.shape[1]) if weight is None else weight)[safe] * keep
    return (w * nll).sum() / w.sum()


def test_right_answers_pass(capsys):
    checks.check_class_counts(counts)
    checks.check_class_weights(weights)
    checks.check_cross_entropy(by_hand)
    checks.check_cross_entropy(lambda x, y, weight=None, ignore_index=255:
                               F.cross_entropy(x, y, weight=weight, ignore_index=ignore_index))
    out = capsys.readouterr().out
    assert "✔ class_counts: all 3" in out and "✔ class_weights: all 4" in out
    assert out.count("✔ cross_entropy: all 5") == 2


@pytest.mark.parametrize(("check", "fn", "message"), [
    (checks.check_class_counts,
     lambda t, n, ignore_index=255: torch.bincount(t.flatten(), minlength=n),
     r"padding .255. is not counted: expected shape \(2,\), got \(256,\)"),
    (checks.check_class_counts, lambda t, n, ignore_index=255: torch.bincount(t.flatten()),
     "a class that never occurs: expected shape"),
    (checks.check_class_counts, lambda t, n, ignore_index=255: counts(t, n).tolist(),
     "return a tensor of counts"),
    (checks.check_class_weights, lambda c, power=1.0: 1 / c.double(),
     r"balanced classes \(power=1.0\): values differ"),
    (checks.check_class_weights, lambda c, power=1.0: weights(c, 1.0),
     r"square root of the inverse frequency \(power=0.5\)"),
    (checks.check_cross_entropy,
     lambda x, y, weight=None, ignore_index=255: -x.softmax(1).log().gather(
         1, y.clamp(max=2)[:, None]).mean(), "with padding"),
    (checks.check_cross_entropy,
     lambda x, y, weight=None, ignore_index=255: F.cross_entropy(x, y, ignore_index=255),
     "with class weights"),
    (checks.check_cross_entropy,
     lambda x, y, weight=None, ignore_index=255: F.cross_entropy(
         x, y, weight=weight, ignore_index=255, reduction="none"), "return a scalar"),
])
def test_wrong_answers_fail_naming_the_case(check, fn, message):
    with pytest.raises(CheckFailed, match=message):
        check(fn)


def one_hot(target, num_classes, ignore_index=255):
    keep = target != ignore_index
    encoded = F.one_hot(torch.where(keep, target, 0), num_classes).permute(0, 3, 1, 2)
    return encoded.float() * keep[:, None]


def one_hot_in_place(target, num_classes, ignore_index=255):
    keep = target != ignore_index
    target[~keep] = 0  # overwrites the caller's padding
    return F.one_hot(target, num_classes).permute(0, 3, 1, 2).float() * keep[:, None]


def one_hot_uniform_padding(target, num_classes, ignore_index=255):
    encoded = one_hot(target, num_classes, ignore_index)
    return torch.where((target == ignore_index)[:, None], 1 / num_classes, encoded)


def test_one_hot_right_answers_pass(capsys):
    checks.check_one_hot(one_hot)
    checks.check_one_hot(lambda t, n, ignore_index=255: torch.stack(
        [(t == c).double() for c in range(n)], dim=1))  # 255 matches no class: also right
    assert capsys.readouterr().out.count("✔ one_hot: all 4") == 2


@pytest.mark.parametrize(("fn", "message"), [
    (lambda t, n, ignore_index=255: F.one_hot(t, n).permute(0, 3, 1, 2).float(),
     r"padding .255. in the corner: your function raised RuntimeError: .*"
     r"255 is not a class"),
    (lambda t, n, ignore_index=255: one_hot(t, n).permute(0, 2, 3, 1),
     r"classes on the last axis .*\.permute"),
    (lambda t, n, ignore_index=255: one_hot(t, n).long(), "must be floats"),
    (lambda t, n, ignore_index=255: one_hot(t, int(t[t != 255].max()) + 1),
     r"a class missing from the batch: expected 4 channels, got 3\. Pass num_classes"),
    (lambda t, n, ignore_index=255: F.one_hot(torch.where(t == 255, 0, t), n)
     .permute(0, 3, 1, 2).float(), r"padding .255. in the corner: an ignored pixel .255. got "
     r"a 1 in channel 0"),
    (one_hot_uniform_padding, r"got 1/C in every channel"),
    (one_hot_in_place, "changed its input target"),
    (lambda t, n, ignore_index=255: one_hot(t, n).tolist(), "return a tensor"),
    (lambda t, n, ignore_index=255: one_hot((t + 1) % n, n),
     r"every class present: at a labelled pixel of class k, channel k must hold 1"),
])
def test_one_hot_wrong_answers_fail_saying_what_to_fix(fn, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_one_hot(fn)


# --- mean_iou: pooled and per image ------------------------------------------------------------

def _iou(cm, absent=float("nan"), truth_only=False):
    cm = cm.double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    present = cm.sum(1) > 0 if truth_only else union > 0
    return torch.where(present, tp / union.clamp(min=1), torch.full_like(tp, absent))


def student_miou(cms, absent=float("nan"), truth_only=False, weighted=False, swapped=False):
    """A student's mean_iou, right by default, or with one slip switched on."""
    def one(cm):
        return torch.nanmean(_iou(cm, absent, truth_only))
    per_image = torch.stack([one(cm) for cm in cms])
    if weighted:
        pixels = cms.sum((1, 2)).double()
        per_image_mean = (per_image * pixels).sum() / pixels.sum()
    else:
        per_image_mean = per_image.mean()
    out = {"pooled": one(cms.sum(0)).item(), "per_image": per_image_mean.item()}
    if swapped:
        out = {"pooled": out["per_image"], "per_image": out["pooled"]}
    return out


def test_mean_iou_right_answers_pass(capsys):
    from course_utils import metrics
    checks.check_mean_iou(student_miou)
    checks.check_mean_iou(metrics.mean_iou)
    assert capsys.readouterr().out.count("✔ mean_iou: all 6 checks passed.") == 2


@pytest.mark.parametrize(("fn", "message"), [
    (lambda cms: student_miou(cms, absent=0.0),
     r"^a class absent from an image's truth and prediction has no IoU there.*one image: "
     r"IoU 4/5 and 3/4, class 2 absent: expected pooled mIoU 0.7750, got 0.5167"),
    (lambda cms: student_miou(cms, weighted=True),
     r"^each image counts once.*expected per-image mIoU 0.8000, got 0.7333"),
    (lambda cms: student_miou(cms, truth_only=True),
     r"^a class predicted where the truth has none scores IoU 0"),
    (lambda cms: student_miou(cms, swapped=True), r"^the pooled mIoU adds the confusion matrices"),
    (lambda cms: (0.775, 0.775), r"return a dict with the keys 'pooled' and 'per_image'"),
    (lambda cms: {"pooled": 0.775}, r"got dict with keys \['pooled'\]"),
    (lambda cms: cms.sum(0).diag().float() / 0, r"^one image.*return a dict"),
    (lambda cms: 1 / 0, r"raised ZeroDivisionError"),
])
def test_mean_iou_slips_are_named(fn, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_mean_iou(fn)


def test_check_mean_iou_lets_the_stub_through():
    def stub(cms):
        raise NotImplementedError("write it")
    with pytest.raises(NotImplementedError):
        checks.check_mean_iou(stub)
