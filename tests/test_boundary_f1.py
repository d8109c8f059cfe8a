import pytest
import torch

from course_utils.metrics import boundary_f1


def _square(top, left, size=3, shape=(6, 6)):
    mask = torch.zeros(1, 1, *shape)
    mask[..., top : top + size, left : left + size] = 1
    return mask


def _pixel(row, col, shape=(6, 6)):
    return _square(row, col, size=1, shape=shape)


EMPTY = torch.zeros(1, 1, 6, 6)


@pytest.mark.parametrize(
    ("case", "pred", "target", "tolerance", "expected"),
    [
        ("identical", _square(1, 1), _square(1, 1), 0, 1.0),
        ("both empty", EMPTY, EMPTY, 1, 1.0),
        ("pred empty", EMPTY, _square(1, 1), 1, 0.0),
        ("target empty", _square(1, 1), EMPTY, 1, 0.0),
        # outlines of 8 pixels each, shifted by one column: 4 of 8 coincide exactly
        ("shifted, no slack", _square(1, 2), _square(1, 1), 0, 0.5),
        ("shifted, 1 px slack", _square(1, 2), _square(1, 1), 1, 1.0),
        # single pixels are their own boundary; two columns apart
        ("far pixel, 1 px slack", _pixel(2, 4), _pixel(2, 2), 1, 0.0),
        ("far pixel, 2 px slack", _pixel(2, 4), _pixel(2, 2), 2, 1.0),
        # pixels outside the image do not count as background: a full mask has no outline
        ("full masks", torch.ones(1, 1, 6, 6), torch.ones(1, 1, 6, 6), 0, 1.0),
    ],
)
def test_boundary_f1_hand_computed(case, pred, target, tolerance, expected):
    assert boundary_f1(pred, target, tolerance) == pytest.approx(expected), case


def test_boundary_f1_looks_only_at_outlines():
    # a 4x4 square, and the same square with a 2x2 hole: the hole's rim is the square's own
    # ring, so both outlines are the same 12 pixels, although Dice is 2 * 12 / 28
    target = _square(1, 1, size=4)
    pred = target.clone()
    pred[..., 2:4, 2:4] = 0
    assert boundary_f1(pred, target, 0) == pytest.approx(1.0)


def test_boundary_f1_mean_over_images_and_layouts():
    pred = torch.cat([_square(1, 1), _square(1, 2)])
    target = torch.cat([_square(1, 1), _square(1, 1)])
    assert boundary_f1(pred, target, 0) == pytest.approx((1.0 + 0.5) / 2)
    assert boundary_f1(pred[:, 0].bool(), target[:, 0].long(), 0) == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("pred", "target", "tolerance", "message"),
    [
        (_square(1, 1), _square(1, 1), -1, "tolerance must be >= 0 pixels, got -1"),
        (_square(1, 1), torch.zeros(1, 1, 5, 6), 1, "shapes differ"),
        (_square(1, 1) * 0.7, _square(1, 1), 1, "hard mask"),
    ],
)
def test_boundary_f1_bad_input(pred, target, tolerance, message):
    with pytest.raises(ValueError, match=message):
        boundary_f1(pred, target, tolerance)
