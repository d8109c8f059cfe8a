"""Decoding the real file layouts into uint8 tensors.

Readers only read: they open each file, check what a wrong file would silently break (a
label's mode and values, a missing partner) and return tensors; they never change a file.
``validation`` checks a whole folder against the registry; these checks are the ones the
decoded tensors depend on. ``decoded`` keeps what they return, so that each folder is
decoded once per size, not once per kernel; ``*_PATTERNS`` name the files each reader reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from course_utils.data.catalog import DatasetError
from course_utils.facade_classes import IGNORE_INDEX, NUM_FACADE_CLASSES

__all__ = ["FACADE_PATTERNS", "PHC_PATTERNS", "read_facade_folder",
           "read_phc_folder"]

PHC_PATTERNS = ("images/img_*.jpg", "labels/label_*.png")  # under a split folder
FACADE_PATTERNS = ("base/cmp_b*.jpg", "base/cmp_b*.png")  # under the dataset's root


def read_phc_folder(folder: Path, size: tuple[int, int] | None):
    """``(images uint8 (N, 3, H, W), targets uint8 (N, 1, H, W) in {0, 1}, names)`` of one
    ``phc_data`` split folder, resized to ``size`` when given."""
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


def read_facade_folder(root: Path, size: tuple[int, int]):
    """``(images uint8 (N, 3, H, W), targets uint8 (N, H, W) in 0..11 or IGNORE_INDEX, stems)``
    of a ``CMP_facade_DB_base`` folder, each photo fitted into ``size`` and padded."""
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


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except Exception as exc:
        raise DatasetError(f"cannot read {path}: {exc}. Replace or remove the file.") from exc
    return image
