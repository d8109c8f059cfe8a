"""The synthetic twin of the CMP Facade base set: rectified street photographs, rendered.

The labels are the rectangles of a facade layout (``_layout``), as CMP's annotators drew
them. The photo is rendered from the same layout but looks photographed: textured, stained
walls; stone elements often in the wall's own colour, told apart only by relief shading;
every window different (reflections, curtains, dark rooms, arches, glazing bars); cast
shadows; neighbouring buildings, roofs and clouds (all labelled background); and trees, cars,
people and sign posts in front of the ground floors that the labels ignore. Every painted
element is jittered against its label rectangle, and the whole photo is slightly warped
(rectification residue), blurred, noisy and JPEG-compressed.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy.ndimage import gaussian_filter

from course_utils.facade_classes import FACADE_CLASSES, FACADE_PALETTE
from course_utils.synthetic.common import check_int, prepare

_WALLS = [(205, 185, 150), (172, 96, 72), (208, 204, 194), (214, 184, 124), (163, 163, 158),
          (198, 160, 150), (150, 160, 142), (228, 222, 206), (120, 112, 104), (186, 140, 110)]
_SHUTTERS = [(58, 96, 64), (112, 76, 48), (222, 220, 208), (118, 120, 126), (150, 64, 44),
             (60, 70, 90)]
_VIVID = [(180, 30, 30), (30, 60, 150), (220, 190, 40), (40, 120, 60), (235, 235, 235),
          (20, 20, 24), (200, 110, 30)]
_STONE = (5, 6, 9, 10, 11)  # cornice, sill, deco, molding, pillar: carved from stone or plaster


def _noise(rng, h, w, cell):
    """Smooth noise of about unit spread with features of about ``cell`` px, shape (h, w)."""
    grid = rng.standard_normal((h // cell + 3, w // cell + 3)).astype(np.float32)
    big = Image.fromarray(grid).resize(((w // cell + 3) * cell, (h // cell + 3) * cell),
                                       Image.Resampling.BICUBIC)
    y0, x0 = rng.integers(0, cell, 2)
    return np.asarray(big)[y0 + cell : y0 + cell + h, x0 + cell : x0 + cell + w]


def _fractal(rng, h, w, cells=(48, 12, 3), falloff=0.55):
    out = np.zeros((h, w), np.float32)
    for k, cell in enumerate(cells):
        out += falloff**k * _noise(rng, h, w, cell)
    return out / np.sqrt(sum(falloff ** (2 * k) for k in range(len(cells))))


def _layout(rng, w, h):
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


def _style(rng):
    """The materials and colours of one building."""
    wall = np.asarray(_WALLS[rng.integers(len(_WALLS))], np.float32) + rng.normal(0, 14, 3)
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
        "shutter": np.asarray(_SHUTTERS[rng.integers(len(_SHUTTERS))], np.float32),
        "door": np.asarray((90, 60, 40), np.float32) * np.float32(rng.uniform(0.5, 1.5)),
        "sign": np.asarray(_VIVID[rng.integers(len(_VIVID))], np.float32),
        "arched": rng.random() < 0.25, "bars": int(rng.integers(0, 3)),
        "railing": rng.random() < 0.6,
    }


def _wall(rng, style, h, w):
    """The wall texture over the whole image: material, stains and rain streaks."""
    tone = 1.0 + 0.05 * _fractal(rng, h, w)
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
    stains = np.clip(_noise(rng, h, w, 40), 0, None)
    tone = tone * (1.0 - 0.05 * np.clip(streaks, 0, None) - 0.06 * stains)
    return style["wall"] * tone[..., None]


def _sky(rng, h, w):
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    blue = np.array([110, 150, 210], np.float32) + rng.normal(0, 12, 3).astype(np.float32)
    sky = blue + ys * (np.array([215, 220, 228], np.float32) - blue)
    clouds = np.clip(_fractal(rng, h, w, (64, 16)) + rng.uniform(-0.8, 0.6), 0, None)
    return sky + (235 - sky) * np.clip(clouds, 0, 1)[..., None] * np.ones((1, w, 1), np.float32)


def _relief(patch, cls, rng, bumps):
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


def _window(rng, style, hh, ww, sky, grain):
    """One window: frame, then glass showing a reflection, a curtain or a dark room.

    ``grain`` is smooth noise of shape (hh, ww): dirt and ripples on the glass."""
    yy = np.arange(hh, dtype=np.float32)[:, None, None]
    xx = np.arange(ww, dtype=np.float32)[None, :, None]
    kind = rng.choice(["reflection", "dark", "curtain", "curtain", "reflection"])
    if kind == "dark":
        glass = np.full((hh, ww, 3), rng.uniform(20, 60), np.float32)
    elif kind == "curtain":
        fold = np.sin(xx * rng.uniform(0.5, 1.1) + rng.uniform(0, 6))
        cloth = np.asarray(_WALLS[rng.integers(len(_WALLS))], np.float32) * rng.uniform(0.8, 1.1)
        glass = cloth * (0.85 + 0.12 * fold) * np.ones((hh, 1, 1), np.float32)
        if rng.random() < 0.5:  # drawn apart: dark gap in the middle
            gap = np.abs(xx - ww / 2) < ww * rng.uniform(0.05, 0.3)
            glass = np.where(gap, 35.0, glass)
    else:
        fade = np.exp(-yy / max(1.0, hh * rng.uniform(0.2, 0.6)))
        glass = 45.0 + (sky.mean() - 45.0) * rng.uniform(0.3, 0.9) * fade * np.ones((1, ww, 3))
        if rng.random() < 0.5:  # a reflected building across the street
            cut = int(hh * rng.uniform(0.2, 0.8))
            glass[cut:] = glass[cut:] * 0.5 + np.asarray(_WALLS[rng.integers(len(_WALLS))]) * 0.3
    glass = glass + 10 * grain[..., None]
    glass = glass * (1 - 0.4 * np.exp(-yy / 2.5)) * (1 - 0.3 * np.exp(-xx / 2.5))  # recess shadow
    f = int(rng.integers(1, 4))
    frame = (xx < f) | (xx >= ww - f) | (yy < f) | (yy >= hh - f)
    if style["bars"] >= 1:
        frame = frame | (np.abs(xx - ww // 2) < 1)
    if style["bars"] == 2:
        frame = frame | (np.abs(yy - hh // 3) < 1)
    return np.where(frame, style["frame"], glass)


def _paint(cls, style, rng, patch, sky, grain):
    """Paint the rectangle ``patch`` (an (hh, ww, 3) view of the photo) as class ``cls``.

    ``grain`` maps a feature size in px (3, 6, 8) to smooth noise of the patch's size."""
    hh, ww = patch.shape[:2]
    yy = np.arange(hh, dtype=np.float32)[:, None, None]
    xx = np.arange(ww, dtype=np.float32)[None, :, None]
    if cls == 3:
        win = _window(rng, style, hh, ww, sky, grain[6])
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
            patch[:] = _relief(style["stone"] * balusters * np.ones((hh, 1, 1)), 5, rng, grain[3])
    elif cls == 4:
        glazed = rng.random() < 0.3  # glass doors look like shop windows
        base = _window(rng, style, hh, ww, sky, grain[6]) if glazed else \
            style["door"] * np.ones((hh, ww, 1), np.float32)
        panels = (np.abs(xx - ww // 2) < 1.5) | (yy % max(8, hh // 3) < 2)
        patch[:] = np.where(panels, base * 0.7, base) * (1 + 0.06 * grain[6][..., None])
    elif cls in _STONE:
        stone = style["stone"] * (1 + 0.05 * grain[6][..., None])
        patch[:] = _relief(stone, cls, rng, grain[3])
    else:  # facade: the wall texture is already there
        return


def _jitter(rng, rect, w, h, spread):
    """The rectangle as painted: each side off its label by a pixel or a few."""
    cls, x0, y0, x1, y1 = rect
    d = np.round(rng.normal(0, spread, 4)).astype(int)
    x0, x1 = max(0, x0 + d[0]), min(w, x1 + d[1])
    y0, y1 = max(0, y0 + d[2]), min(h, y1 + d[3])
    return (cls, x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else rect


def _neighbours(rng, photo, rects, w, h, grain):
    """Buildings left and right of the facade: walls with windows, labelled background."""
    _, fx0, fy0, fx1, _ = rects[0]
    for x0, x1 in ((0, fx0), (fx1, w)):
        if x1 - x0 < 2:
            continue
        y0 = int(fy0 * rng.uniform(0.3, 2.5))
        other = _style(rng)
        part = _wall(rng, other, h - y0, x1 - x0) * rng.uniform(0.55, 1.0)
        step, size = rng.uniform(40, 70), rng.uniform(0.4, 0.6)
        for wy in np.arange(rng.uniform(5, 30), h - y0 - 20, step):
            for wx in np.arange(rng.uniform(-20, 10), x1 - x0, step * 0.8):
                a, b = int(max(0, wx)), int(min(x1 - x0, wx + step * size))
                c, d = int(wy), int(min(wy + step * size * 1.3, h - y0))
                if b - a > 2 and d - c > 2:
                    part[c:d, a:b] = _window(rng, other, d - c, b - a, part,
                                             grain[y0 + c : y0 + d, x0 + a : x0 + b])
        photo[y0:, x0:x1] = part


def _roof(rng, photo, rects, w):
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


def _occluders(rng, photo, h, w, ground):
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
        leaves = inside + 0.35 * _fractal(rng, y1 - y0, x1 - x0, (12, 4)) < 1.0
        green = np.array([60, 95, 45]) * rng.uniform(0.6, 1.2)
        region = np.asarray(image)[y0:y1, x0:x1].astype(np.float32)
        shade = green * (0.75 + 0.4 * (_noise(rng, y1 - y0, x1 - x0, 3)[..., None] > 0))
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
        colour = tuple(int(v) for v in _VIVID[rng.integers(len(_VIVID))])
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([px - s / 2, top - s, px + s / 2, top], fill=colour, outline=(240, 240, 240))
    if rng.random() < 0.25:  # cables across the street
        y = rng.uniform(0.3, 0.7) * h
        xs = np.linspace(0, w, 24)
        sag = y + rng.uniform(5, 30) * (1 - ((xs - w / 2) / (w / 2)) ** 2)
        draw.line(list(zip(xs, sag, strict=True)), fill=(30, 30, 30), width=1)
    return np.asarray(image).astype(np.float32)


def _camera(rng, photo, h, w):
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


def _render(rng, w, h):
    """One facade: returns ``(photo uint8 (H,W,3), label uint8 (H,W) of ids 1..12, rects)``."""
    rects = _layout(rng, w, h)
    style = _style(rng)
    sky = _sky(rng, h, w)
    photo = sky.copy()
    bank = {cell: _noise(rng, h, w, cell) for cell in (3, 6, 8)}  # textures, cut per element
    _, fx0, fy0, fx1, _ = rects[0]
    _neighbours(rng, photo, rects, w, h, bank[6])
    _roof(rng, photo, rects, w)
    photo[fy0:, fx0:fx1] = _wall(rng, style, h - fy0, fx1 - fx0)
    label = np.ones((h, w), dtype=np.uint8)
    for rect in rects:
        cls, x0, y0, x1, y1 = rect
        label[y0:y1, x0:x1] = cls
        if cls == 2:
            continue
        cls, x0, y0, x1, y1 = _jitter(rng, rect, w, h, 1.2 if cls in _STONE else 2.0)
        grain = {cell: field[y0:y1, x0:x1] for cell, field in bank.items()}
        _paint(cls, style, rng, photo[y0:y1, x0:x1], sky[y0:y1, x0:x1], grain)
        if cls in (5, 6, 7, 9):  # a soft cast shadow below ledges
            drop = int(rng.integers(2, 5))
            photo[y1 : y1 + drop, x0:x1] *= np.linspace(0.7, 0.95, drop, dtype=np.float32)[
                : photo[y1 : y1 + drop].shape[0], None, None]
    ground = max(y1 for cls, _, _, _, y1 in rects if cls == 5)  # the lowest cornice
    photo = _occluders(rng, photo, h, w, ground)
    return _camera(rng, photo, h, w), label, rects


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
    class ids 1..12 with the CMP palette) and ``cmp_bNNNN.xml`` (the label's rectangles,
    later ones painted over earlier ones), numbered from 0001. Sizes vary per image
    (width 256-448, height 320-640, portrait); ground-floor classes (door, shop) sit in the
    bottom 30% of the image. The photo follows the rectangles only roughly, and things in
    front of the facade (trees, cars, people, posts) are not in the label, as in CMP.

    Args:
        root: folder to write into; created if missing.
        n_images: number of facades (1..9999); the real base set has 378.
        seed: non-negative integer; the same seed writes the same bytes.

    Returns:
        The root folder as a ``Path``.

    Raises:
        ValueError: on a bad argument, or if ``root/base`` already holds files.
    """
    check_int("n_images", n_images, 1, 9999)
    check_int("seed", seed, 0, 2**63 - 1)
    root = prepare(root, ["base"])
    palette = [0, 0, 0] + [v for rgb in FACADE_PALETTE for v in rgb]
    palette += [0] * (768 - len(palette))
    for i in range(1, n_images + 1):
        rng = np.random.default_rng([seed, i])
        w = int(rng.integers(256, 449))
        h = int(np.clip(w * rng.uniform(1.15, 1.7), 320, 640))
        photo, label, rects = _render(rng, w, h)
        stem = root / "base" / f"cmp_b{i:04d}"
        Image.fromarray(photo).save(stem.with_suffix(".jpg"), quality=int(rng.integers(60, 91)))
        png = Image.fromarray(label)
        png.putpalette(palette)
        png.save(stem.with_suffix(".png"))
        stem.with_suffix(".xml").write_text(_annotation_xml(rects, w, h))
    return root
