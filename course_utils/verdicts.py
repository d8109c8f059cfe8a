"""Verdicts: one printed sentence saying what *this* run shows, computed from its numbers.

A lesson never asserts on a training outcome: scores move with the seed, the device, the
image size and the data. It prints a verdict instead, and its prose explains what is typical
and why, so that the text stays true whichever way the verdict goes::

    verdicts.compare("the U-Net", unet_scores, "the encoder-decoder", encdec_scores)
    # In this run the U-Net beats the encoder-decoder on Dice (+0.028) and boundary F1 (+0.025).

A score can also be a sequence of per-image values (the same test images, in the same
order, for both contenders). The sentence then uses their means and adds, per metric, a
95 % confidence interval of the mean difference from a paired bootstrap over the images
(``paired_bootstrap_ci``); ``seed_diffs`` adds how many seeds gave a difference of the same
sign and the exact sign test's probability of that under no effect (``sign_test``)::

    verdicts.compare("Dice loss", dice_per_image, "BCE", bce_per_image,
                     seed_diffs={"Dice": [0.012, 0.009, 0.011]})
    # In this run Dice loss beats BCE on Dice (+0.011).
    #   Dice: +0.011, 95 % CI [+0.006, +0.016] over 500 test images; same sign in 3/3 seeds, p = 0.25.

The interval says how much the difference could move on other test images like these; it
says nothing about another training run, which is what the seeds are for.

The quick-mode outcomes the lessons were written around are pinned by the course's CI
(``tests/integration/test_lesson_outcomes.py``), from numbers the lessons hand over with
``reporting.record_outcome``; they never stop a student's run.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np

__all__ = ["compare", "describe_comparison", "describe_ratio", "paired_bootstrap_ci",
           "sign_test"]

RESAMPLES = 5000  # bootstrap draws of a paired_bootstrap_ci


def paired_bootstrap_ci(values_a, values_b, *, confidence: float = 0.95,
                        resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired observations and its percentile bootstrap interval.

    The observations (test images, say) are drawn with replacement ``resamples`` times,
    keeping each ``a`` with its ``b``; the interval holds the central ``confidence`` share of
    the resampled mean differences. The same draws as ``scipy.stats.bootstrap((a, b),
    statistic, paired=True, method="percentile", rng=np.random.default_rng(seed))`` with
    ``statistic`` the difference of the means: the same numbers.

    Args:
        values_a, values_b: equal-length 1-D sequences (or arrays, tensors) of finite numbers,
            at least two each.
        confidence: the interval's coverage, strictly between 0 and 1.
        resamples: bootstrap draws, at least 1.
        seed: for ``numpy.random.default_rng``: the same inputs give the same interval.

    Returns:
        ``(mean difference, lower end, upper end)``.

    Raises:
        ValueError: on unequal lengths, fewer than two values, values that are not finite
            numbers, or a confidence or resample count out of range.
    """
    a, b = _values("values_a", values_a), _values("values_b", values_b)
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    if len(a) < 2:
        raise ValueError(f"a bootstrap needs at least 2 paired values, got {len(a)}")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) \
            or not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples must be a whole number >= 1, got {resamples!r}")
    diff = a - b
    drawn = np.random.default_rng(seed).integers(0, len(diff), (resamples, len(diff)))
    means = diff[drawn].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(diff.mean()), float(low), float(high)


def sign_test(differences) -> float:
    """Two-sided exact sign test: the probability, if each sign were a coin toss, of signs at
    least as lopsided as these.

    Zero differences carry no sign and are left out. With ``n`` non-zero differences of which
    ``k`` are positive, ``p = min(1, 2 * P(X >= max(k, n - k)))`` for ``X ~ Binomial(n, 1/2)``
    (``scipy.stats.binomtest(k, n).pvalue``). Three differences of one sign give
    ``p = 2 / 2**3 = 0.25``: one run in four shows that with no effect at all.

    Raises:
        ValueError: if a difference is not a finite number or none is non-zero.
    """
    diffs = _values("differences", differences)
    n = int((diffs != 0).sum())
    if n == 0:
        raise ValueError("the sign test needs at least one non-zero difference")
    k = max(int((diffs > 0).sum()), int((diffs < 0).sum()))
    tail = sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n
    return min(1.0, 2 * tail)


def _values(name: str, values) -> np.ndarray:
    """A 1-D float64 array of finite numbers (tensors are read on the CPU)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r:.60}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers only: {exc}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers only")
    return array


def describe_comparison(a: str, scores_a: Mapping[str, object], b: str,
                        scores_b: Mapping[str, object], *, tie: float = 0.002,
                        lower_is_better: Collection[str] = (), digits: int = 3,
                        seed_diffs: Mapping[str, Sequence[float]] | None = None,
                        unit: str = "test images", confidence: float = 0.95,
                        seed: int = 0) -> str:
    """One sentence comparing ``a`` with ``b`` on every metric the two share.

    Args:
        a, b: the names of the two contenders as they read in a sentence ("the U-Net").
        scores_a, scores_b: metric name -> a number, or a sequence of per-observation
            values (per test image, paired: same images, same order on both sides); a
            sequence counts with its mean, and gets a line with the paired bootstrap
            interval of the mean difference. Metrics missing from either are skipped.
        tie: differences at most this large (in the metric's units) count as a tie.
        lower_is_better: metrics where smaller wins (losses, distances in pixels).
        digits: decimals of the printed differences.
        seed_diffs: metric name -> the difference ``a - b`` of each seed's pair of runs;
            adds "same sign in k/n seeds, p = ..." (``sign_test``) to that metric's line.
        unit: what the per-observation values are over ("test images").
        confidence, seed: of the bootstrap (``paired_bootstrap_ci``).

    Returns:
        "In this run A beats B on X (+d), trails it on Y (-d) and ties on Z (+d)." The
        signed differences are always ``a - b`` in the metric's own direction. Then, for each
        metric with per-observation values or seed differences, a line such as
        "  X: +0.011, 95 % CI [+0.006, +0.016] over 500 test images; same sign in 3/3
        seeds, p = 0.25."

    Raises:
        ValueError: if the two share no metric, a score is neither a finite number nor a
            sequence of them, paired sequences differ in length, ``seed_diffs`` names a
            metric they do not share, or ``tie`` is negative.
    """
    if not isinstance(tie, int | float) or tie < 0:
        raise ValueError(f"tie must be a number >= 0, got {tie!r}")
    shared = [m for m in scores_a if m in scores_b]
    if not shared:
        raise ValueError(f"{a} and {b} share no metric: {sorted(scores_a)} vs {sorted(scores_b)}")
    seed_diffs = dict(seed_diffs or {})
    for metric in seed_diffs:
        if metric not in shared:
            raise ValueError(f"seed_diffs names {metric!r}, which {a} and {b} do not share")
    groups: dict[str, list[str]] = {"beats": [], "trails": [], "ties": []}
    details = []
    for metric in shared:
        value_a, value_b = _score(metric, a, scores_a[metric]), _score(metric, b, scores_b[metric])
        if isinstance(value_a, np.ndarray) != isinstance(value_b, np.ndarray):
            raise ValueError(f"{metric}: give per-observation values for both {a} and {b}, "
                             f"or a number for both")
        detail = []
        if isinstance(value_a, np.ndarray):
            diff, low, high = paired_bootstrap_ci(value_a, value_b, confidence=confidence,
                                                  seed=seed)
            detail.append(f"{diff:+.{digits}f}, {confidence * 100:g} % CI [{low:+.{digits}f}, "
                          f"{high:+.{digits}f}] over {len(value_a)} {unit}")
        else:
            diff = value_a - value_b
        if metric in seed_diffs:
            signs = _values(f"seed_diffs[{metric!r}]", seed_diffs[metric])
            if not detail:
                detail.append(f"{diff:+.{digits}f}")
            detail.append(_describe_signs(signs))
        if detail:
            details.append(f"  {metric}: " + "; ".join(detail) + ".")
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
    return "\n".join([f"In this run {a} {_join(parts, sep=', ')}.", *details])


def compare(a: str, scores_a: Mapping[str, object], b: str, scores_b: Mapping[str, object],
            **kwargs) -> dict[str, float]:
    """Print ``describe_comparison`` and return the differences ``a - b`` per shared metric
    (of the means, where the scores are per-observation values).

    Keyword arguments are those of ``describe_comparison``.
    """
    print(describe_comparison(a, scores_a, b, scores_b, **kwargs))
    return {m: _mean(scores_a[m]) - _mean(scores_b[m]) for m in scores_a if m in scores_b}


def _score(metric: str, who: str, value):
    """A float, or a 1-D array of per-observation values."""
    if isinstance(value, bool):
        raise ValueError(f"{metric} of {who} must be a finite number, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{metric} of {who} must be a finite number, got {value!r}")
        return float(value)
    if hasattr(value, "__len__") and not isinstance(value, str | bytes):
        return _values(f"{metric} of {who}", value)
    raise ValueError(f"{metric} of {who} must be a finite number, got {value!r}")


def _mean(value) -> float:
    return float(np.mean(_values("scores", value))) if hasattr(value, "__len__") \
        else float(value)


def _describe_signs(diffs: np.ndarray) -> str:
    """'same sign in 3/3 seeds, p = 0.25' (the majority sign; zeros count as neither)."""
    n = len(diffs)
    nonzero = int((diffs != 0).sum())
    if nonzero == 0:
        return f"no difference in any of {n} seeds"
    same = max(int((diffs > 0).sum()), int((diffs < 0).sum()))
    return f"same sign in {same}/{n} seeds, p = {_probability(sign_test(diffs))}"


def _probability(p: float) -> str:
    """Two significant digits, without trailing zeros: 0.25, 0.031, 1."""
    return f"{p:.2g}" if p < 1 else "1"


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
