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

__all__ = ["all_background_accuracy", "otsu_dice", "otsu_masks", "otsu_threshold"]


def all_background_accuracy(masks) -> float:
    """Pixel accuracy, pooled over every pixel of every mask, of calling each pixel background.

    The masks (0/1 tensors) may differ in size: a large mask counts with all its pixels, so
    this is not the mean of the per-mask accuracies unless all masks have one size.

    Raises:
        ValueError: if ``masks`` is empty or holds something other than tensors.
    """
    masks = list(masks)
    if not masks or not all(isinstance(m, torch.Tensor) for m in masks):
        raise ValueError("masks must be a non-empty sequence of tensors")
    pixels = sum(m.numel() for m in masks)
    if pixels == 0:
        raise ValueError("the masks hold no pixels")
    return float(sum((m == 0).sum().item() for m in masks) / pixels)


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


def otsu_dice(images: torch.Tensor, targets: torch.Tensor,
              keep: torch.Tensor | None = None) -> float:
    """Otsu's best case: the mean over images of its Dice with the better polarity per image.

    Choosing the polarity per image with the truth in hand is an oracle no real method has,
    so the score is an upper bound for a global threshold on the grey level (mean of channels).

    Args:
        images: uint8 ``(N, C, H, W)``.
        targets: bool ``(N, H, W)`` or ``(N, 1, H, W)``, the foreground to find.
        keep: bool like ``targets``: the pixels that choose the threshold and are scored
            (e.g. not the padding); all pixels when None. An image with no kept pixel is
            left out; one whose kept truth and mask are both empty scores 1.

    Raises:
        ValueError: if the shapes do not match, ``images`` is not uint8, or ``keep``
            leaves nothing to score.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError("images must be a uint8 tensor (N, C, H, W), got "
                         f"{getattr(images, 'dtype', type(images).__name__)} of shape "
                         f"{tuple(getattr(images, 'shape', ()))}")
    shape = (images.shape[0], *images.shape[2:])
    keep = torch.ones(shape, dtype=torch.bool) if keep is None else keep
    masks = {"targets": targets, "keep": keep}
    for name, mask in masks.items():
        if mask.reshape(-1).numel() != np.prod(shape) or mask.shape[-2:] != images.shape[-2:]:
            raise ValueError(f"{name} must have shape {shape} (or with a channel of 1), got "
                             f"{tuple(mask.shape)}")
    truth = targets.reshape(shape).bool().cpu().numpy()
    kept = keep.reshape(shape).bool().cpu().numpy()
    grey = images.detach().cpu().double().mean(1).round().to(torch.uint8).numpy()
    scores = []
    for g, t, k in zip(grey, truth, kept, strict=True):
        if not k.any():
            continue  # nothing of this image is scored
        upper = g > otsu_threshold(g[k])
        best = 0.0
        for guess in (upper, ~upper):
            total = (guess & k).sum() + (t & k).sum()
            best = max(best, 2 * (guess & t & k).sum() / total if total else 1.0)
        scores.append(best)
    if not scores:
        raise ValueError("keep leaves no pixel of any image to score")
    return float(np.mean(scores))
