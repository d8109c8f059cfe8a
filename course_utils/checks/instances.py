"""Checks for instances: scoring them (matching components by IoU) and splitting a binary
mask into them (components, then watershed)."""

from __future__ import annotations

import numpy as np
import torch

from course_utils.checks import CheckFailed, passed

__all__ = ["check_instance_f1", "check_split_instances"]


def _discs(shape, *discs) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for cy, cx, r in discs:
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    return mask


def check_split_instances(fn) -> None:
    """Check ``fn(mask) -> labels``: an int array ``(H, W)`` with 0 outside the mask and one
    label 1..K per object, on discs that are apart, touching, alone or absent."""
    cases = [
        ("an empty mask", np.zeros((40, 60), bool), []),
        ("one disc", _discs((40, 60), (20, 30, 12)), [(20, 30)]),
        ("two discs apart", _discs((40, 80), (20, 18, 11), (20, 60, 11)), [(20, 18), (20, 60)]),
        ("two touching discs", _discs((48, 80), (24, 26, 15), (25, 52, 13)),
         [(24, 26), (25, 52)]),
    ]
    for case, mask, centres in cases:
        labels = fn(mask.copy())
        labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) \
            else np.asarray(labels)
        if labels.shape != mask.shape:
            raise CheckFailed(f"{case}: return a label image of shape {mask.shape}, got "
                              f"{labels.shape}")
        if labels[~mask].any():
            raise CheckFailed(f"{case}: pixels outside the mask must be 0 (background)")
        found = sorted(set(np.unique(labels[mask]).tolist()) - {0})
        if len(found) != len(centres):
            raise CheckFailed(f"{case}: expected {len(centres)} instance(s), found "
                              f"{len(found)} (labels {found[:8]})")
        if mask.any() and not labels[mask].all():
            raise CheckFailed(f"{case}: {int((labels[mask] == 0).sum())} mask pixels got no "
                              f"instance; every foreground pixel needs a label")
        at_centres = [labels[c] for c in centres]
        if len(set(at_centres)) != len(centres):
            raise CheckFailed(f"{case}: the centres of different objects got the same label "
                              f"{at_centres}; they must be separate instances")
        smallest = min((labels == k).sum() for k in found) if found else 0
        if centres and smallest < 0.5 * np.pi * 11**2:
            raise CheckFailed(f"{case}: one instance has only {smallest} pixels; each disc "
                              f"should keep most of its area")
    passed("split_instances", len(cases))


def _boxes(shape, *boxes) -> np.ndarray:
    """A bool mask with the boxes ``(row0, row1, col0, col1)`` (ends excluded) set."""
    mask = np.zeros(shape, bool)
    for r0, r1, c0, c1 in boxes:
        mask[r0:r1, c0:c1] = True
    return mask


_TWO = ((1, 4, 1, 4), (1, 4, 8, 11))
# (case, pred, target, threshold, expected (tp, fp, fn), the slip a wrong count suggests)
_F1_CASES = (
    ("two objects found exactly", _boxes((6, 12), *_TWO), _boxes((6, 12), *_TWO), 0.5, (2, 0, 0),
     None),
    ("a missed object and a false alarm", _boxes((6, 12), (1, 4, 8, 11)),
     _boxes((6, 12), (1, 4, 1, 4)), 0.5, (0, 1, 1), None),
    ("the left half of a 4 x 4 object (IoU exactly 0.5)", _boxes((6, 6), (1, 5, 1, 3)),
     _boxes((6, 6), (1, 5, 1, 5)), 0.5, (1, 0, 0),
     "an IoU equal to the threshold is a match: compare with >=, not >"),
    ("two squares touching at a corner, in both masks", _boxes((6, 6), (0, 2, 0, 2), (2, 4, 2, 4)),
     _boxes((6, 6), (0, 2, 0, 2), (2, 4, 2, 4)), 0.5, (1, 0, 0),
     "diagonal neighbours belong to one component: label with 8-connectivity "
     "(the structure EIGHT), as count_components does"),
    ("one prediction covering two true objects", _boxes((6, 12), (1, 4, 1, 11)),
     _boxes((6, 12), *_TWO), 0.5, (0, 1, 2),
     "a merged prediction overlaps each true object by less than half its union "
     "(IoU 9/30 here): it matches neither"),
    ("a true object split in two halves, threshold 0.3", _boxes((6, 7), (1, 5, 1, 3), (1, 5, 4, 6)),
     _boxes((6, 7), (1, 5, 1, 6)), 0.3, (1, 1, 0),
     "a true object was matched twice: each true and each predicted component may take part "
     "in one match only"),
    ("two found objects and three specks", _boxes((8, 12), *_TWO, (6, 7, 1, 2), (6, 7, 5, 6),
                                                   (6, 7, 10, 11)),
     _boxes((8, 12), *_TWO), 0.5, (2, 3, 0), None),
    ("two empty masks", np.zeros((5, 5), bool), np.zeros((5, 5), bool), 0.5, (0, 0, 0), None),
)


def check_instance_f1(fn) -> None:
    """Check ``fn(pred, target, threshold=0.5) -> {"tp", "fp", "fn", "f1"}`` on hand-made
    masks with known matches: exact, missed, merged, split, at an IoU of exactly 0.5,
    touching at a corner, with specks, and empty."""
    for case, pred, target, threshold, want, slip in _F1_CASES:
        try:
            out = fn(pred.copy(), target.copy(), threshold=threshold)
        except Exception as err:
            raise CheckFailed(f"{case}: your function raised {type(err).__name__}: {err}") \
                from err
        if not isinstance(out, dict) or not {"tp", "fp", "fn", "f1"} <= set(out):
            raise CheckFailed(f"{case}: return a dict with the keys 'tp', 'fp', 'fn' and 'f1', "
                              f"got {type(out).__name__}"
                              + (f" with keys {sorted(out)}" if isinstance(out, dict) else ""))
        got = tuple(int(out[k]) for k in ("tp", "fp", "fn"))
        if got != want:
            first = f"{slip}. " if slip else ""
            raise CheckFailed(f"{first}{case}: expected (tp, fp, fn) = {want}, got {got}")
        tp, fp, fn_ = want
        f1 = 1.0 if tp + fp + fn_ == 0 else 2 * tp / (2 * tp + fp + fn_)
        got_f1 = float(out["f1"])
        if not abs(got_f1 - f1) < 1e-9:
            hint = ("with nothing to find and nothing found, F1 is 1.0 (the course's policy "
                    "for empty masks)" if tp + fp + fn_ == 0 else
                    "F1 = 2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall")
            raise CheckFailed(f"{hint}. {case}: expected f1 {f1:.4f}, got {got_f1:.4f}")
    passed("instance_f1", len(_F1_CASES))
