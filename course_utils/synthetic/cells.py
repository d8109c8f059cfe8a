"""The synthetic twin of the phase-contrast cells (``phc_data``), painted through viridis.

As in the real crops, a cell is *not* brighter or darker than its surroundings on average: a
dark ragged rim, bright halo fragments and a textured interior tell it apart, so a global
threshold fails while a small CNN succeeds. As in the real masks, which were drawn by hand,
the label follows the visible outline only to about a pixel: it wanders in and out of it
along the rim, so no model can score a perfect Dice.

This is the lessons' twin (``TWIN_VERSION`` 3), the one their quick-mode outcomes were written
around. Its cells are easier than the real ones in the wrong way: sharp dark rims, a busy
background, near-round outlines (its fingerprint, ``benchmarks/twin_difficulty.py``).
``phase_contrast.py`` renders cells that match the real crops' fingerprint; pass
``optics=PhaseContrast()`` to ``make_synthetic_phc`` to write them.
"""

import numpy as np
from PIL import Image

from course_utils.synthetic.common import check_int, prepare

_N_ANGLES = 1024
_LABEL_WANDER = 1.0  # px at size 128: std of the hand-drawn label's offset from the outline


def _fourier(rng, kmax, decay, first=1.0, kmin=1):
    """A random smooth periodic function at ``_N_ANGLES`` angles: harmonics kmin..kmax, the
    k-th scaled by k**-decay (the first of them also by ``first``)."""
    k = np.arange(kmin, kmax + 1)
    amplitude = rng.standard_normal(k.size) / k**decay
    amplitude[0] *= first
    coeffs = np.zeros(_N_ANGLES // 2 + 1, dtype=complex)
    coeffs[kmin : kmax + 1] = amplitude * np.exp(2j * np.pi * rng.random(k.size))
    return np.fft.irfft(coeffs, _N_ANGLES) * (_N_ANGLES / 2)


def _polar(size, cy, cx):
    """Distance to ``(cy, cx)`` and angle index (0.._N_ANGLES-1) of every pixel centre."""
    yy, xx = np.ogrid[0:size, 0:size]
    dy, dx = yy + 0.5 - cy, xx + 0.5 - cx
    angle = np.arctan2(dy, dx) * (_N_ANGLES / (2 * np.pi))
    return np.hypot(dy, dx), angle.astype(np.int64) % _N_ANGLES


def _star_mask(rng, size, cy, cx, area, margin):
    """A star-shaped blob of about ``area`` pixels, shrunk until ``margin`` px off the border."""
    # A weak first harmonic: it would only move the centroid.
    radius = np.clip(1.0 + 0.22 * _fourier(rng, 24, 1.15, first=0.2), 0.4, None)
    r0 = np.sqrt(area / (np.pi * np.mean(radius**2)))
    theta = np.arange(_N_ANGLES) * (2 * np.pi / _N_ANGLES)
    moments = radius**3 @ np.stack([np.sin(theta), np.cos(theta)], axis=1)
    shift = 2 / 3 * r0 * moments / np.sum(radius**2)
    rho, ang = _polar(size, cy - shift[0], cx - shift[1])  # puts the blob's centroid on target
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
    cy, cx = size / 2 + np.clip(rng.normal(0.0, 2.5 * s, 2), -5.5 * s, 5.5 * s)
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
    rim = -depth * np.exp(-(((d_in - 0.5) / width) ** 2)) * mask
    gaps = np.clip(0.4 * _fourier(rng, 10, 0.4) + 0.5, 0.0, None)[ang]
    halo = 2.3 * gaps * np.exp(-(((d_out - 2.0 * s) / (1.4 * s)) ** 2)) * ~mask
    core = mask * (1.0 - np.exp(-d_in / (4.0 * s)))
    texture = gaussian_filter(rng.standard_normal((size, size)), 1.6 * s, mode="wrap")
    fine = gaussian_filter(rng.standard_normal((size, size)), 0.7, mode="wrap")
    texture *= 0.5 / texture.std() * core
    fine *= 0.06 / fine.std()

    yy, xx = np.mgrid[0:size, 0:size] / size
    light = np.zeros((size, size))
    for fy, fx, phi in rng.uniform([-1.2, -1.2, 0.0], [1.2, 1.2, 2 * np.pi], (3, 3)):
        light += 0.06 * np.cos(2 * np.pi * (fy * yy + fx * xx) + phi)  # uneven illumination
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
        scaled = (grey + offset * core - lo) * (255.0 / (hi - lo))
        return np.clip(scaled, 0, 255).round().astype(np.uint8)

    def error(offset):
        g = lut_grey[to_index(offset)]
        return g[mask].mean() - g[~mask].mean() - target

    x0, x1, e0, e1 = 0.0, 0.05, error(0.0), error(0.05)
    for _ in range(3):  # secant steps: the error is monotone and nearly linear in the offset
        if e1 == e0:
            break
        x0, x1, e0 = x1, x1 - e1 * (x1 - x0) / (e1 - e0), e1
        e1 = error(x1)
    # The drawn label: the outline moved out or in by a smooth offset along the rim, kept
    # clear of the border as the real masks are.
    offset = _fourier(rng, 16, 0.3)
    offset = np.clip(offset * (_LABEL_WANDER * s / offset.std()), 1 - margin, margin - 1)
    signed = np.where(mask, d_in - 0.5, 0.5 - d_out)  # px inside (+) or outside (-) the outline
    label = signed + offset[ang] > 0
    return lut[to_index(x1 if abs(e1) <= abs(e0) else x0)], label


def make_synthetic_phc(root, n_train=151, n_test=500, size=128, seed=0, optics=None):
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
        optics: ``None`` writes the lessons' twin (below); a ``PhaseContrast``
            (``phase_contrast.py``) writes the phase-contrast twin, whose defaults match the
            real crops' fingerprint.

    Returns:
        The root folder as a ``Path``.

    Raises:
        ValueError: on a bad argument, or if ``root/train`` or ``root/test`` already holds files.
    """
    check_int("n_train", n_train, 1, 99_999)
    check_int("n_test", n_test, 1, 99_999)
    check_int("n_train + n_test", n_train + n_test, 2, 100_000)
    check_int("size", size, 32, 1024)
    check_int("seed", seed, 0, 2**63 - 1)
    from course_utils.synthetic import phase_contrast

    if optics is not None and not isinstance(optics, phase_contrast.PhaseContrast):
        raise ValueError(f"optics must be a PhaseContrast or None, got {optics!r}")
    import matplotlib

    lut = matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3]
    lut = (lut * 255).round().astype(np.uint8)
    subdirs = [f"{split}/{kind}" for split in ("train", "test") for kind in ("images", "labels")]
    root = prepare(root, subdirs)
    order = np.random.default_rng(seed).permutation(n_train + n_test)
    for split, indices in (("train", order[:n_train]), ("test", order[n_train:])):
        for index in sorted(indices.tolist()):
            rng = np.random.default_rng([seed, index])
            rgb, mask = (_render_cell(rng, size, lut) if optics is None
                         else phase_contrast.render_cell(rng, size, lut, optics))
            Image.fromarray(rgb).save(root / split / "images" / f"img_{index:05d}.jpg", quality=75)
            Image.fromarray(mask.astype(np.uint8) * 255).save(
                root / split / "labels" / f"label_{index:05d}.png")
    return root
