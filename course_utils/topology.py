"""Shape metrics beyond pixel overlap: boundary distances and topology of binary masks.

Dice and IoU count pixels, so they barely notice *where* the wrong pixels are or *how many
pieces* a mask falls into. These functions measure exactly that, for one mask at a time:

- ``hausdorff_distance``: the largest distance from a boundary pixel of one mask to the
  nearest boundary pixel of the other, taken both ways (``percentile=95`` gives HD95,
  which ignores the worst 5 % of boundary pixels, so a single stray pixel cannot dominate);
- ``count_components``: connected pieces of foreground (8-connected by default), and
  ``largest_component``, the biggest of them;
- ``count_holes``: pieces of background enclosed by foreground, i.e. not connected to the
  image border (background uses the complementary connectivity, 4 when foreground is 8);
- ``watershed``: marker-controlled flooding, which splits one connected mask into
  instances (e.g. touching cells, with markers at the peaks of the distance transform).

Masks are 2-D ``(H, W)`` (or ``(1, H, W)``) tensors or arrays with values 0/1 or bool.
Distances are in pixels. Empty-mask policy of the distances: both masks empty gives 0.0
(nothing to disagree about); exactly one empty gives ``inf`` (no boundary to measure to).
"""

from __future__ import annotations

import heapq

import numpy as np
import torch
from scipy import ndimage

from course_utils import metrics

__all__ = ["boundary", "count_components", "count_holes", "hausdorff_distance",
           "instance_f1", "largest_component", "topology", "watershed"]


def _as_mask(mask, name: str = "mask") -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(f"{name} must be one 2-D mask (H, W) or (1, H, W), got shape "
                         f"{mask.shape}; loop over a batch one mask at a time")
    values = np.unique(mask)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1, found {values[:6].tolist()}; "
                         f"threshold probabilities first, e.g. (probs >= 0.5)")
    return mask.astype(bool)


def _structure(connectivity: int) -> np.ndarray:
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    return ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)


def boundary(mask) -> np.ndarray:
    """Foreground pixels with at least one 4-neighbour in the background (or off the image).

    Returns:
        A bool array ``(H, W)``.
    """
    # off the image is background: a mask touching the image edge has its boundary there
    edge = metrics.boundary(torch.from_numpy(_as_mask(mask)), connectivity=4,
                            edge_is_background=True)
    return edge.numpy()


def hausdorff_distance(pred, target, percentile: float = 100.0) -> float:
    """Symmetric Hausdorff distance between the boundaries of two masks, in pixels.

    For every boundary pixel of ``pred`` take the distance to the nearest boundary pixel
    of ``target`` and vice versa; the score is the larger of the two directions' maxima
    (``percentile=100``) or of their ``percentile``-th percentiles (95 gives HD95).

    Returns:
        The distance; 0.0 when both masks are empty, ``inf`` when only one is.
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile!r}")
    pred, target = _as_mask(pred, "pred"), _as_mask(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    if not pred.any() and not target.any():
        return 0.0
    if not pred.any() or not target.any():
        return float("inf")
    edge_p, edge_t = boundary(pred), boundary(target)
    # distance_transform_edt gives each pixel's distance to the nearest zero pixel
    to_target = ndimage.distance_transform_edt(~edge_t)[edge_p]
    to_pred = ndimage.distance_transform_edt(~edge_p)[edge_t]
    return float(max(np.percentile(to_target, percentile), np.percentile(to_pred, percentile)))


def count_components(mask, connectivity: int = 8) -> int:
    """Number of connected pieces of foreground."""
    return int(ndimage.label(_as_mask(mask), _structure(connectivity))[1])


def largest_component(mask, connectivity: int = 8) -> np.ndarray:
    """The biggest connected piece of foreground as a bool array ``(H, W)`` (the first in
    scan order on a tie); an empty mask stays empty."""
    labels, count = ndimage.label(_as_mask(mask), _structure(connectivity))
    if count == 0:
        return labels > 0
    sizes = np.bincount(labels.ravel())[1:]
    return labels == int(np.argmax(sizes)) + 1


def count_holes(mask, connectivity: int = 8) -> int:
    """Number of background pieces that do not touch the image border.

    The background is labelled with the complementary connectivity (4 for 8-connected
    foreground and vice versa), so a one-pixel diagonal gap does not count as a way out.
    """
    _structure(connectivity)  # validates
    background = ~_as_mask(mask)
    labels, _ = ndimage.label(np.pad(background, 1, constant_values=True),
                              _structure(12 - connectivity))
    # after padding, every background piece touching the border joins the outer ring
    inner = np.unique(labels[labels > 0])
    return int(len(inner) - (1 if labels[0, 0] > 0 else 0))


def instance_f1(pred, target, threshold: float = 0.5,
                connectivity: int = 8) -> dict[str, float]:
    """Object-level scores: each connected piece is an instance, matched one to one.

    Pairs of a predicted and a true component are taken in order of decreasing IoU; a pair
    is a match (a true positive) when its IoU is at least ``threshold`` and neither of the
    two is matched yet. Unmatched predicted pieces are false positives, unmatched true ones
    false negatives. For ``threshold > 0.5`` a component can overlap at most one other by
    more than half, so the matching is unique and greedy equals Hungarian.

    Returns:
        ``{"tp", "fp", "fn", "f1"}``, with ``f1 = 2 tp / (2 tp + fp + fn)``; 1.0 when both
        masks are empty (nothing to find, nothing found), as for the pixel metrics.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold is an IoU in (0, 1], got {threshold!r}")
    structure = _structure(connectivity)
    labels_p, n_p = ndimage.label(_as_mask(pred, "pred"), structure)
    labels_t, n_t = ndimage.label(_as_mask(target, "target"), structure)
    if labels_p.shape != labels_t.shape:
        raise ValueError(f"pred {labels_p.shape} and target {labels_t.shape} differ in shape")
    # overlap[i, j]: pixels in predicted piece i and true piece j (row/column 0: background)
    overlap = np.zeros((n_p + 1, n_t + 1), dtype=np.int64)
    np.add.at(overlap, (labels_p.ravel(), labels_t.ravel()), 1)
    sizes_p, sizes_t = overlap.sum(1)[1:], overlap.sum(0)[1:]
    inter = overlap[1:, 1:]
    iou = inter / np.maximum(sizes_p[:, None] + sizes_t[None, :] - inter, 1)
    used_p, used_t, tp = set(), set(), 0
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = divmod(int(flat), n_t)
        if iou[i, j] < threshold:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            tp += 1
    fp, fn = n_p - tp, n_t - tp
    f1 = 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    return {"tp": tp, "fp": fp, "fn": fn, "f1": f1}


def topology(mask, connectivity: int = 8) -> dict[str, int]:
    """``{"components": ..., "holes": ...}`` of one mask."""
    return {"components": count_components(mask, connectivity),
            "holes": count_holes(mask, connectivity)}


def watershed(height, markers, mask=None, connectivity: int = 4) -> np.ndarray:
    """Marker-controlled watershed by priority flooding (Meyer's algorithm).

    Water rises from the markers: pixels are taken in order of increasing ``height`` (ties
    first come, first served), and each unlabelled neighbour of a taken pixel inherits its
    label. Where two floods meet, the border between the instances forms. For touching
    cells use ``height = -distance_transform_edt(mask)`` and markers at its peaks: the
    floods meet at the neck between the cells.

    ``scipy.ndimage.watershed_ift`` is not used: it weights an edge by the *difference*
    of its two pixels' values, so it floods a distance map as if it were flat.

    Args:
        height: float array ``(H, W)``; low values are flooded first.
        markers: int array ``(H, W)``: 0 unlabelled, 1..K the seed of each instance.
        mask: bool array ``(H, W)``; pixels outside stay 0. Everything when None.
        connectivity: 4 or 8.

    Returns:
        An int32 label image ``(H, W)``: 0 outside ``mask``, else the label of a marker
        (pixels of ``mask`` that no marker can reach stay 0).
    """
    height = np.asarray(height, dtype=np.float64)
    labels = np.asarray(markers).astype(np.int32, copy=True)
    if height.ndim != 2 or labels.shape != height.shape:
        raise ValueError(f"height and markers must be 2-D of one shape, got {height.shape} "
                         f"and {labels.shape}")
    if labels.min(initial=0) < 0:
        raise ValueError("markers must be 0 (unlabelled) or positive labels")
    mask = np.ones(height.shape, bool) if mask is None else _as_mask(mask)
    if mask.shape != height.shape:
        raise ValueError(f"mask shape {mask.shape} differs from height shape {height.shape}")
    offsets = [(dy, dx) for dy, dx in np.argwhere(_structure(connectivity)) - 1 if dy or dx]
    labels[~mask] = 0
    rows, cols = height.shape
    heap = [(height[y, x], i, y, x) for i, (y, x) in enumerate(np.argwhere(labels > 0))]
    heapq.heapify(heap)
    counter = len(heap)
    while heap:
        _, _, y, x = heapq.heappop(heap)
        for dy, dx in offsets:
            ny, nx = y + dy, x + dx
            if 0 <= ny < rows and 0 <= nx < cols and mask[ny, nx] and not labels[ny, nx]:
                labels[ny, nx] = labels[y, x]
                heapq.heappush(heap, (height[ny, nx], counter, ny, nx))
                counter += 1
    return labels
