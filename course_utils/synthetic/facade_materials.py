"""How a synthetic facade's parts look: textures, walls, sky, windows and stone relief.

Colours are float32 RGB on a 0-255 scale; noise fields are smooth, of about unit spread.
"""

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

WALLS = [(205, 185, 150), (172, 96, 72), (208, 204, 194), (214, 184, 124), (163, 163, 158),
         (198, 160, 150), (150, 160, 142), (228, 222, 206), (120, 112, 104), (186, 140, 110)]
SHUTTERS = [(58, 96, 64), (112, 76, 48), (222, 220, 208), (118, 120, 126), (150, 64, 44),
            (60, 70, 90)]
VIVID = [(180, 30, 30), (30, 60, 150), (220, 190, 40), (40, 120, 60), (235, 235, 235),
         (20, 20, 24), (200, 110, 30)]
STONE = (5, 6, 9, 10, 11)  # cornice, sill, deco, molding, pillar: carved from stone or plaster


def noise(rng, h, w, cell):
    """Smooth noise of about unit spread with features of about ``cell`` px, shape (h, w)."""
    grid = rng.standard_normal((h // cell + 3, w // cell + 3)).astype(np.float32)
    big = Image.fromarray(grid).resize(((w // cell + 3) * cell, (h // cell + 3) * cell),
                                       Image.Resampling.BICUBIC)
    y0, x0 = rng.integers(0, cell, 2)
    return np.asarray(big)[y0 + cell : y0 + cell + h, x0 + cell : x0 + cell + w]


def fractal(rng, h, w, cells=(48, 12, 3), falloff=0.55):
    out = np.zeros((h, w), np.float32)
    for k, cell in enumerate(cells):
        out += falloff**k * noise(rng, h, w, cell)
    return out / np.sqrt(sum(falloff ** (2 * k) for k in range(len(cells))))


def building_style(rng):
    """The materials and colours of one building."""
    wall = np.asarray(WALLS[rng.integers(len(WALLS))], np.float32) + rng.normal(0, 14, 3)
    # Stone elements: often plaster in the wall's own colour, told apart by relief alone.
    same = rng.random() < 0.55
    stone = np.clip(wall + rng.uniform(-40, 45), 30, 250)
    if same:
        stone = wall * rng.uniform(0.93, 1.08)
    return {
        "wall": wall.astype(np.float32), "stone": stone.astype(np.float32),
        "material": rng.choice(["plaster", "plaster", "brick", "blocks"]),
        "brick": (int(rng.integers(4, 7)), int(rng.integers(10, 16))),
        "frame": np.asarray((232, 232, 226) if rng.random() < 0.6 else (95, 65, 45), np.float32),
        "shutter": np.asarray(SHUTTERS[rng.integers(len(SHUTTERS))], np.float32),
        "door": np.asarray((90, 60, 40), np.float32) * np.float32(rng.uniform(0.5, 1.5)),
        "sign": np.asarray(VIVID[rng.integers(len(VIVID))], np.float32),
        "arched": rng.random() < 0.25, "bars": int(rng.integers(0, 3)),
        "railing": rng.random() < 0.6,
    }


def paint_wall(rng, style, h, w):
    """The wall texture over the whole image: material, stains and rain streaks."""
    tone = 1.0 + 0.05 * fractal(rng, h, w)
    if style["material"] == "brick":
        bh, bw = style["brick"]
        yy, xx = np.ogrid[0:h, 0:w]
        course = yy // bh
        shifted = xx + (course % 2) * (bw // 2)
        brick = course * 7919 + shifted // bw
        tone = tone + rng.normal(0, 0.07, brick.max() + 1).astype(np.float32)[brick]
        mortar = (yy % bh == 0) | (shifted % bw == 0)
        tone = np.where(mortar, tone * 0.8 + 0.25, tone)
    elif style["material"] == "blocks":
        bh, bw = int(rng.integers(12, 22)), int(rng.integers(28, 60))
        yy, xx = np.ogrid[0:h, 0:w]
        joint = (yy % bh == 0) | ((xx + (yy // bh % 2) * (bw // 2)) % bw == 0)
        tone = np.where(joint, tone * 0.86, tone)
    streaks = np.asarray(Image.fromarray(rng.standard_normal((h // 60 + 2, w // 4 + 2)).astype(
        np.float32)).resize((w, h), Image.Resampling.BILINEAR))
    stains = np.clip(noise(rng, h, w, 40), 0, None)
    tone = tone * (1.0 - 0.05 * np.clip(streaks, 0, None) - 0.06 * stains)
    return style["wall"] * tone[..., None]


def paint_sky(rng, h, w):
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    blue = np.array([110, 150, 210], np.float32) + rng.normal(0, 12, 3).astype(np.float32)
    sky = blue + ys * (np.array([215, 220, 228], np.float32) - blue)
    clouds = np.clip(fractal(rng, h, w, (64, 16)) + rng.uniform(-0.8, 0.6), 0, None)
    return sky + (235 - sky) * np.clip(clouds, 0, 1)[..., None] * np.ones((1, w, 1), np.float32)


def relief(patch, cls, rng, bumps):
    """Light from above: a bright top edge and a dark bottom edge on stone elements.

    ``bumps`` is fine noise of the patch's size (a carved texture for ornaments)."""
    hh, ww = patch.shape[:2]
    yy = np.arange(hh, dtype=np.float32)[:, None, None]
    xx = np.arange(ww, dtype=np.float32)[None, :, None]
    if cls == 11:  # pillars: rounded, lit from one side, sometimes fluted
        shade = 0.82 + 0.3 * np.sin(np.pi * (xx + 0.5) / ww)
        if ww >= 8 and rng.random() < 0.5:
            shade = shade * (1 - 0.1 * (np.sin(xx * 1.6) > 0.6))
        return patch * shade
    top = 1.0 + 0.22 * np.exp(-yy / 1.2)
    bottom = 1.0 - 0.35 * np.exp(-(hh - 1 - yy) / 1.5)
    if cls == 9:  # ornament: a carved, bumpy texture
        return patch * top * bottom * (1 + 0.12 * bumps[..., None])
    if cls == 10:  # a frame: bevelled on all four sides
        side = 1.0 - 0.12 * np.exp(-(ww - 1 - xx) / 1.5) + 0.08 * np.exp(-xx / 1.5)
        return patch * top * bottom * side
    return patch * top * bottom


def paint_window(rng, style, hh, ww, sky, grain):
    """One window: frame, then glass showing a reflection, a curtain or a dark room.

    ``grain`` is smooth noise of shape (hh, ww): dirt and ripples on the glass."""
    yy = np.arange(hh, dtype=np.float32)[:, None, None]
    xx = np.arange(ww, dtype=np.float32)[None, :, None]
    kind = rng.choice(["reflection", "dark", "curtain", "curtain", "reflection"])
    if kind == "dark":
        glass = np.full((hh, ww, 3), rng.uniform(20, 60), np.float32)
    elif kind == "curtain":
        fold = np.sin(xx * rng.uniform(0.5, 1.1) + rng.uniform(0, 6))
        cloth = np.asarray(WALLS[rng.integers(len(WALLS))], np.float32) * rng.uniform(0.8, 1.1)
        glass = cloth * (0.85 + 0.12 * fold) * np.ones((hh, 1, 1), np.float32)
        if rng.random() < 0.5:  # drawn apart: dark gap in the middle
            gap = np.abs(xx - ww / 2) < ww * rng.uniform(0.05, 0.3)
            glass = np.where(gap, 35.0, glass)
    else:
        fade = np.exp(-yy / max(1.0, hh * rng.uniform(0.2, 0.6)))
        glass = 45.0 + (sky.mean() - 45.0) * rng.uniform(0.3, 0.9) * fade * np.ones((1, ww, 3))
        if rng.random() < 0.5:  # a reflected building across the street
            cut = int(hh * rng.uniform(0.2, 0.8))
            glass[cut:] = glass[cut:] * 0.5 + np.asarray(WALLS[rng.integers(len(WALLS))]) * 0.3
    glass = glass + 10 * grain[..., None]
    glass = glass * (1 - 0.4 * np.exp(-yy / 2.5)) * (1 - 0.3 * np.exp(-xx / 2.5))  # recess shadow
    f = int(rng.integers(1, 4))
    frame = (xx < f) | (xx >= ww - f) | (yy < f) | (yy >= hh - f)
    if style["bars"] >= 1:
        frame = frame | (np.abs(xx - ww // 2) < 1)
    if style["bars"] == 2:
        frame = frame | (np.abs(yy - hh // 3) < 1)
    return np.where(frame, style["frame"], glass)


def paint_element(cls, style, rng, patch, sky, grain):
    """Paint the rectangle ``patch`` (an (hh, ww, 3) view of the photo) as class ``cls``.

    ``grain`` maps a feature size in px (3, 6, 8) to smooth noise of the patch's size."""
    hh, ww = patch.shape[:2]
    yy = np.arange(hh, dtype=np.float32)[:, None, None]
    xx = np.arange(ww, dtype=np.float32)[None, :, None]
    if cls == 3:
        win = paint_window(rng, style, hh, ww, sky, grain[6])
        if style["arched"] and hh > ww:  # arch: the corners above it are still wall
            r = ww / 2
            outside = (yy < r) & ((xx + 0.5 - r) ** 2 + (yy + 0.5 - r) ** 2 > r * r)
            win = np.where(outside, patch, win)
        patch[:] = win
    elif cls == 12:  # shop window: goods behind glass, a sign band on top
        goods = gaussian_filter(rng.uniform(30, 200, (hh // 6 + 1, ww // 6 + 1, 3)), (0.6, 0.6, 0))
        goods = np.kron(goods, np.ones((6, 6, 1)))[:hh, :ww]
        glass = goods * rng.uniform(0.35, 0.8) + 40 * np.exp(-yy / max(1, hh / 3))
        band = yy < hh * rng.uniform(0.1, 0.25)
        sign = style["sign"] * (1 + 0.08 * grain[3][..., None])
        patch[:] = np.where(band, sign, np.where((xx < 2) | (xx >= ww - 2), 50.0, glass))
    elif cls == 8:  # shutters or a roller blind: slats
        period = rng.uniform(2.5, 4.5)
        patch[:] = style["shutter"] * (0.8 + 0.2 * (np.sin(yy * 2 * np.pi / period) > 0)) \
            * (1 + 0.05 * grain[8][..., None])
    elif cls == 7:  # balcony: a railing over what is behind, or a solid balustrade
        if style["railing"]:
            bars = (xx % rng.integers(4, 8) < 1.5) | (yy < 2) | (yy >= hh - 3)
            patch[:] = np.where(bars, np.float32(40), patch * 0.8)
        else:
            balusters = np.abs(np.sin(xx * np.pi / 5)) * 0.25 + 0.8
            patch[:] = relief(style["stone"] * balusters * np.ones((hh, 1, 1)), 5, rng, grain[3])
    elif cls == 4:
        glazed = rng.random() < 0.3  # glass doors look like shop windows
        base = paint_window(rng, style, hh, ww, sky, grain[6]) if glazed else \
            style["door"] * np.ones((hh, ww, 1), np.float32)
        panels = (np.abs(xx - ww // 2) < 1.5) | (yy % max(8, hh // 3) < 2)
        patch[:] = np.where(panels, base * 0.7, base) * (1 + 0.06 * grain[6][..., None])
    elif cls in STONE:
        stone = style["stone"] * (1 + 0.05 * grain[6][..., None])
        patch[:] = relief(stone, cls, rng, grain[3])
    else:  # facade: the wall texture is already there
        return


def jitter(rng, rect, w, h, spread):
    """The rectangle as painted: each side off its label by a pixel or a few."""
    cls, x0, y0, x1, y1 = rect
    d = np.round(rng.normal(0, spread, 4)).astype(int)
    x0, x1 = max(0, x0 + d[0]), min(w, x1 + d[1])
    y0, y1 = max(0, y0 + d[2]), min(h, y1 + d[3])
    return (cls, x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else rect
