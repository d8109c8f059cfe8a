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
