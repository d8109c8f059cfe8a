"""Synthetic twins of the course datasets in the real datasets' exact layouts (no real pixels).

``make_synthetic_phc`` paints phase-contrast-like cells through viridis. As in the real crops,
a cell is *not* brighter or darker than its surroundings on average: a dark ragged rim, bright
halo fragments and a textured interior tell it apart, so a global threshold fails while a
small CNN succeeds. ``make_synthetic_facade`` builds facades from rectangles like the CMP
Facade base set. Both are deterministic: the same arguments write the same bytes.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from course_utils.facade_classes import FACADE_CLASSES, FACADE_PALETTE


def _check_int(name, value, low, high):
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or not low <= value <= high:
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


# Bump whenever the generated files change: cached twins live in a folder named after it,
# so a changed generator never meets a twin made by an older one.
TWIN_VERSION = 2
_N_ANGLES = 1024


def _fourier(rng, kmax, decay, first=1.0):
    """A random smooth periodic function at ``_N_ANGLES`` angles; harmonic k scaled by k**-decay."""
    amplitude = rng.standard_normal(kmax) / np.arange(1, kmax + 1) ** decay
    amplitude[0] *= first
    coeffs = np.zeros(_N_ANGLES // 2 + 1, dtype=complex)
    coeffs[1 : kmax + 1] = amplitude * np.exp(2j * np.pi * rng.random(kmax))
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
    return lut[to_index(x1 if abs(e1) <= abs(e0) else x0)], mask


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

    lut = matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3]
    lut = (lut * 255).round().astype(np.uint8)
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


_WALLS = [(205, 185, 150), (172, 96, 72), (208, 204, 194), (214, 184, 124), (163, 163, 158),
          (198, 160, 150), (150, 160, 142), (228, 222, 206)]
_SHUTTERS = [(58, 96, 64), (112, 76, 48), (222, 220, 208), (118, 120, 126), (150, 64, 44)]
_SIGNS = [(180, 30, 30), (30, 60, 150), (220, 190, 40), (40, 120, 60), (235, 235, 235)]


def _facade_layout(rng, w, h):
    """Rectangles ``(class_id, x0, y0, x1, y1)`` of one facade, in painting order."""
    rects = []

    def add(cls, x0, y0, x1, y1):
        box = int(max(0, x0)), int(max(0, y0)), int(min(w, x1)), int(min(h, y1))
        if box[2] > box[0] and box[3] > box[1]:
            rects.append((cls, *box))

    fx0, fx1 = (rng.uniform(0.02, 0.12, 2) * w * (rng.random(2) < 0.6)).astype(int)
    fx1 = w - fx1  # margins of neighbouring buildings or sky, on some facades
    top, ground = rng.uniform(0.04, 0.16) * h, h * (1 - rng.uniform(0.18, 0.27))
    ch, sill = max(4.0, rng.uniform(0.015, 0.035) * h), rng.uniform(3, 6)
    pil = rng.uniform(0.025, 0.05) * (fx1 - fx0) * (rng.random() < 0.5)
    n_floors, n_cols = rng.integers(3, 6), rng.integers(2, 6)
    bay = (fx1 - fx0 - 2 * pil) / n_cols
    fh = (ground - top - 2 * ch) / n_floors
    ww, wh = bay * rng.uniform(0.38, 0.58), fh * rng.uniform(0.5, 0.66)
    mold = int(rng.integers(2, 6)) * (rng.random() < 0.7)
    deco, blinds, shutters, bands = rng.random(4) < (0.5, 0.55, 0.5, 0.4)
    xs = fx0 + pil + bay * (np.arange(n_cols) + 0.5)

    add(2, fx0, top, fx1, h)
    add(5, fx0 - 4, top, fx1 + 4, top + ch)
    add(5, fx0, ground - ch, fx1, ground)
    for x in (fx0, fx1 - pil) if pil else ():  # pilasters at the sides
        add(11, x, top + ch, x + pil, ground - ch)
    for f in range(n_floors):
        y0, y1 = top + ch + (f + 0.22) * fh, top + ch + (f + 0.22) * fh + wh
        if bands and f > 0:
            add(5, fx0 + pil, top + ch + f * fh - 2, fx1 - pil, top + ch + f * fh + 3)
        for x0, x1 in zip(xs - ww / 2, xs + ww / 2, strict=True):
            if mold:
                add(10, x0 - mold, y0 - mold, x1 + mold, y1 + mold)
            if deco:
                add(9, x0 + ww * 0.15, y0 - mold - max(3, 0.09 * fh), x1 - ww * 0.15, y0 - mold)
            add(3, x0, y0, x1, y1)
            if blinds and rng.random() < 0.45:  # open shutters beside, or a blind inside
                if shutters:
                    add(8, x0 - ww * 0.45, y0, x0, y1)
                    add(8, x1, y0, x1 + ww * 0.45, y1)
                else:
                    add(8, x0, y0, x1, y0 + wh * rng.uniform(0.25, 1.0))
            add(6, x0 - mold - 3, y1 + mold, x1 + mold + 3, y1 + mold + sill)
        if f > 0 and rng.random() < 0.3:  # a balcony across the floor or one per window
            by0, by1 = y0 + wh * 0.7, y1 + mold + sill + 2
            across = rng.random() < 0.5
            for xc in [(fx0 + fx1) / 2] if across else xs:
                half = (fx1 - fx0) / 2 - pil - 4 if across else ww * 0.7
                add(7, xc - half, by0, xc + half, by1)
    gh, door, shop = h - ground, rng.integers(n_cols), rng.random() < 0.75
    for i, xc in enumerate(xs):
        if i == door:
            dw = min(bay * 0.7, ww * rng.uniform(1.0, 1.4))
            if mold:
                add(10, xc - dw / 2 - mold, ground + gh * 0.15 - mold, xc + dw / 2 + mold, h)
            add(4, xc - dw / 2, ground + gh * 0.15, xc + dw / 2, h)
        elif shop:
            add(12, xc - bay * 0.45, ground + gh * 0.08, xc + bay * 0.45, h - gh * 0.06)
        else:
            add(3, xc - ww / 2, ground + gh * 0.2, xc + ww / 2, ground + gh * 0.75)
            add(6, xc - ww / 2 - 3, ground + gh * 0.75, xc + ww / 2 + 3, ground + gh * 0.75 + sill)
    if shop:  # pillars between the shop windows
        pw = max(3.0, min(bay * 0.1, 0.04 * w))
        for x in fx0 + pil + bay * np.arange(n_cols + 1):
            add(11, x - pw / 2, ground, x + pw / 2, h)
    return rects


def _paint(cls, style, rng, hh, ww):
    """Pixels ``(hh, ww, 3)`` of one rectangle of class ``cls`` in a building's ``style``."""
    yy, xx = np.arange(hh)[:, None, None], np.arange(ww)[None, :, None]
    base = style[cls]
    if cls == 2 and style["brick"]:
        bh, bw = style["brick"]
        shift = (yy // bh % 2) * (bw // 2)
        jitter = 12.0 * np.sin(yy // bh * 12.9898 + (xx + shift) // bw * 78.233)  # per-brick tone
        return np.where((yy % bh == 0) | ((xx + shift) % bw == 0), base * 0.7 + 60.0, base + jitter)
    if cls in (3, 12):  # glass: a sky reflection fading downwards, inside a frame
        px = base + 45.0 * rng.uniform(0.2, 1.0) * np.exp(-yy / max(1.0, hh / 3))
        frame = (xx < 2) | (xx >= ww - 2) | (yy < 2) | (yy >= hh - 2)
        if cls == 3:
            frame |= (abs(xx - ww // 2) < 1) | (abs(yy - hh // 3) < 1)
            return np.where(frame, style["frame"], px)
        return np.where(frame, 55.0, np.where(yy < hh * 0.18, style["sign"], px))
    if cls == 8:
        return base * (0.82 + 0.18 * (np.sin(yy * 2.1) if style["slats"] else xx % 4 < 2))
    if cls == 7:
        return np.where((xx % 6 < 2) | (yy < 3), base, style[2] * 0.55)
    if cls == 4:
        return np.where((abs(xx - ww // 2) < 2) | (yy % max(8, hh // 3) < 2), base * 0.7, base)
    if cls in (5, 6):
        return base * (1.12 - 0.35 * yy / max(1, hh))
    if cls == 11:
        return base * (0.85 + 0.25 * np.sin(np.pi * (xx + 0.5) / ww))
    if cls == 9:
        return base * (1.1 - 0.4 * np.hypot((yy - hh / 2) / hh, (xx - ww / 2) / ww))
    return np.broadcast_to(base, (hh, ww, 3))


def _render_facade(rng, w, h):
    """One facade: returns ``(photo uint8 (H,W,3), label uint8 (H,W) of ids 1..12, rects)``."""
    wall = np.asarray(_WALLS[rng.integers(len(_WALLS))]) + rng.normal(0, 12, 3)
    stone = np.clip(wall + rng.uniform(25, 50), 0, 255)
    glass = np.array([40, 52, 70]) + rng.normal(0, 8, 3)
    style = {
        2: wall, 3: glass, 4: np.array([90, 60, 40]) * rng.uniform(0.6, 1.3), 5: stone,
        6: stone * rng.uniform(0.95, 1.05), 7: (35, 35, 38) if rng.random() < 0.7 else stone,
        8: np.asarray(_SHUTTERS[rng.integers(len(_SHUTTERS))]) + rng.normal(0, 8, 3),
        9: stone * 1.05, 10: np.clip(stone * rng.uniform(0.92, 1.08), 0, 255),
        11: stone * rng.uniform(0.9, 1.0), 12: glass * 0.8,
        "brick": (rng.integers(4, 7), rng.integers(10, 16)) if rng.random() < 0.35 else None,
        "frame": (230, 230, 225) if rng.random() < 0.6 else (95, 65, 45),
        "sign": _SIGNS[rng.integers(len(_SIGNS))], "slats": rng.random() < 0.6,
    }
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    sky = np.array([120, 160, 215]) + rng.normal(0, 10, 3)
    photo = (sky + ys * (np.array([215, 220, 228]) - sky)) * np.ones((h, w, 1), np.float32)
    label = np.ones((h, w), dtype=np.uint8)
    rects = _facade_layout(rng, w, h)
    _, fx0, fy0, fx1, _ = rects[0]
    for x0, x1 in ((0, fx0), (fx1, w)):  # neighbouring buildings, still background
        y0 = int(fy0 * rng.uniform(0.5, 3.0))
        tone = np.asarray(_WALLS[rng.integers(len(_WALLS))]) * (0.8 if rng.random() < 0.6 else 0.5)
        photo[y0:, x0:x1] = tone + 14.0 * rng.standard_normal((h - y0, x1 - x0, 3), np.float32)
    for cls, x0, y0, x1, y1 in rects:
        label[y0:y1, x0:x1] = cls
        photo[y0:y1, x0:x1] = _paint(cls, style, rng, y1 - y0, x1 - x0)
    for cls, x0, _, x1, y1 in rects:
        if cls in (5, 6, 9):  # cast shadows below ledges
            photo[y1 : y1 + 3, x0:x1] *= 0.75
    coarse = Image.fromarray(rng.standard_normal((h // 24 + 2, w // 24 + 2)).astype(np.float32))
    stains = np.asarray(coarse.resize((w + 48, h + 48), Image.Resampling.BILINEAR))[24:-24, 24:-24]
    photo *= (1.0 + (0.03 + 0.05 * (label == 2)) * stains)[..., None]  # weathering, mostly walls
    gy, gx = rng.uniform(-0.15, 0.15, 2)
    photo *= 1.0 + gy * (ys - 0.5) + gx * np.linspace(-0.5, 0.5, w, dtype=np.float32)[:, None]
    photo += 6.0 * rng.standard_normal(photo.shape, np.float32)
    return np.clip(photo, 0, 255).round().astype(np.uint8), label, rects


def _annotation_xml(rects, w, h):
    """A CMP-style rectangle annotation with coordinates normalised to 0..1."""
    lines = ["<annotation>"]
    for cls, x0, y0, x1, y1 in rects:
        points = [f"<x>{x0 / w:.4f}</x>", f"<x>{x1 / w:.4f}</x>", f"<y>{y0 / h:.4f}</y>",
                  f"<y>{y1 / h:.4f}</y>"]
        lines += ["<object>", "<points>", *points, "</points>", f"<label>{cls}</label>",
                  f"<labelname>{FACADE_CLASSES[cls - 1]}</labelname>", "</object>"]
    return "\n".join(lines + ["</annotation>", ""])


def make_synthetic_facade(root, n_images=378, seed=0):
    """Write a synthetic twin of the CMP Facade base set in its exact layout.

    Writes ``root/base/cmp_bNNNN.jpg`` (RGB photo), ``cmp_bNNNN.png`` (8-bit palette PNG of
    class ids 1..12 with the CMP palette) and ``cmp_bNNNN.xml`` (the painted rectangles,
    later ones painted over earlier ones), numbered from 0001. Sizes vary per image
    (width 256-448, height 320-640, portrait); ground-floor classes (door, shop) sit in the
    bottom 30% of the image.

    Args:
        root: folder to write into; created if missing.
        n_images: number of facades (1..9999); the real base set has 378.
        seed: non-negative integer; the same seed writes the same bytes.

    Returns:
        The root folder as a ``Path``.

    Raises:
        ValueError: on a bad argument, or if ``root/base`` already holds files.
    """
    _check_int("n_images", n_images, 1, 9999)
    _check_int("seed", seed, 0, 2**63 - 1)
    root = _prepare(root, ["base"])
    palette = [0, 0, 0] + [v for rgb in FACADE_PALETTE for v in rgb]
    palette += [0] * (768 - len(palette))
    for i in range(1, n_images + 1):
        rng = np.random.default_rng([seed, i])
        w = int(rng.integers(256, 449))
        h = int(np.clip(w * rng.uniform(1.15, 1.7), 320, 640))
        photo, label, rects = _render_facade(rng, w, h)
        stem = root / "base" / f"cmp_b{i:04d}"
        Image.fromarray(photo).save(stem.with_suffix(".jpg"), quality=90)
        png = Image.fromarray(label)
        png.putpalette(palette)
        png.save(stem.with_suffix(".png"))
        stem.with_suffix(".xml").write_text(_annotation_xml(rects, w, h))
    return root
