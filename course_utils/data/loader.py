"""``InMemoryLoader``: batches sliced from tensors that stay on the training device.

A loader converts a dataset's uint8 tensors to float once, keeps them on ``device`` and
slices batches there, so no epoch ever re-reads or re-decodes a file.
"""

from __future__ import annotations

import torch

__all__ = ["InMemoryLoader"]


class InMemoryLoader:
    """Batches from an in-memory dataset, kept on ``device`` as float tensors.

    Args:
        dataset: a ``PhCDataset`` or ``FacadeDataset`` (anything with ``images``,
            ``targets`` and ``target_tensor``).
        batch_size: samples per batch.
        shuffle: draw a new order every epoch from a generator seeded with ``seed``.
        device: where the tensors live and batches are made.
        transform: optional ``(images, targets) -> (images, targets)`` on whole batches
            (see ``course_utils.transforms``); it gets fresh copies, so it may work in place.
        drop_last: skip a last incomplete batch (keeps BatchNorm away from tiny batches).
    """

    def __init__(self, dataset, batch_size: int = 16, shuffle: bool = False, device="cpu",
                 transform=None, drop_last: bool = False, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if len(dataset) == 0:
            raise ValueError("the dataset is empty; check its split and limit")
        self.device = torch.device(device)
        # Converted to float once, not per batch: these datasets are small (the cells are
        # 25 MB as float at 128 x 128), and a per-batch uint8 -> float pass would cost half
        # of the loader's throughput. The dataset keeps its compact uint8 copy.
        self.images = dataset.images.to(self.device).float().div_(255)
        self.targets = dataset.target_tensor(dataset.targets.to(self.device))
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.transform = transform
        self.generator = torch.Generator().manual_seed(seed)
        self.dataset = dataset

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.images)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            images, targets = self.images[index], self.targets[index]
            if self.transform is not None:
                images, targets = self.transform(images, targets)
            yield images, targets
