"""metrics.boundary: the course's one boundary definition, in its two settings."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from course_utils import metrics, topology


def _mask(rows: list[str]) -> torch.Tensor:
    return torch.tensor([[c == "#" for c in row] for row in rows])


DIAGONAL_STEP = ["##.", "###", "###"]  # (0, 2) is background: only corner pixels touch it


@pytest.mark.parametrize(("rows", "connectivity", "edge", "expected"), [
    (["...", ".#.", "..."], 8, False, ["...", ".#.", "..."]),  # a lone pixel is all boundary
    (["###", "###", "###"], 8, False, ["...", "...", "..."]),  # fills the image: no boundary
    (["###", "###", "###"], 4, True, ["###", "#.#", "###"]),  # the image edge is background
    (DIAGONAL_STEP, 8, False, [".#.", ".##", "..."]),  # (1, 1) sees (0, 2) on its corner
    (DIAGONAL_STEP, 4, False, [".#.", "..#", "..."]),  # (1, 1) has no background 4-neighbour
    (["....", ".##.", ".##.", "...."], 4, True, ["....", ".##.", ".##.", "...."]),
])
def test_boundary_table(rows, connectivity, edge, expected):
    got = metrics.boundary(_mask(rows), connectivity=connectivity, edge_is_background=edge)
    assert torch.equal(got, _mask(expected))


def test_boundary_keeps_batch_shape_and_takes_floats():
    masks = torch.ones(2, 1, 3, 3)
    assert metrics.boundary(masks).shape == (2, 1, 3, 3)
    assert not metrics.boundary(masks).any()


def test_boundary_rejects_other_connectivity():
    with pytest.raises(ValueError, match="connectivity must be 4 or 8, got 6"):
        metrics.boundary(torch.ones(3, 3), connectivity=6)


def test_both_settings_match_the_definitions_they_replaced():
    """boundary_f1 used an 8-neighbour erosion by max-pooling (off-image pixels ignored),
    topology a 4-neighbour binary erosion with off-image pixels as background: the one
    definition gives the same pixels for both on random masks of random sizes."""
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        height, width = torch.randint(1, 12, (2,), generator=g).tolist()
        masks = torch.rand(2, 1, height, width, generator=g) < torch.rand(1, generator=g)
        pooled = masks.float() + torch.nn.functional.max_pool2d(-masks.float(), 3, 1, 1) > 0
        assert torch.equal(metrics.boundary(masks), pooled)
        one = masks[0, 0].numpy()
        eroded = ndimage.binary_erosion(one, ndimage.generate_binary_structure(2, 1),
                                        border_value=0)
        np.testing.assert_array_equal(topology.boundary(one), one & ~eroded)
