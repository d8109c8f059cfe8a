"""Paired image/mask augmentation with ``torchvision.transforms.v2`` and ``tv_tensors``.

The v2 transforms take an image and its mask together and read the type of each input:

- geometric transforms (flips, rotation, scaling, shifts) move the image and the
  ``tv_tensors.Mask`` with the *same* random parameters; a mask is always resampled with
  nearest-neighbour interpolation, so class ids stay class ids, and the corners a rotation
  uncovers are filled with ``mask_fill`` (0 = background for cells, ``IGNORE_INDEX`` = 255 for facades);
- photometric transforms (brightness, contrast) change the ``tv_tensors.Image`` and pass
  the mask through untouched.

``BatchAugment`` applies such a pair transform to every sample of a batch, with fresh
random parameters per sample, as ``InMemoryLoader(..., transform=BatchAugment(...))``.
Shapes follow ``course_utils.data``: images ``(N, 3, H, W)`` float in [0, 1]; targets
``(N, 1, H, W)`` float (binary) or ``(N, H, W)`` long (multi-class).
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = ["BatchAugment", "paired_augmentation"]


def paired_augmentation(degrees: float = 15.0, translate: float = 0.05,
                        scale: tuple[float, float] = (0.9, 1.1), hflip: float = 0.5,
                        vflip: float = 0.0, brightness: float = 0.2, contrast: float = 0.2,
                        mask_fill: int = 0) -> v2.Compose:
    """A v2 pipeline: random flips and affine warp on image and mask, colour jitter on the image.

    Args:
        degrees: rotations are drawn from [-degrees, degrees].
        translate: largest shift, as a fraction of the image size.
        scale: range of zoom factors.
        hflip, vflip: probabilities of a horizontal and a vertical flip.
        brightness, contrast: strength of the colour jitter (0 turns it off).
        mask_fill: mask value for pixels a warp moves in from outside the image.

    Returns:
        A ``v2.Compose`` to call as ``image, mask = transform(tv_tensors.Image(x),
        tv_tensors.Mask(y))``.
    """
    for name, p in (("hflip", hflip), ("vflip", vflip)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} is a probability in [0, 1], got {p!r}")
    if degrees < 0 or not 0 <= translate <= 1 or brightness < 0 or contrast < 0:
        raise ValueError(f"need degrees >= 0, 0 <= translate <= 1 and non-negative jitter, got "
                         f"degrees={degrees}, translate={translate}, brightness={brightness}, "
                         f"contrast={contrast}")
    if not 0 < scale[0] <= scale[1]:
        raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale!r}")
    return v2.Compose([
        v2.RandomHorizontalFlip(hflip),
        v2.RandomVerticalFlip(vflip),
        # the image is interpolated bilinearly; v2 always uses nearest for a Mask
        v2.RandomAffine(degrees, translate=(translate, translate), scale=scale,
                        interpolation=v2.InterpolationMode.BILINEAR,
                        fill={tv_tensors.Image: 0.0, tv_tensors.Mask: mask_fill}),
        v2.ColorJitter(brightness=brightness, contrast=contrast),
    ])


class BatchAugment:
    """Apply a paired transform to each sample of a batch: ``(images, targets)`` in and out.

    Every sample gets its own random parameters. The randomness comes from a private
    generator seeded with ``seed``, so a run is repeatable and the global RNG is untouched.

    Args:
        transform: called as ``transform(tv_tensors.Image(image), tv_tensors.Mask(target))``,
            e.g. ``paired_augmentation()``.
        seed: seed of the private generator.
    """

    def __init__(self, transform, seed: int = 0):
        if not callable(transform):
            raise ValueError(f"transform must be callable, got {type(transform).__name__}")
        self.transform = transform
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, images: torch.Tensor, targets: torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be a batch (N, 3, H, W), got {tuple(images.shape)}")
        binary = targets.ndim == 4
        if (targets.ndim not in (3, 4) or (binary and targets.shape[1] != 1)
                or len(targets) != len(images) or targets.shape[-2:] != images.shape[-2:]):
            raise ValueError(f"targets must be (N, 1, H, W) or (N, H, W) matching images "
                             f"{tuple(images.shape)}, got {tuple(targets.shape)}")
        seed = int(torch.randint(2**62, (1,), generator=self.generator))
        out_images, out_targets = [], []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for image, target in zip(images, targets, strict=True):
                image, target = self.transform(tv_tensors.Image(image), tv_tensors.Mask(target))
                out_images.append(image.as_subclass(torch.Tensor))
                out_targets.append(target.as_subclass(torch.Tensor))
        return torch.stack(out_images), torch.stack(out_targets)
