"""The phase-contrast cell twin: cells imaged as a phase-contrast microscope would.

A flat cell is a phase object whose thickness tapers to its ragged, elongated edge, with
granules and vesicles in it; the phase ring turns the delay into darkness but also passes a
low-passed copy of it, which shades the cell's middle back towards the background (shade-off)
and leaves a bright halo outside its edge; the objective blurs it all; the camera adds its
exposure. ``PhaseContrast``'s defaults put every statistic of the real crops' fingerprint
(``course_utils.synthetic.fingerprint``) inside its band. As in the real crops, the mean grey
inside a cell is almost the mean outside, and the hand-drawn label follows the inner side of
the halo only to about a pixel.

``make_synthetic_phc`` (``cells.py``) writes this twin, the lessons' cell twin since twin
version 4; version 3 (sharp dark rims, a busy background, near-round outlines) is in git's
history and its fingerprint in benchmarks/README.md.
"""

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["PhaseContrast", "render_cell"]

_RAGGED_SPREAD = 0.3  # std of the log of a cell's raggedness
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


@dataclass(frozen=True)
class PhaseContrast:
    """The specimen, the optics and the camera behind the cell twin; lengths in px at size 128.

    The defaults were set from the physics and checked against the real crops' fingerprint
    (``course_utils.synthetic.fingerprint``); ``tests/test_synthetic_fingerprint.py`` keeps
    them there, and shows that a twin without ``blur``, or with round outlines
    (``elongation=0, ragged=0``), leaves it.

    Attributes:
        blur: std of the objective's point-spread function (Gaussian); 0 images ideally.
        halo: std of the phase ring's low-pass: how far the halo reaches out and the
            shade-off in.
        shade_off: share of the low-passed phase the ring passes (1: the middle of a broad
            flat region returns fully to the background's grey).
        inset: how far inside the drawn outline the cell's phase edge lies.
        taper: px over which the cell thickens from its edge (the thin lamella).
        elongation: std of the log aspect ratio of a cell's outline (0: round).
        ragged: scale of the outline's irregular harmonics (0: a smooth ellipse).
        texture: amplitude of the cytoplasm's fine phase texture, relative to the thickness.
        texture_slope: power-spectrum slope of that texture (power ~ frequency**-slope).
        granules: vesicles per 1000 px (at size 128) of the cell's inner part.
        vacuoles: large vesicles (three times the radius) per 1000 px of the same part.
        granule_size: the granules' radius (std of a Gaussian blob).
        granule_phase: their phase, relative to the cell's thickness.
        granule_bias: how much more often they delay less than the cytoplasm (show bright)
            than more (show dark).
        medium: amplitude of the out-of-focus matter in the medium (background texture).
        contrast: viridis index steps per unit of the cell's phase.
        contrast_spread: std of the log of a cell's contrast (cells differ in thickness).
        exposure: std of a crop's background level, in viridis index steps (about 92).
        illumination: amplitude of the uneven illumination, in viridis index steps.
        second_component: chance that a mask holds a second, small part (8 of 651 real).
    """

    blur: float = 0.6
    halo: float = 5.3
    shade_off: float = 1.0
    inset: float = 0.0
    taper: float = 2.2
    elongation: float = 0.35
    ragged: float = 1.5
    texture: float = 0.03
    texture_slope: float = 2.0
    granules: float = 14.0
    vacuoles: float = 1.0
    granule_size: float = 0.6
    granule_phase: float = 2.0
    granule_bias: float = 0.5
    medium: float = 0.05
    contrast: float = 160.0
    contrast_spread: float = 0.5
    exposure: float = 14.0
    illumination: float = 3.0
    second_component: float = 8 / 651

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"PhaseContrast.{field.name} must be a number >= 0, "
                                 f"got {value!r}")
        if self.second_component > 1:
            raise ValueError(f"PhaseContrast.second_component is a chance in [0, 1], got "
                             f"{self.second_component!r}")
        if self.halo == 0 or self.taper == 0 or self.granule_size == 0:
            raise ValueError("PhaseContrast.halo, taper and granule_size must be > 0")


def _outline(rng, elongation, ragged):
    """Relative radius at each angle: an ellipse of random aspect and direction, made ragged.

    The raggedness varies from cell to cell (a log-normal scale), as real cells range from
    nearly oval to spread with lamellae and protrusions.
    """
    theta = np.arange(_N_ANGLES) * (2 * np.pi / _N_ANGLES)
    aspect = np.exp(abs(rng.normal(0.0, elongation))) if elongation > 0 else 1.0
    psi = rng.uniform(0, np.pi)
    ellipse = 1 / np.sqrt(aspect * np.cos(theta - psi) ** 2 + np.sin(theta - psi) ** 2 / aspect)
    scale = ragged * np.exp(rng.normal(0.0, _RAGGED_SPREAD))
    wobble = 0.10 * _fourier(rng, 8, 0.8, kmin=2) + 0.03 * _fourier(rng, 40, 0.6, kmin=9)
    return ellipse * np.exp(np.clip(scale * wobble, -0.9, 0.9))


def _blob_mask(size, cy, cx, area, margin, radius):
    """The blob ``radius`` (relative, per angle) at about ``area`` pixels, centroid at
    ``(cy, cx)``, shrunk until ``margin`` px off the border."""
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


def _power_law(rng, size, slope):
    """A zero-mean, unit-std random field whose power spectrum falls as frequency**-slope."""
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.rfftfreq(size), indexing="ij"))
    f[0, 0] = np.inf
    spectrum = np.fft.rfft2(rng.standard_normal((size, size))) * f ** (-slope / 2)
    field = np.fft.irfft2(spectrum, s=(size, size))
    return field / field.std()


def render_cell(rng, size, lut, optics):
    """One phase-contrast crop: returns ``(rgb uint8 (S,S,3), label bool (S,S))``."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter
    from scipy.ndimage import label as label_components

    s = size / 128.0
    cy, cx = size / 2 + np.clip(rng.normal(0.0, 2.5 * s, 2), -5.5 * s, 5.5 * s)
    frac = np.clip(rng.normal(0.28, 0.065), 0.15, 0.40)
    margin = max(2, int(3 * s))
    radius = _outline(rng, optics.elongation, optics.ragged)
    mask, ang = _blob_mask(size, cy, cx, frac * size * size, margin, radius)
    if rng.random() < optics.second_component:  # a small fragment beside the cell
        d_out = distance_transform_edt(~mask)
        r_small = rng.uniform(3.5, 6.0) * s
        for _ in range(20):
            py, px = rng.uniform(margin + r_small + 2, size - margin - r_small - 2, 2)
            if d_out[int(py), int(px)] > r_small * 1.6 + 3:
                small = _outline(rng, optics.elongation, optics.ragged)
                mask |= _blob_mask(size, py, px, np.pi * r_small**2, margin, small)[0]
                break
    d_in, d_out = distance_transform_edt(mask), distance_transform_edt(~mask)
    signed = np.where(mask, d_in - 0.5, 0.5 - d_out)  # px inside (+) or outside (-) the outline

    # The phase delay: the cell thickens from its edge, more steeply along some stretches of
    # it than others (so the halo comes in fragments), and organelles texture it.
    depth = np.maximum(signed - optics.inset * s, 0.0)
    ramp = 1 - np.exp(-depth / (optics.taper * s))
    steep = np.clip(1.0 + 0.5 * _fourier(rng, 10, 0.4), 0.15, 2.0)[ang]
    rim = np.exp(-depth / (2 * optics.taper * s))
    texture = _power_law(rng, size, optics.texture_slope)
    phase = ramp * (1 + (steep - 1) * rim) * (1 + optics.texture * texture)
    phase += optics.medium * _power_law(rng, size, 3.0)  # out-of-focus matter in the medium
    # Granules: vesicles that delay the light less than the cytoplasm around them (bright)
    # and denser ones (dark), sparse, so the interior's grey has long tails; a few are large.
    inner = depth > 2 * optics.taper * s
    ys, xs = np.nonzero(inner)
    for per_1000, width in ((optics.granules, optics.granule_size),
                            (optics.vacuoles, 3 * optics.granule_size)):
        n_spots = rng.poisson(per_1000 * ys.size / (1000 * s * s))
        if n_spots:
            spots = np.zeros((size, size))
            pick = rng.integers(0, ys.size, n_spots)
            np.add.at(spots, (ys[pick], xs[pick]), rng.normal(-optics.granule_bias, 1.0, n_spots))
            w = width * s
            phase += optics.granule_phase * 2 * np.pi * w * w * gaussian_filter(spots, w)
    for _ in range(rng.poisson(2.0)):  # debris: small phase particles that are not cells
        py, px = rng.uniform(0, size, 2)
        if d_out[int(py), int(px)] > 8 * s:
            r = rng.uniform(1.0, 2.5) * s
            yy, xx = np.ogrid[0:size, 0:size]
            phase += 0.6 * np.exp(-((yy + 0.5 - py) ** 2 + (xx + 0.5 - px) ** 2) / (2 * r * r))

    # Positive phase contrast: delay shows dark, minus the low-passed copy the ring passes.
    halo = gaussian_filter(phase, optics.halo * s, mode="reflect")
    spread = optics.contrast_spread  # cells differ in thickness: some faint, some contrasty
    gain = optics.contrast * np.exp(spread * rng.standard_normal() - spread**2 / 2)
    grey = gain * (optics.shade_off * halo - phase)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for fy, fx, phi in rng.uniform([-1.0, -1.0, 0.0], [1.0, 1.0, 2 * np.pi], (3, 3)):
        grey += optics.illumination * np.cos(2 * np.pi * (fy * yy + fx * xx) + phi)  # uneven
    if optics.blur > 0:
        grey = gaussian_filter(grey, optics.blur * s, mode="reflect")

    # The camera: the background at about viridis index 92 (as in the real crops), then
    # the interior lifted until its mean grey (as a student would measure it) is almost the
    # background's.
    grey += rng.normal(92.0, optics.exposure)
    core = mask * (1.0 - np.exp(-d_in / (4.0 * s)))
    target, lut_grey = rng.normal(1.0, 1.5), lut.mean(axis=1)

    def to_index(offset):
        return np.clip(grey + offset * core, 0, 255).round().astype(np.uint8)

    def error(offset):
        g = lut_grey[to_index(offset)]
        return g[mask].mean() - g[~mask].mean() - target

    x0, x1, e0, e1 = 0.0, 5.0, error(0.0), error(5.0)
    for _ in range(3):  # secant steps: the error is monotone and nearly linear in the offset
        if e1 == e0:
            break
        x0, x1, e0 = x1, x1 - e1 * (x1 - x0) / (e1 - e0), e1
        e1 = error(x1)
    # The drawn label: the outline moved out or in by a smooth offset along the rim, kept
    # clear of the border as the real masks are.
    offset = _fourier(rng, 16, 0.3)
    offset = np.clip(offset * (_LABEL_WANDER * s / offset.std()), 1 - margin, margin - 1)
    label = signed + offset[ang] > 0
    parts, n = label_components(label)
    if n > 1:  # a hand never draws islands of a few pixels (the outline's spikes leave them)
        sizes = np.bincount(parts.ravel())
        label = (sizes >= 12 * s * s)[parts] & label
    return lut[to_index(x1 if abs(e1) <= abs(e0) else x0)], label
