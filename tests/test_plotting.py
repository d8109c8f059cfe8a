import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils import plotting
from course_utils.facade_classes import FACADE_CLASSES, FACADE_PALETTE


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(n=3, h=8, w=8):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(0))


def _masks(n=3, h=8, w=8):
    masks = torch.zeros(n, 1, h, w)
    masks[:, :, 2:6, 2:6] = 1
    return masks


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


@pytest.mark.parametrize(
    ("kwargs", "n_axes"),
    [
        ({}, 3),
        ({"targets": _masks()}, 3),
        ({"targets": _masks(), "preds": _masks()}, 6),
        ({"targets": _masks(), "max_items": 2}, 2),
        ({"targets": _masks()[:, 0], "titles": ["a", "b", "c"]}, 3),
    ],
    ids=["images", "targets", "preds", "max_items", "(N,H,W) masks + titles"],
)
def test_show_samples_grid(kwargs, n_axes):
    fig = plotting.show_samples(_images(), **kwargs)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes


@pytest.mark.parametrize(
    ("preds", "key"),
    [(None, "truth: yellow outline"), (_masks(), "truth: yellow outline   prediction: magenta fill")],
)
def test_show_samples_titles_and_colour_key(preds, key):
    fig = plotting.show_samples(_images(), _masks(), preds, titles=["a", "b", "c"])
    assert fig.get_suptitle() == key
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]


def test_compare_predictions_rows_per_model():
    preds = {"EncDec": _masks(), "U-Net": torch.rand(3, 1, 8, 8), "empty": torch.zeros(3, 1, 8, 8)}
    fig = plotting.compare_predictions(_images(), _masks(), preds, max_items=2)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 2
    assert [t.get_text() for t in fig.axes[0].texts] == ["EncDec"]
    assert [t.get_text() for t in fig.axes[4].texts] == ["empty"]


def test_compare_predictions_crop():
    fig = plotting.compare_predictions(_images(), _masks(), {"m": _masks()}, crop=(1, 2, 4, 3))
    assert len(fig.axes) == 3
    assert fig.axes[0].images[0].get_array().shape == (4, 3, 3)


@pytest.mark.parametrize(
    ("histories", "keys", "n_axes"),
    [
        ({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7]},
         ("train_loss", "val_loss", "val_dice"), 2),
        ({"a": {"epoch": [1], "train_loss": [1.0], "val_dice": [0.3]},
          "b": {"epoch": [1, 2], "train_loss": [1.0, 0.4]}}, ("train_loss", "val_loss", "val_dice"),
         2),
        ({"epoch": [1], "val_miou": [0.2]}, ("val_miou",), 1),
    ],
    ids=["one history", "two named histories", "custom key"],
)
def test_plot_history_one_panel_per_present_key(histories, keys, n_axes):
    fig = plotting.plot_history(histories, keys)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes


def test_plot_history_curves_and_legend():
    fig = plotting.plot_history({"a": {"epoch": [1, 2], "train_loss": [1.0, 0.5]},
                                 "b": {"epoch": [1, 2], "train_loss": [2.0, 0.1]}})
    (ax,) = fig.axes
    assert ax.get_title() == "train loss"
    assert [line.get_ydata().tolist() for line in ax.lines] == [[1.0, 0.5], [2.0, 0.1]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_colorize_maps_ids_to_palette_and_ignore_to_black():
    target = torch.tensor([[0, 11, 255], [2, 255, 5]])
    rgb = plotting.colorize(target)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == list(FACADE_PALETTE[0])
    assert rgb[0, 1].tolist() == list(FACADE_PALETTE[11])
    assert rgb[1, 0].tolist() == list(FACADE_PALETTE[2])
    assert rgb[1, 2].tolist() == list(FACADE_PALETTE[5])
    assert rgb[0, 2].tolist() == rgb[1, 1].tolist() == [0, 0, 0]


def test_colorize_other_ignore_index():
    rgb = plotting.colorize(torch.tensor([[3, 1]]), ignore_index=3)
    assert rgb.tolist() == [[[0, 0, 0], list(FACADE_PALETTE[1])]]


def test_facade_legend_entries():
    fig, ax = plt.subplots()
    legend = plotting.facade_legend(ax, ncol=3)
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == [f"{i} {name}" for i, name in enumerate(FACADE_CLASSES)] + [
        "255 ignore (padding)"]
    assert labels[2] == "2 window"
    colours = [tuple(np.round(np.array(h.get_facecolor()[:3]) * 255).astype(int))
               for h in legend.legend_handles]
    assert colours == [tuple(rgb) for rgb in FACADE_PALETTE] + [(0, 0, 0)]


@pytest.mark.parametrize(("with_preds", "rows"), [(False, 2), (True, 3)])
def test_show_facades_grid(with_preds, rows):
    images = torch.rand(5, 3, 8, 6)
    targets = torch.randint(0, 12, (5, 8, 6))
    targets[:, -2:] = 255
    fig = plotting.show_facades(images, targets, targets if with_preds else None, max_items=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == rows * 3
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 13
    assert [t.get_text() for t in fig.axes[3].texts] == ["truth"]
    shown = fig.axes[3].images[0].get_array()
    assert np.array_equal(shown, plotting.colorize(targets[0]))


def test_plot_confusion_matrix_normalises_counts():
    counts = torch.tensor([[3, 1], [0, 2]])
    fig = plotting.plot_confusion_matrix(counts, class_names=["a", "b"], title="t")
    assert isinstance(fig, Figure)
    ax, colorbar = fig.axes
    assert np.allclose(ax.images[0].get_array(), [[0.75, 0.25], [0.0, 1.0]])
    assert sorted(t.get_text() for t in ax.texts) == ["0.25", "0.75", "1.00"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert ax.get_title() == "t"


def test_plot_confusion_matrix_keeps_normalised_input():
    m = torch.tensor([[0.5, 0.5], [0.1, 0.9]], dtype=torch.float64)
    fig = plotting.plot_confusion_matrix(m, class_names=["a", "b"])
    assert np.allclose(fig.axes[0].images[0].get_array(), m.numpy())


def test_plot_confusion_matrix_default_names_are_the_facade_classes():
    fig = plotting.plot_confusion_matrix(torch.eye(12, dtype=torch.long) * 5)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == FACADE_CLASSES


def test_plot_confusion_matrix_small_counts_are_normalised():
    # integer counts of at most 1 are still counts, not shares
    fig = plotting.plot_confusion_matrix(torch.tensor([[1, 1], [0, 1]]), class_names=["a", "b"])
    assert np.allclose(fig.axes[0].images[0].get_array(), [[0.5, 0.5], [0.0, 1.0]])
