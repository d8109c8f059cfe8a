"""The threshold slider's pure callback (course_utils.widgets.threshold_view and friends) on a
hand-computed 2 x 2 prediction, its curves (course_utils.thresholds), its figure and its
widget wiring."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_utils import thresholds, widgets

# One 2 x 2 image: p = 0.9 on a cell pixel, 0.2 and 0.6 on background, 0.5 on a cell pixel.
PROBS = torch.tensor([[[[0.9, 0.2], [0.6, 0.5]]]])
TARGETS = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
ALL = {"dice": 4 / 6, "iou": 2 / 4, "sensitivity": 1.0, "specificity": 0.0}  # TP 2, FP 2
NONE = {"dice": 0.0, "iou": 0.0, "sensitivity": 0.0, "specificity": 1.0}  # FN 2, TN 2


@pytest.mark.parametrize(("threshold", "expected", "fraction", "components", "mask"), [
    (0.0, ALL, 1.0, 1, [[1, 1], [1, 1]]),
    (0.05, ALL, 1.0, 1, [[1, 1], [1, 1]]),
    # TP 2 (0.9, 0.5), FP 1 (0.6), TN 1 (0.2)
    (0.5, {"dice": 0.8, "iou": 2 / 3, "sensitivity": 1.0, "specificity": 0.5}, 0.75, 1,
     [[1, 0], [1, 1]]),
    (0.95, NONE, 0.0, 0, [[0, 0], [0, 0]]),
    (1.0, NONE, 0.0, 0, [[0, 0], [0, 0]]),
])
def test_threshold_view_by_hand(threshold, expected, fraction, components, mask):
    view = widgets.threshold_view(threshold, PROBS, TARGETS)
    assert view["threshold"] == threshold
    assert view["metrics"] == pytest.approx(expected)
    assert view["image_metrics"] == pytest.approx(expected)
    assert view["foreground_fraction"] == pytest.approx(fraction)
    assert view["components"] == components
    np.testing.assert_array_equal(view["mask"].numpy(), np.array(mask, dtype=bool))
    assert view["marker"] == {k: (threshold, pytest.approx(v)) for k, v in expected.items()}


def _cells(n: int = 6, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Blobs with noisy probabilities: a stand-in for a trained model's output."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    radius = torch.linspace(3, 6, n)[:, None, None]
    targets = (((yy - 8) ** 2 + (xx - 8) ** 2) < radius**2).float()[:, None]
    probs = (0.7 * targets + 0.3 * torch.rand(n, 1, size, size, generator=g)).clamp(0, 1)
    return probs, targets


def test_threshold_view_figures_are_finite_and_the_foreground_shrinks():
    probs, targets = _cells()
    fractions = []
    for t in (0, 0.05, 0.5, 0.95, 1):
        view = widgets.threshold_view(t, probs, targets, index=3)
        numbers = [*view["metrics"].values(), *view["image_metrics"].values(),
                   view["foreground_fraction"], *(y for _, y in view["marker"].values())]
        assert all(math.isfinite(x) and 0 <= x <= 1 for x in numbers), (t, numbers)
        assert view["components"] >= 0
        fractions.append(view["foreground_fraction"])
    assert fractions == sorted(fractions, reverse=True)
    assert fractions[0] == 1.0 and fractions[-1] == 0.0


def test_curves_hold_the_views_values_and_best_threshold_picks_the_top():
    probs, targets = _cells()
    curves = thresholds.threshold_curves(probs, targets)
    assert len(curves["threshold"]) == 101 and curves["threshold"][50] == pytest.approx(0.5)
    view = widgets.threshold_view(0.5, probs, targets)
    for key, value in view["metrics"].items():
        assert curves[key][50] == pytest.approx(value)
    assert np.all(np.diff(curves["foreground_fraction"]) <= 0)
    t, dice = thresholds.best_threshold(curves)
    assert dice == pytest.approx(curves["dice"].max())
    assert dice == 1.0 and t == pytest.approx(0.3)  # background p < 0.3 <= 0.7 <= foreground p


def test_best_threshold_takes_the_lowest_on_a_tie():
    curves = {"threshold": np.array([0.1, 0.2, 0.3]), "dice": np.array([0.5, 0.9, 0.9])}
    assert thresholds.best_threshold(curves) == (0.2, 0.9)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: widgets.threshold_view(1.5, PROBS, TARGETS), r"number in \[0, 1\]"),
    (lambda: widgets.threshold_view(True, PROBS, TARGETS), r"number in \[0, 1\]"),
    (lambda: widgets.threshold_view(0.5, PROBS, TARGETS, index=1), "index must be in 0..0"),
    (lambda: widgets.threshold_view(0.5, PROBS[0], TARGETS), r"\(N, 1, H, W\)"),
    (lambda: widgets.threshold_view(0.5, PROBS.expand(1, 2, 2, 2), TARGETS), r"\(N, 1, H, W\)"),
    (lambda: widgets.threshold_view(0.5, PROBS * 2, TARGETS), "apply torch.sigmoid"),
    (lambda: widgets.threshold_view(0.5, PROBS, TARGETS[..., :1]), "do not match"),
    (lambda: widgets.threshold_view(0.5, PROBS.numpy(), TARGETS), "must be a tensor"),
    (lambda: thresholds.threshold_curves(PROBS, TARGETS, thresholds=[]), "non-empty"),
    (lambda: thresholds.best_threshold({"threshold": np.zeros(1)}, "dice"), "metric must be one of"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_targets_without_a_channel_are_accepted():
    view = widgets.threshold_view(0.5, PROBS, TARGETS[:, 0])
    assert view["metrics"]["dice"] == pytest.approx(0.8)


def test_describe_threshold_echoes_the_threshold_and_the_numbers():
    text = widgets.describe_threshold(widgets.threshold_view(0.5, PROBS, TARGETS))
    assert text.startswith("threshold 0.50: mean over images Dice 0.8000, IoU 0.6667")
    assert "foreground 75.00% of pixels" in text and "1 component(s)" in text


@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0])
def test_draw_threshold_view(threshold):
    probs, targets = _cells()
    curves = thresholds.threshold_curves(probs, targets)
    view = widgets.threshold_view(threshold, probs, targets)
    fig = widgets.draw_threshold_view(view, torch.rand(3, 16, 16), targets[0], curves)
    assert len(fig.axes) == 2
    labels = [line.get_label() for line in fig.axes[1].get_lines() if not line.get_label()[0] == "_"]
    assert labels[:4] == ["dice", "iou", "sensitivity", "specificity"]
    plt.close(fig)


def test_threshold_slider_redraws_when_moved(shown):
    probs, targets = _cells()
    box = widgets.threshold_slider(probs, targets, torch.rand(6, 3, 16, 16), threshold=0.5)
    (slider, picker), out = box.children[0].children, box.children[1]
    assert (slider.value, slider.min, slider.max, slider.description) == (0.5, 0.0, 1.0,
                                                                          "threshold")
    assert "threshold 0.50:" in shown(out)
    slider.value = 0.95
    assert "threshold 0.95:" in shown(out)
    before = out.outputs[0]["data"]["image/png"]
    picker.value = 5
    assert "threshold 0.95:" in shown(out)
    assert out.outputs[0]["data"]["image/png"] != before  # another image is drawn
    assert plt.get_fignums() == []


def test_threshold_slider_rejects_bad_input_before_building_the_widget():
    with pytest.raises(ValueError, match="2 images but 1 probability maps"):
        widgets.threshold_slider(PROBS, TARGETS, torch.rand(2, 3, 2, 2))
    with pytest.raises(ValueError, match=r"number in \[0, 1\]"):
        widgets.threshold_slider(PROBS, TARGETS, torch.rand(1, 3, 2, 2), threshold=2.0)
