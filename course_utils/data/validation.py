"""Checking a dataset folder against the registry: layout, counts, formats and label values.

``validate(name, path)`` returns a ``Report`` whose findings each say what was expected and
what was found. Errors make a folder unusable (a missing folder, an image without its label,
a label in the wrong format); notes mark a usable folder that differs from the course's copy
(another number of samples, as a folder made by ``data prepare`` has). ``check_layout`` is the
cheap folder-level part, run by the datasets before they decode anything.

Reading only: nothing here changes a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from course_utils.data import catalog

__all__ = ["SYNTHETIC_MARKER", "Finding", "Report", "check_layout", "validate"]

SYNTHETIC_MARKER = "SYNTHETIC.txt"  # written by `data synth` into the twins it makes
_EXAMPLES = 6


@dataclass(frozen=True)
class Finding:
    """One difference between a folder and the registry's description of the dataset."""

    what: str
    expected: str
    found: str
    severity: str = "error"  # "error": unusable; "note": usable, differs from the course copy

    def __str__(self) -> str:
        return f"{self.what}; expected {self.expected}, found {self.found}"


@dataclass
class Report:
    """The result of ``validate``: ``summary`` of what was found and the ``findings``."""

    name: str
    path: Path
    summary: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def verdict(self) -> str:
        """One short line: ``ok``, ``ok, 2 notes`` or ``FAILED: 3 errors``, then the summary."""
        notes = len(self.findings) - len(self.errors)
        if self.errors:
            text = f"FAILED: {len(self.errors)} error{'s' * (len(self.errors) > 1)}"
        else:
            text = "ok" + (f", {notes} note{'s' * (notes > 1)}" if notes else "")
        return f"{text} ({self.summary})" if self.summary else text

    def message(self) -> str:
        lines = [f"{self.path} is not a usable {self.name} folder "
                 f"({catalog.registry()[self.name]['title']}):"]
        lines += [f"  - {f}" for f in self.errors]
        lines.append("Fix or replace the folder, or link the right one; "
                     "`python -m course_utils data status` shows what is used "
                     "(see data_links/README.md).")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if self.errors:
            raise catalog.DatasetError(self.message())


def validate(name: str, path, splits=None, open_files: bool = True) -> Report:
    """Check the folder ``path`` of dataset ``name`` against the registry.

    Args:
        name: "phc" or "facade".
        path: the dataset's root folder (holding ``train/`` and ``test/``, or ``base/``).
        splits: for "phc", the split folders to check (default: all in the registry).
        open_files: also open every file: image format, mode and size, label values.

    Returns:
        A ``Report``; ``report.ok`` is False when the folder cannot be used as it is.
    """
    entry = catalog.entry(name)
    report = Report(name, Path(path))
    if not report.path.is_dir():
        report.findings.append(Finding(str(report.path), "a folder", _describe(report.path)))
        return report
    report.findings += _layout_findings(name, report.path, splits)
    if report.ok:
        if name == "phc":
            _check_phc(report, entry, splits or list(entry["splits"]), open_files)
        else:
            _check_facade(report, entry, open_files)
    return report


def check_layout(name: str, path, splits=None) -> None:
    """Raise ``DatasetError`` saying what was expected and found if the folders are wrong."""
    report = Report(name, Path(path), findings=_layout_findings(name, Path(path), splits))
    report.raise_if_failed()


def _describe(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"a broken link to {path.readlink()}"
    if path.exists():
        return "a file, not a folder"
    return "nothing at this path"


def _listing(folder: Path) -> str:
    names = sorted(p.name + "/" * p.is_dir() for p in folder.iterdir())
    if not names:
        return f"{folder} is empty"
    more = f" and {len(names) - _EXAMPLES} more" if len(names) > _EXAMPLES else ""
    return f"in {folder}: {', '.join(names[:_EXAMPLES])}{more}"


def _layout_findings(name: str, root: Path, splits) -> list[Finding]:
    """Folder-level findings: the folders the readers need, with a hint at a common slip."""
    entry = catalog.entry(name)
    if name == "facade":
        base = root / entry["subfolder"]
        if base.is_dir():
            return []
        return [Finding(f"missing folder {base}", f"{base}/cmp_bNNNN.jpg and .png pairs",
                        _listing(root) + _hint(name, entry, root))]
    findings = []
    for split in splits or entry["splits"]:
        folder = root / split
        expected = f"{folder}/images/img_NNNNN.jpg and {folder}/labels/label_NNNNN.png"
        if not folder.is_dir():
            findings.append(Finding(f"missing folder {folder}", expected,
                                    _listing(root) + _hint(name, entry, root)))
            continue
        findings += [Finding(f"missing folder {folder / sub}", expected, _listing(folder))
                     for sub in ("images", "labels") if not (folder / sub).is_dir()]
    return findings


def _hint(name: str, entry: dict, root: Path) -> str:
    if (root / entry["folder"]).is_dir():
        return f" (this folder holds {entry['folder']}/: give that folder instead)"
    if name == "phc" and (root / "images").is_dir():
        return " (this looks like one split folder: give the folder that holds train/ and test/)"
    if name == "facade" and any(root.glob(entry["stem_glob"] + ".png")):
        return (f" (these look like the files of {entry['subfolder']}/: give the folder that "
                f"holds {entry['subfolder']}/)")
    return ""


def _keyed(folder: Path, pattern: str) -> dict[str, Path]:
    return {p.name.split("_", 1)[-1].rsplit(".", 1)[0]: p for p in folder.glob(pattern)}


def _unpaired(what: str, a: dict, b: dict, a_name: str, b_name: str) -> list[Finding]:
    findings = []
    for have, lack, kind in ((a, b, b_name), (b, a, a_name)):
        keys = sorted(have.keys() - lack.keys())
        if keys:
            example = have[keys[0]].name
            findings.append(Finding(f"{what}: {len(keys)} file(s) without a partner, e.g. {example}",
                                    f"{kind} for each", "none"))
    return findings


def _tally(report: Report, what: str, expected: str, bad: list[tuple[Path, str]], total: int,
           severity: str = "error") -> None:
    """One finding for all files that fail the same check."""
    if bad:
        path, found = bad[0]
        more = f" and {len(bad) - 1} more of {total}" if len(bad) > 1 else ""
        report.findings.append(Finding(f"{what}: {path.relative_to(report.path)}{more}",
                                       expected, found, severity))


def _describe_image(image: Image.Image) -> str:
    return f"{image.format} {image.mode} {image.size[0]}x{image.size[1]}"


def _check_pair(image_path: Path, label_path: Path, expected_image: tuple, label_modes, values,
                bad: dict[str, list]) -> None:
    """Open one image/label pair; append ``(path, found)`` to ``bad[kind]`` for each problem.

    Kinds: "unreadable" and "label" (errors: the readers fail or read wrong targets) and
    "image" (a note: readable, but not the course copy's format, mode or size).
    """
    try:
        with Image.open(image_path) as image:
            size, found = image.size, _describe_image(image)
    except Exception as exc:  # PIL raises many types for damaged files
        bad["unreadable"].append((image_path, f"an unreadable file ({exc})"))
        return
    if found.split()[: len(expected_image)] != list(expected_image):
        bad["image"].append((image_path, found))
    try:
        with Image.open(label_path) as label:
            found = _describe_image(label)
            if label.format != "PNG" or label.mode not in label_modes or label.size != size:
                bad["label"].append((label_path, f"{found} (image {size[0]}x{size[1]})"))
                return
            ids = np.unique(np.asarray(label))
    except Exception as exc:
        bad["unreadable"].append((label_path, f"an unreadable file ({exc})"))
        return
    extra = np.setdiff1d(ids, values)
    if extra.size:
        bad["label"].append((label_path, f"values {extra[:_EXAMPLES].tolist()}"))


def _check_files(report: Report, what: str, pairs: list, expected_image: tuple, label_modes,
                 values, label_text: str) -> None:
    bad = {"unreadable": [], "image": [], "label": []}
    for image_path, label_path in pairs:
        _check_pair(image_path, label_path, expected_image, label_modes, values, bad)
    _tally(report, what, "a readable image", bad["unreadable"], 2 * len(pairs))
    _tally(report, f"{what} labels", label_text, bad["label"], len(pairs))
    _tally(report, f"{what} images", " ".join(expected_image) + " (the course's copy)",
           bad["image"], len(pairs), "note")


def _check_phc(report: Report, entry: dict, splits, open_files: bool) -> None:
    width, height = entry["image_size"][1], entry["image_size"][0]
    values = entry["label_values"]
    counts, seen = [], {}
    for split in splits:
        folder = report.path / split
        images, labels = _keyed(folder, entry["image_glob"]), _keyed(folder, entry["label_glob"])
        counts.append(f"{split} {len(images)}")
        expected = entry["splits"][split]
        if not images and not labels:
            others = sorted(p.name for p in (folder / "images").iterdir())[:1]
            report.findings.append(Finding(
                f"{split}", f"{expected} img_NNNNN.jpg / label_NNNNN.png pairs",
                f"none{' (only files like ' + others[0] + ')' if others else ''}"))
            continue
        report.findings += _unpaired(split, images, labels, "an image", "a label")
        if len(images) != expected:
            report.findings.append(Finding(f"{split}", f"{expected} pairs (the course's copy)",
                                           f"{len(images)}", "note"))
        for key in images.keys() & seen.keys():
            report.findings.append(Finding(f"{split}/images/{images[key].name}",
                                           "one index space shared by the splits, each index once",
                                           f"it in {seen[key]}/ too", "note"))
            break
        seen.update(dict.fromkeys(images, split))
        if open_files:
            pairs = [(images[k], labels[k]) for k in sorted(images.keys() & labels.keys())]
            _check_files(report, split, pairs, ("JPEG", "RGB", f"{width}x{height}"), ("L", "P"),
                         values, f"8-bit greyscale PNG with values {values}, the size of its image")
    report.summary = ", ".join(counts)


def _check_facade(report: Report, entry: dict, open_files: bool) -> None:
    base = report.path / entry["subfolder"]
    glob = entry["stem_glob"]
    photos = {p.stem: p for p in base.glob(glob + ".jpg")}
    labels = {p.stem: p for p in base.glob(glob + ".png")}
    report.summary = f"{len(photos)} photos"
    if not photos and not labels:
        report.findings.append(Finding(entry["subfolder"], f"{entry['count']} cmp_bNNNN.jpg / "
                                       f".png pairs", "none"))
        return
    report.findings += _unpaired(entry["subfolder"], photos, labels, "a photo", "a label")
    if len(photos) != entry["count"]:
        report.findings.append(Finding(entry["subfolder"], f"{entry['count']} photos (the base "
                                       f"set)", f"{len(photos)}", "note"))
    if not open_files:
        return
    pairs = [(photos[k], labels[k]) for k in sorted(photos.keys() & labels.keys())]
    ids = entry["label_values"]
    _check_files(report, entry["subfolder"], pairs, ("JPEG", "RGB"), ("P", "L"), ids,
                 f"palette PNG of class ids {ids[0]}..{ids[-1]}, the size of its photo")
