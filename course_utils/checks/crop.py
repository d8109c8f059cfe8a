"""Check for lesson 03's copy and crop: the centre of a skip connection's map, cut to the
decoder's size (a U-Net with unpadded convolutions).

The cases are tiny tensors whose values are their own positions, so that a crop taken from
the corner, with height and width swapped or across the channels shows as such.
"""

from __future__ import annotations

import torch

from course_utils import models
from course_utils.checks import CheckFailed, passed

__all__ = ["check_center_crop"]


def _grid(n: int, c: int, h: int, w: int) -> torch.Tensor:
    return torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w)


def _call(case: str, fn, skip: torch.Tensor, size: tuple[int, int]):
    copy = skip.clone()
    try:
        got = fn(copy, size)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise CheckFailed(f"{case}: your code raised {type(exc).__name__}: {exc}") from exc
    if not torch.equal(copy, skip):
        raise CheckFailed(f"{case}: your code changed the skip in place")
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{case}: return a tensor, got {type(got).__name__}")
    return got


def _slip(got: torch.Tensor, skip: torch.Tensor, size: tuple[int, int]) -> str:
    height, width = size
    if got.shape[:2] != skip.shape[:2]:
        return ("Crop only the height and width (the last two dimensions); the batch and the "
                "channels stay as they are. ")
    if tuple(got.shape[-2:]) == (width, height) and height != width:
        return "Height and width are swapped: size is (height, width). "
    if got.shape == skip[..., :height, :width].shape:
        if torch.equal(got, skip[..., :height, :width]):
            return ("That is the top-left corner: cut half of the difference from each side, "
                    "so that the crop keeps the centre. ")
        bottom = skip[..., skip.shape[-2] - height:, skip.shape[-1] - width:]
        if torch.equal(got, bottom):
            return "That is the bottom-right corner: cut half of the difference from each side. "
    return ""


def check_center_crop(fn) -> None:
    """Check ``fn(skip, (height, width))``: the centre of ``skip`` (N, C, H, W) at that size,
    starting at ``(H - height) // 2``; a size larger than the skip raises ``ValueError``."""
    cases = [  # case, skip, size, expected (hand-written for the first)
        ("a 4 x 4 map cut to 2 x 2", _grid(1, 1, 4, 4), (2, 2),
         torch.tensor([[[[5.0, 6.0], [9.0, 10.0]]]])),
        ("a 6 x 8 map cut to 2 x 4 (height and width differ)", _grid(1, 1, 6, 8), (2, 4), None),
        ("two images of 3 channels, 7 x 7 cut to 4 x 4 (odd difference: the extra pixel "
         "stays at the bottom and right)", _grid(2, 3, 7, 7), (4, 4), None),
        ("a map already of the decoder's size, 3 x 5", _grid(1, 2, 3, 5), (3, 5), None),
    ]
    for case, skip, size, want in cases:
        if want is None:
            want = models.center_crop(skip, size)
        got = _call(case, fn, skip, size)
        if got.shape != want.shape or not torch.equal(got, want):
            hint = _slip(got, skip, size)
            raise CheckFailed(f"{hint}{case}: expected shape {tuple(want.shape)} starting at "
                              f"row {(skip.shape[-2] - size[0]) // 2}, column "
                              f"{(skip.shape[-1] - size[1]) // 2}; got shape {tuple(got.shape)}")
    case = "a 4 x 4 map 'cut' to the larger 6 x 6"
    try:
        fn(_grid(1, 1, 4, 4), (6, 6))
    except NotImplementedError:
        raise
    except ValueError:
        pass
    except Exception as exc:
        raise CheckFailed(f"{case}: expected a ValueError, your code raised "
                          f"{type(exc).__name__}: {exc}") from exc
    else:
        raise CheckFailed(f"{case}: expected a ValueError that names both sizes; slicing "
                          f"past the end returns a smaller tensor without complaint")
    passed("center_crop", len(cases) + 1)
