"""The check of lesson 03's centre crop: it passes the reference, names the usual slips,
and refuses answers of the wrong kind."""

from __future__ import annotations

import pytest
import torch

from course_utils import models
from course_utils.checks import CheckFailed
from course_utils.checks.crop import check_center_crop


def test_the_reference_passes(capsys):
    check_center_crop(models.center_crop)
    assert "checks passed" in capsys.readouterr().out


def _with_refusal(crop):
    def fn(skip, size):
        if size[0] > skip.shape[-2] or size[1] > skip.shape[-1]:
            raise ValueError("too large")
        return crop(skip, size)
    return fn


def _rounded_up(skip, size):  # the odd difference's extra pixel at the top and left
    top, left = -(-(skip.shape[-2] - size[0]) // 2), -(-(skip.shape[-1] - size[1]) // 2)
    return skip[..., top:top + size[0], left:left + size[1]]


@pytest.mark.parametrize(("fn", "message"), [
    (_with_refusal(lambda s, z: s[..., :z[0], :z[1]]), "That is the top-left corner"),
    (_with_refusal(lambda s, z: s[..., s.shape[-2] - z[0]:, s.shape[-1] - z[1]:]),
     "bottom-right corner"),
    (_with_refusal(lambda s, z: models.center_crop(s, (z[1], z[0]))), "swapped"),
    (_with_refusal(lambda s, z: models.center_crop(s, z)[:, :1]), "the channels stay"),
    (_with_refusal(_rounded_up), "starting at row 1, column 1"),
    (lambda s, z: s[..., :z[0], :z[1]] if z[0] <= s.shape[-2] else s, "That is the top-left"),
    (lambda s, z: s[..., 1:1 + z[0], 1:1 + z[1]] if z == (2, 2) else s[..., :z[0], :z[1]],
     "2 x 4 (height and width differ)"),
    (lambda s, z: s[..., 1:3, 1:3] if z[0] <= s.shape[-2] else s, "(height and width differ)"),
    (lambda s, z: models.center_crop(s, z).tolist(), "return a tensor"),
    (lambda s, z: s.zero_()[..., :z[0], :z[1]], "changed the skip in place"),
    (lambda s, z: s.view(7), "raised RuntimeError"),
    (lambda s, z: s[..., : z[0], : z[1]] if z == (6, 6) else models.center_crop(s, z),
     "expected a ValueError that names both sizes"),
    (lambda s, z: models.center_crop(s, z) if z != (6, 6) else s[99], "raised IndexError"),
])
def test_wrong_answers_fail_naming_the_slip(fn, message):
    with pytest.raises(CheckFailed) as info:
        check_center_crop(fn)
    assert message in str(info.value)


def test_a_stub_raises_not_implemented():
    def stub(skip, size):
        raise NotImplementedError("crop it")
    with pytest.raises(NotImplementedError):
        check_center_crop(stub)


@pytest.mark.parametrize(("skip", "size", "match"), [
    (torch.zeros(4, 4), (2, 2), r"\(N, C, H, W\)"),
    (torch.zeros(1, 1, 4, 4), (5, 2), "larger"),
    (torch.zeros(1, 1, 4, 4), (2, 5), "larger"),
])
def test_the_reference_rejects_bad_input(skip, size, match):
    with pytest.raises(ValueError, match=match):
        models.center_crop(skip, size)
