"""The synthetic twin of the CMP Facade base set: rectified street photographs, rendered.

The labels are the rectangles of a facade layout (``facade_layout``), as CMP's annotators
drew them. The photo is rendered from the same layout but looks photographed: textured, stained
walls; stone elements often in the wall's own colour, told apart only by relief shading;
every window different (reflections, curtains, dark rooms, arches, glazing bars); cast
shadows; neighbouring buildings, roofs and clouds (all labelled background); and trees, cars,
people and sign posts in front of the ground floors that the labels ignore. Every painted
element is jittered against its label rectangle, and the whole photo is slightly warped
(rectification residue), blurred, noisy and JPEG-compressed. ``facade_materials`` paints
the parts, ``facade_street`` what surrounds the facade and the camera.
"""

import numpy as np
from PIL import Image

from course_utils.facade_classes import FACADE_PALETTE
from course_utils.synthetic.common import check_int, prepare
from course_utils.synthetic.facade_layout import annotation_xml, layout
from course_utils.synthetic.facade_materials import (
    STONE,
    building_style,
    jitter,
    noise,
    paint_element,
    paint_sky,
    paint_wall,
)
from course_utils.synthetic.facade_street import add_neighbours, add_occluders, add_roof, photograph


def _render(rng, w, h):
    """One facade: returns ``(photo uint8 (H,W,3), label uint8 (H,W) of ids 1..12, rects)``."""
    rects = layout(rng, w, h)
    style = building_style(rng)
    sky = paint_sky(rng, h, w)
    photo = sky.copy()
    bank = {cell: noise(rng, h, w, cell) for cell in (3, 6, 8)}  # textures, cut per element
    _, fx0, fy0, fx1, _ = rects[0]
    add_neighbours(rng, photo, rects, w, h, bank[6])
    add_roof(rng, photo, rects, w)
    photo[fy0:, fx0:fx1] = paint_wall(rng, style, h - fy0, fx1 - fx0)
    label = np.ones((h, w), dtype=np.uint8)
    for rect in rects:
        cls, x0, y0, x1, y1 = rect
        label[y0:y1, x0:x1] = cls
        if cls == 2:
            continue
        cls, x0, y0, x1, y1 = jitter(rng, rect, w, h, 1.2 if cls in STONE else 2.0)
        grain = {cell: field[y0:y1, x0:x1] for cell, field in bank.items()}
        paint_element(cls, style, rng, photo[y0:y1, x0:x1], sky[y0:y1, x0:x1], grain)
        if cls in (5, 6, 7, 9):  # a soft cast shadow below ledges
            drop = int(rng.integers(2, 5))
            photo[y1 : y1 + drop, x0:x1] *= np.linspace(0.7, 0.95, drop, dtype=np.float32)[
                : photo[y1 : y1 + drop].shape[0], None, None]
    ground = max(y1 for cls, _, _, _, y1 in rects if cls == 5)  # the lowest cornice
    photo = add_occluders(rng, photo, h, w, ground)
    return photograph(rng, photo, h, w), label, rects


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
        stem.with_suffix(".xml").write_text(annotation_xml(rects, w, h))
    return root
