"""course_utils.verdicts: the sentences, by hand, and their bad inputs."""

import pytest

from course_utils import verdicts

UNET = {"Dice": 0.968, "boundary F1": 0.950}
ENCDEC = {"Dice": 0.940, "boundary F1": 0.925}


@pytest.mark.parametrize(("a", "b", "kwargs", "sentence"), [
    (UNET, ENCDEC, {},
     "In this run the U-Net beats the encoder-decoder on Dice (+0.028) and boundary F1 "
     "(+0.025)."),
    (ENCDEC, UNET, {},
     "In this run the U-Net trails the encoder-decoder on Dice (-0.028) and boundary F1 "
     "(-0.025)."),
    ({"Dice": 0.95, "boundary F1": 0.90}, {"Dice": 0.949, "boundary F1": 0.93}, {},
     "In this run the U-Net trails the encoder-decoder on boundary F1 (-0.030) and ties on "
     "Dice (+0.001)."),
    ({"Dice": 0.95}, {"Dice": 0.95}, {}, "In this run the U-Net ties with the encoder-decoder "
     "on Dice (+0.000)."),
    ({"Dice": 0.9, "HD95": 2.0}, {"Dice": 0.8, "HD95": 3.5}, {"lower_is_better": ["HD95"]},
     "In this run the U-Net beats the encoder-decoder on Dice (+0.100) and HD95 (-1.500)."),
    ({"Dice": 0.9, "HD95": 4.0}, {"Dice": 0.8, "HD95": 3.5},
     {"lower_is_better": ["HD95"], "digits": 1},
     "In this run the U-Net beats the encoder-decoder on Dice (+0.1) and trails it on HD95 "
     "(+0.5)."),
    ({"Dice": 0.95}, {"Dice": 0.94}, {"tie": 0.02},
     "In this run the U-Net ties with the encoder-decoder on Dice (+0.010)."),
])
def test_describe_comparison(a, b, kwargs, sentence):
    assert verdicts.describe_comparison("the U-Net", a, "the encoder-decoder", b,
                                        **kwargs) == sentence


def test_compare_prints_and_returns_the_differences(capsys):
    diffs = verdicts.compare("A", {"Dice": 0.9, "only A": 1.0}, "B", {"Dice": 0.85})
    assert diffs == pytest.approx({"Dice": 0.05})
    assert capsys.readouterr().out == "In this run A beats B on Dice (+0.050).\n"


@pytest.mark.parametrize(("a", "b", "kwargs", "match"), [
    ({"Dice": 0.9}, {"IoU": 0.8}, {}, "share no metric"),
    ({"Dice": float("nan")}, {"Dice": 0.8}, {}, "Dice of A must be a finite number"),
    ({"Dice": 0.9}, {"Dice": "0.8"}, {}, "Dice of B must be a finite number"),
    ({"Dice": 0.9}, {"Dice": 0.8}, {"tie": -1}, "tie must be a number >= 0"),
])
def test_describe_comparison_rejects_bad_input(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        verdicts.describe_comparison("A", a, "B", b, **kwargs)


@pytest.mark.parametrize(("num", "den", "sentence"), [
    (0.275, 0.106, "In this run the gradient is 2.59 times larger."),
    (0.1, 0.25, "In this run the gradient is 0.40 times as large, i.e. smaller."),
    (1.05, 1.0, "In this run the gradient is about the same (1.05 times)."),
])
def test_describe_ratio(num, den, sentence):
    assert verdicts.describe_ratio("the gradient", num, den) == sentence


@pytest.mark.parametrize(("num", "den", "match"), [
    (1.0, 0.0, "denominator must not be zero"),
    (float("inf"), 1.0, "numerator must be a finite number"),
])
def test_describe_ratio_rejects_bad_input(num, den, match):
    with pytest.raises(ValueError, match=match):
        verdicts.describe_ratio("x", num, den)


# ---- paired bootstrap and sign test: against SciPy, by hand, and bad input ----

np = pytest.importorskip("numpy")
stats = pytest.importorskip("scipy.stats")


def _scipy_paired_percentile(a, b, confidence, resamples, seed):
    import inspect

    # SciPy 1.15 renamed random_state to rng; both take a numpy Generator
    rng_name = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
    result = stats.bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
                             paired=True, vectorized=True, method="percentile",
                             confidence_level=confidence, n_resamples=resamples,
                             **{rng_name: np.random.default_rng(seed)})
    return result.confidence_interval.low, result.confidence_interval.high


@pytest.mark.parametrize(("n", "confidence", "resamples", "seed"), [
    (5, 0.95, 999, 0), (40, 0.9, 2000, 3), (500, 0.95, 5000, 0), (12, 0.5, 101, 7),
])
def test_paired_bootstrap_ci_matches_scipy(n, confidence, resamples, seed):
    rng = np.random.default_rng(100 + n)
    a = rng.uniform(0.8, 1.0, n)
    b = a - rng.normal(0.01, 0.02, n)
    mean, low, high = verdicts.paired_bootstrap_ci(a, b, confidence=confidence,
                                                   resamples=resamples, seed=seed)
    assert mean == pytest.approx(float(np.mean(a - b)), abs=1e-15)
    assert (low, high) == pytest.approx(_scipy_paired_percentile(a, b, confidence, resamples,
                                                                 seed), abs=1e-12)


def test_paired_bootstrap_ci_by_hand():
    # Equal differences: every resample has the same mean, so the interval is that point.
    assert verdicts.paired_bootstrap_ci([1.0, 2.0, 3.0], [0.5, 1.5, 2.5]) == \
        pytest.approx((0.5, 0.5, 0.5))
    # Two images with differences 0 and 1: resample means are 0, 1/2 or 1 with probabilities
    # 1/4, 1/2, 1/4, so the 95 % interval runs from 0 to 1 and the 40 % one is the point 1/2.
    assert verdicts.paired_bootstrap_ci([1.0, 1.0], [1.0, 0.0], resamples=20000) == \
        pytest.approx((0.5, 0.0, 1.0))
    assert verdicts.paired_bootstrap_ci([1.0, 1.0], [1.0, 0.0], confidence=0.4,
                                        resamples=20000) == pytest.approx((0.5, 0.5, 0.5))
    # Only the differences matter: adding the same number to both sides changes nothing.
    a, b = [0.9, 0.7, 0.8, 0.95], [0.85, 0.75, 0.7, 0.9]
    assert verdicts.paired_bootstrap_ci(a, b) == pytest.approx(
        verdicts.paired_bootstrap_ci([x + 3 for x in a], [y + 3 for y in b]))


def test_paired_bootstrap_ci_is_deterministic_and_reads_tensors():
    torch = pytest.importorskip("torch")
    a, b = torch.tensor([0.9, 0.7, 0.8, 0.95, 0.6]), torch.tensor([0.85, 0.75, 0.7, 0.9, 0.6])
    first = verdicts.paired_bootstrap_ci(a, b)
    assert verdicts.paired_bootstrap_ci(a, b) == first
    assert verdicts.paired_bootstrap_ci(a.tolist(), b.tolist()) == pytest.approx(first)
    assert verdicts.paired_bootstrap_ci(a, b, resamples=51, seed=1) != \
        verdicts.paired_bootstrap_ci(a, b, resamples=51, seed=2)


@pytest.mark.parametrize(("a", "b", "kwargs", "match"), [
    ([1.0, 2.0], [1.0], {}, "equal lengths"),
    ([1.0], [0.0], {}, "at least 2"),
    ([1.0, float("nan")], [0.0, 0.0], {}, "finite"),
    ([[1.0, 2.0]], [[0.0, 1.0]], {}, "one-dimensional"),
    (["a", "b"], [0.0, 1.0], {}, "numbers only"),
    (0.5, [0.0, 1.0], {}, "sequence of numbers"),
    ([1.0, 2.0], [0.0, 1.0], {"confidence": 1.0}, "strictly between 0 and 1"),
    ([1.0, 2.0], [0.0, 1.0], {"confidence": 95}, "strictly between 0 and 1"),
    ([1.0, 2.0], [0.0, 1.0], {"resamples": 0}, "resamples must be"),
    ([1.0, 2.0], [0.0, 1.0], {"resamples": 10.5}, "resamples must be"),
])
def test_paired_bootstrap_ci_rejects_bad_input(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        verdicts.paired_bootstrap_ci(a, b, **kwargs)


@pytest.mark.parametrize(("diffs", "p"), [
    ([0.01, 0.02, 0.03], 0.25),            # 3 of 3: 2 / 2**3
    ([-0.01, -0.02, -0.03], 0.25),
    ([0.01, -0.02, 0.03], 1.0),            # 2 of 3: 2 * (3 + 1) / 8 = 1
    ([0.1] * 6, 0.03125),                  # 6 of 6: 2 / 64, the fewest seeds for p < 0.05
    ([0.1] * 5, 0.0625),
    ([0.1, 0.0, 0.2], 0.5),                # the zero carries no sign: 2 of 2
    ([0.1] * 9 + [-0.1], 0.021484375),     # 9 of 10: 2 * (10 + 1) / 1024
])
def test_sign_test_by_hand(diffs, p):
    assert verdicts.sign_test(diffs) == pytest.approx(p, abs=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 20])
def test_sign_test_matches_scipy_binomtest(n):
    for k in range(n + 1):
        diffs = [1.0] * k + [-1.0] * (n - k)
        assert verdicts.sign_test(diffs) == pytest.approx(stats.binomtest(k, n).pvalue,
                                                          rel=1e-12)


@pytest.mark.parametrize(("diffs", "match"), [
    ([0.0, 0.0], "at least one non-zero"),
    ([], "at least one non-zero"),
    ([0.1, float("inf")], "finite"),
    ("+++", "sequence of numbers"),
])
def test_sign_test_rejects_bad_input(diffs, match):
    with pytest.raises(ValueError, match=match):
        verdicts.sign_test(diffs)


def test_describe_comparison_with_per_image_scores_and_seeds():
    a = {"Dice": [0.9, 0.8, 0.85, 0.95], "HD95": 2.0}
    b = {"Dice": [0.9, 0.8, 0.85, 0.95], "HD95": 3.0}
    sentence = verdicts.describe_comparison(
        "A", a, "B", b, lower_is_better=["HD95"], seed_diffs={"Dice": [0.0, 0.01, 0.02],
                                                               "HD95": [-1.0, -0.5, -2.0]})
    assert sentence == (
        "In this run A beats B on HD95 (-1.000) and ties on Dice (+0.000).\n"
        "  Dice: +0.000, 95 % CI [+0.000, +0.000] over 4 test images; same sign in 2/3 "
        "seeds, p = 0.5.\n"
        "  HD95: -1.000; same sign in 3/3 seeds, p = 0.25.")


def test_compare_with_per_image_scores_uses_the_bootstrap(capsys):
    a, b = [0.9, 0.7, 0.8, 0.95, 0.6], [0.85, 0.75, 0.7, 0.9, 0.6]
    mean, low, high = verdicts.paired_bootstrap_ci(a, b, resamples=verdicts.RESAMPLES)
    diffs = verdicts.compare("A", {"Dice": a}, "B", {"Dice": b}, unit="images")
    assert diffs == pytest.approx({"Dice": mean})
    assert capsys.readouterr().out == (
        f"In this run A beats B on Dice ({mean:+.3f}).\n"
        f"  Dice: {mean:+.3f}, 95 % CI [{low:+.3f}, {high:+.3f}] over 5 images.\n")


@pytest.mark.parametrize(("a", "b", "kwargs", "match"), [
    ({"Dice": [0.9, 0.8]}, {"Dice": 0.8}, {}, "for both"),
    ({"Dice": [0.9, 0.8]}, {"Dice": [0.8]}, {}, "equal lengths"),
    ({"Dice": 0.9}, {"Dice": 0.8}, {"seed_diffs": {"IoU": [0.1]}}, "do not share"),
    ({"Dice": 0.9}, {"Dice": 0.8}, {"seed_diffs": {"Dice": [0.1, "x"]}}, "numbers only"),
    ({"Dice": True}, {"Dice": 0.8}, {}, "Dice of A must be a finite number"),
])
def test_describe_comparison_rejects_bad_per_image_input(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        verdicts.describe_comparison("A", a, "B", b, **kwargs)
