"""Figures: sample grids with overlays, model comparisons, curves, facade legend, confusion.

Every function returns its matplotlib ``Figure`` so a lesson can save or restyle it.
Images are float ``(3, H, W)`` in [0, 1]; masks ``(1, H, W)`` or ``(H, W)``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from course_utils.facade_classes import FACADE_CLASSES, FACADE_PALETTE, IGNORE_INDEX

__all__ = [
    "colorize",
    "compare_predictions",
    "facade_legend",
    "plot_confusion_matrix",
    "plot_history",
    "show_facades",
    "show_samples",
]

TRUE_COLOUR = "#ffd400"  # ground-truth outline: yellow reads on viridis and on photos
PRED_COLOUR = "#ff2e88"  # prediction fill: magenta, far from viridis' greens and blues


def _image(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()


def _mask(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t.squeeze(0) if t.ndim == 3 else t).float().numpy()


def _overlay(ax, image, target=None, pred=None) -> None:
    ax.imshow(_image(image))
    if pred is not None:
        p = _mask(pred) >= 0.5
        # a one-colour map: "spring" drew True (= 1) in yellow, the colour of the truth outline
        ax.imshow(np.ma.masked_where(~p, p), cmap=ListedColormap([PRED_COLOUR]), alpha=0.45,
                  vmin=0, vmax=1)
    if target is not None:
        contour = ax.contour(_mask(target), levels=[0.5], colors=TRUE_COLOUR, linewidths=1.2)
        # a dark edge keeps the outline apart from the images' own bright (yellow) halos
        contour.set_path_effects([patheffects.Stroke(linewidth=2.6, foreground="black"),
                                  patheffects.Normal()])
    ax.set_axis_off()


def show_samples(images, targets=None, preds=None, titles=None, max_items: int = 8,
                 size: float = 2.0):
    """Images in a row; ground truth as a yellow outline; predictions as a magenta fill
    (a second row when ``preds`` is given)."""
    n = min(len(images), max_items)
    rows = 1 if preds is None else 2
    fig, axes = plt.subplots(rows, n, figsize=(size * n, size * rows), squeeze=False)
    for i in range(n):
        target = None if targets is None else targets[i]
        _overlay(axes[0, i], images[i], target)
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=9)
        if preds is not None:
            _overlay(axes[1, i], images[i], target, preds[i])
    key = "truth: yellow outline" + ("   prediction: magenta fill" if preds is not None else "")
    fig.suptitle(key, fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def compare_predictions(images, targets, preds: dict[str, torch.Tensor], max_items: int = 6,
                        size: float = 1.8, crop=None):
    """One row per model (``preds`` maps a name to probabilities or masks), one column per
    image; truth outlined in yellow, prediction filled in magenta.

    Args:
        crop: optional ``(top, left, height, width)`` to zoom in on a region of every image.
    """
    n = min(len(images), max_items)
    names = list(preds)
    fig, axes = plt.subplots(len(names), n, figsize=(size * n, size * len(names)),
                             squeeze=False)
    for r, name in enumerate(names):
        for c in range(n):
            image, target, pred = images[c], targets[c], preds[name][c]
            if crop is not None:
                top, left, h, w = crop
                image, target, pred = (x[..., top : top + h, left : left + w]
                                       for x in (image, target, pred))
            _overlay(axes[r, c], image, target, pred)
        axes[r, 0].text(-0.08, 0.5, name, transform=axes[r, 0].transAxes, rotation=90,
                        ha="right", va="center", fontsize=10)
    fig.tight_layout()
    return fig


def plot_history(histories, keys=("train_loss", "val_loss", "val_dice")):
    """Curves per key (one panel each) for one history or a dict ``{name: history}``."""
    if "epoch" in histories:
        histories = {"": histories}
    keys = [k for k in keys if any(k in h for h in histories.values())]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for name, history in histories.items():
            if key in history:
                ax.plot(history["epoch"], history[key], marker=".", label=name or None)
        ax.set_xlabel("epoch")
        ax.set_title(key.replace("_", " "))
        ax.grid(alpha=0.3)
    if any(histories):
        axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def colorize(target: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Facade class ids 0..11 ``(H, W)`` to RGB in the dataset's own palette; ignored black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(FACADE_PALETTE)] = FACADE_PALETTE
    palette[ignore_index] = 0
    return palette[target.detach().cpu().numpy().astype(np.uint8)]


def facade_legend(fig_or_ax, ncol: int = 7, **kwargs):
    """Add a legend of the 12 facade classes in their palette colours, and the ignore value."""
    handles = [
        Patch(facecolor=np.array(rgb) / 255, edgecolor="0.3", label=f"{i} {name}")
        for i, (name, rgb) in enumerate(zip(FACADE_CLASSES, FACADE_PALETTE, strict=True))
    ] + [Patch(facecolor="black", edgecolor="0.3", label="255 ignore (padding)")]
    kwargs = {"loc": "lower center", "ncol": ncol, "fontsize": 8, "frameon": False} | kwargs
    return fig_or_ax.legend(handles=handles, **kwargs)


def show_facades(images, targets, preds=None, max_items: int = 4, size: float = 2.4):
    """Photos above their colour-coded labels (and predictions, as a third row)."""
    n = min(len(images), max_items)
    rows = [("photo", None), ("truth", targets)] + ([("prediction", preds)] if preds is not None
                                                    else [])
    aspect = images.shape[-2] / images.shape[-1]
    fig, axes = plt.subplots(len(rows), n, figsize=(size * n, size * aspect * len(rows) + 0.8),
                             squeeze=False)
    for c in range(n):
        for r, (name, maps) in enumerate(rows):
            ax = axes[r, c]
            ax.imshow(_image(images[c]) if maps is None else colorize(maps[c]),
                      interpolation="nearest")
            ax.set_axis_off()
            if c == 0:
                ax.text(-0.04, 0.5, name, transform=ax.transAxes, rotation=90, ha="right",
                        va="center", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    facade_legend(fig)
    return fig


def plot_confusion_matrix(matrix: torch.Tensor, class_names=FACADE_CLASSES, title: str = ""):
    """A row-normalised confusion matrix (rows: true class) with class names and values."""
    m = matrix.detach().cpu().double().numpy()
    counts = not matrix.is_floating_point() or m.max() > 1  # else already row-normalised
    m = m / np.clip(m.sum(1, keepdims=True), 1e-12, None) if counts else m
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(0.55 * k + 2, 0.55 * k + 1.5))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), class_names, rotation=60, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(k):
        for j in range(k):
            if m[i, j] >= 0.05:
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class's pixels")
    ax.set_title(title)
    fig.tight_layout()
    return fig
