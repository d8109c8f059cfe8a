"""Turning the Cell Tracking Challenge archive PhC-C2DH-U373.zip into the course's phc_data.

The challenge ships sequences ``01`` and ``02`` of phase-contrast frames ``NN/tTTT.tif``
(8- or 16-bit greyscale TIFF) and, for some frames, ground-truth instance masks
``NN_GT/SEG/man_segTTT.tif`` (16-bit, 0 background, each cell its own id). The course's copy
holds one crop per annotated cell:

- a square centred on the cell's bounding box, sized so the cell covers about 28% of it and
  at least an eighth of the side is left free on each side of the box; resized to 128 x 128;
- the grey crop stretched between its 0.5 and 99.5 percentiles and rendered through viridis
  to an RGB JPEG (quality 75); the label a {0, 255} PNG of that one cell only;
- cells cut by the frame edge, smaller than ``min_area`` pixels or too large for a square
  inside the frame are skipped (and counted);
- a deterministic train/test split by frame, so that neighbouring crops of one frame never
  sit on both sides, in the course copy's proportion (151 : 500); one index space numbers
  the crops of both splits in frame order.

Only the frames with ground truth are read; the archive itself is never modified.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from course_utils.data import archives, catalog, validation

__all__ = ["Crop", "Prepared", "crop_cells", "prepare_phc", "split_frames"]

_MASK = re.compile(r"(?:^|/)(\d+)_GT/SEG/man_seg(\d+)\.tif$")
_GREY_MODES = ("L", "I;16", "I;16B", "I;16L", "I", "F")
_MASK_MODES = ("L", "I;16", "I;16B", "I;16L", "I")


@dataclass(frozen=True)
class Crop:
    """Where crop ``index`` came from: sequence, frame, cell id and its square in the frame."""

    index: int
    split: str
    sequence: str
    frame: str
    cell_id: int
    top: int
    left: int
    side: int


@dataclass
class Prepared:
    """What ``prepare_phc`` made: the crops, the skipped cells by reason, the archive hash."""

    out: Path
    crops: list[Crop]
    skipped: Counter = field(default_factory=Counter)
    sha256: str | None = None

    def describe(self) -> str:
        frames = {(c.sequence, c.frame) for c in self.crops}
        lines = [f"made {len(self.crops)} crops in {self.out} from {len(frames)} annotated "
                 f"frames of sequence(s) {', '.join(sorted({s for s, _ in frames}))}:"]
        for split in ("train", "test"):
            crops = [c for c in self.crops if c.split == split]
            n_frames = len({(c.sequence, c.frame) for c in crops})
            lines.append(f"  {split:<5} {len(crops):4d} crops from {n_frames} frames")
        if self.skipped:
            lines.append("  skipped " + ", ".join(f"{n} {why}" for why, n in
                                                  sorted(self.skipped.items())))
        if self.sha256:
            lines.append(f"  archive SHA-256 {self.sha256}")
        lines.append("  index, split, sequence, frame, cell id and square of every crop: crops.csv")
        return "\n".join(lines)


def crop_box(box: tuple[slice, slice], area: int, shape, fraction: float):
    """The square ``(top, left, side)`` around a cell's bounding ``box``, or a skip reason."""
    rows, cols = box
    height, width = rows.stop - rows.start, cols.stop - cols.start
    if rows.start == 0 or cols.start == 0 or rows.stop == shape[0] or cols.stop == shape[1]:
        return "cells cut by the frame edge"
    side = math.ceil(max(math.sqrt(area / fraction), 1.25 * max(height, width)))
    if side > min(shape):
        return "cells too large for a square crop"
    top = round((rows.start + rows.stop - side) / 2)
    left = round((cols.start + cols.stop - side) / 2)
    # Near the frame edge the square slides inwards: the cell stays whole, slightly off centre.
    return min(max(top, 0), shape[0] - side), min(max(left, 0), shape[1] - side), side


def crop_cells(frame: np.ndarray, mask: np.ndarray, size: int = 128, fraction: float = 0.28,
               min_area: int = 64, lut: np.ndarray | None = None):
    """One crop per cell of an instance ``mask`` over a grey ``frame``.

    Args:
        frame: grey frame ``(H, W)``, any numeric dtype (8- or 16-bit from the TIFF).
        mask: instance mask ``(H, W)``: 0 background, each cell its own positive id.
        size: side of the square crops written.
        fraction: share of the crop the cell should cover.
        min_area: cells with fewer pixels are skipped.
        lut: ``(256, 3)`` uint8 colour map; viridis when None.

    Returns:
        ``(crops, skipped)``: a list of ``(cell_id, (top, left, side), rgb (size, size, 3),
        label (size, size) in {0, 255})`` in id order, and a ``Counter`` of skip reasons.
    """
    from scipy.ndimage import find_objects

    if frame.shape != mask.shape or frame.ndim != 2:
        raise ValueError(f"frame {frame.shape} and mask {mask.shape} must be equal 2-D shapes")
    lut = _colormap("viridis") if lut is None else lut
    areas = np.bincount(mask.ravel())
    crops, skipped = [], Counter()
    for cell_id, box in enumerate(find_objects(mask), start=1):
        if box is None:
            continue
        if areas[cell_id] < min_area:
            skipped[f"cells under {min_area} px"] += 1
            continue
        square = crop_box(box, int(areas[cell_id]), mask.shape, fraction)
        if isinstance(square, str):
            skipped[square] += 1
            continue
        top, left, side = square
        window = (slice(top, top + side), slice(left, left + side))
        grey = _resize(frame[window].astype(np.float32), size)
        label = _resize((mask[window] == cell_id).astype(np.float32), size) >= 0.5
        lo, hi = np.percentile(grey, [0.5, 99.5])
        index = np.clip((grey - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).round()
        crops.append((cell_id, square, lut[index.astype(np.uint8)],
                      label.astype(np.uint8) * 255))
    return crops, skipped


def split_frames(sizes: dict, train_fraction: float, seed: int = 0) -> set:
    """The frames (keys of ``sizes``, crops per frame) that go to train; the rest is test.

    Frames are drawn in a seeded random order until the train crops reach
    ``train_fraction`` of all crops; each split gets at least one frame.
    """
    keys = sorted(k for k, n in sizes.items() if n)
    if len(keys) < 2:
        raise catalog.DatasetError(f"a train/test split by frame needs at least 2 frames with "
                                   f"crops, found {len(keys)}; is the archive complete?")
    target = max(1, round(train_fraction * sum(sizes[k] for k in keys)))
    order = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    train, count = set(), 0
    for key in order:
        if count >= target:
            break
        train.add(key)
        count += sizes[key]
    train.discard(order[-1])  # a no-op unless every frame went to train
    return train


def prepare_phc(source, out, seed: int = 0, min_area: int = 64) -> Prepared:
    """Write the course's ``phc_data`` layout into ``out`` from the challenge archive.

    Args:
        source: ``PhC-C2DH-U373.zip`` as downloaded, or the folder it was unpacked into.
        out: the folder to create (e.g. ``data_links/phc_data``); it must not hold anything.
        seed: seed of the train/test split by frame.
        min_area: cells with fewer pixels are skipped.

    Returns:
        A ``Prepared`` record; ``describe()`` says what was made.

    Raises:
        DatasetError: if ``out`` exists and is not empty (nothing is ever overwritten), if
            the source is not the challenge archive, or if a frame or mask is unreadable.
    """
    entry = catalog.registry()["phc"]
    settings = entry["prepare"]
    source, out = Path(source).expanduser(), Path(out).expanduser()
    if out.is_symlink() or out.is_file() or (out.is_dir() and any(out.iterdir())):
        raise catalog.DatasetError(f"{out} already exists and is never overwritten; move it away "
                                   f"or choose another folder with --out.")
    sha256 = _check_archive(source, entry)
    lut = _colormap(settings["colormap"])
    size = entry["image_size"][0]
    cells, skipped = {}, Counter()
    with _open_source(source) as (names, read):
        pairs = _annotated_frames(source, names, settings["sequences"])
        for key, (frame_name, mask_name) in sorted(pairs.items()):
            frame = _read_tif(source, frame_name, read, _GREY_MODES, "an 8- or 16-bit greyscale")
            mask = _read_tif(source, mask_name, read, _MASK_MODES, "a 16-bit instance mask")
            if frame.shape != mask.shape:
                raise catalog.DatasetError(f"{source}: {frame_name} is {frame.shape[::-1]} but "
                                           f"its mask {mask_name} is {mask.shape[::-1]}; is the "
                                           f"archive damaged? Download it again.")
            cells[key], why = crop_cells(frame, mask, size, settings["cell_fraction"], min_area,
                                         lut)
            skipped.update(why)
    n_train, n_test = entry["splits"]["train"], entry["splits"]["test"]
    train = split_frames({k: len(v) for k, v in cells.items()}, n_train / (n_train + n_test), seed)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)  # a leftover of our own interrupted run
    try:
        crops = _write(tmp, cells, train, settings["jpeg_quality"])
        validation.validate("phc", tmp).raise_if_failed()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Prepared(out, crops, skipped, sha256)


def _write(root: Path, cells: dict, train: set, quality: int) -> list[Crop]:
    for split in ("train", "test"):
        for kind in ("images", "labels"):
            (root / split / kind).mkdir(parents=True)
    crops, rows = [], ["index,split,sequence,frame,cell_id,top,left,side"]
    for (sequence, frame), items in sorted(cells.items()):
        split = "train" if (sequence, frame) in train else "test"
        for cell_id, (top, left, side), rgb, label in items:
            crop = Crop(len(crops), split, sequence, frame, cell_id, top, left, side)
            Image.fromarray(rgb).save(root / split / "images" / f"img_{crop.index:05d}.jpg",
                                      quality=quality)
            Image.fromarray(label).save(root / split / "labels" / f"label_{crop.index:05d}.png")
            crops.append(crop)
            rows.append(",".join(str(v) for v in vars(crop).values()))
    (root / "crops.csv").write_text("\n".join(rows) + "\n")
    return crops


def _check_archive(source: Path, entry: dict) -> str | None:
    if not source.exists():
        raise catalog.DatasetError(f"{source} does not exist. Download {entry['source_url']} "
                                   f"(after accepting the terms at {entry['terms_url']}) and give "
                                   f"its path with --from.")
    if source.is_dir():
        return None
    sha256 = archives.sha256_of(source)
    expected = entry.get("archive_sha256")
    if expected and sha256 != expected:
        raise catalog.DatasetError(f"{source} has SHA-256 {sha256}, expected {expected}: it is "
                                   f"not the archive the course knows, or it is damaged. Download "
                                   f"it again from {entry['source_url']}.")
    return sha256


@contextlib.contextmanager
def _open_source(source: Path):
    """``(member names, read(name) -> bytes)`` of a zip archive or an unpacked folder."""
    if source.is_dir():
        names = [p.relative_to(source).as_posix() for p in sorted(source.rglob("*.tif"))]
        yield names, lambda name: (source / name).read_bytes()
        return
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise catalog.DatasetError(f"{source} is not a readable zip archive ({exc}); give the "
                                   f"PhC-C2DH-U373.zip as downloaded, or the folder it unpacks "
                                   f"to.") from exc
    with zf:
        yield zf.namelist(), zf.read


def _annotated_frames(source: Path, names: list[str], sequences) -> dict:
    """``{(sequence, frame digits): (frame member, mask member)}`` for every GT SEG mask."""
    available, pairs = set(names), {}
    for name in names:
        match = _MASK.search(name)
        if not match or match.group(1) not in sequences:
            continue
        sequence, digits = match.groups()
        path = PurePosixPath(name)
        frame = (path.parents[2] / sequence / f"t{digits}.tif").as_posix()
        if frame not in available:
            raise catalog.DatasetError(f"{source}: the mask {name} has no frame: expected {frame}; "
                                       f"is the archive complete?")
        pairs[sequence, digits] = (frame, name)
    if not pairs:
        raise catalog.DatasetError(
            f"{source} holds no ground-truth masks NN_GT/SEG/man_segTTT.tif of sequences "
            f"{', '.join(sequences)}; expected the Cell Tracking Challenge training archive "
            f"PhC-C2DH-U373.zip.")
    return pairs


def _read_tif(source: Path, name: str, read, modes, kind: str) -> np.ndarray:
    try:
        image = Image.open(io.BytesIO(read(name)))
        image.load()
    except Exception as exc:  # PIL raises many types for damaged files
        raise catalog.DatasetError(f"{source}: cannot read {name} ({exc}); download the archive "
                                   f"again.") from exc
    if image.mode not in modes:
        raise catalog.DatasetError(f"{source}: {name} should be {kind} TIFF, found mode "
                                   f"{image.mode}.")
    return np.asarray(image)


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(array).resize((size, size), Image.BILINEAR))


def _colormap(name: str) -> np.ndarray:
    import matplotlib

    colours = matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3]
    return (colours * 255).round().astype(np.uint8)
