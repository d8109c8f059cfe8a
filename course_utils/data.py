"""Locating the datasets, reading their real layouts, in-memory datasets and loaders.

Shape contract (stated once, used everywhere):

- binary (cells): image float ``(3, H, W)`` in [0, 1]; target float ``(1, H, W)`` in {0, 1}
- multi-class (facades): image float ``(3, H, W)`` in [0, 1]; target long ``(H, W)`` in
  ``[0, num_classes)``, with ``IGNORE_INDEX`` (255) marking padding

Every file is decoded once into memory as uint8; a loader converts that to float once, keeps
it on the training device and slices batches there, so no epoch ever re-reads a JPEG.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from course_utils import config
from course_utils.facade_classes import FACADE_CLASSES, FACADE_PALETTE, NUM_FACADE_CLASSES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "FACADE_CLASSES",
    "FACADE_PALETTE",
    "IGNORE_INDEX",
    "NUM_FACADE_CLASSES",
    "DataSource",
    "DatasetError",
    "FacadeDataset",
    "InMemoryLoader",
    "PhCDataset",
    "locate",
    "registry",
]

IGNORE_INDEX = 255
DATA_DIR_ENV = "COURSE_DATA_DIR"
CACHE_DIR_ENV = "COURSE_CACHE_DIR"
SPLITS = ("train", "val", "test")
DATA_LINKS = Path(__file__).resolve().parents[1] / "data_links"


class DatasetError(ValueError):
    """A dataset folder is missing, incomplete or holds a file that is not what was expected."""


@cache
def registry() -> dict[str, dict]:
    """The dataset registry (``course_utils/datasets.toml``): paths, URLs, counts, licences."""
    return tomllib.loads((Path(__file__).parent / "datasets.toml").read_text())


@dataclass(frozen=True)
class DataSource:
    """Where a dataset is read from: ``path`` and how it was found (``kind``)."""

    name: str
    path: Path
    kind: str  # "argument", "COURSE_DATA_DIR", "data_links", "course HPC" or "synthetic"

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}"


def candidates(name: str, root: str | os.PathLike | None = None) -> list[DataSource]:
    """Every place ``name`` may be read from, in the order they are tried."""
    entry = _entry(name)
    found = []
    if root is not None:
        found.append(DataSource(name, Path(root).expanduser(), "argument"))
    if os.environ.get(DATA_DIR_ENV):
        found.append(
            DataSource(name, Path(os.environ[DATA_DIR_ENV]).expanduser() / entry["folder"],
                       DATA_DIR_ENV)
        )
    found.append(DataSource(name, DATA_LINKS / entry["folder"], "data_links"))
    found.append(DataSource(name, Path(entry["hpc_path"]), "course HPC"))
    found.append(DataSource(name, synthetic_dir(name), "synthetic"))
    return found


def locate(name: str, root: str | os.PathLike | None = None) -> DataSource:
    """Find dataset ``name`` ("phc" or "facade"): the ``root`` argument, ``COURSE_DATA_DIR``,
    ``data_links/<folder>``, the course HPC path, else the synthetic twin (generated once).

    An explicitly given place that does not exist is an error, never silently skipped.
    """
    for source in candidates(name, root):
        explicit = source.kind in ("argument", DATA_DIR_ENV)
        if source.kind == "synthetic":
            return _synthetic_source(name, source)
        if source.path.is_dir():
            return source
        if explicit:
            raise DatasetError(
                f"{source.kind} points to {source.path}, which is not a folder. Give the folder "
                f"that holds the {_entry(name)['title']} (see data_links/README.md)."
            )
    raise AssertionError("unreachable: the synthetic twin is always a candidate")


def synthetic_dir(name: str) -> Path:
    """Cache folder of the synthetic twin, per generator version (``synthetic.TWIN_VERSION``)."""
    from course_utils.synthetic import TWIN_VERSION

    base = os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "course_utils"
    return Path(base) / "synthetic" / f"v{TWIN_VERSION}" / _entry(name)["folder"]


_announced: set[str] = set()


def _synthetic_source(name: str, source: DataSource) -> DataSource:
    from course_utils import synthetic

    if not source.path.is_dir():
        make = {"phc": synthetic.make_synthetic_phc, "facade": synthetic.make_synthetic_facade}
        source.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = source.path.with_name(f"{source.path.name}.tmp-{os.getpid()}")
        make[name](tmp)
        try:
            tmp.rename(source.path)
        except OSError:  # another process finished first; its copy is identical
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    if name in _announced:
        return source
    _announced.add(name)
    print(
        f"Using SYNTHETIC {name} data (a generated twin in the real layout) from {source.path}. "
        f"To use the real data, link it: see data_links/README.md."
    )
    return source


def _entry(name: str) -> dict:
    if name not in registry():
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(registry())}")
    return registry()[name]


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


def _check_layout(source: DataSource, split: str | None = None) -> None:
    """Fail early, saying what was expected and found, if the folder's layout is wrong."""
    from course_utils import datasets  # imports this module: not at import time

    datasets.check_layout(source.name, source.path, None if split is None else [split])


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except Exception as exc:
        raise DatasetError(f"cannot read {path}: {exc}. Replace or remove the file.") from exc
    return image


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
    source: DataSource

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
        self.split, self.source = split, locate("phc", root)
        _check_layout(self.source, "test" if split == "test" else "train")
        folder = self.source.path / ("test" if split == "test" else "train")
        images, targets, names = _read_phc_folder(folder, _size_tuple(size))
        self.images, self.targets, self.names = images, targets, names
        keep = np.arange(len(names))
        if split != "test":
            train, val = split_indices(len(names), (1 - val_fraction, val_fraction))
            keep = val if split == "val" else train
        self._select(keep, limit)
        config.record_result("data", self.source.kind, echo=False)

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
        self.split, self.source = split, locate("facade", root)
        _check_layout(self.source)
        size = _size_tuple(size)
        if size is None:
            raise ValueError("FacadeDataset needs a size: the photos differ in size")
        self.images, self.targets, self.names = _read_facade_folder(self.source.path, size)
        parts = dict(zip(SPLITS, split_indices(len(self.names), (0.7, 0.15, 0.15)), strict=True))
        self._select(parts[split], limit)
        config.record_result("data", self.source.kind, echo=False)

    @staticmethod
    def target_tensor(target: torch.Tensor) -> torch.Tensor:
        return target.long()


@cache
def _read_phc_folder(folder: Path, size):
    image_dir, label_dir = folder / "images", folder / "labels"
    for d in (folder, image_dir, label_dir):
        if not d.is_dir():
            raise DatasetError(f"missing folder {d}; expected {folder}/images/img_NNNNN.jpg "
                               f"and {folder}/labels/label_NNNNN.png")
    images = {p.stem.removeprefix("img_"): p for p in image_dir.glob("img_*.jpg")}
    labels = {p.stem.removeprefix("label_"): p for p in label_dir.glob("label_*.png")}
    if not images and not labels:
        raise DatasetError(f"{folder} has no img_*.jpg / label_*.png pairs; is it the right folder?")
    for key in sorted(images.keys() ^ labels.keys()):
        have, lack = (images[key], f"labels/label_{key}.png") if key in images else \
            (labels[key], f"images/img_{key}.jpg")
        raise DatasetError(f"{have} has no partner: expected {folder / lack}")
    keys = sorted(images)
    xs, ys = [], []
    for key in keys:
        xs.append(np.asarray(_open(images[key]).convert("RGB")))
        label = _open(labels[key])
        y = np.asarray(label)
        if label.mode not in ("L", "1", "P") or not np.isin(y, (0, 255)).all():
            raise DatasetError(f"{labels[key]}: expected an 8-bit mask with values 0 and 255, "
                               f"found mode {label.mode} with values {np.unique(y)[:6].tolist()}")
        ys.append(y[None] // 255)
    images_t = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
    targets_t = torch.from_numpy(np.stack(ys).astype(np.uint8))
    if size is not None and size != tuple(images_t.shape[-2:]):
        images_t = F.interpolate(images_t.float(), size=size, mode="area").round().byte()
        targets_t = (F.interpolate(targets_t.float(), size=size, mode="area") >= 0.5).byte()
    return images_t, targets_t, [f"img_{k}" for k in keys]


@cache
def _read_facade_folder(root: Path, size):
    base = root / "base"
    if not base.is_dir():
        raise DatasetError(f"missing folder {base}; expected {base}/cmp_bNNNN.jpg and .png pairs")
    photos = {p.stem: p for p in base.glob("cmp_b*.jpg")}
    labels = {p.stem: p for p in base.glob("cmp_b*.png")}
    if not photos and not labels:
        raise DatasetError(f"{base} has no cmp_b*.jpg / cmp_b*.png pairs; is it the right folder?")
    for stem in sorted(photos.keys() ^ labels.keys()):
        have, lack = (photos[stem], ".png") if stem in photos else (labels[stem], ".jpg")
        raise DatasetError(f"{have} has no partner: expected {base / (stem + lack)}")
    h, w = size
    images = torch.zeros(len(photos), 3, h, w, dtype=torch.uint8)
    targets = torch.full((len(photos), h, w), IGNORE_INDEX, dtype=torch.uint8)
    stems = sorted(photos)
    for i, stem in enumerate(stems):
        photo, label = _open(photos[stem]).convert("RGB"), _open(labels[stem])
        if label.mode not in ("P", "L"):
            raise DatasetError(f"{labels[stem]}: expected a palette PNG of class ids 1..12, "
                               f"found mode {label.mode}; was it converted to colour?")
        ids = np.asarray(label)
        bad = np.setdiff1d(np.unique(ids), np.arange(1, NUM_FACADE_CLASSES + 1))
        if bad.size:
            raise DatasetError(f"{labels[stem]}: class ids must be 1..12, found {bad.tolist()}")
        if photo.size != label.size:
            raise DatasetError(f"{photos[stem]} is {photo.size} but its label is {label.size}")
        scale = min(h / photo.height, w / photo.width)
        fit = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
        photo = photo.resize(fit, Image.BILINEAR, reducing_gap=2.0)
        label = Image.fromarray(ids).resize(fit, Image.NEAREST)
        images[i, :, : fit[1], : fit[0]] = torch.from_numpy(np.array(photo)).permute(2, 0, 1)
        targets[i, : fit[1], : fit[0]] = torch.from_numpy(np.asarray(label) - 1)
    return images, targets, stems


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
