"""Slider callbacks as pure functions, and the thin ipywidgets wiring around them.

Each slider has three parts: a pure ``*_view`` function that computes everything the slider
shows for one setting (testable without a browser), a ``draw_*`` function that turns such a
view into a matplotlib figure, and a ``*_slider`` function that builds the widget and calls
the other two whenever the slider moves. ipywidgets is imported only inside the wiring, so
importing this module needs no widget machinery.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import torch
import torch.nn.functional as F

from course_utils import losses, topology
from course_utils.thresholds import (
    THRESHOLD_METRICS,
    best_threshold,
    binary_maps,
    scores_at,
    threshold_curves,
)

__all__ = ["describe_focal_gamma", "describe_threshold", "draw_focal_gamma",
           "draw_threshold_view", "focal_gamma_view", "gamma_slider", "threshold_slider",
           "threshold_view"]


def _one_map(t, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(t).__name__}")
    if t.ndim == 3 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 2:
        raise ValueError(f"{name} must be one map (H, W) or (1, H, W), got shape "
                         f"{tuple(t.shape)}; pick one image of the batch")
    return t.detach().double().cpu()


def focal_gamma_view(gamma: float, probs: torch.Tensor, target: torch.Tensor,
                     num_points: int = 200) -> dict:
    """Everything the gamma slider shows for one ``gamma``.

    Args:
        gamma: the focal loss's focusing parameter, ``>= 0``.
        probs: one image's foreground probabilities ``(H, W)`` or ``(1, H, W)``.
        target: its true mask, same shape, values 0/1.
        num_points: points of the loss curves.

    Returns:
        A dict with ``gamma``; ``p_true`` (probabilities of the true class from 0.01 to 1,
        ``(num_points,)``), ``loss`` (focal loss ``-(1 - p)^gamma log p`` at those points)
        and ``loss_bce`` (the same for gamma 0); ``weight_map`` (the per-pixel focal weight
        ``(1 - p_t)^gamma``, ``(H, W)``) and ``target`` (``(H, W)``) as numpy arrays; and
        three numbers for this image: ``mean_weight``, ``loss_ratio`` (focal loss over
        BCE) and ``hard_share`` (the share of the focal loss carried by pixels the model
        gets wrong, ``p_t < 0.5``) next to ``hard_share_bce`` (the same share for BCE).
    """
    if not isinstance(gamma, int | float) or not math.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
    if num_points < 2:
        raise ValueError(f"num_points must be at least 2, got {num_points}")
    probs, target = _one_map(probs, "probs"), _one_map(target, "target")
    if probs.shape != target.shape:
        raise ValueError(f"probs and target shapes differ: {tuple(probs.shape)} vs "
                         f"{tuple(target.shape)}")
    if probs.numel() and (probs.min() < 0 or probs.max() > 1 or probs.isnan().any()):
        raise ValueError("probs must be probabilities in [0, 1]; apply torch.sigmoid to logits")
    if not torch.isin(target, target.new_tensor([0.0, 1.0])).all():
        raise ValueError(f"target must hold 0 and 1 only, found "
                         f"{target.unique()[:6].tolist()}")
    p_true = torch.linspace(0.01, 1.0, num_points, dtype=torch.float64)
    loss_bce = -torch.log(p_true)
    weight = losses.focal_weight(probs, target, gamma)
    bce_px = F.binary_cross_entropy(probs, target, reduction="none")  # log clamped at -100
    focal_px = weight * bce_px
    hard = (probs >= 0.5).double() != target
    return {
        "gamma": float(gamma),
        "p_true": p_true.numpy(),
        "loss": ((1 - p_true) ** gamma * loss_bce).numpy(),
        "loss_bce": loss_bce.numpy(),
        "weight_map": weight.numpy(),
        "target": target.numpy(),
        "mean_weight": weight.mean().item(),
        "loss_ratio": _share(focal_px.sum(), bce_px.sum()),
        "hard_share": _share(focal_px[hard].sum(), focal_px.sum()),
        "hard_share_bce": _share(bce_px[hard].sum(), bce_px.sum()),
    }


def _share(part: torch.Tensor, whole: torch.Tensor) -> float:
    return (part / whole).item() if whole > 0 else 0.0


def describe_focal_gamma(view: dict) -> str:
    """One line of text with the view's numbers (what the slider prints under its figure)."""
    return (f"gamma = {view['gamma']:.2f}: mean focal weight {view['mean_weight']:.3f}; "
            f"focal loss = {view['loss_ratio']:.1%} of the BCE on this image; "
            f"misclassified pixels carry {view['hard_share']:.1%} of it "
            f"(of the BCE: {view['hard_share_bce']:.1%})")


def draw_focal_gamma(view: dict, image: torch.Tensor | None = None):
    """Figure of a ``focal_gamma_view``: loss curves for gamma and 0, the weight map, and
    the image (when given), each with the true mask outlined.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    panels = 3 if image is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6),
                             gridspec_kw={"width_ratios": [1.3] + [1] * (panels - 1)})
    gamma = view["gamma"]
    ax = axes[0]
    ax.plot(view["p_true"], view["loss_bce"], color="0.5", label="gamma = 0 (BCE)")
    ax.plot(view["p_true"], view["loss"], color="tab:red", lw=2, label=f"gamma = {gamma:.2f}")
    ax.set(xlabel="probability of the true class $p_t$", ylabel="loss of one pixel",
           ylim=(0, 4.6), xlim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend()
    ax = axes[1]
    shown = ax.imshow(view["weight_map"], cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    ax.contour(view["target"], levels=[0.5], colors="#33ccff", linewidths=1)
    ax.set_title(f"focal weight $(1-p_t)^{{{gamma:.2f}}}$ per pixel", fontsize=10)
    ax.set_axis_off()
    fig.colorbar(shown, ax=ax, fraction=0.046)
    if image is not None:
        ax = axes[2]
        ax.imshow(image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
        ax.contour(view["target"], levels=[0.5], colors="#ffd400", linewidths=1)
        ax.set_title("image, true outline", fontsize=10)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def gamma_slider(probs: torch.Tensor, target: torch.Tensor, image: torch.Tensor | None = None,
                 gamma: float = 2.0, max_gamma: float = 5.0, step: float = 0.25):
    """A gamma slider redrawing ``draw_focal_gamma`` and printing ``describe_focal_gamma``.

    Args:
        probs, target: one image's probabilities and true mask (see ``focal_gamma_view``).
        image: the image ``(3, H, W)`` in [0, 1], shown beside the weight map when given.
        gamma: the starting value; max_gamma, step: the slider's range and step.

    Returns:
        An ``ipywidgets.VBox`` (slider above its output); display it as a cell's last line.
    """
    import ipywidgets

    if not 0 <= gamma <= max_gamma:
        raise ValueError(f"gamma {gamma} lies outside the slider's range [0, {max_gamma}]")
    focal_gamma_view(gamma, probs, target)  # fail on bad input now, not inside a callback
    slider = ipywidgets.FloatSlider(value=gamma, min=0.0, max=max_gamma, step=step,
                                    description="gamma γ", continuous_update=False)
    out = ipywidgets.Output()

    def show(change=None):
        view = focal_gamma_view(slider.value, probs, target)
        _replace_outputs(out, draw_focal_gamma(view, image), describe_focal_gamma(view))

    show()
    slider.observe(show, names="value")
    return ipywidgets.VBox([slider, out])


def _replace_outputs(out, fig, text: str) -> None:
    """Show ``fig`` and ``text`` in the Output widget ``out``, replacing what it showed.

    The new outputs are assigned in one step rather than printed inside ``with out:``
    after ``clear_output(wait=True)``: no flicker in JupyterLab, and a headless executor
    (nbclient, which mimics the Output widget and answers the kernel on the same socket it
    is reading) never has to take part, which made it stall for minutes on these cells.
    """
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    out.outputs = (
        {"output_type": "display_data", "metadata": {},
         "data": {"image/png": png, "text/plain": f"<Figure: {text[:40]}...>"}},
        {"output_type": "stream", "name": "stdout", "text": text + "\n"},
    )


# ---- the decision-threshold slider (lesson 07) --------------------------------------------

def threshold_view(threshold: float, probs: torch.Tensor, targets: torch.Tensor,
                   index: int = 0) -> dict:
    """Everything the threshold slider shows for one ``threshold`` (pure; draws nothing).

    Args:
        threshold: pixels with probability ``>= threshold`` are foreground; in [0, 1].
        probs, targets: as for ``thresholds.threshold_curves``.
        index: the image whose mask and component count are shown.

    Returns:
        A dict with ``threshold``; ``mask`` (bool ``(H, W)``, image ``index``); ``metrics``
        (Dice, IoU, sensitivity, specificity, means over all images) and ``image_metrics``
        (the same for image ``index``); ``components`` (8-connected pieces of ``mask``);
        ``foreground_fraction`` (share of all pixels predicted foreground); and ``marker``
        (``{metric: (threshold, value)}``, the point on each metric-vs-threshold curve).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) \
            or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    probs, targets = binary_maps(probs, targets)
    if not 0 <= index < len(probs):
        raise ValueError(f"index must be in 0..{len(probs) - 1}, got {index!r}")
    overall = scores_at(probs, targets, threshold)
    single = scores_at(probs[index : index + 1], targets[index : index + 1], threshold)
    mask = probs[index, 0] >= threshold
    return {
        "threshold": float(threshold),
        "mask": mask,
        "metrics": {k: overall[k] for k in THRESHOLD_METRICS},
        "image_metrics": {k: single[k] for k in THRESHOLD_METRICS},
        "components": topology.count_components(mask),
        "foreground_fraction": overall["foreground_fraction"],
        "marker": {k: (float(threshold), overall[k]) for k in THRESHOLD_METRICS},
    }


def describe_threshold(view: dict) -> str:
    """One line of text with the view's numbers (what the slider prints under its figure)."""
    m = view["metrics"]
    return (f"threshold {view['threshold']:.2f}: mean over images Dice {m['dice']:.4f}, "
            f"IoU {m['iou']:.4f}, sensitivity {m['sensitivity']:.4f}, specificity "
            f"{m['specificity']:.4f}; foreground {view['foreground_fraction']:.2%} of pixels; "
            f"shown image: Dice {view['image_metrics']['dice']:.4f}, "
            f"{view['components']} component(s)")


def draw_threshold_view(view: dict, image: torch.Tensor, target: torch.Tensor,
                        curves: dict[str, np.ndarray]):
    """Figure of a ``threshold_view``: the mask (magenta) over the image with the true
    outline (yellow), and the metric-vs-threshold ``curves`` with markers at the threshold.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    fig, (ax_img, ax_curve) = plt.subplots(1, 2, figsize=(9.5, 3.6),
                                           gridspec_kw={"width_ratios": [1, 1.6]})
    ax_img.imshow(image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
    mask = view["mask"].numpy()
    ax_img.imshow(np.ma.masked_where(~mask, mask), cmap="spring", alpha=0.35, vmin=0, vmax=1)
    if mask.any() and not mask.all():  # outline every piece, so small components show
        ax_img.contour(mask.astype(float), levels=[0.5], colors="#ff2e88", linewidths=1.0)
    ax_img.contour(target.detach().float().cpu().reshape(mask.shape).numpy(), levels=[0.5],
                   colors="#ffd400", linewidths=1.2)
    ax_img.set_title(f"threshold {view['threshold']:.2f}: Dice "
                     f"{view['image_metrics']['dice']:.3f}, {view['components']} component(s)",
                     fontsize=9)
    ax_img.set_axis_off()
    for key in THRESHOLD_METRICS:
        line, = ax_curve.plot(curves["threshold"], curves[key], label=key)
        ax_curve.plot(*view["marker"][key], "o", color=line.get_color(), ms=7)
    ax_curve.axvline(view["threshold"], color="0.3", lw=0.8, ls="--")
    t_best, _ = best_threshold(curves, "dice")
    ax_curve.axvline(t_best, color="tab:blue", lw=0.8, ls=":", label=f"best Dice: {t_best:.2f}")
    # zoom on the plateau: the curves only plunge at the very ends
    inner = (curves["threshold"] >= 0.05) & (curves["threshold"] <= 0.95)
    low = min(curves[k][inner].min() for k in THRESHOLD_METRICS) if inner.any() else 0.0
    low = max(0.0, np.floor((low - 0.02) * 20) / 20)
    ax_curve.set(xlabel="threshold", ylabel="mean over images", xlim=(0, 1),
                 ylim=(low, 1.0 + (1 - low) * 0.02))
    ax_curve.set_title(f"foreground: {view['foreground_fraction']:.1%} of all pixels",
                       fontsize=9)
    ax_curve.grid(alpha=0.3)
    ax_curve.legend(fontsize=8, loc="lower center")
    fig.tight_layout()
    return fig


def threshold_slider(probs: torch.Tensor, targets: torch.Tensor, images: torch.Tensor,
                     threshold: float = 0.5, index: int = 0, thresholds=None):
    """A threshold slider (and an image picker) redrawing ``draw_threshold_view`` and
    printing ``describe_threshold``; the curves are computed once.

    Args:
        probs, targets: as for ``thresholds.threshold_curves``; images: ``(N, 3, H, W)`` in [0, 1].
        threshold, index: the starting threshold and image.

    Returns:
        An ``ipywidgets.VBox`` (sliders above their output); display it as a cell's last line.
    """
    import ipywidgets

    threshold_view(threshold, probs, targets, index)  # fail on bad input now, not in a callback
    if len(images) != len(probs):
        raise ValueError(f"{len(images)} images but {len(probs)} probability maps")
    curves = threshold_curves(probs, targets, thresholds)
    slider = ipywidgets.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01,
                                    description="threshold", continuous_update=False)
    picker = ipywidgets.IntSlider(value=index, min=0, max=len(probs) - 1, description="image",
                                  continuous_update=False)
    out = ipywidgets.Output()

    def show(change=None):
        view = threshold_view(slider.value, probs, targets, picker.value)
        fig = draw_threshold_view(view, images[picker.value], targets[picker.value], curves)
        _replace_outputs(out, fig, describe_threshold(view))

    show()
    slider.observe(show, names="value")
    picker.observe(show, names="value")
    return ipywidgets.VBox([ipywidgets.HBox([slider, picker]), out])
