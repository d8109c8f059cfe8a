"""Verdicts: one printed sentence saying what *this* run shows, computed from its numbers.

A lesson never asserts on a training outcome: scores move with the seed, the device, the
image size and the data. It prints a verdict instead, and its prose explains what is typical
and why, so that the text stays true whichever way the verdict goes::

    verdicts.compare("the U-Net", unet_scores, "the encoder-decoder", encdec_scores)
    # In this run the U-Net beats the encoder-decoder on Dice (+0.028) and boundary F1 (+0.025).

The quick-mode outcomes the lessons were written around are pinned by the course's CI
(``tests/integration/test_lesson_outcomes.py``), from numbers the lessons hand over with
``reporting.record_outcome``; they never stop a student's run.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

__all__ = ["compare", "describe_comparison", "describe_ratio"]


def describe_comparison(a: str, scores_a: Mapping[str, float], b: str,
                        scores_b: Mapping[str, float], *, tie: float = 0.002,
                        lower_is_better: Collection[str] = (), digits: int = 3) -> str:
    """One sentence comparing ``a`` with ``b`` on every metric the two share.

    Args:
        a, b: the names of the two contenders as they read in a sentence ("the U-Net").
        scores_a, scores_b: metric name -> value; metrics missing from either are skipped.
        tie: differences at most this large (in the metric's units) count as a tie.
        lower_is_better: metrics where smaller wins (losses, distances in pixels).
        digits: decimals of the printed differences.

    Returns:
        "In this run A beats B on X (+d), trails it on Y (-d) and ties on Z (+d)." The
        signed differences are always ``a - b`` in the metric's own direction.

    Raises:
        ValueError: if the two share no metric, a score is not a finite number, or
            ``tie`` is negative.
    """
    if not isinstance(tie, int | float) or tie < 0:
        raise ValueError(f"tie must be a number >= 0, got {tie!r}")
    shared = [m for m in scores_a if m in scores_b]
    if not shared:
        raise ValueError(f"{a} and {b} share no metric: {sorted(scores_a)} vs {sorted(scores_b)}")
    groups: dict[str, list[str]] = {"beats": [], "trails": [], "ties": []}
    for metric in shared:
        value_a, value_b = scores_a[metric], scores_b[metric]
        for who, value in ((a, value_a), (b, value_b)):
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{metric} of {who} must be a finite number, got {value!r}")
        diff = float(value_a) - float(value_b)
        gain = -diff if metric in lower_is_better else diff
        word = "ties" if abs(diff) <= tie else ("beats" if gain > 0 else "trails")
        groups[word].append(f"{metric} ({diff:+.{digits}f})")
    parts = []
    if groups["beats"]:
        parts.append(f"beats {b} on {_join(groups['beats'])}")
    if groups["trails"]:
        parts.append(("trails it" if parts else f"trails {b}") + f" on {_join(groups['trails'])}")
    if groups["ties"]:
        tied = f"ties on {_join(groups['ties'])}" if parts else f"ties with {b} on " \
            f"{_join(groups['ties'])}"
        parts.append(tied)
    return f"In this run {a} {_join(parts, sep=', ')}."


def compare(a: str, scores_a: Mapping[str, float], b: str, scores_b: Mapping[str, float],
            **kwargs) -> dict[str, float]:
    """Print ``describe_comparison`` and return the differences ``a - b`` per shared metric.

    Keyword arguments are those of ``describe_comparison``.
    """
    print(describe_comparison(a, scores_a, b, scores_b, **kwargs))
    return {m: float(scores_a[m]) - float(scores_b[m]) for m in scores_a if m in scores_b}


def describe_ratio(what: str, numerator: float, denominator: float, *, larger: str = "larger",
                   smaller: str = "smaller", tie: float = 0.1) -> str:
    """"In this run <what> is 2.6 times larger." (or "... 0.40 times, i.e. smaller").

    Args:
        what: the subject of the sentence ("the first-layer gradient with skips").
        numerator, denominator: finite numbers, the denominator non-zero.
        larger, smaller: the words for a ratio above and below one.
        tie: ratios within ``1 +- tie`` read as "about the same".
    """
    for name, value in (("numerator", numerator), ("denominator", denominator)):
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if denominator == 0:
        raise ValueError("denominator must not be zero")
    ratio = numerator / denominator
    if abs(ratio - 1) <= tie:
        return f"In this run {what} is about the same ({ratio:.2f} times)."
    if ratio > 1:
        return f"In this run {what} is {ratio:.2f} times {larger}."
    return f"In this run {what} is {ratio:.2f} times as large, i.e. {smaller}."


def _join(items: list[str], sep: str = ", ") -> str:
    if len(items) <= 1:
        return "".join(items)
    return sep.join(items[:-1]) + " and " + items[-1]
