"""The check of lesson 01's predicted breaking logits: it passes the reference, names the
usual slips, and refuses answers of the wrong kind."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import losses
from course_utils.checks import CheckFailed
from course_utils.checks.floats import check_breaking_logits

LN2 = math.log(2)
FLT_MAX = torch.finfo(torch.float32).max


def test_the_reference_passes(capsys):
    check_breaking_logits(losses.breaking_logits)
    assert "checks passed" in capsys.readouterr().out


def _answer(saturation, overflow):
    def fn(dtype):
        scale = 1.0 if dtype == torch.float32 else 2.0  # other numbers for float64
        return saturation * scale, overflow * scale
    return fn


@pytest.mark.parametrize(("fn", "message"), [
    (_answer(23 * LN2, -math.log(FLT_MAX)), "spacing eps itself"),
    (_answer(24.0, -math.log(FLT_MAX)), "natural log"),
    (_answer(-24 * LN2, -math.log(FLT_MAX)), "large *positive* x"),
    (_answer(25 * LN2, -math.log(FLT_MAX)), "1 - e^(-x) rounds to 1"),
    (_answer(24 * LN2, math.log(FLT_MAX)), "large *negative* x"),
    (_answer(24 * LN2, -87.3365), "finfo.tiny"),
    (_answer(24 * LN2, -128.0), "base-2 log"),
    (_answer(-math.log(FLT_MAX), 24 * LN2), "swapped"),
    (_answer(16.0, -88.72283905), "expected 16.6355 (within 0.01), got 16.0000"),
    (lambda dtype: (24 * LN2, -math.log(FLT_MAX)), "derive them from torch.finfo(dtype)"),
    (lambda dtype: 16.6355, "return a pair"),
    (lambda dtype: (16.6355, float("nan")), "must be a finite number"),
    (lambda dtype: ("16.6", -88.7), "must be a finite number"),
    (lambda dtype: torch.finfo(dtype).nonexistent, "raised AttributeError"),
])
def test_wrong_answers_fail_naming_the_slip(fn, message):
    with pytest.raises(CheckFailed, match=None) as info:
        check_breaking_logits(fn)
    assert message in str(info.value)


def test_tensors_are_accepted(capsys):
    check_breaking_logits(lambda dtype: tuple(torch.tensor(v) for v in losses.breaking_logits(dtype)))
    assert "checks passed" in capsys.readouterr().out


def test_a_stub_raises_not_implemented():
    def stub(dtype):
        raise NotImplementedError("derive them")
    with pytest.raises(NotImplementedError):
        check_breaking_logits(stub)
