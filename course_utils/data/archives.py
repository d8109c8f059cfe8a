"""Downloading an archive with a progress bar and its SHA-256, and extracting a zip safely.

Safe extraction checks every member before writing anything: an absolute name, a ``..``
component or a symbolic link could write outside the target folder, so any of them rejects
the whole archive.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import stat
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from course_utils.data.catalog import DatasetError

__all__ = ["download", "safe_extract", "sha256_of"]

_CHUNK = 1 << 20


def sha256_of(path) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest, timeout: float = 60, progress: bool = True, hint: str = "") -> str:
    """Download ``url`` to the file ``dest`` with a progress bar; return its SHA-256.

    The bytes go to ``dest.part`` first and are renamed to ``dest`` only when complete, so
    an interrupted download never looks finished.

    Args:
        url: http(s) or file URL.
        dest: the file to write; its folder must exist.
        timeout: seconds to wait for the server before giving up.
        progress: show a tqdm progress bar on stderr.
        hint: appended to the error message (what to do with a file downloaded by hand).

    Raises:
        DatasetError: naming the URL, when the download fails or arrives incomplete.
    """
    from tqdm import tqdm

    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as file:
            length = int(response.headers.get("Content-Length") or 0)
            with tqdm(total=length or None, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=dest.name, disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    file.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if length and received != length:
            raise OSError(f"the connection closed after {received} of {length} bytes")
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        part.unlink(missing_ok=True)
        http_error = isinstance(exc, urllib.error.HTTPError)
        reason = str(exc if http_error else getattr(exc, "reason", None) or exc)
    else:
        part.replace(dest)
        return digest.hexdigest()
    # Raised outside the handler on purpose: urllib's exception keeps its half-open socket
    # alive through the traceback; dropped here, the socket closes at once.
    raise DatasetError(f"could not download {url}: {reason}. Check your connection, or download "
                       f"the file by hand (in a browser, or `curl -LO {url}`). {hint}".rstrip())


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    """Why extracting this member could write outside the target folder, or None."""
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "a '..' component that leaves the target folder"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def safe_extract(archive, dest) -> list[str]:
    """Extract the zip ``archive`` into the folder ``dest``; return the member names.

    Raises:
        DatasetError: if the file is not a zip archive, or if any member has an absolute
            path, a ``..`` component or is a symbolic link (then nothing is extracted).
    """
    archive, dest = Path(archive), Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{archive} is not a readable zip archive ({exc}); download it "
                           f"again.") from exc
    with zf:
        members = zf.infolist()
        root = dest.resolve()
        for info in members:
            reason = _unsafe(info)
            if not reason and not (root / info.filename).resolve().is_relative_to(root):
                reason = f"a path that leads outside {dest}"
            if reason:
                raise DatasetError(f"{archive}: refusing to extract {info.filename!r}, which has "
                                   f"{reason}; nothing was extracted. The archive is damaged or "
                                   f"not the expected one: download it again from its source.")
        dest.mkdir(parents=True, exist_ok=True)
        for info in members:
            zf.extract(info, dest)
    return [info.filename for info in members]
