"""Synthetic twins of the course datasets, written in the real datasets' exact layouts.

CI has no network and the real pixels may not be shipped, so the package paints stand-ins:

- ``make_synthetic_phc``: phase-contrast-like cells rendered through viridis, laid out like
  ``phc_data``. As in the real crops, the cell is *not* brighter or darker than its
  surroundings on average; it is told apart by a dark ragged rim, bright halo fragments and
  a textured interior, so a global threshold fails while a small CNN succeeds.
- ``make_synthetic_facade``: rectangle-built facades laid out like the CMP Facade base set
  (photo JPEG, palette PNG of class ids 1..12, rectangle XML).

Both are deterministic for a given seed: the same arguments write the same bytes.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from course_utils.facade_classes import FACADE_CLASSES, FACADE_PALETTE


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _prepare(root, subdirs):
    """Create ``root/<subdir>`` folders, refusing any that already hold files."""
    root = Path(root)
    for sub in subdirs:
        folder = root / sub
        if folder.is_dir() and any(folder.iterdir()):
            raise ValueError(f"{folder} already contains files; generate into a fresh folder")
    for sub in subdirs:
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def _smooth_noise(rng, shape, sigma):
    """Unit-variance Gaussian noise blurred with ``sigma`` pixels (periodic edges)."""
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return noise / noise.std()


_N_ANGLES = 1024


def _fourier(rng, kmax, decay):
    """A random smooth periodic function sampled at ``_N_ANGLES`` angles, unit-ish amplitude."""
    coeffs = np.zeros(_N_ANGLES // 2 + 1, dtype=complex)
    k = np.arange(1, kmax + 1)
    coeffs[1:kmax + 1] = rng.standard_normal(kmax) / k**decay * np.exp(2j * np.pi * rng.random(kmax))
    return np.fft.irfft(coeffs, _N_ANGLES) * (_N_ANGLES / 2)


def _polar(size, cy, cx):
    """Distance to ``(cy, cx)`` and angle index (0.._N_ANGLES-1) of every pixel centre."""
    yy, xx = np.ogrid[0:size, 0:size]
    dy, dx = yy + 0.5 - cy, xx + 0.5 - cx
    angle = np.arctan2(dy, dx) * (_N_ANGLES / (2 * np.pi))
    return np.hypot(dy, dx), angle.astype(np.int64) % _N_ANGLES


def _star_mask(rng, size, cy, cx, area, margin):
    """A star-shaped blob of about ``area`` pixels, shrunk until ``margin`` px off the border."""
    wobble = 0.22 * _fourier(rng, 24, 1.15)
    phase = np.exp(-2j * np.pi * np.arange(_N_ANGLES) / _N_ANGLES)
    first = 2 * (wobble @ phase) / _N_ANGLES
    wobble -= 0.8 * np.real(first * np.conj(phase))  # a first harmonic only moves the centroid
    radius = np.clip(1.0 + wobble, 0.4, None)
    r0 = np.sqrt(area / (np.pi * np.mean(radius**2)))
    rho, ang = _polar(size, cy, cx)
    while True:
        mask = rho < r0 * radius[ang]
        if not (mask[:margin].any() or mask[-margin:].any()
                or mask[:, :margin].any() or mask[:, -margin:].any()):
            return mask, ang
        r0 *= 0.95


def _render_cell(rng, size, lut):
    """One phase-contrast-like crop: returns ``(rgb uint8 (S,S,3), mask bool (S,S))``."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    s = size / 128.0
    cy, cx = size / 2 + np.clip(rng.normal(0.0, 2.0 * s, 2), -4 * s, 4 * s)
    frac = np.clip(rng.normal(0.28, 0.065), 0.15, 0.40)
    margin = max(2, int(3 * s))
    mask, ang = _star_mask(rng, size, cy, cx, frac * size * size, margin)
    if rng.random() < 1 / 80:  # a few real masks hold a second, small component
        d_out = distance_transform_edt(~mask)
        r_small = rng.uniform(3.5, 6.0) * s
        for _ in range(20):
            py, px = rng.uniform(margin + r_small + 2, size - margin - r_small - 2, 2)
            if d_out[int(py), int(px)] > r_small * 1.6 + 3:
                mask |= _star_mask(rng, size, py, px, np.pi * r_small**2, margin)[0]
                break
    d_in, d_out = distance_transform_edt(mask), distance_transform_edt(~mask)

    # Rim, halo and texture carry the signal; their widths and strengths vary around the cell.
    width = np.clip(1.7 + 0.35 * _fourier(rng, 12, 0.6), 0.8, 3.2)[ang] * s
    depth = np.clip(0.95 + 0.3 * _fourier(rng, 16, 0.5), 0.3, 1.6)[ang]
    rim = -depth * np.exp(-(np.where(mask, (d_in - 0.5) / width, d_out / 0.9)) ** 2)
    gaps = np.clip(0.4 * _fourier(rng, 10, 0.4) + 0.25, 0.0, None)[ang]
    halo = 3.0 * gaps * np.exp(-(((d_out - 2.0 * s) / (1.4 * s)) ** 2)) * ~mask
    core = mask * (1.0 - np.exp(-d_in / (4.0 * s)))
    noise = rng.standard_normal((2, size, size))
    texture, fine = (gaussian_filter(n, sigma, mode="wrap") for n, sigma in zip(noise, (1.3 * s, 0.7)))
    texture *= 0.3 / texture.std() * core
    fine *= 0.09 / fine.std()

    yy, xx = np.mgrid[0:size, 0:size] / size
    light = np.zeros((size, size))
    for fy, fx, phi in rng.uniform([-1.2, -1.2, 0.0], [1.2, 1.2, 2 * np.pi], (3, 3)):
        light += 0.12 * np.cos(2 * np.pi * (fy * yy + fx * xx) + phi)  # uneven illumination
    grey = light + fine + rim + halo + texture
    for _ in range(rng.poisson(2.5)):  # faint debris: small rings that are not cells
        py, px = rng.uniform(0, size, 2)
        r = rng.uniform(1.5, 4.0) * s
        if d_out[int(py), int(px)] > r + 5 * s:
            y0, x0 = int(max(0, py - r - 5)), int(max(0, px - r - 5))
            y1, x1 = int(min(size, py + r + 6)), int(min(size, px + r + 6))
            win = np.hypot(*np.ogrid[y0 + 0.5 - py:y1 + 0.5 - py, x0 + 0.5 - px:x1 + 0.5 - px]) - r
            grey[y0:y1, x0:x1] += 0.5 * (np.exp(-((win - 1.6) ** 2)) - np.exp(-((win / 0.8) ** 2)))

    # Balance the means: the rim darkens the inside, the halo brightens the outside, so lift
    # the interior until the mean grey (as a student would measure it) is almost equal.
    grey += core * (grey[~mask].mean() - grey[mask].mean()) / core[mask].mean()
    lo, hi = np.percentile(grey, [0.5, 99.5])
    target, lut_grey = rng.normal(1.0, 1.5), lut.mean(axis=1)

    def to_index(offset):
        return np.clip((grey + offset * core - lo) * (255.0 / (hi - lo)), 0, 255).round().astype(np.uint8)

    def error(offset):
        g = lut_grey[to_index(offset)]
        return g[mask].mean() - g[~mask].mean() - target

    offsets, errs = [0.0, 0.05], [error(0.0), error(0.05)]
    for _ in range(4):  # secant steps on a monotone, nearly linear function of the offset
        if abs(errs[-1] - errs[-2]) < 1e-9:
            break
        offsets.append(offsets[-1] - errs[-1] * (offsets[-1] - offsets[-2]) / (errs[-1] - errs[-2]))
        errs.append(error(offsets[-1]))
    return lut[to_index(offsets[int(np.argmin(np.abs(errs)))])], mask


def make_synthetic_phc(root, n_train=151, n_test=500, size=128, seed=0):
    """Write a synthetic twin of ``phc_data`` (phase-contrast cells) in its exact layout.

    Writes ``root/{train,test}/images/img_NNNNN.jpg`` (RGB viridis JPEG, quality 75) and
    ``root/{train,test}/labels/label_NNNNN.png`` (8-bit greyscale, values {0, 255}). Train and
    test share one index space, shuffled by ``seed`` so test indices interleave with train ones.

    Args:
        root: folder to write into; created if missing.
        n_train: number of training pairs (>= 1).
        n_test: number of test pairs (>= 1).
        size: image side in pixels (32..1024); the real data is 128.
        seed: non-negative integer; the same seed writes the same bytes.

    Returns:
        The root folder as a ``Path``.

    Raises:
        ValueError: on a bad argument, or if ``root/train`` or ``root/test`` already holds files.
    """
    _check_int("n_train", n_train, 1, 99_999)
    _check_int("n_test", n_test, 1, 99_999)
    _check_int("n_train + n_test", n_train + n_test, 2, 100_000)
    _check_int("size", size, 32, 1024)
    _check_int("seed", seed, 0, 2**63 - 1)
    import matplotlib

    lut = (matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    subdirs = [f"{split}/{kind}" for split in ("train", "test") for kind in ("images", "labels")]
    root = _prepare(root, subdirs)
    order = np.random.default_rng(seed).permutation(n_train + n_test)
    for split, indices in (("train", order[:n_train]), ("test", order[n_train:])):
        for index in sorted(indices.tolist()):
            rgb, mask = _render_cell(np.random.default_rng([seed, index]), size, lut)
            Image.fromarray(rgb).save(root / split / "images" / f"img_{index:05d}.jpg", quality=75)
            Image.fromarray(mask.astype(np.uint8) * 255).save(
                root / split / "labels" / f"label_{index:05d}.png")
    return root
