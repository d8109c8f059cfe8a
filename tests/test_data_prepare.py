"""Making phc_data from a fake Cell Tracking Challenge archive (course_utils.data.prepare).

The fake archive ``PhC-C2DH-U373.zip`` holds 120 x 160 frames: sequence 01 as 16-bit TIFFs
(background 1000, cells 6000), sequence 02 as 8-bit (40 and 200). Every annotated frame has
the same cells, by id:

- 1: square rows 30-49, cols 30-49 (400 px): crop (top 21, left 21, side 38), as
  side = ceil(max(sqrt(400 / 0.28), 1.25 * 20)) = 38 and top = (30 + 50 - 38) / 2 = 21;
- 2: a disc of radius 12 around (80, 110): 441 px, rows 68-92, cols 98-122, so side =
  ceil(max(sqrt(441 / 0.28), 1.25 * 25)) = 40 and top = round(60.5) = 60, left 90;
- 3: rows 0-9 (touches the frame edge): skipped;
- 4: 5 x 5 = 25 px, under the 64 px minimum: skipped;
- 5: rows/cols 53-60 (64 px): bright in the corner of cell 1's crop, absent from its label;
- 6: rows 2-21, cols 130-149 (400 px): its square (side 38) would start at row -7, so it
  slides to (top 0, left 121).

Frames with masks: 01/t000, 01/t002, 02/t000, 02/t001: 4 x 4 = 16 crops, numbered in frame
order (crop 0 is cell 1 of 01/t000, crop 3 its cell 6). The split puts round(16 * 151/651) = 4
crops, one frame, in train.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from course_utils import data
from course_utils.__main__ import main
from course_utils.data import DatasetError, PhCDataset, catalog, prepare

H, W = 120, 160
VIRIDIS_LOW, VIRIDIS_HIGH = (68, 1, 84), (253, 231, 37)
GT_FRAMES = {"01": ["000", "002"], "02": ["000", "001"]}


def fake_mask() -> np.ndarray:
    mask = np.zeros((H, W), dtype=np.uint16)
    mask[30:50, 30:50] = 1
    yy, xx = np.mgrid[0:H, 0:W]
    mask[(yy - 80) ** 2 + (xx - 110) ** 2 <= 12**2] = 2
    mask[0:10, 70:90] = 3
    mask[100:105, 20:25] = 4
    mask[53:61, 53:61] = 5
    mask[2:22, 130:150] = 6
    return mask


def fake_frame(sequence: str) -> np.ndarray:
    cells = fake_mask() > 0
    if sequence == "01":
        return np.where(cells, 6000, 1000).astype(np.uint16)  # 16-bit
    return np.where(cells, 200, 40).astype(np.uint8)


def _tif(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="TIFF")
    return buffer.getvalue()


def ctc_members(top: str = "PhC-C2DH-U373") -> dict[str, bytes]:
    members = {}
    for sequence, frames in (("01", ["000", "001", "002"]), ("02", ["000", "001"])):
        for t in frames:
            members[f"{top}/{sequence}/t{t}.tif"] = _tif(fake_frame(sequence))
        for t in GT_FRAMES[sequence]:
            members[f"{top}/{sequence}_GT/SEG/man_seg{t}.tif"] = _tif(fake_mask())
        members[f"{top}/{sequence}_GT/TRA/man_track000.tif"] = _tif(fake_mask())
        members[f"{top}/{sequence}_GT/TRA/man_track.txt"] = b"1 0 2 0\n"
    members[f"{top}/01_ST/SEG/man_seg001.tif"] = _tif(fake_mask())  # silver truth: ignored
    return members


def write_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


@pytest.fixture
def ctc_zip(tmp_path):
    return write_zip(tmp_path / "PhC-C2DH-U373.zip", ctc_members())


def _rows(out):
    with open(out / "crops.csv", newline="") as file:
        return list(csv.DictReader(file))


def _load(out, index):
    split = next(r["split"] for r in _rows(out) if int(r["index"]) == index)
    image = Image.open(out / split / "images" / f"img_{index:05d}.jpg")
    label = Image.open(out / split / "labels" / f"label_{index:05d}.png")
    image.load(), label.load()  # and close the files
    return image, label


def _tree(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- small pieces


@pytest.mark.parametrize(
    ("box", "area", "shape", "expected"),
    [
        ((slice(30, 50), slice(30, 50)), 400, (120, 160), (21, 21, 38)),
        ((slice(2, 22), slice(130, 150)), 400, (120, 160), (0, 121, 38)),
        ((slice(40, 44), slice(20, 80)), 240, (120, 160), (4, 12, 75)),  # 1.25 * 60 wins
        ((slice(0, 10), slice(70, 90)), 200, (120, 160), "cells cut by the frame edge"),
        ((slice(5, 45), slice(5, 45)), 1600, (50, 50), "cells too large for a square crop"),
    ],
    ids=["centred", "slides inwards", "elongated", "frame edge", "too large"],
)
def test_crop_box(box, area, shape, expected):
    assert prepare.crop_box(box, area, shape, 0.28) == expected


@pytest.mark.parametrize(
    ("sizes", "fraction", "n_train_frames"),
    [
        ({"a": 10, "b": 10, "c": 10, "d": 10}, 0.25, 1),
        ({"a": 10, "b": 10, "c": 10, "d": 10}, 0.5, 2),
        ({"a": 1, "b": 1}, 0.99, 1),  # never all frames in train
        ({"a": 1, "b": 1, "c": 0}, 0.01, 1),  # never an empty train; empty frames ignored
    ],
)
def test_split_frames(sizes, fraction, n_train_frames):
    train = prepare.split_frames(sizes, fraction, seed=0)
    assert len(train) == n_train_frames and train <= {k for k, n in sizes.items() if n}
    assert prepare.split_frames(sizes, fraction, seed=0) == train


@pytest.mark.parametrize("sizes", [{}, {"a": 5}, {"a": 5, "b": 0}])
def test_split_frames_needs_two_frames(sizes):
    with pytest.raises(DatasetError, match="needs at least 2 frames with crops, found"):
        prepare.split_frames(sizes, 0.25)


def test_crop_cells_ids_and_skips():
    crops, skipped = prepare.crop_cells(fake_frame("01"), fake_mask())
    assert [(cell_id, box) for cell_id, box, _, _ in crops] == [
        (1, (21, 21, 38)), (2, (60, 90, 40)), (5, (49, 49, 16)), (6, (0, 121, 38))]
    assert skipped == {"cells cut by the frame edge": 1, "cells under 64 px": 1}
    for _, _, rgb, label in crops:
        assert rgb.shape == (128, 128, 3) and rgb.dtype == np.uint8
        assert set(np.unique(label)) == {0, 255}


def test_crop_cells_shape_mismatch():
    with pytest.raises(ValueError, match=r"frame \(4, 4\) and mask \(4, 5\) must be equal"):
        prepare.crop_cells(np.zeros((4, 4)), np.zeros((4, 5), dtype=np.uint16))


# --------------------------------------------------------------------------- the whole archive


def test_prepare_makes_the_course_layout(ctc_zip, tmp_path):
    out = tmp_path / "phc_data"
    made = prepare.prepare_phc(ctc_zip, out)
    rows = _rows(out)
    assert [int(r["index"]) for r in rows] == list(range(16))
    assert [(r["sequence"], r["frame"], r["cell_id"]) for r in rows[:4]] == [
        ("01", "000", "1"), ("01", "000", "2"), ("01", "000", "5"), ("01", "000", "6")]
    assert [(r["top"], r["left"], r["side"]) for r in (rows[0], rows[3])] == [
        ("21", "21", "38"), ("0", "121", "38")]
    frames = {}
    for r in rows:
        frames.setdefault((r["sequence"], r["frame"]), set()).add(r["split"])
    assert all(len(splits) == 1 for splits in frames.values())  # a frame stays together
    train = [r for r in rows if r["split"] == "train"]
    assert len(train) == 4 and len({(r["sequence"], r["frame"]) for r in train}) == 1
    for split, n in (("train", 4), ("test", 12)):
        assert len(list((out / split / "images").glob("img_*.jpg"))) == n
        assert len(list((out / split / "labels").glob("label_*.png"))) == n
    assert made.skipped == {"cells cut by the frame edge": 4, "cells under 64 px": 4}
    assert len(made.crops) == 16 and made.out == out
    report = data.validate("phc", out)
    assert report.ok and report.errors == []
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary left


@pytest.mark.parametrize("index", [0, 8], ids=["16-bit frame", "8-bit frame"])
def test_prepare_crop_contents(ctc_zip, tmp_path, index):
    """Crop ``index`` is cell 1 (of 01/t000 or 02/t000): a centred square in its label, yellow
    (viridis top) in the image, purple around it, and cell 5 yellow in the image corner but
    not in the label."""
    prepare.prepare_phc(ctc_zip, tmp_path / "out")
    image, label = _load(tmp_path / "out", index)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (128, 128))
    assert (label.format, label.mode, label.size) == ("PNG", "L", (128, 128))
    rgb, mask = np.asarray(image).astype(int), np.asarray(label)
    assert set(np.unique(mask)) == {0, 255}
    cell = mask == 255
    assert abs(cell.mean() - 400 / 38**2) < 0.01  # 27.7% of the crop
    rows, cols = np.nonzero(cell)
    assert abs(rows.mean() - 63.5) < 1 and abs(cols.mean() - 63.5) < 1
    assert rows.min() > 25 and rows.max() < 102  # 9/38 and 29/38 of 128, never the border
    inner = rgb[40:88, 40:88]
    assert np.abs(inner.mean(axis=(0, 1)) - VIRIDIS_HIGH).max() < 12
    assert np.abs(rgb[2:20, 2:20].mean(axis=(0, 1)) - VIRIDIS_LOW).max() < 12
    assert np.abs(rgb[115:126, 115:126].mean(axis=(0, 1)) - VIRIDIS_HIGH).max() < 12
    assert not cell[108:, 108:].any()  # cell 5 is in the picture, not in the label


def test_prepare_slid_crop_keeps_the_cell_whole(ctc_zip, tmp_path):
    prepare.prepare_phc(ctc_zip, tmp_path / "out")
    _, label = _load(tmp_path / "out", 3)
    rows, cols = np.nonzero(np.asarray(label))
    assert abs(rows.mean() - 12 * 128 / 38) < 1.5  # off centre: the square slid down
    assert rows.min() > 0 and cols.min() > 0 and rows.max() < 127 and cols.max() < 127


def test_prepare_is_deterministic_and_reads_a_folder_alike(ctc_zip, tmp_path):
    for name, member in ctc_members().items():
        (tmp_path / "unpacked" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "unpacked" / name).write_bytes(member)
    prepare.prepare_phc(ctc_zip, tmp_path / "a")
    prepare.prepare_phc(ctc_zip, tmp_path / "b")
    prepare.prepare_phc(tmp_path / "unpacked" / "PhC-C2DH-U373", tmp_path / "c")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b") == _tree(tmp_path / "c")


def test_prepare_describe(ctc_zip, tmp_path):
    text = prepare.prepare_phc(ctc_zip, tmp_path / "out").describe()
    assert text.startswith(f"made 16 crops in {tmp_path / 'out'} from 4 annotated frames of "
                           f"sequence(s) 01, 02:\n  train    4 crops from 1 frames\n  test    12 "
                           f"crops from 3 frames\n  skipped 4 cells cut by the frame edge, 4 "
                           f"cells under 64 px\n  archive SHA-256 ")


def test_prepare_checks_a_known_checksum(ctc_zip, tmp_path, monkeypatch):
    monkeypatch.setitem(data.registry()["phc"], "archive_sha256", "0" * 64)
    with pytest.raises(DatasetError, match=f"has SHA-256 [0-9a-f]{{64}}, expected {'0' * 64}"):
        prepare.prepare_phc(ctc_zip, tmp_path / "out")
    assert ctc_zip.exists() and not (tmp_path / "out").exists()
    monkeypatch.setitem(data.registry()["phc"], "archive_sha256", data.sha256_of(ctc_zip))
    assert prepare.prepare_phc(ctc_zip, tmp_path / "out").sha256 == data.sha256_of(ctc_zip)


# --------------------------------------------------------------------------- bad input


def _without(name):
    members = ctc_members()
    del members[name]
    return members


def _replace(name, content):
    return ctc_members() | {name: content}


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"readme.txt": b"hello"}, r"holds no ground-truth masks NN_GT/SEG/man_segTTT.tif of "
                                   r"sequences 01, 02; expected the Cell Tracking Challenge"),
        (_without("PhC-C2DH-U373/01/t002.tif"),
         r"the mask PhC-C2DH-U373/01_GT/SEG/man_seg002.tif has no frame: expected "
         r"PhC-C2DH-U373/01/t002.tif"),
        (_replace("PhC-C2DH-U373/01/t000.tif", _tif(np.zeros((100, 90), np.uint16))),
         r"PhC-C2DH-U373/01/t000.tif is \(90, 100\) but its mask "
         r"PhC-C2DH-U373/01_GT/SEG/man_seg000.tif is \(160, 120\)"),
        (_replace("PhC-C2DH-U373/02_GT/SEG/man_seg001.tif", _tif(np.zeros((H, W, 3), np.uint8))),
         r"man_seg001.tif should be a 16-bit instance mask TIFF, found mode RGB"),
        (_replace("PhC-C2DH-U373/02/t001.tif", b"II*\x00garbage"),
         r"cannot read PhC-C2DH-U373/02/t001.tif .*download the archive again"),
        ({k: v for k, v in ctc_members().items() if "01_GT/SEG/man_seg002" not in k
          and "02_GT/SEG" not in k}, r"needs at least 2 frames with crops, found 1"),
    ],
    ids=["not the archive", "mask without frame", "size mismatch", "rgb mask", "garbage tif",
         "one frame"],
)
def test_prepare_bad_archive(tmp_path, members, message):
    archive = write_zip(tmp_path / "a.zip", members)
    with pytest.raises(DatasetError, match=message):
        prepare.prepare_phc(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]  # no temporary left


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, r"does not exist. Download https://data.celltrackingchallenge.net/.* "
                      r"\(after accepting the terms at .*\) and give its path with --from"),
        (lambda p: (p.write_text("not a zip"), p)[1], r"is not a readable zip archive"),
    ],
    ids=["missing", "not a zip"],
)
def test_prepare_bad_source(tmp_path, make, message):
    source = make(tmp_path / "PhC-C2DH-U373.zip")
    with pytest.raises(DatasetError, match=message):
        prepare.prepare_phc(source, tmp_path / "out")


@pytest.mark.parametrize("kind", ["folder with files", "link", "file"])
def test_prepare_never_overwrites(ctc_zip, tmp_path, kind):
    out = tmp_path / "phc_data"
    if kind == "folder with files":
        out.mkdir()
        (out / "mine.txt").write_text("keep")
    elif kind == "link":
        (tmp_path / "elsewhere").mkdir()
        os.symlink(tmp_path / "elsewhere", out)
    else:
        out.write_text("keep")
    before = _tree(tmp_path)
    with pytest.raises(DatasetError, match="already exists and is never overwritten"):
        prepare.prepare_phc(ctc_zip, out)
    assert _tree(tmp_path) == before


def test_prepare_into_an_empty_folder(ctc_zip, tmp_path):
    (tmp_path / "out").mkdir()
    assert len(prepare.prepare_phc(ctc_zip, tmp_path / "out").crops) == 16


# --------------------------------------------------------------------------- the command


def test_prepare_command_feeds_the_lessons(ctc_zip, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(catalog, "DATA_LINKS", tmp_path / "links")
    assert main(["data", "prepare", "phc", "--from", str(ctc_zip)]) == 0
    printed = capsys.readouterr().out
    assert f"made 16 crops in {tmp_path / 'links' / 'phc_data'}" in printed
    assert "Cite: Ulman, V. et al." in printed
    dataset = PhCDataset("test")
    assert dataset.source.kind == "data_links" and len(dataset) == 12
    assert tuple(dataset.images.shape[1:]) == (3, 128, 128)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "prepare", "facade", "--from", "x.zip"], "only phc is prepared from an archive"),
        (["data", "prepare", "cells", "--from", "x.zip"], "unknown dataset 'cells'"),
        (["data", "prepare", "phc", "--from", "missing.zip"], "missing.zip does not exist"),
    ],
)
def test_prepare_command_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setattr(catalog, "DATA_LINKS", tmp_path / "links")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "links").exists()
