"""Slider callbacks: the pure view functions on tiny hand-computed maps, the drawing, and the
widget wiring (driven without a browser; tests/integration/test_hub.py drives a real one)."""

from __future__ import annotations

import math
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_utils import widgets

# One 2 x 2 prediction: p_t = 0.9, 0.8 (right), 0.4 (wrong: p = 0.6 on background), 0.5
# (right at the 0.5 threshold).
PROBS = torch.tensor([[0.9, 0.2], [0.6, 0.5]], dtype=torch.float64)
TARGET = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
P_T = np.array([[0.9, 0.8], [0.4, 0.5]])
BCE = -np.log(P_T)


@pytest.mark.parametrize(("gamma", "weights"), [
    (0.0, [[1.0, 1.0], [1.0, 1.0]]),
    (1.0, [[0.1, 0.2], [0.6, 0.5]]),
    (2.0, [[0.01, 0.04], [0.36, 0.25]]),
    (5.0, [[1e-5, 3.2e-4], [0.07776, 0.03125]]),
])
def test_focal_gamma_view_weight_map_and_shares(gamma, weights):
    view = widgets.focal_gamma_view(gamma, PROBS, TARGET)
    np.testing.assert_allclose(view["weight_map"], weights, rtol=1e-9, atol=1e-12)
    focal = np.array(weights) * BCE
    assert view["gamma"] == gamma
    assert view["mean_weight"] == pytest.approx(np.mean(weights))
    assert view["loss_ratio"] == pytest.approx(focal.sum() / BCE.sum())
    assert view["hard_share"] == pytest.approx(focal[1, 0] / focal.sum())
    assert view["hard_share_bce"] == pytest.approx(BCE[1, 0] / BCE.sum())  # 0.4729
    np.testing.assert_array_equal(view["target"], TARGET.numpy())


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_focal_gamma_view_curves(gamma):
    view = widgets.focal_gamma_view(gamma, PROBS, TARGET, num_points=100)
    p, loss, bce = view["p_true"], view["loss"], view["loss_bce"]
    assert p.shape == loss.shape == bce.shape == (100,)
    assert p[0] == pytest.approx(0.01) and p[-1] == 1.0
    np.testing.assert_allclose(bce, -np.log(p))
    np.testing.assert_allclose(loss, (1 - p) ** gamma * bce)
    assert loss[-1] == 0.0  # a certain, right pixel costs nothing
    assert (loss <= bce + 1e-15).all()  # focusing only ever lowers the loss
    if gamma == 0:
        np.testing.assert_array_equal(loss, bce)


def test_focusing_shifts_the_loss_to_the_misclassified_pixels():
    shares = [widgets.focal_gamma_view(g, PROBS, TARGET)["hard_share"] for g in (0, 1, 2, 5)]
    assert shares == sorted(shares) and shares[0] == pytest.approx(BCE[1, 0] / BCE.sum())


def test_focal_gamma_view_accepts_a_channel_dimension_and_float32():
    view = widgets.focal_gamma_view(2, PROBS[None].float(), TARGET[None].float())
    assert view["weight_map"].shape == (2, 2)
    assert view["weight_map"][0, 0] == pytest.approx(0.01, abs=1e-7)


@pytest.mark.parametrize(("gamma", "probs", "target", "match"), [
    (-1.0, PROBS, TARGET, "gamma must be a finite number >= 0"),
    (math.nan, PROBS, TARGET, "gamma must be a finite number >= 0"),
    ("2", PROBS, TARGET, "gamma must be a finite number >= 0"),
    (2.0, PROBS, TARGET[:1], "shapes differ"),
    (2.0, PROBS * 2, TARGET, r"probabilities in \[0, 1\]"),
    (2.0, PROBS, TARGET * 0.5, "target must hold 0 and 1"),
    (2.0, PROBS.expand(2, 1, 2, 2), TARGET.expand(2, 1, 2, 2), "pick one image"),
    (2.0, PROBS.numpy(), TARGET, "probs must be a tensor"),
])
def test_focal_gamma_view_rejects_bad_input(gamma, probs, target, match):
    with pytest.raises(ValueError, match=match):
        widgets.focal_gamma_view(gamma, probs, target)


def test_describe_focal_gamma_prints_gamma_and_the_numbers():
    text = widgets.describe_focal_gamma(widgets.focal_gamma_view(5.0, PROBS, TARGET))
    assert text.startswith("gamma = 5.00:")  # 0.07125 / (0.07125 + 0.02166 + 7e-5 + 1e-6)
    assert "misclassified pixels carry 76.6% of it (of the BCE: 47.3%)" in text


@pytest.mark.parametrize(("image", "axes"), [(None, 3), (torch.rand(3, 2, 2), 4)])
def test_draw_focal_gamma(image, axes):
    fig = widgets.draw_focal_gamma(widgets.focal_gamma_view(2.0, PROBS, TARGET), image)
    assert len(fig.axes) == axes  # curves, weight map (+ its colour bar), image
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["gamma = 0 (BCE)", "gamma = 2.00"]
    plt.close(fig)


def test_gamma_slider_redraws_when_moved(shown):
    box = widgets.gamma_slider(PROBS, TARGET, torch.rand(3, 2, 2), gamma=2.0)
    slider, out = box.children
    assert (slider.value, slider.min, slider.max, slider.description) == (2.0, 0.0, 5.0,
                                                                          "gamma γ")
    assert "gamma = 2.00:" in shown(out)  # drawn once on creation
    slider.value = 5.0
    assert "gamma = 5.00:" in shown(out)
    slider.value = 0.0
    assert "gamma = 0.00: mean focal weight 1.000" in shown(out)
    assert plt.get_fignums() == []  # every figure drawn was closed


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"gamma": 6.0}, "outside the slider's range"),
    ({"gamma": -1.0}, "outside the slider's range"),
])
def test_gamma_slider_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.gamma_slider(PROBS, TARGET, **kwargs)


def test_gamma_slider_rejects_bad_maps_before_building_the_widget():
    with pytest.raises(ValueError, match="shapes differ"):
        widgets.gamma_slider(PROBS, TARGET[:1])


def test_importing_widgets_imports_no_widget_machinery():
    code = ("import sys, course_utils.widgets; "
            "print(sorted(m for m in ('ipywidgets', 'IPython', 'matplotlib.pyplot') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
