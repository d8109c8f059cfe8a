"""Decoded datasets kept on disk, so that a lesson does not decode the same files again.

Every lesson builds its datasets from the same JPEG and PNG files. Decoding them took 0.6 s
for the cell crops and 1.7-2.3 s for the synthetic facade photos on two CPU cores (the real
photos are larger), in every lesson's kernel. ``load`` keeps what a reader returned, uint8
tensors and names, in ``$COURSE_CACHE_DIR/decoded/`` (default ``~/.cache/course_utils``),
one file per (dataset, folder, size), and in memory for the rest of the process.

An entry is used only while the files it was decoded from are unchanged: its fingerprint
lists each file's name, size, modification time and inode. A file that was changed, added,
removed or replaced makes the reader decode again (and check the files again) and the entry
is overwritten. An entry that cannot be read is decoded again the same way. A cache folder
that cannot be written leaves everything as it was without the cache, and says so once.
Nothing here writes outside the cache folder or changes a data file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from course_utils.data import sources

__all__ = ["FORMAT", "cache_file", "fingerprint", "forget", "load"]

FORMAT = 1  # bump when a reader's output changes for the same files
Decoded = tuple[torch.Tensor, torch.Tensor, list[str]]

_memory: dict[tuple[str, str, object], tuple[str, Decoded]] = {}


def fingerprint(folder: Path, patterns: Sequence[str]) -> tuple[str, int]:
    """SHA-256 of (relative name, size, modification time, inode) of every file under
    ``folder`` that matches one of ``patterns``, and how many files matched."""
    lines = []
    for pattern in patterns:
        for path in folder.glob(pattern):
            stat = path.stat()
            lines.append(f"{path.relative_to(folder)}\t{stat.st_size}\t{stat.st_mtime_ns}\t"
                         f"{stat.st_ino}")
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return digest, len(lines)


def cache_file(name: str, folder: Path, size) -> Path:
    """Where the decoded copy of ``name`` read from ``folder`` at ``size`` is kept."""
    key = hashlib.sha256(f"{Path(folder).resolve()}|{size}".encode()).hexdigest()[:16]
    return sources.cache_dir() / "decoded" / f"{name}-{key}.pt"


def load(name: str, folder: Path, size, patterns: Sequence[str],
         decode: Callable[[], Decoded]) -> Decoded:
    """``decode()``'s result for the files of ``folder`` that match ``patterns``: from memory,
    else from the cache folder, else by calling ``decode`` and keeping its result.

    Args:
        name: the dataset ("phc", "facade"), part of the cache file's name.
        size: the size ``decode`` resizes to; part of the key.
        decode: the reader call, e.g. ``lambda: readers.read_phc_folder(folder, size)``.
            Its errors (a missing folder, a bad file) pass through unchanged.
    """
    digest, count = fingerprint(folder, patterns)
    if count == 0:  # nothing to fingerprint: let the reader say what is missing
        return decode()
    key = (name, str(Path(folder).resolve()), size)
    remembered = _memory.get(key)
    if remembered is not None and remembered[0] == digest:
        return remembered[1]
    path = cache_file(name, folder, size)
    result = _read(path, digest)
    if result is None:
        result = decode()
        _write(path, digest, result)
    _memory[key] = (digest, result)
    return result


def forget() -> None:
    """Drop the in-memory copies (the next ``load`` reads the cache folder, as a new kernel
    would)."""
    _memory.clear()


def _read(path: Path, digest: str) -> Decoded | None:
    try:
        entry = torch.load(path, weights_only=True)
    except Exception:  # missing, truncated, or not ours: decode again and overwrite it
        return None
    if not (isinstance(entry, dict) and entry.get("format") == FORMAT
            and entry.get("fingerprint") == digest):
        return None
    images, targets, names = entry.get("images"), entry.get("targets"), entry.get("names")
    if not (isinstance(images, torch.Tensor) and isinstance(targets, torch.Tensor)
            and isinstance(names, list) and len(images) == len(targets) == len(names)):
        return None
    return images, targets, names


_warned: set[Path] = set()


def _write(path: Path, digest: str, result: Decoded) -> None:
    images, targets, names = result
    entry = {"format": FORMAT, "fingerprint": digest, "images": images, "targets": targets,
             "names": list(names)}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            torch.save(entry, f)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from a shared cache's other users
        os.replace(tmp, path)  # atomic: a reader sees the old entry or the new one
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if path.parent not in _warned:
            _warned.add(path.parent)
            print(f"Could not keep the decoded data in {path.parent} ({exc}); every kernel "
                  f"decodes the files again. Set {sources.CACHE_DIR_ENV} to a writable folder "
                  f"to avoid that.")
