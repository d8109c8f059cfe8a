"""course_utils.topology: boundary, Hausdorff/HD95, components, holes, watershed, on tiny
masks whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils import topology


def arr(rows) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


RING = arr([[1, 1, 1],
            [1, 0, 1],
            [1, 1, 1]])
DIAMOND = arr([[0, 1, 0],
               [1, 0, 1],
               [0, 1, 0]])
SQUARE = np.pad(np.ones((4, 4), np.uint8), 2)  # 8 x 8 with a 4 x 4 square in the middle


@pytest.mark.parametrize(("mask", "expected"), [
    (np.zeros((3, 3), np.uint8), np.zeros((3, 3), bool)),
    (np.ones((3, 3), np.uint8), RING.astype(bool)),  # the image edge is a boundary
    (np.pad(np.ones((3, 3), np.uint8), 1), np.pad(RING, 1).astype(bool)),
    (arr([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), arr([[0, 0, 0], [0, 1, 0], [0, 0, 0]]).astype(bool)),
], ids=["empty", "full", "square", "one pixel"])
def test_boundary(mask, expected):
    np.testing.assert_array_equal(topology.boundary(mask), expected)


def _pixels(shape, *points) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for y, x in points:
        mask[y, x] = 1
    return mask


@pytest.mark.parametrize(("pred", "target", "percentile", "expected"), [
    (SQUARE, SQUARE, 100, 0.0),
    (_pixels((8, 8), (0, 0)), _pixels((8, 8), (3, 4)), 100, 5.0),  # a 3-4-5 triangle
    (np.roll(SQUARE, 2, axis=1), SQUARE, 100, 2.0),
    (np.roll(SQUARE, 2, axis=1), SQUARE, 95, 2.0),
    # 12 boundary pixels at distance 0 and one stray pixel 2 * sqrt(2) from the corner (5, 5)
    (SQUARE | _pixels((8, 8), (7, 7)), SQUARE, 100, 2 * math.sqrt(2)),
    # 13 sorted distances, 95th percentile at position 0.95 * 12 = 11.4: 0.4 of the way to the stray
    (SQUARE | _pixels((8, 8), (7, 7)), SQUARE, 95, 0.4 * 2 * math.sqrt(2)),
    (SQUARE | _pixels((8, 8), (7, 7)), SQUARE, 0, 0.0),
    (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), 100, 0.0),
    (np.zeros((4, 4), np.uint8), _pixels((4, 4), (1, 1)), 100, math.inf),
    (_pixels((4, 4), (1, 1)), np.zeros((4, 4), np.uint8), 95, math.inf),
], ids=["identical", "3-4-5", "shift 2", "shift 2 HD95", "stray pixel", "stray pixel HD95",
        "percentile 0", "both empty", "empty pred", "empty target"])
def test_hausdorff_distance(pred, target, percentile, expected):
    got = topology.hausdorff_distance(pred, target, percentile)
    assert got == pytest.approx(expected)


def test_hausdorff_is_symmetric_and_takes_tensors_with_a_channel():
    a = torch.from_numpy(SQUARE | _pixels((8, 8), (7, 7)))[None]
    b = torch.from_numpy(SQUARE).bool()[None]
    assert topology.hausdorff_distance(a, b) == topology.hausdorff_distance(b, a)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: topology.hausdorff_distance(SQUARE, SQUARE[:4]), "shapes differ"),
    (lambda: topology.hausdorff_distance(SQUARE * 0.5, SQUARE), "only 0 and 1"),
    (lambda: topology.hausdorff_distance(SQUARE, SQUARE, 101), r"percentile must lie in \[0, 100\]"),
    (lambda: topology.hausdorff_distance(np.stack([SQUARE] * 2), np.stack([SQUARE] * 2)),
     "one 2-D mask"),
    (lambda: topology.count_components(SQUARE, connectivity=6), "connectivity must be 4 or 8"),
    (lambda: topology.count_holes(SQUARE, connectivity=2), "connectivity must be 4 or 8"),
    (lambda: topology.largest_component(SQUARE * 0.5), "only 0 and 1"),
    (lambda: topology.largest_component(SQUARE, connectivity=5), "connectivity must be 4 or 8"),
    (lambda: topology.boundary(np.ones(5)), "one 2-D mask"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(("mask", "connectivity", "components", "holes"), [
    (np.zeros((3, 3), np.uint8), 8, 0, 0),
    (SQUARE, 8, 1, 0),
    (RING, 8, 1, 1),
    (np.pad(RING, 2), 8, 1, 1),
    (np.hstack([RING, RING]), 8, 1, 2),  # touching side by side: one piece, two holes
    (np.hstack([RING, np.zeros((3, 1), np.uint8), RING]), 8, 2, 2),
    (DIAMOND, 8, 1, 1),  # diagonal steps connect the foreground and close the hole
    (DIAMOND, 4, 4, 0),  # ... but not with 4-connectivity, and the centre leaks out
    (np.eye(4, dtype=np.uint8), 8, 1, 0),
    (np.eye(4, dtype=np.uint8), 4, 4, 0),
    (arr([[1, 1, 1], [1, 0, 0], [1, 1, 1]]), 8, 1, 0),  # a "C" open to the border
])
def test_components_and_holes(mask, connectivity, components, holes):
    assert topology.count_components(mask, connectivity) == components
    assert topology.count_holes(mask, connectivity) == holes
    assert topology.topology(mask, connectivity) == {"components": components, "holes": holes}


@pytest.mark.parametrize(("mask", "connectivity", "expected"), [
    (arr([[1, 0, 1, 1], [0, 0, 1, 1]]), 8, arr([[0, 0, 1, 1], [0, 0, 1, 1]])),
    (arr([[1, 0, 0], [0, 1, 1]]), 8, arr([[1, 0, 0], [0, 1, 1]])),  # diagonal: one piece
    (arr([[1, 0, 0], [0, 1, 1]]), 4, arr([[0, 0, 0], [0, 1, 1]])),  # ... two pieces with 4
    (arr([[1, 0, 1]]), 8, arr([[1, 0, 0]])),  # a tie: the first piece in scan order
    (np.zeros((2, 2), np.uint8), 8, np.zeros((2, 2), np.uint8)),
])
def test_largest_component(mask, connectivity, expected):
    got = topology.largest_component(torch.from_numpy(mask)[None], connectivity)
    assert got.dtype == bool and (got == expected.astype(bool)).all()


def test_watershed_splits_at_the_ridge():
    height = np.array([[0, 1, 2, 3, 2, 1, 0]], dtype=float)
    markers = np.array([[1, 0, 0, 0, 0, 0, 2]])
    labels = topology.watershed(height, markers)
    np.testing.assert_array_equal(labels[0, :3], [1, 1, 1])
    np.testing.assert_array_equal(labels[0, 4:], [2, 2, 2])
    assert labels[0, 3] in (1, 2)


def test_watershed_respects_the_mask_and_leaves_unreachable_pixels_unlabelled():
    height = np.zeros((1, 7))
    markers = np.array([[1, 0, 0, 0, 0, 0, 0]])
    mask = np.array([[1, 1, 0, 1, 1, 1, 0]])
    np.testing.assert_array_equal(topology.watershed(height, markers, mask),
                                  [[1, 1, 0, 0, 0, 0, 0]])


def test_watershed_separates_two_touching_discs_at_the_neck():
    from scipy import ndimage

    yy, xx = np.mgrid[:40, :70]
    left, right = (yy - 20) ** 2 + (xx - 20) ** 2 < 14**2, (yy - 20) ** 2 + (xx - 46) ** 2 < 13**2
    mask = left | right
    dist = ndimage.distance_transform_edt(mask)
    markers = np.zeros(mask.shape, int)
    markers[20, 20], markers[20, 46] = 1, 2
    labels = topology.watershed(-dist, markers, mask)
    assert set(np.unique(labels)) == {0, 1, 2}
    assert (labels[left & ~right] == 1).mean() > 0.97
    assert (labels[right & ~left] == 2).mean() > 0.97


@pytest.mark.parametrize(("height", "markers", "mask", "match"), [
    (np.zeros((2, 2)), np.zeros((2, 3), int), None, "one shape"),
    (np.zeros(4), np.zeros(4, int), None, "2-D"),
    (np.zeros((2, 2)), -np.ones((2, 2), int), None, "0 .unlabelled. or positive"),
    (np.zeros((2, 2)), np.ones((2, 2), int), np.ones((3, 3)), "mask shape"),
    (np.zeros((2, 2)), np.ones((2, 2), int), None, None),
])
def test_watershed_rejects_bad_input(height, markers, mask, match):
    if match is None:
        np.testing.assert_array_equal(topology.watershed(height, markers, mask), markers)
        return
    with pytest.raises(ValueError, match=match):
        topology.watershed(height, markers, mask)


# --- instance F1 -------------------------------------------------------------------------------

def _boxes(shape, *boxes):
    mask = np.zeros(shape, bool)
    for r0, r1, c0, c1 in boxes:
        mask[r0:r1, c0:c1] = True
    return mask


TWO = ((1, 4, 1, 4), (1, 4, 8, 11))


@pytest.mark.parametrize(("pred", "target", "threshold", "expected"), [
    (_boxes((6, 12), *TWO), _boxes((6, 12), *TWO), 0.5, (2, 0, 0, 1.0)),
    (_boxes((6, 12), (1, 4, 8, 11)), _boxes((6, 12), (1, 4, 1, 4)), 0.5, (0, 1, 1, 0.0)),
    # a merged prediction: IoU 9/30 with each true box
    (_boxes((6, 12), (1, 4, 1, 11)), _boxes((6, 12), *TWO), 0.5, (0, 1, 2, 0.0)),
    (_boxes((6, 12), (1, 4, 1, 11)), _boxes((6, 12), *TWO), 0.3, (1, 0, 1, 2 / 3)),
    # half of a 4 x 4 box: IoU exactly 0.5 counts; 0.51 does not
    (_boxes((6, 6), (1, 5, 1, 3)), _boxes((6, 6), (1, 5, 1, 5)), 0.5, (1, 0, 0, 1.0)),
    (_boxes((6, 6), (1, 5, 1, 3)), _boxes((6, 6), (1, 5, 1, 5)), 0.51, (0, 1, 1, 0.0)),
    # two halves (IoU 0.4 each) of one true box: one match only
    (_boxes((6, 7), (1, 5, 1, 3), (1, 5, 4, 6)), _boxes((6, 7), (1, 5, 1, 6)), 0.3,
     (1, 1, 0, 2 / 3)),
    # corner-touching squares are one 8-connected object
    (_boxes((6, 6), (0, 2, 0, 2), (2, 4, 2, 4)), _boxes((6, 6), (0, 2, 0, 2), (2, 4, 2, 4)), 0.5,
     (1, 0, 0, 1.0)),
    (np.zeros((4, 4), bool), np.zeros((4, 4), bool), 0.5, (0, 0, 0, 1.0)),
    (_boxes((4, 4), (0, 1, 0, 1)), np.zeros((4, 4), bool), 0.5, (0, 1, 0, 0.0)),
    (np.zeros((4, 4), bool), _boxes((4, 4), (0, 1, 0, 1)), 0.5, (0, 0, 1, 0.0)),
])
def test_instance_f1(pred, target, threshold, expected):
    got = topology.instance_f1(pred, target, threshold)
    assert (got["tp"], got["fp"], got["fn"]) == expected[:3]
    assert got["f1"] == pytest.approx(expected[3])


def test_instance_f1_with_4_connectivity_splits_corner_touching_squares():
    squares = _boxes((6, 6), (0, 2, 0, 2), (2, 4, 2, 4))
    assert topology.instance_f1(squares, squares, connectivity=4)["tp"] == 2


@pytest.mark.parametrize(("pred", "target", "kwargs", "message"), [
    (np.zeros((4, 4)), np.zeros((4, 5)), {}, "differ in shape"),
    (np.zeros((4, 4)), np.zeros((4, 4)), {"threshold": 0.0}, r"IoU in \(0, 1\]"),
    (np.zeros((4, 4)), np.zeros((4, 4)), {"connectivity": 6}, "connectivity must be 4 or 8"),
    (np.full((4, 4), 0.7), np.zeros((4, 4)), {}, "pred must hold only 0 and 1"),
    (np.zeros((2, 4, 4)), np.zeros((4, 4)), {}, "one 2-D mask"),
])
def test_instance_f1_rejects_bad_input(pred, target, kwargs, message):
    with pytest.raises(ValueError, match=message):
        topology.instance_f1(pred, target, **kwargs)
