"""Non-learned baselines that a segmentation network has to beat.

Otsu's method picks the one grey level that best splits an image's histogram into two
classes (it maximises the between-class variance). On images where the object is brighter
or darker than its surroundings this is a strong baseline; on the phase-contrast cells,
whose inside is on average as bright as the outside, it is not, which is why the course
trains networks at all.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["otsu_masks", "otsu_threshold"]


def otsu_threshold(grey: np.ndarray) -> int:
    """Otsu's threshold of a uint8 image: the pixels ``> t`` form the upper class.

    Returns:
        ``t`` in 0..255; for a constant image, its value (so the upper class is empty).

    Raises:
        ValueError: if ``grey`` is not an array of uint8.
    """
    grey = np.asarray(grey)
    if grey.dtype != np.uint8:
        raise ValueError(f"grey must be a uint8 image, got dtype {grey.dtype}")
    p = np.bincount(grey.ravel(), minlength=256) / grey.size
    w, mu = np.cumsum(p), np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w - mu) ** 2 / (w * (1.0 - w))
    if np.isnan(between).all():  # one grey level only: nothing to split
        return int(grey.flat[0])
    return int(np.nanargmax(between))


def otsu_masks(images: torch.Tensor, polarity: str = "bright") -> torch.Tensor:
    """Segment every image with its own Otsu threshold on the grey level (mean of channels).

    Args:
        images: uint8 ``(N, C, H, W)``, as ``data.PhCDataset.images`` holds them.
        polarity: "bright" makes the pixels above the threshold foreground, "dark" those
            at or below it.

    Returns:
        bool masks ``(N, 1, H, W)`` on the CPU.
    """
    if polarity not in ("bright", "dark"):
        raise ValueError(f"polarity must be 'bright' or 'dark', got {polarity!r}")
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError("images must be a uint8 tensor (N, C, H, W), got "
                         f"{getattr(images, 'dtype', type(images).__name__)} of shape "
                         f"{tuple(getattr(images, 'shape', ()))}")
    grey = images.detach().cpu().double().mean(1).round().to(torch.uint8).numpy()
    masks = np.stack([g > otsu_threshold(g) for g in grey])
    if polarity == "dark":
        masks = ~masks
    return torch.from_numpy(masks)[:, None]
