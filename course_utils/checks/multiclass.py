"""Checks for multi-class segmentation: class counts, class weights, pixel-wise
cross-entropy with an ignore index, one-hot targets, the mIoU pooled and per image, and the
model/loss set-up."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_utils.checks import CheckFailed, expect_close, passed
from course_utils.checks.calling import call_student
from course_utils.facade_classes import IGNORE_INDEX

__all__ = [
    "check_class_counts",
    "check_class_weights",
    "check_cross_entropy",
    "check_mean_iou",
    "check_one_hot",
]


def check_class_counts(fn) -> None:
    """Check ``fn(targets, num_classes, ignore_index=IGNORE_INDEX) -> (num_classes,)`` pixel
    counts."""
    cases = [
        ("one image, three classes", torch.tensor([[[0, 1], [1, 2]]]), 3,
         torch.tensor([1, 2, 1])),
        ("a class that never occurs", torch.tensor([[[0, 0], [2, 2]]]), 4,
         torch.tensor([2, 0, 2, 0])),
        (f"padding ({IGNORE_INDEX}) is not counted",
         torch.tensor([[[1, IGNORE_INDEX], [IGNORE_INDEX, 1]], [[0, 1], [1, 1]]]),
         2, torch.tensor([1, 5])),
    ]
    for case, targets, num_classes, expected in cases:
        got = fn(targets.clone(), num_classes, ignore_index=IGNORE_INDEX)
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{case}: return a tensor of counts, got {type(got).__name__}")
        expect_close(case, got.double(), expected.double())
    passed("class_counts", len(cases))


def _weights(counts: torch.Tensor, power: float) -> torch.Tensor:
    freq = counts.double() / counts.sum()
    w = freq.pow(-power)
    return w / w.mean()


def check_class_weights(fn) -> None:
    """Check ``fn(counts, power=1.0) -> (C,)``: ``frequency ** -power``, scaled to mean 1."""
    cases = [
        ("balanced classes", torch.tensor([10, 10, 10]), 1.0),
        ("inverse frequency", torch.tensor([60, 30, 10]), 1.0),
        ("square root of the inverse frequency", torch.tensor([60, 30, 10]), 0.5),
        ("power 0: no weighting", torch.tensor([90, 9, 1]), 0.0),
    ]
    for case, counts, power in cases:
        got = fn(counts.clone(), power=power)
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{case}: return a tensor of weights, got {type(got).__name__}")
        expect_close(f"{case} (power={power})", got.double(), _weights(counts, power))
    passed("class_weights", len(cases))


def check_cross_entropy(fn) -> None:
    """Check ``fn(logits, target, weight=None, ignore_index=IGNORE_INDEX) -> scalar`` against
    ``torch.nn.functional.cross_entropy`` (mean over the pixels that are not ignored,
    weighted by the weight of each pixel's true class)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=g) * 3
    target = torch.randint(0, 3, (2, 4, 5), generator=g)
    padded = target.clone()
    padded[:, -1] = IGNORE_INDEX
    weight = torch.tensor([0.2, 1.0, 3.0])
    cases = [
        ("plain", logits, target, None),
        (f"with padding ({IGNORE_INDEX} ignored)", logits, padded, None),
        ("with class weights", logits, target, weight),
        ("with class weights and padding", logits, padded, weight),
        ("large logits (use log_softmax)", logits * 100, target, None),
    ]
    for case, x, y, w in cases:
        expected = F.cross_entropy(x, y, weight=w, ignore_index=IGNORE_INDEX)
        got = fn(x.clone(), y.clone(), weight=None if w is None else w.clone(),
                 ignore_index=IGNORE_INDEX)
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise CheckFailed(f"{case}: return a scalar tensor (the mean loss), got "
                              f"{type(got).__name__} {getattr(got, 'shape', '')}")
        expect_close(case, got.reshape(()), expected)
    passed("cross_entropy", len(cases))


def _one_hot(target: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    return F.one_hot(safe, num_classes).permute(0, 3, 1, 2).float() * keep.unsqueeze(1)


def _not_a_class_hint(exc: Exception) -> str:
    if "Class values must be" in str(exc) or "out of bounds" in str(exc):
        return (f"{IGNORE_INDEX} is not a class: give the ignored pixels any valid index first, "
                "then set their vectors to zero.")
    return ""


def check_one_hot(fn) -> None:
    """Check ``fn(target, num_classes, ignore_index=IGNORE_INDEX) -> (N, num_classes, H, W)``
    floats: a 1 in the channel of each labelled pixel's class, zeros everywhere else, and all
    zeros at ignored pixels (they belong to no class). The input must be left unchanged."""
    g = torch.Generator().manual_seed(0)
    padded = torch.randint(0, 5, (2, 3, 4), generator=g)
    padded[:, :, -1] = IGNORE_INDEX
    cases = [
        ("one image, every class present", torch.tensor([[[0, 1, 2, 0], [2, 1, 0, 1]]]), 3),
        ("a class missing from the batch", torch.tensor([[[0, 0], [2, 2]]]), 4),
        (f"padding ({IGNORE_INDEX}) in the corner", torch.tensor([[[1, 0], [1, IGNORE_INDEX]]]), 2),
        ("a batch of two with a padded column", padded, 5),
    ]
    for case, target, num_classes in cases:
        before = target.clone()
        got = call_student(f"{case}: your function", fn, target, num_classes,
                           ignore_index=IGNORE_INDEX, hint=_not_a_class_hint)
        if not torch.equal(target, before):
            raise CheckFailed(f"{case}: your function changed its input target (the padding "
                              f"{IGNORE_INDEX} was overwritten). Work on a copy, e.g. torch.where(...), so "
                              f"the dataset's labels keep their padding.")
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{case}: return a tensor, got {type(got).__name__}")
        n, h, w = target.shape
        expected = _one_hot(target, num_classes, IGNORE_INDEX)
        if tuple(got.shape) == (n, h, w, num_classes) != tuple(expected.shape):
            raise CheckFailed(f"{case}: got shape {tuple(got.shape)}, classes on the last "
                              f"axis (F.one_hot puts them there); PyTorch wants them on dim 1: "
                              f"({n}, {num_classes}, {h}, {w}). Move them with .permute.")
        if got.dim() == 4 and got.shape[0] == n and got.shape[2:] == (h, w) \
                and got.shape[1] != num_classes:
            raise CheckFailed(f"{case}: expected {num_classes} channels, got {got.shape[1]}. "
                              f"Pass num_classes, so that a class absent from this batch still "
                              f"gets its (all-zero) channel.")
        if tuple(got.shape) != tuple(expected.shape):
            raise CheckFailed(f"{case}: expected shape {tuple(expected.shape)} (N, C, H, W), "
                              f"got {tuple(got.shape)}")
        if not got.is_floating_point():
            raise CheckFailed(f"{case}: got dtype {got.dtype}; cross-entropy reads a one-hot "
                              f"target as class probabilities, which must be floats (.float())")
        got = got.detach().double()
        ignored = (target == IGNORE_INDEX).unsqueeze(1).expand_as(got)
        if not torch.equal(got[~ignored], expected.double()[~ignored]):
            raise CheckFailed(f"{case}: at a labelled pixel of class k, channel k must hold 1 "
                              f"and every other channel 0; yours differs at "
                              f"{int((got[~ignored] != expected.double()[~ignored]).sum())} "
                              f"entries")
        if got[ignored].abs().sum() > 0:
            vector = got.permute(0, 2, 3, 1)[target == IGNORE_INDEX][0]
            if vector.max() == 1 and vector.sum() == 1:
                what = f"got a 1 in channel {int(vector.argmax())}, a real class"
            elif torch.allclose(vector, torch.full_like(vector, 1 / num_classes)):
                what = ("got 1/C in every channel; a uniform vector still adds -mean(log p) "
                        "to the loss")
            else:
                what = f"got {[round(v, 3) for v in vector.tolist()]}"
            raise CheckFailed(f"{case}: an ignored pixel ({IGNORE_INDEX}) {what}. Its vector must be all "
                              f"zeros: it belongs to no class, so it adds nothing to the "
                              f"cross-entropy sum.")
    passed("one_hot", len(cases))


def _cms(*matrices) -> torch.Tensor:
    return torch.tensor(matrices, dtype=torch.long)


_ABSENT = ("a class absent from an image's truth and prediction has no IoU there: skip it "
           "(nan and torch.nanmean), do not count it as 0")
_WEIGHTED = ("each image counts once in the per-image mean, whatever its number of pixels: "
             "weighting by pixels moves it towards the pooled value")
_PREDICTED = ("a class predicted where the truth has none scores IoU 0 (no true positive, "
              "only false positives): skip only the classes absent from both")

# (case, confusion matrices (N, C, C): rows truth, columns prediction, expected pooled and
# per-image mIoU, {a wrong value: the slip that gives it}); 3 classes throughout
_MIOU_CASES = (
    ("one image: IoU 4/5 and 3/4, class 2 absent", _cms([[4, 1, 0], [0, 3, 0], [0, 0, 0]]),
     0.775, 0.775, {(0.8 + 0.75) / 3: _ABSENT}),
    ("two images; the rare class 2, only in the second, is missed there",
     _cms([[8, 0, 0], [0, 8, 0], [0, 0, 0]], [[16, 0, 0], [0, 12, 0], [4, 0, 0]]),
     (24 / 28 + 1 + 0) / 3, (1.0 + 0.6) / 2,
     {(2 / 3 + 0.6) / 2: _ABSENT, (16 * 1.0 + 32 * 0.6) / 48: _WEIGHTED}),
    ("one image where class 1 is predicted but absent from the truth",
     _cms([[6, 2, 0], [0, 0, 0], [0, 0, 0]]), 0.375, 0.375, {0.75: _PREDICTED, 0.25: _ABSENT}),
)


def _slip(value: float, slips: dict[float, str]) -> str:
    return next((f"{why}. " for wrong, why in slips.items() if abs(value - wrong) < 1e-6), "")


def check_mean_iou(fn) -> None:
    """Check ``fn(cms) -> {"pooled": float, "per_image": float}`` for confusion matrices
    ``(N, C, C)`` on hand-computed cases: one image, a rare class missed in one of two
    images of different sizes, a class predicted but absent."""
    for case, cms, pooled, per_image, slips in _MIOU_CASES:
        try:
            got = fn(cms.clone())
        except NotImplementedError:
            raise
        except Exception as exc:
            raise CheckFailed(f"{case}: your function raised {type(exc).__name__}: {exc}") \
                from exc
        if not isinstance(got, dict) or not {"pooled", "per_image"} <= set(got):
            raise CheckFailed(f"{case}: return a dict with the keys 'pooled' and 'per_image', "
                              f"got {type(got).__name__}"
                              + (f" with keys {sorted(got)}" if isinstance(got, dict) else ""))
        values = {}
        for key in ("pooled", "per_image"):
            value = got[key]
            values[key] = float(value.item() if isinstance(value, torch.Tensor) else value)
        if abs(values["pooled"] - pooled) > 1e-6:
            if abs(values["pooled"] - per_image) < 1e-6 and abs(pooled - per_image) > 1e-6:
                why = ("the pooled mIoU adds the confusion matrices of all images first, then "
                       "takes each class's IoU and their mean; that is the per-image value. ")
            else:
                why = _slip(values["pooled"], slips)
            raise CheckFailed(f"{why}{case}: expected pooled mIoU {pooled:.4f}, got "
                              f"{values['pooled']:.4f}")
        if abs(values["per_image"] - per_image) > 1e-6:
            why = _slip(values["per_image"], slips)
            raise CheckFailed(f"{why}{case}: expected per-image mIoU {per_image:.4f}, got "
                              f"{values['per_image']:.4f}")
    passed("mean_iou", 2 * len(_MIOU_CASES))
