"""``InMemoryLoader`` (course_utils.data.loader) over the datasets of tests/conftest.py."""

import pytest
import torch

from course_utils.data import FacadeDataset, InMemoryLoader, PhCDataset

# --------------------------------------------------------------------------- InMemoryLoader


@pytest.mark.parametrize(
    ("batch_size", "drop_last", "sizes"),
    [(3, False, [3, 3, 2]), (3, True, [3, 3]), (8, False, [8]), (10, False, [8]),
     (10, True, []), (1, False, [1] * 8)],
)
def test_loader_batch_count(phc_root, batch_size, drop_last, sizes):
    loader = InMemoryLoader(PhCDataset("train", phc_root), batch_size, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(images) for images, _ in loader] == sizes


def test_loader_unshuffled_batches_equal_the_items(phc_root):
    ds = PhCDataset("train", phc_root)
    batches = list(InMemoryLoader(ds, batch_size=3))
    images = torch.cat([b[0] for b in batches])
    targets = torch.cat([b[1] for b in batches])
    assert images.dtype == torch.float32 and targets.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, torch.stack([ds[i][0] for i in range(len(ds))]))
    assert torch.equal(targets, torch.stack([ds[i][1] for i in range(len(ds))]))
    assert targets.shape == (8, 1, 16, 16)


def _order(loader):
    """Item order of one epoch, read back from the constant grey level of each image."""
    return [round(images[j, 0, 0, 0].item() * 255) for images, _ in loader
            for j in range(len(images))]


def test_loader_shuffle_is_seeded(phc_root):
    ds = PhCDataset("train", phc_root)
    plain = _order(InMemoryLoader(ds, 3))
    a, b = InMemoryLoader(ds, 3, shuffle=True, seed=1), InMemoryLoader(ds, 3, shuffle=True, seed=1)
    first = _order(a)
    assert first == _order(b)
    assert sorted(first) == sorted(plain) and first != plain
    assert _order(a) != first  # a new order every epoch
    assert _order(InMemoryLoader(ds, 3, shuffle=True, seed=2)) != first


def test_loader_facade_targets_long(facade_root):
    ds = FacadeDataset("train", facade_root, size=(12, 12))
    images, targets = next(iter(InMemoryLoader(ds, batch_size=4)))
    assert images.shape == (4, 3, 12, 12) and images.dtype == torch.float32
    assert targets.shape == (4, 12, 12) and targets.dtype == torch.long
    assert (targets[:, :, 8:] == 255).all() and (targets[:, :, :8] < 12).all()


def test_loader_applies_transform_after_float_conversion(phc_root):
    ds = PhCDataset("test", phc_root)
    seen = []

    def flip(images, targets):
        seen.append(images.dtype)
        return images.flip(-1), targets.flip(-1)

    _, targets = next(iter(InMemoryLoader(ds, batch_size=3, transform=flip)))
    assert seen == [torch.float32]
    assert torch.equal(targets, ds.targets.float().flip(-1))
    assert targets[0, 0, 0].tolist() == [0] * 11 + [1] * 5


@pytest.mark.parametrize("batch_size", [0, -2])
def test_loader_bad_batch_size(phc_root, batch_size):
    with pytest.raises(ValueError, match=f"batch_size must be at least 1, got {batch_size}"):
        InMemoryLoader(PhCDataset("test", phc_root), batch_size)


def test_loader_empty_dataset():
    class Empty:
        images = torch.zeros(0, 3, 4, 4, dtype=torch.uint8)

        def __len__(self):
            return 0

    with pytest.raises(ValueError, match="the dataset is empty"):
        InMemoryLoader(Empty())
