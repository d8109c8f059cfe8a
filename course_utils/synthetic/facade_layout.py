"""The layout of a synthetic facade: the labelled rectangles, and their CMP-style ``.xml``."""

import numpy as np

from course_utils.facade_classes import FACADE_CLASSES


def layout(rng, w, h):
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


def annotation_xml(rects, w, h):
    """A CMP-style rectangle annotation with coordinates normalised to 0..1."""
    lines = ["<annotation>"]
    for cls, x0, y0, x1, y1 in rects:
        points = [f"<x>{x0 / w:.4f}</x>", f"<x>{x1 / w:.4f}</x>", f"<y>{y0 / h:.4f}</y>",
                  f"<y>{y1 / h:.4f}</y>"]
        lines += ["<object>", "<points>", *points, "</points>", f"<label>{cls}</label>",
                  f"<labelname>{FACADE_CLASSES[cls - 1]}</labelname>", "</object>"]
    return "\n".join(lines + ["</annotation>", ""])
