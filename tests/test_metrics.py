import math

import pytest
import torch

from course_utils import metrics


def _mask(rows):
    """A hand-written (1, 1, H, W) float mask."""
    return torch.tensor(rows, dtype=torch.float32)[None, None]


A_PRED, A_TRUE = [[1, 1], [0, 0]], [[1, 0], [1, 0]]  # TP 1, FP 1, FN 1, TN 1
B_PRED = [[1, 1, 1], [1, 0, 0], [0, 0, 0]]  # TP 3, FP 1, FN 1, TN 4
B_TRUE = [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
ZEROS, ONES = [[0, 0], [0, 0]], [[1, 1], [1, 1]]

# (case, pred, target, dice, iou, accuracy, sensitivity, specificity)
BINARY_CASES = [
    ("2x2 one of each", A_PRED, A_TRUE, 2 / 4, 1 / 3, 2 / 4, 1 / 2, 1 / 2),
    ("3x3", B_PRED, B_TRUE, 6 / 8, 3 / 5, 7 / 9, 3 / 4, 4 / 5),
    ("perfect", B_TRUE, B_TRUE, 1.0, 1.0, 1.0, 1.0, 1.0),
    # empty-mask policy: an empty denominator scores 1.0
    ("both empty", ZEROS, ZEROS, 1.0, 1.0, 1.0, 1.0, 1.0),
    ("all wrong, no foreground", ONES, ZEROS, 0.0, 0.0, 0.0, 1.0, 0.0),
    ("all missed, no background", ZEROS, ONES, 0.0, 0.0, 0.0, 0.0, 1.0),
    ("both full", ONES, ONES, 1.0, 1.0, 1.0, 1.0, 1.0),
]
FUNCTIONS = [metrics.dice_score, metrics.iou_score, metrics.accuracy, metrics.sensitivity,
             metrics.specificity]


@pytest.mark.parametrize(("case", "pred", "target", *[f.__name__ for f in FUNCTIONS]),
                         BINARY_CASES, ids=[c[0] for c in BINARY_CASES])
def test_binary_metrics_hand_computed(case, pred, target, dice_score, iou_score, accuracy,
                                      sensitivity, specificity):
    expected = [dice_score, iou_score, accuracy, sensitivity, specificity]
    p, t = _mask(pred), _mask(target)
    for fn, value in zip(FUNCTIONS, expected, strict=True):
        assert fn(p, t) == pytest.approx(value), fn.__name__
    assert metrics.binary_metrics(p, t) == pytest.approx(
        dict(zip(["dice", "iou", "accuracy", "sensitivity", "specificity"], expected,
                 strict=True)))


@pytest.mark.parametrize(
    "convert",
    [lambda m: m, lambda m: m.squeeze(1), lambda m: m.bool(), lambda m: m.long(),
     lambda m: m.to(torch.uint8), lambda m: m.double()],
    ids=["float (N,1,H,W)", "float (N,H,W)", "bool", "long", "uint8", "double"],
)
def test_binary_metrics_accept_layouts_and_dtypes(convert):
    p, t = convert(_mask(B_PRED)), convert(_mask(B_TRUE))
    assert metrics.dice_score(p, t) == pytest.approx(0.75)
    assert metrics.iou_score(p, t) == pytest.approx(0.6)


def test_binary_metrics_mean_over_images():
    pred = torch.cat([_mask(A_PRED), _mask(ZEROS)])
    target = torch.cat([_mask(A_TRUE), _mask(ZEROS)])
    # per image: (0.5, 1.0) and (1/3, 1.0); pooled pixels would give 0.5 and 1/3 instead
    assert metrics.dice_score(pred, target) == pytest.approx(0.75)
    assert metrics.iou_score(pred, target) == pytest.approx(2 / 3)
    assert metrics.accuracy(pred, target) == pytest.approx(0.75)


# (case, pred, target, precision): TP / (TP + FP), 1.0 for an empty prediction
PRECISION_CASES = [
    ("2x2 one of each", A_PRED, A_TRUE, 1 / 2),
    ("3x3", B_PRED, B_TRUE, 3 / 4),
    ("both empty", ZEROS, ZEROS, 1.0),
    ("nothing predicted, something true", ZEROS, ONES, 1.0),
    ("all wrong, no foreground", ONES, ZEROS, 0.0),
]


@pytest.mark.parametrize(("case", "pred", "target", "expected"), PRECISION_CASES,
                         ids=[c[0] for c in PRECISION_CASES])
def test_precision_hand_computed(case, pred, target, expected):
    assert metrics.precision(_mask(pred), _mask(target)) == pytest.approx(expected)


def test_precision_is_sensitivity_with_pred_and_target_swapped():
    p = torch.cat([_mask(B_PRED), _mask([[0, 0, 0], [0, 1, 1], [1, 1, 1]])])
    t = torch.cat([_mask(B_TRUE), _mask([[0, 0, 0], [0, 0, 1], [0, 1, 1]])])
    assert metrics.precision(p, t) == pytest.approx(metrics.sensitivity(t, p))
    assert metrics.precision(p, t) != pytest.approx(metrics.sensitivity(p, t))


@pytest.mark.parametrize(("case", "pred", "target"), [c[:3] for c in BINARY_CASES],
                         ids=[c[0] for c in BINARY_CASES])
def test_dice_is_f1_of_precision_and_sensitivity(case, pred, target):
    p, t = _mask(pred), _mask(target)
    prec, rec = metrics.precision(p, t), metrics.sensitivity(p, t)
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    assert f1 == pytest.approx(metrics.dice_score(p, t))


def test_precision_bad_input():
    with pytest.raises(ValueError, match="pred must be a hard mask"):
        metrics.precision(torch.full((1, 1, 2, 2), 0.7), torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize(
    ("pred", "target", "message"),
    [
        (torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3),
         r"pred and target shapes differ: \(1, 1, 2, 2\) vs \(1, 1, 2, 3\)"),
        (torch.zeros(1, 2, 2), torch.zeros(1, 1, 2, 2), "shapes differ"),
        (torch.zeros(2, 2), torch.zeros(2, 2), r"expected masks \(N, 1, H, W\) or \(N, H, W\)"),
        (torch.full((1, 1, 2, 2), 0.7), torch.zeros(1, 1, 2, 2),
         "pred must be a hard mask with values 0 and 1; threshold"),
        (torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 255.0), "target must be a hard mask"),
        (torch.tensor([[[[0.0, float("nan")]]]]), torch.zeros(1, 1, 1, 2), "pred must be a hard"),
    ],
    ids=["shape", "layout", "2-d", "soft pred", "255 target", "nan pred"],
)
def test_binary_metrics_bad_input(fn, pred, target, message):
    with pytest.raises(ValueError, match=message):
        fn(pred, target)


def test_confusion_matrix_hand_computed_with_ignore():
    pred = torch.tensor([[[0, 1], [2, 2]]])
    target = torch.tensor([[[0, 1], [1, 255]]])
    cm = metrics.confusion_matrix(pred, target, num_classes=3)
    assert cm.dtype == torch.int64
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]


def test_confusion_matrix_other_ignore_index():
    pred = torch.tensor([[0, 1, 1, 0]])
    target = torch.tensor([[0, 1, 0, 2]])
    assert metrics.confusion_matrix(pred, target, 2, ignore_index=2).tolist() == [[1, 1], [0, 1]]


def test_confusion_matrix_ignored_pixel_may_hold_any_prediction():
    pred = torch.tensor([[0, 7]])
    target = torch.tensor([[1, 255]])
    assert metrics.confusion_matrix(pred, target, 2).tolist() == [[0, 0], [1, 0]]


def test_confusion_matrix_all_ignored_is_zero():
    cm = metrics.confusion_matrix(torch.zeros(1, 2, 2), torch.full((1, 2, 2), 255), 3)
    assert cm.tolist() == [[0] * 3] * 3


@pytest.mark.parametrize(
    ("pred", "target", "message"),
    [
        ([[0, 3]], [[0, 1]], r"pred holds class ids outside 0..2 \(found 0..3\)"),
        ([[0, 1]], [[-1, 1]], r"target holds class ids outside 0..2 \(found -1..1\)"),
        ([[0, 1]], [[0, 254]], r"target holds class ids outside 0..2 \(found 0..254\)"),
        ([[0, 1]], [[0, 1, 2]], r"pred and target shapes differ: \(1, 2\) vs \(1, 3\)"),
    ],
)
def test_confusion_matrix_bad_input(pred, target, message):
    with pytest.raises(ValueError, match=message):
        metrics.confusion_matrix(torch.tensor(pred), torch.tensor(target), 3)


CM = torch.tensor([[2, 1, 0], [1, 3, 0], [0, 0, 0]])


def test_iou_from_confusion_hand_computed():
    # class 0: 2 / (3 + 3 - 2); class 1: 3 / (4 + 4 - 3); class 2 never occurs
    iou = metrics.iou_from_confusion(CM)
    assert iou[:2].tolist() == pytest.approx([0.5, 0.6])
    assert math.isnan(iou[2].item())


def test_iou_from_confusion_class_only_predicted_scores_zero():
    assert metrics.iou_from_confusion(torch.tensor([[1, 1], [0, 0]])).tolist() == [0.5, 0.0]


def test_confusion_matrix_accumulator():
    acc = metrics.ConfusionMatrix(3)
    assert math.isnan(acc.pixel_accuracy())
    # two batches whose counts add up to CM
    acc.update(torch.tensor([[0, 1, 1]]), torch.tensor([[0, 0, 1]]))
    acc.update(torch.tensor([[0, 0, 1, 1, 2]]), torch.tensor([[0, 1, 1, 1, 255]]))
    assert acc.matrix.tolist() == CM.tolist()
    assert acc.miou() == pytest.approx((0.5 + 0.6) / 2)
    assert acc.pixel_accuracy() == pytest.approx(5 / 7)
    normalized = acc.normalized()
    expected = torch.tensor([[2 / 3, 1 / 3, 0], [1 / 4, 3 / 4, 0], [0, 0, 0]], dtype=torch.float64)
    assert torch.allclose(normalized, expected)
    assert normalized[:2].sum(1).tolist() == pytest.approx([1.0, 1.0])


def test_confusion_matrix_accumulator_ignore_index():
    acc = metrics.ConfusionMatrix(2, ignore_index=9)
    acc.update(torch.tensor([[1, 1]]), torch.tensor([[1, 9]]))
    assert acc.matrix.tolist() == [[0, 0], [0, 1]]
    assert acc.miou() == 1.0  # class 0 never occurs: nan, left out of the mean


def test_per_image_scores_are_the_means_parts():
    # image 0: A (Dice 1/2, IoU 1/3); image 1: both empty (1, 1); image 2: all missed (0, 0)
    pred = torch.cat([_mask(A_PRED), _mask(ZEROS), _mask(ZEROS)])
    target = torch.cat([_mask(A_TRUE), _mask(ZEROS), _mask(ONES)])
    scores = metrics.per_image_scores(pred, target)
    assert scores["Dice"].tolist() == pytest.approx([1 / 2, 1.0, 0.0])
    assert scores["IoU"].tolist() == pytest.approx([1 / 3, 1.0, 0.0])
    assert scores["boundary F1"].tolist() == pytest.approx(
        [metrics.boundary_f1(pred[i:i + 1], target[i:i + 1]) for i in range(3)])
    for name, fn in (("Dice", metrics.dice_score), ("IoU", metrics.iou_score),
                     ("boundary F1", metrics.boundary_f1)):
        assert scores[name].dtype == torch.float64
        assert scores[name].mean().item() == pytest.approx(fn(pred, target))


def test_per_image_scores_rejects_bad_input():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.per_image_scores(_mask(A_PRED), _mask(B_TRUE))
    with pytest.raises(ValueError, match="tolerance"):
        metrics.per_image_scores(_mask(A_PRED), _mask(A_TRUE), tolerance=-1)


def test_confusion_matrix_reset_starts_over():
    acc = metrics.ConfusionMatrix(2)
    acc.update(torch.tensor([[0, 1]]), torch.tensor([[1, 1]]))
    acc.reset()
    assert acc.matrix.tolist() == [[0, 0], [0, 0]]
    acc.update(torch.tensor([[1]]), torch.tensor([[1]]))
    assert acc.matrix.tolist() == [[0, 0], [0, 1]]


def test_binary_accumulator_hand_computed():
    # image 0: TP 1, FP 1, FN 1, TN 1; image 1: both empty, every metric 1.0 (the policy)
    acc = metrics.BinaryMetrics()
    acc.update(torch.tensor([[[1, 0], [1, 0]]]), torch.tensor([[[1, 1], [0, 0]]]))
    acc.update(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2))
    assert acc.compute() == pytest.approx({"dice": 0.75, "iou": 2 / 3, "accuracy": 0.75,
                                           "sensitivity": 0.75, "specificity": 0.75})


def test_binary_accumulator_equals_the_functions_on_random_masks():
    """Batch by batch, the same numbers as each metric function on all masks at once."""
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        n = 1 + trial % 7
        pred = torch.rand(n, 1, 9, 7, generator=g) < torch.rand(1, generator=g)
        target = torch.rand(n, 1, 9, 7, generator=g) < torch.rand(1, generator=g)
        target[0] = False  # an empty target in every trial
        acc = metrics.BinaryMetrics()
        for start in range(0, n, 3):
            acc.update(pred[start:start + 3], target[start:start + 3])
        assert acc.compute() == {
            "dice": metrics.dice_score(pred, target), "iou": metrics.iou_score(pred, target),
            "accuracy": metrics.accuracy(pred, target),
            "sensitivity": metrics.sensitivity(pred, target),
            "specificity": metrics.specificity(pred, target),
        }


def test_binary_accumulator_reset_and_bad_input():
    acc = metrics.BinaryMetrics()
    with pytest.raises(ValueError, match="no masks to score: call update"):
        acc.compute()
    acc.update(torch.ones(1, 2, 2), torch.zeros(1, 2, 2))
    acc.reset()
    with pytest.raises(ValueError, match="no masks to score"):
        acc.compute()
    with pytest.raises(ValueError, match="pred and target shapes differ"):
        acc.update(torch.ones(1, 2, 2), torch.ones(1, 2, 3))
    with pytest.raises(ValueError, match="threshold probabilities first"):
        acc.update(torch.full((1, 2, 2), 0.7), torch.ones(1, 2, 2))


@pytest.mark.parametrize(("cms", "pooled", "per_image"), [
    ([[[4, 1, 0], [0, 3, 0], [0, 0, 0]]], 0.775, 0.775),  # IoU 4/5, 3/4, class 2 absent
    # a rare class missed in the larger of two images: pooled (24/28 + 1 + 0) / 3,
    # per image (1 + (16/20 + 1 + 0) / 3) / 2
    ([[[8, 0, 0], [0, 8, 0], [0, 0, 0]], [[16, 0, 0], [0, 12, 0], [4, 0, 0]]],
     (24 / 28 + 1) / 3, 0.8),
    ([[[6, 2, 0], [0, 0, 0], [0, 0, 0]]], 0.375, 0.375),  # predicted, absent: IoU 0
    ([[[2, 0], [0, 0]], [[0, 0], [0, 0]]], 1.0, 1.0),  # an image with nothing labelled: skipped
])
def test_mean_iou_pooled_and_per_image(cms, pooled, per_image):
    got = metrics.mean_iou(torch.tensor(cms))
    assert got["pooled"] == pytest.approx(pooled) and got["per_image"] == pytest.approx(per_image)


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 4)])
def test_mean_iou_rejects_what_is_not_a_stack_of_matrices(shape):
    with pytest.raises(ValueError, match=r"\(N, C, C\)"):
        metrics.mean_iou(torch.zeros(shape, dtype=torch.long))
