"""The cell twin against the real crops' fingerprint (``synthetic.fingerprint``).

The twin's train split (151 crops, seed 0, as the real train split), written with the default
``PhaseContrast()``, must put every statistic inside its band around the real value; a
twin imaged without the objective's blur, or with round outlines, must not.
"""

import dataclasses
import re

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from course_utils.synthetic import PhaseContrast, make_synthetic_phc
from course_utils.synthetic import fingerprint as fp

STATISTICS = [key for key in fp.REAL_PHC if key != "n"]


def _twin_fingerprint(root, **changes):
    # No changes: the lessons' twin, as data.sources writes it (no optics argument).
    optics = dataclasses.replace(PhaseContrast(), **changes) if changes else None
    make_synthetic_phc(root, n_train=fp.REAL_PHC["n"], n_test=1, optics=optics)
    return fp.fingerprint(*fp.load_phc(root))


@pytest.fixture(scope="module")
def twin_root(tmp_path_factory):
    return tmp_path_factory.mktemp("twin") / "phc_data"


def _outside(real, twin):
    return {k for k in STATISTICS if not fp.within_band(k, real[k], twin[k])}


@pytest.fixture(scope="module")
def twin(twin_root):
    return _twin_fingerprint(twin_root)


@pytest.mark.parametrize("key", STATISTICS)
def test_twin_statistic_inside_its_band(twin, key):
    assert fp.within_band(key, fp.REAL_PHC[key], twin[key]), "\n".join(
        fp.compare(fp.REAL_PHC, twin))


@pytest.mark.parametrize("changes, leaves", [
    # Without the objective's blur the edges and the interior's fine texture are too sharp.
    ({"blur": 0.0}, {"grad_edge", "spectrum_slope_in"}),
    # Round, smooth outlines are near-discs: too little perimeter for their area.
    ({"elongation": 0.0, "ragged": 0.0}, {"roughness"}),
])
def test_a_perturbed_twin_leaves_the_bands(tmp_path, twin, changes, leaves):
    assert not _outside(fp.REAL_PHC, twin)
    perturbed = _twin_fingerprint(tmp_path / "phc_data", **changes)
    assert leaves <= _outside(fp.REAL_PHC, perturbed), "\n".join(
        fp.compare(fp.REAL_PHC, perturbed))


def test_the_phase_contrast_twin_keeps_the_real_formats(twin, twin_root):
    images = sorted((twin_root / "train" / "images").iterdir())
    assert len(images) == fp.REAL_PHC["n"]
    for path in images[:10]:
        with Image.open(path) as im:
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (128, 128))
            assert JpegImagePlugin.get_sampling(im) == 2  # 4:2:0
        with Image.open(twin_root / "train" / "labels" / f"label_{path.stem[4:]}.png") as im:
            assert (im.format, im.mode) == ("PNG", "L")
            assert set(np.unique(np.asarray(im))) <= {0, 255}


@pytest.mark.parametrize("optics", ["phase contrast", {"blur": 0.6}, 1])
def test_make_synthetic_phc_refuses_other_optics(tmp_path, optics):
    with pytest.raises(ValueError, match="optics must be a PhaseContrast or None"):
        make_synthetic_phc(tmp_path, n_train=1, n_test=1, optics=optics)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("changes, shown", [
    ({"blur": -0.5}, "blur must be a number >= 0, got -0.5"),
    ({"ragged": "1"}, "ragged must be a number >= 0, got '1'"),
    ({"exposure": True}, "exposure must be a number >= 0, got True"),
    ({"second_component": 1.5}, "second_component is a chance in [0, 1], got 1.5"),
    ({"halo": 0.0}, "halo, taper and granule_size must be > 0"),
])
def test_phase_contrast_refuses_bad_settings(changes, shown):
    with pytest.raises(ValueError, match=re.escape(shown)):
        PhaseContrast(**changes)


# --- the fingerprint's definitions, on tiny cases ---------------------------------------------

def _disc(radius, size=64):
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    return np.hypot(yy - size / 2, xx - size / 2) < radius


@pytest.mark.parametrize("key, real, twin, inside", [
    ("grad_in", 0.0276, 0.0276 * 1.14, True),
    ("grad_in", 0.0276, 0.0276 * 0.84, False),
    ("spectrum_slope_in", -2.6, -2.3, True),
    ("spectrum_slope_in", -2.6, -2.2, False),
    ("roughness", [1.0, 2.0], [1.1, 2.2], True),
    ("roughness", [1.0, 2.0], [1.0, 2.4], False),
    ("edge_profile", [0.30, 0.40], [0.32, 0.38], True),
    ("edge_profile", [0.30, 0.40], [0.30, 0.43], False),
    ("components", 0.007, 0.0, True),  # one mask in 151 is the statistic's resolution
    ("components", 0.007, 0.013, True),
    ("components", 0.007, 0.02, False),
])
def test_within_band(key, real, twin, inside):
    assert fp.within_band(key, real, twin) is inside


def test_fingerprint_of_hand_made_images():
    masks = np.stack([_disc(16), _disc(16)])
    masks[1, 2:6, 2:6] = True  # a second component
    grey = np.where(masks, 0.6, 0.2)
    images = np.repeat(grey[..., None], 3, axis=-1)
    result = fp.fingerprint(images, masks)
    assert result["n"] == 2
    assert result["components"] == 0.5
    assert result["grey_in"][0] == pytest.approx(0.6, abs=1e-4)
    assert result["grey_out"] == [0.2, 0.0]
    assert result["rgb_in"] == [0.6, 0.6, 0.6]
    assert result["otsu_dice"] == 1.0  # a bright cell on a flat background: Otsu finds it
    assert result["grad_edge"] > 10 * max(result["grad_in"], result["grad_out"])
    assert result["edge_profile"][:6] == [0.6] * 6 and result["edge_profile"][6:] == [0.2] * 6


def _square(side, size=64):
    m = np.zeros((size, size), bool)
    m[10:10 + side, 10:10 + side] = True
    return m


@pytest.mark.parametrize("mask, perimeter, area", [
    (_square(20), 76, 400),  # 4 sides of 20 pixels, the corners counted once
    (_square(14), 52, 196),
    (_disc(12), 64, 448),  # a digital disc scores below 1: its boundary pixels undercount
])
def test_roughness_counts_boundary_pixels(mask, perimeter, area):
    images = np.repeat(np.where(mask, 0.5, 0.4)[None, ..., None], 3, axis=-1)
    expected = perimeter**2 / (4 * np.pi * area)
    assert fp.fingerprint(images, mask[None])["roughness"][1] == round(expected, 3)


@pytest.mark.parametrize("slope", [2.0, 3.0])
def test_spectrum_slope_of_a_power_law_field(slope):
    rng = np.random.default_rng(0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(24), np.fft.fftfreq(24), indexing="ij"))
    f[0, 0] = 1
    slopes = [fp._slope(np.fft.ifft2(np.fft.fft2(rng.standard_normal((24, 24)))
                                     * f ** (-slope / 2)).real) for _ in range(50)]
    assert np.median(slopes) == pytest.approx(-slope, abs=0.35)


@pytest.mark.parametrize("images, masks", [
    (np.zeros((2, 8, 8)), np.zeros((2, 8, 8), bool)),  # grey, not RGB
    (np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 9), bool)),  # sizes differ
    (np.zeros((2, 8, 8, 4)), np.zeros((2, 8, 8), bool)),  # RGBA
])
def test_fingerprint_refuses_bad_shapes(images, masks):
    with pytest.raises(ValueError, match=r"expected images \(N,H,W,3\)"):
        fp.fingerprint(images, masks)


def test_load_phc_refuses_an_empty_folder(tmp_path):
    (tmp_path / "train" / "images").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        fp.load_phc(tmp_path)
