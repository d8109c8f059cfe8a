"""Checks for instance segmentation from a binary mask (components, then watershed)."""

from __future__ import annotations

import numpy as np
import torch

from course_utils.checks import CheckFailed, passed

__all__ = ["check_split_instances"]


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
