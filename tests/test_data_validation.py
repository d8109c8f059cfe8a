"""Validation of dataset folders against the registry (course_utils.data.validation).

Folders come from the conftest factories: PhC keys 0..9 (train) and 100..102 (test), facade
stems cmp_b0001..cmp_b0020. The PhC crops are written 128 x 128 here, so the only
differences from the course copy are the counts (notes, not errors).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from PIL import Image

from course_utils.data import DatasetError, FacadeDataset, PhCDataset, catalog, validation


@pytest.fixture
def phc128(make_phc):
    """A PhC root like the course copy but for the counts: RGB JPEGs, 128 x 128."""
    root = make_phc(size=128)
    for path in root.rglob("img_*.jpg"):
        Image.open(path).convert("RGB").save(path, quality=95)
    return root


def _snapshot(root):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*"))}


# --------------------------------------------------------------------------- good folders


def test_phc_good_folder_is_ok_with_count_notes(phc128):
    report = validation.validate("phc", phc128)
    assert report.ok
    assert report.summary == "train 10, test 3"
    assert [str(f) for f in report.findings] == [
        "train; expected 151 pairs (the course's copy), found 10",
        "test; expected 500 pairs (the course's copy), found 3",
    ]
    assert report.verdict() == "ok, 2 notes (train 10, test 3)"


def test_facade_good_folder_is_ok_with_count_note(facade_root):
    report = validation.validate("facade", facade_root)
    assert report.ok
    assert [str(f) for f in report.findings] == ["base; expected 378 photos (the base set), found 20"]
    assert report.verdict() == "ok, 1 note (20 photos)"


def test_validate_reads_only(phc128, facade_root):
    before = _snapshot(phc128) | _snapshot(facade_root)
    validation.validate("phc", phc128)
    validation.validate("facade", facade_root)
    assert _snapshot(phc128) | _snapshot(facade_root) == before


def test_phc_splits_argument_checks_one_split(phc128):
    report = validation.validate("phc", phc128, splits=["test"])
    assert report.summary == "test 3"


# --------------------------------------------------------------------------- bad PhC folders


def _label_value(value):
    def damage(root):
        label = np.zeros((128, 128), dtype=np.uint8)
        label[:4] = value
        Image.fromarray(label).save(root / "train" / "labels" / "label_00004.png")
    return damage


def _rgb_label(root):
    Image.new("RGB", (128, 128)).save(root / "train" / "labels" / "label_00004.png")


def _small_images(root):
    for i in (2, 3):
        Image.new("RGB", (16, 16)).save(root / "train" / "images" / f"img_{i:05d}.jpg")


def _garbage(root):
    (root / "train" / "labels" / "label_00001.png").write_bytes(b"not a png")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda r: (r / "test").rename(r / "testing"),
         r"missing folder .*/test; expected .*/test/images/img_NNNNN.jpg and .*/test/labels/"
         r"label_NNNNN.png, found in .*: testing/, train/$"),
        (lambda r: (r / "train" / "labels").rename(r / "train" / "masks"),
         r"missing folder .*/train/labels; expected .*, found in .*/train: images/, masks/$"),
        (lambda r: (r / "train" / "labels" / "label_00003.png").unlink(),
         r"^train: 1 file\(s\) without a partner, e.g. img_00003.jpg; expected a label for each"),
        (lambda r: [p.unlink() for p in (r / "test" / "images").iterdir()],
         r"^test: 3 file\(s\) without a partner, e.g. label_00100.png; expected an image for each"),
        (_label_value(128), r"^train labels: train/labels/label_00004.png; expected 8-bit "
                            r"greyscale PNG with values \[0, 255\], the size of its image, found "
                            r"values \[128\]$"),
        (_rgb_label, r"label_00004.png; .*found PNG RGB 128x128 \(image 128x128\)$"),
        (_small_images, r"^train labels: train/labels/label_00002.png and 1 more of 10; .*found "
                        r"PNG L 128x128 \(image 16x16\)$"),
        (_garbage, r"^train: train/labels/label_00001.png; expected a readable image, found an "
                   r"unreadable file"),
    ],
    ids=["no test", "no labels", "image without label", "labels without images", "value 128",
         "rgb label", "16x16 images", "garbage file"],
)
def test_phc_bad_folder_says_expected_and_found(phc128, damage, expected):
    damage(phc128)
    report = validation.validate("phc", phc128)
    assert not report.ok
    assert any(re.search(expected, str(f)) for f in report.errors), \
        [str(f) for f in report.errors]
    assert report.verdict().startswith("FAILED")


def test_phc_index_in_both_splits_is_a_note(make_phc):
    root = make_phc(size=128, n_train=3)
    (root / "test" / "images" / "img_00100.jpg").rename(root / "test" / "images" / "img_00001.jpg")
    (root / "test" / "labels" / "label_00100.png").rename(root / "test" / "labels" / "label_00001.png")
    report = validation.validate("phc", root)
    assert report.ok
    assert "test/images/img_00001.jpg; expected one index space shared by the splits, each index " \
           "once, found it in train/ too" in [str(f) for f in report.findings]


@pytest.mark.parametrize(
    ("where", "hint"),
    [
        (lambda root: root.parent, "this folder holds phc_data/: give that folder instead"),
        (lambda root: root / "train",
         "this looks like one split folder: give the folder that holds train/ and test/"),
    ],
    ids=["parent", "split folder"],
)
def test_phc_wrong_level_gives_a_hint(make_phc, where, hint):
    root = make_phc("phc_data", size=128)
    report = validation.validate("phc", where(root))
    assert not report.ok and hint in str(report.errors[0])


@pytest.mark.parametrize(
    ("make", "found"),
    [
        (lambda p: p, "nothing at this path"),
        (lambda p: (p.write_text("x"), p)[1], "a file, not a folder"),
        (lambda p: p.symlink_to(p.parent / "gone") or p, "a broken link to "),
    ],
    ids=["missing", "file", "broken link"],
)
def test_not_a_folder(tmp_path, make, found):
    path = make(tmp_path / "x")
    report = validation.validate("phc", path)
    assert not report.ok
    assert str(report.errors[0]).startswith(f"{path}; expected a folder, found {found}")


@pytest.mark.parametrize(
    ("damage", "note"),
    [
        (lambda r: None, "train images: train/images/img_00000.jpg and 9 more of 10; expected "
                         "JPEG RGB 128x128 (the course's copy), found JPEG L 16x16"),
        (lambda r: Image.new("L", (16, 16)).save(r / "test" / "images" / "img_00101.jpg",
                                                 format="PNG"),
         "test images: test/images/img_00100.jpg and 2 more of 3; expected JPEG RGB 128x128 "
         "(the course's copy), found JPEG L 16x16"),
    ],
    ids=["grey 16x16 jpeg", "png named jpg"],
)
def test_phc_readable_but_different_images_are_notes(phc_root, damage, note):
    damage(phc_root)
    report = validation.validate("phc", phc_root)
    assert report.ok
    assert note in [str(f) for f in report.findings]


def test_facade_png_photo_is_a_note(facade_root):
    Image.new("RGB", (16, 24)).save(facade_root / "base" / "cmp_b0002.jpg", format="PNG")
    report = validation.validate("facade", facade_root)
    assert report.ok
    assert "base images: base/cmp_b0002.jpg; expected JPEG RGB (the course's copy), found PNG " \
           "RGB 16x24" in [str(f) for f in report.findings]


# --------------------------------------------------------------------------- bad facade folders


def _facade_label(root, array, mode="P"):
    Image.fromarray(array).convert(mode).save(root / "base" / "cmp_b0005.png")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda r: _facade_label(r, np.zeros((24, 16), np.uint8)),
         r"^base labels: base/cmp_b0005.png; expected palette PNG of class ids 1..12, the size of "
         r"its photo, found values \[0\]$"),
        (lambda r: _facade_label(r, np.full((24, 16), 3, np.uint8), "RGB"),
         r"cmp_b0005.png; .*found PNG RGB 16x24 \(image 16x24\)$"),
        (lambda r: _facade_label(r, np.full((16, 16), 3, np.uint8)),
         r"cmp_b0005.png; .*found PNG P 16x16 \(image 16x24\)$"),
        (lambda r: (r / "base" / "cmp_b0007.jpg").unlink(),
         r"^base: 1 file\(s\) without a partner, e.g. cmp_b0007.png; expected a photo for each"),
        (lambda r: (r / "base").rename(r / "photos"),
         r"missing folder .*/base; expected .*/base/cmp_bNNNN.jpg and .png pairs, found in .*: "
         r"photos/$"),
    ],
    ids=["id 0", "rgb label", "size mismatch", "label without photo", "no base"],
)
def test_facade_bad_folder_says_expected_and_found(facade_root, damage, expected):
    damage(facade_root)
    report = validation.validate("facade", facade_root)
    assert any(re.search(expected, str(f)) for f in report.errors), [str(f) for f in report.errors]


def test_facade_files_without_base_folder_hint(facade_root):
    report = validation.validate("facade", facade_root / "base")
    assert "these look like the files of base/: give the folder that holds base/" \
        in str(report.errors[0])


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"unknown dataset 'cells'; expected one of"):
        validation.validate("cells", ".")


# --------------------------------------------------------------------------- the datasets use it


def test_check_layout_raises_with_expected_and_found(make_phc):
    root = make_phc("phc_data")
    with pytest.raises(DatasetError) as info:
        validation.check_layout("phc", root.parent)
    message = str(info.value)
    assert message.startswith(f"{root.parent} is not a usable phc folder")
    assert f"missing folder {root.parent / 'train'}; expected" in message
    assert "this folder holds phc_data/: give that folder instead" in message
    assert "data_links/README.md" in message


def test_check_layout_passes_a_good_folder_without_opening_files(phc_root):
    (phc_root / "train" / "images" / "img_00000.jpg").write_bytes(b"junk")
    validation.check_layout("phc", phc_root)  # files are the readers' business


def test_phc_dataset_on_a_linked_parent_folder_fails_early(make_phc, monkeypatch, tmp_path):
    root = make_phc("phc_data")
    links = tmp_path / "links"
    links.mkdir()
    os.symlink(root.parent, links / "phc_data")  # linked one level too high
    monkeypatch.setattr(catalog, "DATA_LINKS", links)
    with pytest.raises(DatasetError, match=r"(?s)missing folder .*train; expected .*found in .*"
                                           r"phc_data/.*give that folder instead"):
        PhCDataset("train")


def test_phc_dataset_checks_only_its_split(make_phc):
    root = make_phc()
    (root / "test").rename(root.parent / "elsewhere")
    assert len(PhCDataset("train", root, val_fraction=0.5)) == 5


def test_facade_dataset_on_its_base_folder_fails_early(facade_root):
    with pytest.raises(DatasetError, match="give the folder that holds base/"):
        FacadeDataset("train", facade_root / "base", size=(12, 8))
