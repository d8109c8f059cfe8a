"""The synthetic twin of the phase-contrast cells (``phc_data``): the writer.

``make_synthetic_phc`` writes crops and labels in the real data's exact layout; each crop is
rendered by ``phase_contrast.render_cell``, cells imaged as a phase-contrast microscope would,
with settings (``PhaseContrast``) that put every statistic of the real crops' fingerprint
(``fingerprint.py``) inside its band. As in the real crops, a cell is *not* brighter or darker
than its surroundings on average, so a global threshold fails while a small CNN succeeds, and
the hand-drawn label follows the visible outline only to about a pixel, so no model can score
a perfect Dice.
"""

import numpy as np
from PIL import Image

from course_utils.synthetic import phase_contrast
from course_utils.synthetic.common import check_int, prepare


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
        optics: a ``PhaseContrast`` (``phase_contrast.py``); ``None`` takes its defaults,
            which match the real crops' fingerprint. Other settings write other twins (the
            fingerprint test uses them to show what each setting does).

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
    if optics is not None and not isinstance(optics, phase_contrast.PhaseContrast):
        raise ValueError(f"optics must be a PhaseContrast or None, got {optics!r}")
    optics = optics or phase_contrast.PhaseContrast()
    import matplotlib

    lut = matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3]
    lut = (lut * 255).round().astype(np.uint8)
    subdirs = [f"{split}/{kind}" for split in ("train", "test") for kind in ("images", "labels")]
    root = prepare(root, subdirs)
    order = np.random.default_rng(seed).permutation(n_train + n_test)
    for split, indices in (("train", order[:n_train]), ("test", order[n_train:])):
        for index in sorted(indices.tolist()):
            rng = np.random.default_rng([seed, index])
            rgb, mask = phase_contrast.render_cell(rng, size, lut, optics)
            Image.fromarray(rgb).save(root / split / "images" / f"img_{index:05d}.jpg", quality=75)
            Image.fromarray(mask.astype(np.uint8) * 255).save(
                root / split / "labels" / f"label_{index:05d}.png")
    return root
