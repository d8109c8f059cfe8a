"""``PhCDataset`` and ``FacadeDataset`` (course_utils.data.datasets, reading through
course_utils.data.readers) against the hand-written folders of tests/conftest.py (layouts
described there).

``readers.read_phc_folder`` and ``read_facade_folder`` are cached per (folder, size); every
test builds its own folder under ``tmp_path``, so no test sees another's cache entry.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import data
from course_utils.data import DatasetError, FacadeDataset, PhCDataset

# --------------------------------------------------------------------------- split_indices


@pytest.mark.parametrize(
    ("n", "fractions", "sizes"),
    [(10, (0.8, 0.2), [8, 2]), (20, (0.7, 0.15, 0.15), [14, 3, 3]), (3, (0.5, 0.5), [2, 1])],
)
def test_split_indices_sizes_disjoint_covering(n, fractions, sizes):
    parts = data.split_indices(n, fractions)
    assert [len(p) for p in parts] == sizes
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))
    assert all((np.diff(p) > 0).all() for p in parts)
    again = data.split_indices(n, fractions)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))


# --------------------------------------------------------------------------- PhCDataset


def test_phc_split_lengths_and_names(phc_root):
    assert len(PhCDataset("train", phc_root)) == 8
    assert len(PhCDataset("val", phc_root)) == 2
    test = PhCDataset("test", phc_root)
    assert test.names == ["img_00100", "img_00101", "img_00102"]
    assert test.source == data.DataSource("phc", phc_root, "argument")
    assert test.num_classes == 1


def test_phc_item_contract_and_values(phc_root):
    test = PhCDataset("test", phc_root)
    image, target = test[1]  # key 101: grey 10 + 20 * 5 = 110, mask columns 0..5
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert target.shape == (1, 16, 16) and target.dtype == torch.float32
    assert torch.equal(image, torch.full((3, 16, 16), 110 / 255))
    expected = torch.zeros(1, 16, 16)
    expected[..., :6] = 1
    assert torch.equal(target, expected)


def test_phc_stored_tensors_are_uint8(phc_root):
    train = PhCDataset("train", phc_root)
    assert train.images.shape == (8, 3, 16, 16) and train.images.dtype == torch.uint8
    assert train.targets.shape == (8, 1, 16, 16) and train.targets.dtype == torch.uint8
    assert set(train.targets.unique().tolist()) == {0, 1}


def test_phc_val_and_train_disjoint_covering_deterministic(phc_root):
    train, val = PhCDataset("train", phc_root), PhCDataset("val", phc_root)
    assert not set(train.names) & set(val.names)
    assert sorted(train.names + val.names) == [f"img_{i:05d}" for i in range(10)]
    assert PhCDataset("val", phc_root).names == val.names
    # every item still pairs its own image with its own mask
    for (image, target), name in zip(val, val.names, strict=True):
        i = int(name.removeprefix("img_"))
        assert image[0, 0, 0].item() == pytest.approx((10 + 20 * (i % 12)) / 255)
        assert target.sum().item() == 16 * (i % 16 + 1)


def test_phc_val_fraction(phc_root):
    assert len(PhCDataset("val", phc_root, val_fraction=0.5)) == 5
    assert len(PhCDataset("train", phc_root, val_fraction=0.3)) == 7


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_phc_bad_val_fraction(phc_root, fraction):
    with pytest.raises(ValueError, match="val_fraction must lie in"):
        PhCDataset("train", phc_root, val_fraction=fraction)


def test_phc_limit_keeps_first(phc_root):
    full = PhCDataset("test", phc_root)
    two = PhCDataset("test", phc_root, limit=2)
    assert two.names == full.names[:2]
    assert torch.equal(two.images, full.images[:2])
    assert torch.equal(two.targets, full.targets[:2])
    assert len(PhCDataset("test", phc_root, limit=50)) == 3


@pytest.mark.parametrize("limit", [0, -1])
def test_phc_bad_limit(phc_root, limit):
    with pytest.raises(ValueError, match="limit must be at least 1"):
        PhCDataset("test", phc_root, limit=limit)


def test_phc_size_resizes_and_keeps_mask_binary(phc_root):
    test = PhCDataset("test", phc_root, size=8)
    assert test.images.shape == (3, 3, 8, 8)
    assert test.targets.shape == (3, 1, 8, 8)
    assert set(test.targets.unique().tolist()) == {0, 1}
    # keys 100..102 mark 5, 6, 7 of 16 columns; 2 -> 1 averaging, then >= 0.5: 3, 3, 4 of 8
    assert test.targets[:, 0, 0].sum(1).tolist() == [3, 3, 4]
    assert test.images[:, 0, 0, 0].tolist() == [90, 110, 130]


def test_phc_size_tuple(phc_root):
    image, target = PhCDataset("test", phc_root, size=(8, 4))[0]
    assert image.shape == (3, 8, 4) and target.shape == (1, 8, 4)


@pytest.mark.parametrize("size", [0, (0, 8), (8, -1)])
def test_phc_bad_size(phc_root, size):
    with pytest.raises(ValueError, match="size must be positive"):
        PhCDataset("test", phc_root, size=size)


@pytest.mark.parametrize("split", ["training", "valid", ""])
def test_phc_bad_split(phc_root, split):
    with pytest.raises(ValueError, match=f"split must be one of .*got '{split}'"):
        PhCDataset(split, phc_root)


def test_phc_records_the_data_source(phc_root, monkeypatch, tmp_path, capsys):
    results = tmp_path / "results.json"
    monkeypatch.setenv("COURSE_RESULTS_FILE", str(results))
    PhCDataset("test", phc_root)
    assert json.loads(results.read_text()) == {"data": "argument"}
    assert capsys.readouterr().out == ""


def _snapshot(root):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_reading_modifies_nothing(phc_root, facade_root):
    before = _snapshot(phc_root), _snapshot(facade_root)
    dirs = sorted(phc_root.rglob("*")), sorted(facade_root.rglob("*"))
    for split in data.SPLITS:
        PhCDataset(split, phc_root, size=8)
        FacadeDataset(split, facade_root, size=(12, 12))
    assert (_snapshot(phc_root), _snapshot(facade_root)) == before
    assert (sorted(phc_root.rglob("*")), sorted(facade_root.rglob("*"))) == dirs


# bad PhC folders: each case damages a fresh copy, then reading must name the culprit


def _remove_images(root):
    for p in (root / "train" / "images").iterdir():
        p.unlink()
    (root / "train" / "images").rmdir()


def _empty(root):
    for sub in ("images", "labels"):
        for p in (root / "train" / sub).iterdir():
            p.unlink()


def _label_128(root):
    label = np.zeros((16, 16), dtype=np.uint8)
    label[0, 0] = 128
    Image.fromarray(label).save(root / "train" / "labels" / "label_00004.png")


def _label_rgb(root):
    label = np.zeros((16, 16, 3), dtype=np.uint8)
    Image.fromarray(label).save(root / "train" / "labels" / "label_00004.png")


def _corrupt_jpeg(root):
    (root / "train" / "images" / "img_00002.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")


def _truncated_jpeg(root):
    path = root / "train" / "images" / "img_00002.jpg"
    path.write_bytes(path.read_bytes()[:40])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_remove_images, r"missing folder .*train/images; expected"),
        (lambda root: (root / "train").rename(root / "training"), r"missing folder .*train;"),
        (_empty, r"train has no img_\*.jpg / label_\*.png pairs"),
        (lambda root: (root / "train" / "labels" / "label_00003.png").unlink(),
         r"img_00003.jpg has no partner: expected .*train/labels/label_00003.png"),
        (lambda root: (root / "train" / "images" / "img_00003.jpg").unlink(),
         r"label_00003.png has no partner: expected .*train/images/img_00003.jpg"),
        (_label_128, r"label_00004.png: expected an 8-bit mask .* values \[0, 128\]"),
        (_label_rgb, r"label_00004.png: expected an 8-bit mask .*found mode RGB"),
        (_corrupt_jpeg, r"cannot read .*img_00002.jpg: .*Replace or remove the file"),
        (_truncated_jpeg, r"cannot read .*img_00002.jpg"),
    ],
    ids=["no images folder", "no train folder", "empty", "image without label",
         "label without image", "label value 128", "rgb label", "corrupt jpeg",
         "truncated jpeg"],
)
def test_phc_bad_folder(phc_root, damage, message):
    damage(phc_root)
    with pytest.raises(DatasetError, match=message):
        PhCDataset("train", phc_root)


# --------------------------------------------------------------------------- FacadeDataset


def test_facade_splits_disjoint_and_covering(facade_root):
    names = {s: FacadeDataset(s, facade_root, size=(24, 16)).names for s in data.SPLITS}
    assert [len(names[s]) for s in data.SPLITS] == [14, 3, 3]
    everything = names["train"] + names["val"] + names["test"]
    assert sorted(everything) == [f"cmp_b{i:04d}" for i in range(1, 21)]
    assert FacadeDataset("val", facade_root, size=(24, 16)).names == names["val"]


def _item(dataset, stem):
    return dataset[dataset.names.index(stem)]


def _all(root, size):
    parts = [FacadeDataset(s, root, size=size) for s in data.SPLITS]
    ds = parts[0]
    ds.images = torch.cat([p.images for p in parts])
    ds.targets = torch.cat([p.targets for p in parts])
    ds.names = [n for p in parts for n in p.names]
    return ds


def test_facade_item_contract_ids_minus_one(facade_root):
    ds = _all(facade_root, (24, 16))
    image, target = _item(ds, "cmp_b0003")  # ids 4 on top, 9 below; grey 65
    assert image.shape == (3, 24, 16) and image.dtype == torch.float32
    assert target.shape == (24, 16) and target.dtype == torch.long
    assert torch.equal(image, torch.full((3, 24, 16), 65 / 255))
    assert target[:12].unique().tolist() == [3] and target[12:].unique().tolist() == [8]
    _, target = _item(ds, "cmp_b0011")  # ids 12 on top, 1 below
    assert target[:12].unique().tolist() == [11] and target[12:].unique().tolist() == [0]
    assert sorted(ds.targets.unique().tolist()) == list(range(12))
    assert ds.num_classes == 12 and len(ds.class_names) == 12


@pytest.mark.parametrize(
    ("size", "fit_h", "fit_w"),
    [
        ((48, 48), 48, 32),  # scale min(48/24, 48/16) = 2: 16 x 24 photo -> 32 x 48
        ((12, 12), 12, 8),  # scale 0.5
        ((24, 32), 24, 16),  # height limits: no upscaling past the box
        ((6, 16), 6, 4),  # scale 0.25
    ],
)
def test_facade_fit_keeps_aspect_and_pads(facade_root, size, fit_h, fit_w):
    ds = _all(facade_root, size)
    image, target = _item(ds, "cmp_b0003")
    assert image.shape == (3, *size) and target.shape == size
    assert (target[:fit_h, :fit_w] != 255).all()
    assert (target[fit_h:] == 255).all() and (target[:, fit_w:] == 255).all()
    assert torch.equal(image[:, :fit_h, :fit_w], torch.full((3, fit_h, fit_w), 65 / 255))
    assert (image[:, fit_h:] == 0).all() and (image[:, :, fit_w:] == 0).all()
    # nearest resampling keeps the two label regions, split at half the fitted height
    assert target[: fit_h // 2, :fit_w].unique().tolist() == [3]
    assert target[fit_h // 2 : fit_h, :fit_w].unique().tolist() == [8]


def test_facade_needs_a_size(facade_root):
    with pytest.raises(ValueError, match="FacadeDataset needs a size"):
        FacadeDataset("train", facade_root, size=None)


def test_facade_limit_and_bad_split(facade_root):
    assert len(FacadeDataset("train", facade_root, size=(12, 8), limit=4)) == 4
    with pytest.raises(ValueError, match="split must be one of"):
        FacadeDataset("all", facade_root, size=(12, 8))


def _label_id(value):
    def damage(root):
        ids = np.full((24, 16), 2, dtype=np.uint8)
        ids[3, 4] = value
        _save_palette(root / "base" / "cmp_b0005.png", ids)

    return damage


def _save_palette(path, ids):
    label = Image.frombytes("P", (ids.shape[1], ids.shape[0]), ids.tobytes())
    label.putpalette([0, 0, 0] * 256)
    label.save(path)


def _label_converted_to_rgb(root):
    path = root / "base" / "cmp_b0005.png"
    Image.open(path).convert("RGB").save(path)


def _label_wrong_size(root):
    _save_palette(root / "base" / "cmp_b0005.png", np.full((16, 16), 2, dtype=np.uint8))


def _corrupt_photo(root):
    (root / "base" / "cmp_b0005.jpg").write_bytes(b"garbage")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: (root / "base").rename(root / "photos"), r"missing folder .*base; expected"),
        (lambda root: [p.unlink() for p in (root / "base").iterdir()],
         r"base has no cmp_b\*.jpg / cmp_b\*.png pairs"),
        (lambda root: (root / "base" / "cmp_b0005.png").unlink(),
         r"cmp_b0005.jpg has no partner: expected .*base/cmp_b0005.png"),
        (lambda root: (root / "base" / "cmp_b0005.jpg").unlink(),
         r"cmp_b0005.png has no partner: expected .*base/cmp_b0005.jpg"),
        (_label_id(0), r"cmp_b0005.png: class ids must be 1..12, found \[0\]"),
        (_label_id(13), r"cmp_b0005.png: class ids must be 1..12, found \[13\]"),
        (_label_converted_to_rgb, r"cmp_b0005.png: expected a palette PNG .*found mode RGB"),
        (_label_wrong_size, r"cmp_b0005.jpg is \(16, 24\) but its label is \(16, 16\)"),
        (_corrupt_photo, r"cannot read .*cmp_b0005.jpg"),
    ],
    ids=["no base", "empty base", "photo without label", "label without photo", "id 0",
         "id 13", "rgb label", "size mismatch", "corrupt photo"],
)
def test_facade_bad_folder(facade_root, damage, message):
    damage(facade_root)
    with pytest.raises(DatasetError, match=message):
        FacadeDataset("train", facade_root, size=(12, 8))
