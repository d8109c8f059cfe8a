"""In-memory datasets of the two course datasets, with deterministic splits.

Shape contract (stated once, used everywhere):

- binary (cells): image float ``(3, H, W)`` in [0, 1]; target float ``(1, H, W)`` in {0, 1}
- multi-class (facades): image float ``(3, H, W)`` in [0, 1]; target long ``(H, W)`` in
  ``[0, num_classes)``, with ``IGNORE_INDEX`` (255) marking padding

Every file is decoded once into memory as uint8 (``readers``), and kept decoded on disk for
the next kernel (``decoded``); ``InMemoryLoader`` converts that to float once and keeps it on
the training device.
"""

from __future__ import annotations

import numpy as np
import torch

from course_utils import reporting
from course_utils.data import decoded, readers, sources, validation
from course_utils.facade_classes import FACADE_CLASSES, FACADE_PALETTE, NUM_FACADE_CLASSES

__all__ = ["SPLITS", "FacadeDataset", "PhCDataset", "split_indices"]

SPLITS = ("train", "val", "test")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _size_tuple(size) -> tuple[int, int] | None:
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return int(h), int(w)


def split_indices(n: int, fractions: tuple[float, ...], seed: int = 0) -> list[np.ndarray]:
    """Deterministic split of ``range(n)`` into parts of the given fractions (sorted indices)."""
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.round(np.cumsum(fractions) * n).astype(int)
    return [np.sort(part) for part in np.split(order, bounds[:-1])]


class _InMemoryDataset(torch.utils.data.Dataset):
    """Holds ``images`` (uint8, N x 3 x H x W), ``targets`` (uint8) and ``names`` in memory."""

    images: torch.Tensor
    targets: torch.Tensor
    names: list[str]
    source: sources.DataSource

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index].float() / 255, self.target_tensor(self.targets[index])

    def _select(self, keep: np.ndarray, limit: int | None) -> None:
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit must be at least 1, got {limit}")
            keep = keep[:limit]
        index = torch.as_tensor(keep, dtype=torch.long)
        self.images, self.targets = self.images[index], self.targets[index]
        self.names = [self.names[i] for i in keep]


class PhCDataset(_InMemoryDataset):
    """Phase-contrast cell crops with binary masks (the course's ``phc_data`` layout).

    ``train`` and ``test`` are the dataset's own folders; ``val`` is a deterministic
    ``val_fraction`` of the train folder, which ``train`` then excludes.

    Args:
        split: "train", "val" or "test".
        root: folder holding ``train/`` and ``test/``; found by ``locate`` when None.
        size: resize to this size (int or (H, W)); images by area averaging, masks by
            area averaging then a 0.5 threshold, which keeps thin parts better than nearest.
        limit: keep only the first ``limit`` samples (quick mode).
        val_fraction: share of the train folder held out as validation.
    """

    num_classes = 1

    def __init__(self, split: str, root=None, size=None, limit: int | None = None,
                 val_fraction: float = 0.2):
        _check_split(split)
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
        self.split, self.source = split, sources.locate("phc", root)
        folder_split = "test" if split == "test" else "train"
        validation.check_layout("phc", self.source.path, [folder_split])
        folder = self.source.path / folder_split
        size = _size_tuple(size)
        images, targets, names = decoded.load(
            "phc", folder, size, readers.PHC_PATTERNS,
            lambda: readers.read_phc_folder(folder, size))
        self.images, self.targets, self.names = images, targets, names
        keep = np.arange(len(names))
        if split != "test":
            train, val = split_indices(len(names), (1 - val_fraction, val_fraction))
            keep = val if split == "val" else train
        self._select(keep, limit)
        reporting.record_result("data", self.source.kind, echo=False)

    @staticmethod
    def target_tensor(target: torch.Tensor) -> torch.Tensor:
        return target.float()


class FacadeDataset(_InMemoryDataset):
    """CMP Facade photos with 12-class label maps (the ``CMP_facade_DB_base`` layout).

    Label PNGs hold class ids 1..12 in a palette image; targets are ``id - 1`` (0..11).
    Each photo is resized to fit inside ``size`` keeping its aspect ratio and padded at the
    bottom/right: image with 0, target with ``IGNORE_INDEX`` so the loss skips the padding.

    Args:
        split: "train", "val" or "test" (a deterministic 70/15/15 split of the images).
        root: folder holding ``base/``; found by ``locate`` when None.
        size: (H, W) of every item; the photos are portrait, so the default is 256 x 192.
        limit: keep only the first ``limit`` samples (quick mode).
    """

    num_classes = NUM_FACADE_CLASSES
    class_names = FACADE_CLASSES
    palette = FACADE_PALETTE

    def __init__(self, split: str, root=None, size=(256, 192), limit: int | None = None):
        _check_split(split)
        self.split, self.source = split, sources.locate("facade", root)
        validation.check_layout("facade", self.source.path)
        size = _size_tuple(size)
        if size is None:
            raise ValueError("FacadeDataset needs a size: the photos differ in size")
        root = self.source.path
        self.images, self.targets, self.names = decoded.load(
            "facade", root, size, readers.FACADE_PATTERNS,
            lambda: readers.read_facade_folder(root, size))
        parts = dict(zip(SPLITS, split_indices(len(self.names), (0.7, 0.15, 0.15)), strict=True))
        self._select(parts[split], limit)
        reporting.record_result("data", self.source.kind, echo=False)

    @staticmethod
    def target_tensor(target: torch.Tensor) -> torch.Tensor:
        return target.long()
