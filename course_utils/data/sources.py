"""Where each dataset is read from: the search order, and the synthetic twin at its end.

``locate(name, root)`` tries, in order, and uses the first folder it finds:

1. ``root``, the caller's argument (``DATA_ROOT`` in a lesson);
2. ``$COURSE_DATA_DIR/<folder>``;
3. ``data_links/<folder>`` (a symlink or a folder);
4. the course HPC path;
5. the synthetic twin, generated once into ``$COURSE_CACHE_DIR`` (default
   ``~/.cache/course_utils``).

What happens when a place does not hold the dataset:

- a ``root`` argument that is not a folder is an error: the caller asked for that folder;
- a ``COURSE_DATA_DIR`` that is not a folder is an error (most likely a typo); one that is a
  folder but lacks this dataset's folder is passed over, and one printed line says so (a
  course copy may hold only one of the two datasets);
- ``data_links/<folder>`` that is a broken link or a file is passed over with that line too;
- a missing ``data_links/<folder>`` or course HPC path is the usual case and passed quietly.

``locate`` chooses by existence only. A folder that exists but has the wrong layout is used,
and the dataset that reads it then fails with a ``DatasetError`` saying what was expected and
found (``validation.check_layout``): a broken copy of real data is never silently swapped
for another source.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from course_utils import synthetic
from course_utils.data import catalog

__all__ = ["CACHE_DIR_ENV", "DATA_DIR_ENV", "DataSource", "assess", "cache_dir", "candidates",
           "locate", "synthetic_dir"]

DATA_DIR_ENV = "COURSE_DATA_DIR"
CACHE_DIR_ENV = "COURSE_CACHE_DIR"


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
    entry = catalog.entry(name)
    found = []
    if root is not None:
        found.append(DataSource(name, Path(root).expanduser(), "argument"))
    if os.environ.get(DATA_DIR_ENV):
        found.append(DataSource(name, Path(os.environ[DATA_DIR_ENV]).expanduser()
                                / entry["folder"], DATA_DIR_ENV))
    found.append(DataSource(name, catalog.DATA_LINKS / entry["folder"], "data_links"))
    found.append(DataSource(name, Path(entry["hpc_path"]), "course HPC"))
    found.append(DataSource(name, synthetic_dir(name), "synthetic"))
    return found


def assess(source: DataSource) -> tuple[str, str]:
    """What ``locate`` does with ``source``: ``(verdict, why)``.

    ``verdict`` is "use" (a folder, or the synthetic twin), "pass" (absent, as is usual),
    "skip" (absent though configured: ``why`` says so) or "error" (``why`` is the message).
    """
    path, kind = source.path, source.kind
    if kind == "synthetic" or path.is_dir():
        return "use", ""
    title = catalog.entry(source.name)["title"]
    if kind == "argument":
        return "error", (
            f"the root argument {path} {_state(path)}. Give the folder that holds the "
            f"{title}, or leave root as None to search COURSE_DATA_DIR, data_links/, the "
            f"course HPC path, then the synthetic twin (see data_links/README.md).")
    if kind == DATA_DIR_ENV and not path.parent.is_dir():
        return "error", (
            f"{DATA_DIR_ENV} is {path.parent}, which {_state(path.parent)}. Set it to the "
            f"folder that holds {path.name}/ (the {title}), or unset it (see "
            f"data_links/README.md).")
    present = path.is_symlink() or path.exists()  # a broken link or a file
    if kind == DATA_DIR_ENV and not present:
        return "skip", f"not in {DATA_DIR_ENV} ({path} missing)"
    if kind in (DATA_DIR_ENV, "data_links") and present:
        return "skip", f"{path} {_state(path)}"
    return "pass", ""


def locate(name: str, root: str | os.PathLike | None = None) -> DataSource:
    """Find dataset ``name`` ("phc" or "facade"): the ``root`` argument, ``COURSE_DATA_DIR``,
    ``data_links/<folder>``, the course HPC path, else the synthetic twin (generated once).

    A configured place passed over is reported in one printed line (once per process); see
    the module docstring for which absences are errors.

    Raises:
        DatasetError: ``root`` is given but is not a folder, or ``COURSE_DATA_DIR`` is set
            but is not a folder.
        ValueError: ``name`` is not in the registry.
    """
    skipped = []
    for source in candidates(name, root):
        verdict, why = assess(source)
        if verdict == "error":
            raise catalog.DatasetError(why)
        if verdict == "skip":
            skipped.append(why)
        if verdict == "use":
            if skipped:
                _announce(f"{name}: {'; '.join(skipped)}; using {source}")
            if source.kind == "synthetic":
                _make_twin(name, source.path)
                _announce(f"Using SYNTHETIC {name} data (a generated twin in the real layout) "
                          f"from {source.path}. To use the real data, link it: see "
                          f"data_links/README.md.")
            return source
    raise AssertionError("unreachable: the synthetic twin is always a candidate")


def cache_dir() -> Path:
    """The course's cache folder: ``$COURSE_CACHE_DIR``, default ``~/.cache/course_utils``."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "course_utils")


def synthetic_dir(name: str) -> Path:
    """Cache folder of the synthetic twin, per generator version (``synthetic.TWIN_VERSION``)."""
    return cache_dir() / "synthetic" / f"v{synthetic.TWIN_VERSION}" / catalog.entry(name)["folder"]


_announced: set[str] = set()


def _announce(line: str) -> None:
    """Print ``line`` once per process: a lesson builds several datasets from one source."""
    if line not in _announced:
        _announced.add(line)
        print(line)


def _make_twin(name: str, path: Path) -> None:
    if path.is_dir():
        return
    make = {"phc": synthetic.make_synthetic_phc, "facade": synthetic.make_synthetic_facade}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    make[name](tmp)
    try:
        tmp.rename(path)
    except OSError:  # another process finished first; its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)


def _state(path: Path) -> str:
    """Why ``path`` is not a folder, as a verb phrase."""
    if path.is_symlink() and not path.exists():
        return f"is a broken link to {os.readlink(path)}"
    if path.exists():
        return "is a file, not a folder"
    return "does not exist"
