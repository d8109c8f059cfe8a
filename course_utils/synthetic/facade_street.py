"""Around a synthetic facade and its photograph: neighbouring buildings, the roof, things in
front (which the label ignores), then shadow, light, rectification residue, blur and noise."""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from course_utils.synthetic.facade_materials import (
    VIVID,
    building_style,
    fractal,
    noise,
    paint_wall,
    paint_window,
)


def add_neighbours(rng, photo, rects, w, h, grain):
    """Buildings left and right of the facade: walls with windows, labelled background."""
    _, fx0, fy0, fx1, _ = rects[0]
    for x0, x1 in ((0, fx0), (fx1, w)):
        if x1 - x0 < 2:
            continue
        y0 = int(fy0 * rng.uniform(0.3, 2.5))
        other = building_style(rng)
        part = paint_wall(rng, other, h - y0, x1 - x0) * rng.uniform(0.55, 1.0)
        step, size = rng.uniform(40, 70), rng.uniform(0.4, 0.6)
        for wy in np.arange(rng.uniform(5, 30), h - y0 - 20, step):
            for wx in np.arange(rng.uniform(-20, 10), x1 - x0, step * 0.8):
                a, b = int(max(0, wx)), int(min(x1 - x0, wx + step * size))
                c, d = int(wy), int(min(wy + step * size * 1.3, h - y0))
                if b - a > 2 and d - c > 2:
                    part[c:d, a:b] = paint_window(rng, other, d - c, b - a, part,
                                                  grain[y0 + c : y0 + d, x0 + a : x0 + b])
        photo[y0:, x0:x1] = part


def add_roof(rng, photo, rects, w):
    """A roof above the facade on some buildings: tiles and chimneys, labelled background."""
    _, fx0, fy0, fx1, _ = rects[0]
    if fy0 < 8 or rng.random() < 0.4:
        return
    rh = int(fy0 * rng.uniform(0.4, 0.9))
    yy, xx = np.mgrid[0:rh, 0 : fx1 - fx0].astype(np.float32)
    tiles = 0.85 + 0.15 * ((yy % 5 < 1) | ((xx + (yy // 5 % 2) * 4) % 8 < 1))
    colour = np.asarray((150, 70, 50) if rng.random() < 0.6 else (70, 72, 80), np.float32)
    photo[fy0 - rh : fy0, fx0:fx1] = colour * tiles[..., None] * rng.uniform(0.7, 1.1)
    for _ in range(rng.integers(0, 3)):  # chimneys
        cx, cw = rng.uniform(fx0, fx1 - 10), rng.uniform(6, 14)
        top = max(0, fy0 - rh - int(rng.uniform(5, 20)))
        photo[top : fy0 - rh // 2, int(cx) : int(cx + cw)] = colour * 0.8 + 30


def add_occluders(rng, photo, h, w, ground):
    """Trees, cars, people, posts and cables in front of the facade; the label ignores them."""
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.binomial(3, 0.3)):  # trees: a noisy canopy on a trunk
        cx, cw = rng.uniform(0, w), rng.uniform(0.2, 0.5) * w
        cy, chh = rng.uniform(ground - 0.35 * h, ground), rng.uniform(0.2, 0.4) * h
        y0, y1 = int(max(0, cy - chh / 2)), int(min(h, cy + chh / 2))
        x0, x1 = int(max(0, cx - cw / 2)), int(min(w, cx + cw / 2))
        if y1 - y0 < 4 or x1 - x0 < 4:
            continue
        draw.rectangle([cx - cw * 0.04, cy, cx + cw * 0.04, h], fill=(70, 55, 40))
        yy, xx = np.mgrid[y0:y1, x0:x1]
        inside = ((yy - cy) / (chh / 2)) ** 2 + ((xx - cx) / (cw / 2)) ** 2
        leaves = inside + 0.35 * fractal(rng, y1 - y0, x1 - x0, (12, 4)) < 1.0
        green = np.array([60, 95, 45]) * rng.uniform(0.6, 1.2)
        region = np.asarray(image)[y0:y1, x0:x1].astype(np.float32)
        shade = green * (0.75 + 0.4 * (noise(rng, y1 - y0, x1 - x0, 3)[..., None] > 0))
        region = np.where(leaves[..., None], shade, region)
        image.paste(Image.fromarray(np.clip(region, 0, 255).astype(np.uint8)), (x0, y0))
        draw = ImageDraw.Draw(image)
    for _ in range(rng.binomial(2, 0.5)):  # cars along the street
        cw, chh = rng.uniform(0.3, 0.6) * w, rng.uniform(0.07, 0.12) * h
        x0, y1 = rng.uniform(-0.2 * w, w - 0.2 * cw), h - rng.uniform(0, 0.02) * h
        colour = tuple(int(v) for v in rng.uniform(20, 220, 3))
        draw.rounded_rectangle([x0, y1 - chh * 0.6, x0 + cw, y1 - chh * 0.12], 6, fill=colour)
        draw.rounded_rectangle([x0 + cw * 0.2, y1 - chh, x0 + cw * 0.75, y1 - chh * 0.55], 5,
                               fill=tuple(int(v * 0.6) for v in colour))
        draw.polygon([(x0 + cw * 0.27, y1 - chh * 0.93), (x0 + cw * 0.68, y1 - chh * 0.93),
                      (x0 + cw * 0.7, y1 - chh * 0.6), (x0 + cw * 0.25, y1 - chh * 0.6)],
                     fill=(40, 50, 60))
        for fx in (0.2, 0.8):
            r = chh * 0.2
            draw.ellipse([x0 + cw * fx - r, y1 - 2 * r, x0 + cw * fx + r, y1], fill=(20, 20, 20))
    for _ in range(rng.poisson(1.5)):  # people
        px, ph = rng.uniform(0, w), rng.uniform(0.08, 0.14) * h
        pw, y1 = ph * 0.28, h - rng.uniform(0, 0.03) * h
        coat = tuple(int(v) for v in rng.uniform(15, 200, 3))
        draw.rounded_rectangle([px - pw / 2, y1 - ph * 0.85, px + pw / 2, y1], 4, fill=coat)
        draw.ellipse([px - pw * 0.3, y1 - ph, px + pw * 0.3, y1 - ph * 0.82], fill=(200, 160, 130))
    for _ in range(rng.binomial(2, 0.35)):  # posts with a sign or a lamp
        px, top = rng.uniform(0, w), rng.uniform(0.55, 0.8) * h
        draw.rectangle([px - 1.5, top, px + 1.5, h], fill=(50, 52, 55))
        s = rng.uniform(8, 22)
        colour = tuple(int(v) for v in VIVID[rng.integers(len(VIVID))])
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([px - s / 2, top - s, px + s / 2, top], fill=colour, outline=(240, 240, 240))
    if rng.random() < 0.25:  # cables across the street
        y = rng.uniform(0.3, 0.7) * h
        xs = np.linspace(0, w, 24)
        sag = y + rng.uniform(5, 30) * (1 - ((xs - w / 2) / (w / 2)) ** 2)
        draw.line(list(zip(xs, sag, strict=True)), fill=(30, 30, 30), width=1)
    return np.asarray(image).astype(np.float32)


def photograph(rng, photo, h, w):
    """Shadow, light, a slight rectification residue, blur and sensor noise."""
    yy, xx = np.ogrid[0:h, 0:w]
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    factor, colour = np.float32(1.0), np.ones(3, np.float32)
    if rng.random() < 0.5:  # a cast shadow from across the street, a soft-edged half-plane
        angle, offset = rng.uniform(-1.2, 1.2), rng.uniform(0.3, 0.9)
        side = (yy / h - offset) * np.cos(angle) + (xx / w - 0.5) * np.sin(angle)
        dark = rng.uniform(0.45, 0.75)
        factor = 1 - (1 - dark) / (1 + np.exp(-side * 120))
        colour = np.array([0.96, 0.98, 1.04], np.float32)
    gy, gx = rng.uniform(-0.2, 0.2, 2)
    light = rng.uniform(0.7, 1.2) * (1 + gy * (yy / h - 0.5) + gx * (xx / w - 0.5))
    light *= 1 - 0.25 * ((yy / h - 0.5) ** 2 + (xx / w - 0.5) ** 2)  # vignetting
    photo *= (factor * light)[..., None]
    photo *= colour * (1 + rng.normal(0, 0.05, 3)).astype(np.float32)
    # Rectification residue: a slight rotation, shear and keystone, a few px at the corners.
    pad = 8
    pixels = np.clip(photo, 0, 255, out=photo).round(out=photo).astype(np.uint8)
    padded = np.pad(pixels, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    turn, shear = rng.normal(0, 0.006, 2)
    cx, cy = w / 2 + pad, h / 2 + pad
    g, k = rng.normal(0, 1.5e-5, 2)
    coeffs = (1.0, turn + shear, -(turn + shear) * cy, -turn, 1.0, turn * cx, g, k)
    image = Image.fromarray(padded).transform(
        padded.shape[1::-1], Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR)
    image = image.crop((pad, pad, pad + w, pad + h))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    photo = np.asarray(image).astype(np.float32)
    sigma = rng.uniform(2, 7)  # sensor noise, uniform with that spread (cheaper than normal)
    photo += (rng.random(photo.shape, dtype=np.float32) - 0.5) * np.float32(sigma * 12**0.5)
    return np.clip(photo, 0, 255, out=photo).round(out=photo).astype(np.uint8)
