"""Check for lesson 01's prediction of where the naive BCE forms break in a float dtype.

The student derives, from ``torch.finfo(dtype)``, the logit above which the sigmoid rounds to
exactly 1 and the logit below which ``exp(-x)`` overflows; the check compares them with
``losses.breaking_logits`` and, for the usual slips (the spacing ``eps`` taken whole, a
base-2 log, the wrong sign, ``finfo.tiny`` for ``finfo.max``), says which.
"""

from __future__ import annotations

import math

import torch

from course_utils import losses
from course_utils.checks import CheckFailed, passed

__all__ = ["check_breaking_logits"]

TOLERANCE = 0.01  # logits; the sweep of the lesson steps by 0.01


def _pair(fn, dtype: torch.dtype) -> tuple[float, float]:
    case = f"breaking_logits({dtype})"
    try:
        got = fn(dtype)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise CheckFailed(f"{case}: your code raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed(f"{case}: return a pair (saturation, overflow) of two numbers, got "
                          f"{type(got).__name__}")
    numbers = []
    for name, value in zip(("saturation", "overflow"), got, strict=True):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CheckFailed(f"{case}: the {name} logit must be a finite number, got {value!r}")
        numbers.append(float(value))
    return numbers[0], numbers[1]


def _slips(dtype: torch.dtype) -> tuple[dict[float, str], dict[float, str]]:
    info = torch.finfo(dtype)
    saturation = {
        -math.log(info.eps): "You used the spacing eps itself: rounding to nearest already "
                             "turns 1 + e^(-x) into 1 once e^(-x) is below half of it, eps / 2.",
        -math.log2(info.eps / 2): "That is the power of 2 (e^(-x) = 2^(-24)); the logit is a "
                                  "natural log: x = 24 ln 2.",
        math.log(info.eps / 2): "The sign: the sigmoid rounds to 1 for large *positive* x.",
        -math.log(info.eps / 4): "That is where 1 - e^(-x) rounds to 1 (the spacing below 1 is "
                                 "eps / 2). PyTorch computes 1 / (1 + e^(-x)): what counts is "
                                 "where 1 + e^(-x) rounds to 1.",
    }
    overflow = {
        math.log(info.max): "The sign: the simplified form computes e^(-x), which overflows "
                            "for large *negative* x.",
        math.log(info.tiny): "finfo.tiny is the smallest normal number (where e^x underflows); "
                             "overflow is about the largest, finfo.max.",
        -math.log(info.tiny): "finfo.tiny is the smallest normal number (where e^x underflows); "
                              "overflow is about the largest, finfo.max.",
        -math.log2(info.max): "That is a base-2 log; e^(-x) overflows where -x = ln(finfo.max).",
    }
    return saturation, overflow


def _hint(got: float, slips: dict[float, str]) -> str:
    for value, hint in slips.items():
        if abs(got - value) <= TOLERANCE:
            return hint + " "
    return ""


def _compare(dtype: torch.dtype, got: tuple[float, float]) -> None:
    want = losses.breaking_logits(dtype)
    if abs(got[0] - want[1]) <= TOLERANCE and abs(got[1] - want[0]) <= TOLERANCE:
        raise CheckFailed(f"breaking_logits({dtype}): the two numbers are swapped; return "
                          f"(saturation, overflow)")
    slips = _slips(dtype)
    for i, name in enumerate(("saturation (sigmoid rounds to 1)", "overflow (exp(-x) is inf)")):
        if abs(got[i] - want[i]) > TOLERANCE:
            raise CheckFailed(f"{_hint(got[i], slips[i])}breaking_logits({dtype}), the "
                              f"{name} logit: expected {want[i]:.4f} (within {TOLERANCE}), "
                              f"got {got[i]:.4f}")


def check_breaking_logits(fn) -> None:
    """Check ``fn(dtype) -> (saturation, overflow)``: the float32 logits where the textbook
    BCE (sigmoid rounds to 1) and the simplified BCE (``exp(-x)`` overflows) break, derived
    from ``torch.finfo(dtype)`` (a second dtype must give other numbers)."""
    got = _pair(fn, torch.float32)
    _compare(torch.float32, got)
    if _pair(fn, torch.float64) == got:
        raise CheckFailed("breaking_logits(torch.float64) returns the float32 numbers: derive "
                          "them from torch.finfo(dtype), not as constants")
    passed("breaking logits (float32)", 3)
