"""Tests of ``course_utils.synthetic``: the twins' layouts, formats and data facts (DESIGN.md)."""

import re
import xml.etree.ElementTree as ET
from io import BytesIO

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from course_utils.baselines import otsu_threshold
from course_utils.facade_classes import FACADE_PALETTE, NUM_FACADE_CLASSES
from course_utils.synthetic import make_synthetic_facade, make_synthetic_phc

N_TRAIN, N_TEST = 20, 40
N_FACADES = 8


@pytest.fixture(scope="module")
def phc(tmp_path_factory):
    root = tmp_path_factory.mktemp("phc") / "phc_data"
    return make_synthetic_phc(root, n_train=N_TRAIN, n_test=N_TEST)


@pytest.fixture(scope="module")
def facade(tmp_path_factory):
    return make_synthetic_facade(tmp_path_factory.mktemp("facade") / "cmp", n_images=N_FACADES)


def _load(path):
    with Image.open(path) as im:
        return np.asarray(im)


def _indices(folder, pattern):
    names = sorted(p.name for p in folder.iterdir())
    assert all(re.fullmatch(pattern, n) for n in names), names
    return [int(re.search(r"\d+", n).group()) for n in names]


def _cells(root, split):
    """Yield ``(rgb uint8 (H,W,3), mask bool (H,W))`` pairs of one split."""
    for image in sorted((root / split / "images").iterdir()):
        label = root / split / "labels" / f"label_{image.stem[4:]}.png"
        yield _load(image), _load(label) > 127


def _dice(a, b):
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- cells -----------------------------------------------------------------------------------

def test_phc_layout_shares_one_shuffled_index_space(phc):
    assert sorted(p.name for p in phc.iterdir()) == ["test", "train"]
    split = {}
    for name in ("train", "test"):
        images = _indices(phc / name / "images", r"img_\d{5}\.jpg")
        assert _indices(phc / name / "labels", r"label_\d{5}\.png") == images
        split[name] = images
    assert len(split["train"]) == N_TRAIN and len(split["test"]) == N_TEST
    assert sorted(split["train"] + split["test"]) == list(range(N_TRAIN + N_TEST))
    assert min(split["test"]) < max(split["train"]) and min(split["train"]) < max(split["test"])


def test_phc_file_formats(phc):
    reference = BytesIO()
    Image.new("RGB", (128, 128)).save(reference, format="JPEG", quality=75)
    quality_75 = Image.open(reference).quantization
    for path in (phc / "test" / "images").iterdir():
        with Image.open(path) as im:
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (128, 128))
            assert JpegImagePlugin.get_sampling(im) == 2  # 4:2:0
            assert im.quantization == quality_75
    for path in (phc / "test" / "labels").iterdir():
        with Image.open(path) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "L", (128, 128))
            assert set(np.unique(np.asarray(im))) <= {0, 255}


def test_phc_cells_are_centred_sized_and_clear_of_the_border(phc):
    fractions = []
    for split in ("train", "test"):
        for _, mask in _cells(phc, split):
            fractions.append(mask.mean())
            ys, xs = np.nonzero(mask)
            assert abs(ys.mean() + 0.5 - 64) <= 7 and abs(xs.mean() + 0.5 - 64) <= 7
            assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    assert 0.14 <= min(fractions) and max(fractions) <= 0.41
    assert 0.22 <= np.median(fractions) <= 0.34


def test_phc_cell_is_not_told_apart_by_brightness(phc):
    for rgb, mask in _cells(phc, "test"):
        grey = rgb.mean(axis=2)
        assert abs(grey[mask].mean() - grey[~mask].mean()) < 10


@pytest.mark.parametrize("weights", [(1 / 3, 1 / 3, 1 / 3), (0.299, 0.587, 0.114)])
def test_phc_otsu_threshold_fails(phc, weights):
    scores = []
    for rgb, mask in _cells(phc, "test"):
        grey = (rgb @ np.array(weights)).round().astype(np.uint8)
        fg = grey > otsu_threshold(grey)
        scores.append(max(_dice(fg, mask), _dice(~fg, mask)))  # the better polarity per image
    assert np.mean(scores) < 0.7


def test_phc_label_wanders_around_the_painted_outline(monkeypatch):
    """The hand-drawn label differs from the outline the image shows only in a thin band."""
    from scipy.ndimage import binary_dilation, binary_erosion

    from course_utils.synthetic import PhaseContrast, phase_contrast

    lut = np.stack([np.arange(256)] * 3, axis=1).astype(np.uint8)

    def render(i):
        return phase_contrast.render_cell(np.random.default_rng([0, i]), 128, lut, PhaseContrast())

    drawn = [render(i) for i in range(6)]
    monkeypatch.setattr(phase_contrast, "_LABEL_WANDER", 1e-9)
    exact = [render(i) for i in range(6)]
    for (rgb, label), (rgb_exact, outline) in zip(drawn, exact, strict=True):
        np.testing.assert_array_equal(rgb, rgb_exact)  # the same picture, another label
        changed = label ^ outline
        band = binary_dilation(outline, iterations=3) & ~binary_erosion(outline, iterations=3)
        assert not (changed & ~band).any()
        # A label that wanders about a pixel moves about one pixel per pixel of outline.
        perimeter = (outline & ~binary_erosion(outline)).sum()
        assert 0.5 < changed.sum() / perimeter < 1.5


def test_phc_is_deterministic(tmp_path, phc):
    again = make_synthetic_phc(tmp_path / "again", n_train=N_TRAIN, n_test=N_TEST)
    assert _files(again) == _files(phc)
    other = _files(make_synthetic_phc(tmp_path / "other", n_train=N_TRAIN, n_test=N_TEST, seed=1))
    assert sum(other.get(k) == v for k, v in _files(phc).items()) == 0


def test_phc_size_argument(tmp_path):
    root = make_synthetic_phc(tmp_path / "small", n_train=1, n_test=1, size=64)
    for rgb, mask in _cells(root, "train"):
        assert rgb.shape == (64, 64, 3) and mask.shape == (64, 64)


# --- facades ---------------------------------------------------------------------------------

def _facade_arrays(root):
    for i in range(1, N_FACADES + 1):
        yield _load(root / "base" / f"cmp_b{i:04d}.jpg"), _load(root / "base" / f"cmp_b{i:04d}.png")


def test_facade_layout(facade):
    assert sorted(p.name for p in facade.iterdir()) == ["base"]
    stems = [f"cmp_b{i:04d}" for i in range(1, N_FACADES + 1)]
    expected = sorted(f"{stem}.{ext}" for stem in stems for ext in ("jpg", "png", "xml"))
    assert sorted(p.name for p in (facade / "base").iterdir()) == expected


def test_facade_file_formats(facade):
    palette = [0, 0, 0] + [v for rgb in FACADE_PALETTE for v in rgb]
    for i in range(1, N_FACADES + 1):
        with Image.open(facade / "base" / f"cmp_b{i:04d}.jpg") as photo:
            assert (photo.format, photo.mode) == ("JPEG", "RGB")
            w, h = photo.size
        with Image.open(facade / "base" / f"cmp_b{i:04d}.png") as label:
            assert (label.format, label.mode, label.size) == ("PNG", "P", (w, h))
            assert label.getpalette()[: 3 * (NUM_FACADE_CLASSES + 1)] == palette
            ids = np.unique(np.asarray(label))
        assert 256 <= w <= 448 and 320 <= h <= 640 and h > w
        assert ids.min() >= 1 and ids.max() <= NUM_FACADE_CLASSES


def test_facade_xml_repaints_the_label(facade):
    for i in range(1, N_FACADES + 1):
        label = _load(facade / "base" / f"cmp_b{i:04d}.png")
        h, w = label.shape
        painted = np.ones_like(label)
        objects = ET.parse(facade / "base" / f"cmp_b{i:04d}.xml").getroot().findall("object")
        assert objects
        for obj in objects:
            x0, x1 = (round(float(x.text) * w) for x in obj.find("points").findall("x"))
            y0, y1 = (round(float(y.text) * h) for y in obj.find("points").findall("y"))
            painted[y0:y1, x0:x1] = int(obj.find("label").text)
        np.testing.assert_array_equal(painted, label)


def test_facade_classes_and_frequencies_are_plausible(facade):
    counts, seen = np.zeros(NUM_FACADE_CLASSES + 1), set()
    glass, wall, sky = [], [], []
    for photo, label in _facade_arrays(facade):
        seen |= set(np.unique(label).tolist())
        counts += np.bincount(label.ravel(), minlength=NUM_FACADE_CLASSES + 1)
        h = label.shape[0]
        rows = np.nonzero(np.isin(label, (4, 12)).any(axis=1))[0]
        assert rows.size and rows.min() >= 0.6 * h  # door and shop only at street level
        glass.append(photo[label == 3].mean())
        wall.append(photo[label == 2].mean())
        sky.append(np.median(photo[0, :, 2]))  # the top row: sky, or a roof's edge
    assert seen == set(range(1, NUM_FACADE_CLASSES + 1))
    assert np.mean(glass) < np.mean(wall)  # windows are darker than walls, on average
    assert np.median(sky) > np.mean(glass)  # and the sky is brighter than the glass
    facade_px, window_px = counts[2], counts[3]
    assert facade_px == counts.max()
    assert window_px > max(counts[4], counts[9], counts[11])


def test_facade_windows_differ_within_a_building(facade):
    """Each window is rendered on its own: their mean brightness spreads within one facade."""
    from scipy.ndimage import label as components

    spreads = []
    for photo, label in _facade_arrays(facade):
        windows, n = components(label == 3)
        grey = photo.mean(axis=2)
        means = [grey[windows == k].mean() for k in range(1, n + 1)]
        spreads.append(np.std(means))
    assert np.median(spreads) > 6


def test_facade_openings_defeat_a_threshold(facade):
    scores = []
    for photo, label in _facade_arrays(facade):
        grey = photo.mean(axis=2).round().astype(np.uint8)
        fg, openings = grey > otsu_threshold(grey), np.isin(label, (3, 4, 12))
        scores.append(max(_dice(fg, openings), _dice(~fg, openings)))
    assert np.mean(scores) < 0.7


def test_facade_is_deterministic(tmp_path, facade):
    assert _files(make_synthetic_facade(tmp_path / "again", n_images=N_FACADES)) == _files(facade)
    other = _files(make_synthetic_facade(tmp_path / "other", n_images=N_FACADES, seed=3))
    assert all(other[k] != v for k, v in _files(facade).items())


# --- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("make, sub", [
    (lambda root: make_synthetic_phc(root, n_train=1, n_test=1), "train/images"),
    (lambda root: make_synthetic_phc(root, n_train=1, n_test=1), "test/labels"),
    (lambda root: make_synthetic_facade(root, n_images=1), "base"),
])
def test_refuses_a_folder_that_already_holds_files(tmp_path, make, sub):
    (tmp_path / sub).mkdir(parents=True)
    (tmp_path / sub / "old.txt").write_text("keep me")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / sub))):
        make(tmp_path)
    assert (tmp_path / sub / "old.txt").read_text() == "keep me"


def test_accepts_existing_empty_folders(tmp_path):
    (tmp_path / "base").mkdir()
    assert make_synthetic_facade(tmp_path, n_images=1) == tmp_path


@pytest.mark.parametrize("kwargs, name, shown", [
    ({"n_train": 0}, "n_train", "0"),
    ({"n_train": 2.5}, "n_train", "2.5"),
    ({"n_train": True}, "n_train", "True"),
    ({"n_test": -3}, "n_test", "-3"),
    ({"size": 16}, "size", "16"),
    ({"size": "128"}, "size", "'128'"),
    ({"seed": -1}, "seed", "-1"),
])
def test_phc_bad_arguments(tmp_path, kwargs, name, shown):
    with pytest.raises(ValueError, match=rf"{name}.*{re.escape(shown)}"):
        make_synthetic_phc(tmp_path, **{"n_train": 1, "n_test": 1, **kwargs})
    assert not any(tmp_path.iterdir())  # nothing written before the check


@pytest.mark.parametrize("kwargs, name, shown", [
    ({"n_images": 0}, "n_images", "0"),
    ({"n_images": 10_000}, "n_images", "10000"),
    ({"seed": None}, "seed", "None"),
])
def test_facade_bad_arguments(tmp_path, kwargs, name, shown):
    with pytest.raises(ValueError, match=rf"{name}.*{re.escape(shown)}"):
        make_synthetic_facade(tmp_path, **{"n_images": 1, **kwargs})
    assert not any(tmp_path.iterdir())
