"""A fingerprint of a ``phc_data`` folder: how its images look, in summary statistics only.

The definitions are those of the course's fingerprint tool (``shared/tools/cell_fingerprint.py``,
kept outside the repository), copied so that tests and benchmarks can compare the synthetic
twin with the real crops without any real pixel: ``REAL_PHC`` is the tool's output on the real
train split (151 crops). Statistics, on grey = the image's luminance (0..1):

- ``fg_fraction``: quantiles 10/50/90 % of the mask's foreground share
- ``grey_in`` / ``grey_out``: mean and std of grey inside / outside the mask
- ``edge_profile``: mean grey at signed distances -6..-1 and +1..+6 px from the mask's boundary
  (negative inside)
- ``grad_in`` / ``grad_out`` / ``grad_edge``: mean gradient magnitude (Sobel / 8) inside, outside,
  within 1 px of the boundary
- ``spectrum_slope_out`` / ``_in``: log-log slope of the radially averaged power spectrum of a
  24 x 24 background corner and a 16 x 16 patch at the interior's centre
- ``roughness``: quantiles 10/50/90 % of perimeter^2 / (4 pi area) of the mask (about 1: a disc)
- ``components``: share of masks with more than one component
- ``otsu_dice``: mean per-image Dice of the better-polarity Otsu threshold on grey
- ``rgb_in`` / ``rgb_out``: mean RGB (0..1) inside / outside
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["REAL_PHC", "compare", "fingerprint", "load_phc", "within_band"]

# The real train split's fingerprint (shared/tools/phc_real_fingerprint.json): statistics only.
REAL_PHC = {
    "n": 151, "fg_fraction": [0.212, 0.275, 0.336], "grey_in": [0.3837, 0.0974],
    "grey_out": [0.3702, 0.0349], "rgb_in": [0.203, 0.448, 0.525],
    "rgb_out": [0.182, 0.431, 0.552],
    "edge_profile": [0.3588, 0.3426, 0.3343, 0.3475, 0.3817, 0.4202,
                     0.4324, 0.423, 0.4127, 0.402, 0.3935, 0.387],
    "grad_in": 0.0276, "grad_out": 0.0039, "grad_edge": 0.0246,
    "spectrum_slope_out": -2.628, "spectrum_slope_in": -2.601,
    "roughness": [1.061, 1.226, 1.578], "components": 0.007, "otsu_dice": 0.415,
}

# The band a twin's statistic must fall in: within 15 % of the real value, each edge-profile
# point within 0.02 (issue 28). The share of two-part masks is a count: 15 % of the real 1 in 151
# is less than one mask, so its band is one mask either side.
RELATIVE_BAND = 0.15
PROFILE_BAND = 0.02
_LUMA = np.array([0.299, 0.587, 0.114])


def load_phc(root, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Read one split of a ``phc_data`` folder: RGB in 0..1 (N,H,W,3) and masks (N,H,W) bool."""
    from PIL import Image

    images, masks = [], []
    for path in sorted((Path(root) / split / "images").glob("img_*.jpg")):
        label = path.parent.parent / "labels" / f"label_{path.stem[4:]}.png"
        with Image.open(path) as im:
            images.append(np.asarray(im.convert("RGB"), dtype=np.float64) / 255)
        with Image.open(label) as im:
            masks.append(np.asarray(im.convert("L")) > 127)
    if not images:
        raise ValueError(f"no images in {Path(root) / split / 'images'}")
    return np.stack(images), np.stack(masks)


def _otsu(grey):
    hist, edges = np.histogram(grey, 256, (0, 1))
    p, centres = hist / hist.sum(), (edges[:-1] + edges[1:]) / 2
    w, m = np.cumsum(p), np.cumsum(p * centres)
    between = (m[-1] * w - m) ** 2 / np.maximum(w * (1 - w), 1e-12)
    return centres[np.argmax(between)]


def _dice(a, b):
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2 * (a & b).sum() / s


def _slope(patch):
    power = np.abs(np.fft.fftshift(np.fft.fft2(patch - patch.mean()))) ** 2
    h, w = power.shape
    y, x = np.indices(power.shape)
    r = np.hypot(y - h / 2, x - w / 2).astype(int)
    profile = np.bincount(r.ravel(), power.ravel()) / np.maximum(np.bincount(r.ravel()), 1)
    k = np.arange(2, min(h, w) // 2)
    return float(np.polyfit(np.log(k), np.log(profile[k] + 1e-12), 1)[0])


def fingerprint(images: np.ndarray, masks: np.ndarray) -> dict:
    """The fingerprint of RGB images (N,H,W,3, 0..1) and their masks (N,H,W bool)."""
    from scipy import ndimage

    if images.ndim != 4 or images.shape[-1] != 3 or masks.shape != images.shape[:3]:
        raise ValueError(f"expected images (N,H,W,3) and masks (N,H,W), got {images.shape} "
                         f"and {masks.shape}")
    grey = images @ _LUMA
    fp = {"n": len(images)}
    fp["fg_fraction"] = np.quantile(masks.mean((1, 2)), [0.1, 0.5, 0.9]).round(3).tolist()
    g_in, g_out = grey[masks], grey[~masks]
    fp["grey_in"] = [round(float(g_in.mean()), 4), round(float(g_in.std()), 4)]
    fp["grey_out"] = [round(float(g_out.mean()), 4), round(float(g_out.std()), 4)]
    fp["rgb_in"] = images[masks].mean(0).round(3).tolist()
    fp["rgb_out"] = images[~masks].mean(0).round(3).tolist()
    profile = {d: [] for d in (*range(-6, 0), *range(1, 7))}
    grad_in, grad_out, grad_edge, rough, otsu, slope_out, slope_in = [], [], [], [], [], [], []
    components = 0
    for g, m in zip(grey, masks, strict=True):
        sd = ndimage.distance_transform_edt(~m) - ndimage.distance_transform_edt(m)
        sdr = np.round(sd).astype(int)
        for d, values in profile.items():
            if (sel := sdr == d).any():
                values.append(g[sel].mean())
        gm = np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1)) / 8
        grad_in.append(gm[sd < -1].mean())
        grad_out.append(gm[sd > 1].mean())
        grad_edge.append(gm[np.abs(sd) <= 1].mean())
        components += ndimage.label(m)[1] > 1
        perimeter = (m ^ ndimage.binary_erosion(m)).sum()
        rough.append(perimeter**2 / (4 * np.pi * max(m.sum(), 1)))
        t = _otsu(g)
        otsu.append(max(_dice(g > t, m), _dice(g <= t, m)))
        slope_out.append(_slope(g[:24, :24]))
        ys, xs = np.nonzero(ndimage.binary_erosion(m, iterations=3))
        if len(ys):
            cy, cx = int(ys.mean()), int(xs.mean())
            patch = g[max(cy - 8, 0):cy + 8, max(cx - 8, 0):cx + 8]
            if patch.shape == (16, 16):
                slope_in.append(_slope(patch))
    fp["edge_profile"] = [round(float(np.mean(profile[d])), 4) for d in sorted(profile)]
    for key, values in (("grad_in", grad_in), ("grad_out", grad_out), ("grad_edge", grad_edge)):
        fp[key] = round(float(np.mean(values)), 4)
    fp["spectrum_slope_out"] = round(float(np.median(slope_out)), 3)
    fp["spectrum_slope_in"] = round(float(np.median(slope_in)), 3) if slope_in else None
    fp["roughness"] = np.quantile(rough, [0.1, 0.5, 0.9]).round(3).tolist()
    fp["components"] = round(components / len(masks), 3)
    fp["otsu_dice"] = round(float(np.mean(otsu)), 3)
    return fp


def within_band(key: str, real, twin, n: int = REAL_PHC["n"]) -> bool:
    """Whether the twin's statistic ``key`` lies in the band around the real value."""
    real, twin = np.atleast_1d(np.asarray(real, float)), np.atleast_1d(np.asarray(twin, float))
    if key == "edge_profile":
        return bool(np.all(np.abs(twin - real) <= PROFILE_BAND + 1e-9))
    if key == "components":  # rounded to 3 decimals, as the tool writes it
        return bool(np.all(np.abs(twin - real) <= 1 / n + 5e-4))
    return bool(np.all(np.abs(twin - real) <= RELATIVE_BAND * np.abs(real) + 1e-9))


def compare(real: dict, twin: dict) -> list[str]:
    """Rows of a Markdown table: each statistic, real and twin, the largest gap (absolute, and
    relative to the real value element by element), inside its band or not."""
    rows = ["| statistic | real | twin | largest gap | in band |", "|---|---|---|---|---|"]
    for key, value in real.items():
        if key == "n":
            continue
        a = np.atleast_1d(np.asarray(value, float))
        b = np.atleast_1d(np.asarray(twin[key], float))
        gap = np.abs(a - b)
        relative = (gap / np.maximum(np.abs(a), 1e-6)).max()
        rows.append(f"| {key} | {_show(value)} | {_show(twin[key])} | "
                    f"{gap.max():.3g} ({100 * relative:.0f} %) | "
                    f"{'yes' if within_band(key, value, twin[key]) else 'NO'} |")
    return rows


def _show(value) -> str:
    if isinstance(value, list):
        return " ".join(f"{v:g}" for v in value)
    return f"{value:g}"
