import pytest
import torch

from course_utils import baselines
from course_utils.checks import CheckFailed
from course_utils.checks.data import check_all_background_accuracy, check_foreground_fraction


@pytest.mark.parametrize(
    "fn",
    [
        lambda masks: masks.float().mean(dim=(1, 2, 3)),
        lambda masks: masks.mean(dim=(1, 2, 3), keepdim=True),  # (N, 1, 1, 1) is accepted
        lambda masks: masks.flatten(1).sum(1) / masks[0].numel(),
        lambda masks: masks.double().mean(dim=(1, 2, 3)),
    ],
    ids=["mean", "keepdim", "sum over count", "float64"],
)
def test_right_answers_pass(fn, capsys):
    check_foreground_fraction(fn)
    assert capsys.readouterr().out == "✔ foreground_fraction: all 4 checks passed.\n"


def _mean_in_place(masks):
    result = masks.mean(dim=(1, 2, 3))
    masks.zero_()  # a student's function that scribbles on its input is still judged fairly
    return result


def test_input_is_a_copy():
    check_foreground_fraction(_mean_in_place)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda masks: masks.sum(dim=(1, 2, 3)),
         "a full mask: values differ; e.g. at flat index 0 expected 1, got 16"),
        (lambda masks: masks.mean(), r"two masks: expected shape \(2,\), got \(1,\)"),
        (lambda masks: masks.mean(dim=(2, 3)).tolist(),
         "an empty mask: return a tensor with one value per mask, got list"),
        (lambda masks: 0.0, "an empty mask: return a tensor .* got float"),
        (lambda masks: masks.sum(dim=(1, 2, 3)) / masks.sum(dim=(1, 2, 3)),
         "an empty mask: your result contains nan"),
        (lambda masks: masks.mean(dim=(1, 2, 3)) > 0,
         "a quarter: values differ; e.g. at flat index 0 expected 0.25, got 1"),
        (lambda masks: masks.mean(dim=(0, 2, 3)),
         r"two masks: expected shape \(2,\), got \(1,\)"),
    ],
    ids=["count instead of fraction", "one mean for the batch", "list", "float", "nan",
         "bool", "mean over the batch"],
)
def test_wrong_answers_name_the_case(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_foreground_fraction(fn)


def test_check_failed_is_an_assertion_error():
    assert issubclass(CheckFailed, AssertionError)


def test_exceptions_from_the_answer_propagate():
    def unfinished(masks):
        raise NotImplementedError("average the mask")

    with pytest.raises(NotImplementedError, match="average the mask"):
        check_foreground_fraction(unfinished)



def test_the_all_background_reference_passes(capsys):
    check_all_background_accuracy(baselines.all_background_accuracy)
    assert "checks passed" in capsys.readouterr().out


@pytest.mark.parametrize(("fn", "message"), [
    (lambda masks: sum(float((m == 0).float().mean()) for m in masks) / len(masks),
     "That is the mean of the per-mask accuracies"),
    (lambda masks: sum(float(m.sum()) for m in masks) / sum(m.numel() for m in masks),
     "That is the share of cell pixels"),
    (lambda masks: torch.stack([(m == 0).float().mean() for m in masks]),
     "return one number for all the masks together"),
    (lambda masks: [0.75], "return one number, got list"),
    (lambda masks: 0.7, "one 2 x 2 mask with one cell pixel: expected 0.75, got 0.7"),
    (lambda masks: masks.mean(), "raised AttributeError"),
])
def test_wrong_all_background_answers_fail_naming_the_slip(fn, message):
    with pytest.raises(CheckFailed) as info:
        check_all_background_accuracy(fn)
    assert message in str(info.value)


@pytest.mark.parametrize(("masks", "want"), [
    ([torch.tensor([[[1.0, 0], [0, 0]]])], 0.75),
    ([torch.ones(1, 1, 2), torch.zeros(1, 2, 3)], 0.75),
    ([torch.zeros(2, 1, 3, 3)], 1.0),  # one batch tensor works too
])
def test_all_background_accuracy_of_hand_computed_cases(masks, want):
    assert baselines.all_background_accuracy(masks) == pytest.approx(want)


@pytest.mark.parametrize("masks", [[], [[1, 0]], [torch.zeros(0, 3)]])
def test_all_background_accuracy_rejects_bad_input(masks):
    with pytest.raises(ValueError, match="masks"):
        baselines.all_background_accuracy(masks)
