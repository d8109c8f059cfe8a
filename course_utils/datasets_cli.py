"""``python -m course_utils data ACTION``: the real datasets, one command away, and safe.

- ``status``: every place each dataset may be read from, in order, which one is used, and
  whether each folder passes validation;
- ``link``: ``data_links/<folder>`` symlinks to the course HPC paths, or to a folder you give;
- ``fetch facade``: download the CMP base archive, print its SHA-256, extract it safely;
- ``prepare phc --from PhC-C2DH-U373.zip``: cut the course's crops from the challenge archive;
- ``synth``: write the synthetic twins into ``data_links/``.

Nothing here deletes or replaces a folder it did not make: a real folder in ``data_links/``
is never touched, a link is replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

_ORDER = "argument, COURSE_DATA_DIR, data_links, course HPC, synthetic"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``data`` actions to ``parser`` (light: nothing heavy is imported here)."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    names = {"nargs": "*", "metavar": "NAME", "help": "phc and/or facade (default: both)"}
    status = sub.add_parser("status", help="where each dataset is read from, and checks")
    status.add_argument("names", **names)
    status.add_argument("--root", help="also show this folder, as a lesson's data root argument")
    status.add_argument("--quick", action="store_true", help="check folders, not every file")
    link = sub.add_parser("link", help="symlink data_links/<folder> to the course HPC path")
    link.add_argument("names", **names)
    link.add_argument("--to", help="link to this folder instead of the course HPC path")
    link.add_argument("--force", action="store_true",
                      help="replace an existing link; link even a folder that fails checks")
    fetch = sub.add_parser("fetch", help="download, verify and extract a dataset")
    fetch.add_argument("name", help="facade (the cell data needs `prepare`)")
    fetch.add_argument("--from", dest="archive", help="an archive you downloaded by hand")
    fetch.add_argument("--url", help="download from this URL instead of the registry's")
    fetch.add_argument("--force", action="store_true", help="replace an existing link")
    prepare = sub.add_parser("prepare", help="make phc_data from the challenge archive")
    prepare.add_argument("name", help="phc")
    prepare.add_argument("--from", dest="archive", required=True,
                         help="PhC-C2DH-U373.zip (or the folder it unpacks to)")
    prepare.add_argument("--out", help="folder to create (default: data_links/phc_data)")
    prepare.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    synth = sub.add_parser("synth", help="write the synthetic twins into data_links/")
    synth.add_argument("names", **names)
    synth.add_argument("--force", action="store_true", help="replace a twin or a link there")
    synth.add_argument("--seed", type=int, default=0, help="seed of the generator")


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``data`` action; print an error (not a traceback) for bad input."""
    from course_utils.data import DatasetError

    try:
        if args.action == "status":
            return status(_names(args.names), args.root, open_files=not args.quick)
        if args.action == "link":
            return link(_names(args.names), args.to, args.force)
        if args.action == "fetch":
            return fetch(_names([args.name])[0], args.archive, args.url, args.force)
        if args.action == "prepare":
            return prepare(_names([args.name])[0], args.archive, args.out, args.seed)
        if args.action == "synth":
            return synth(_names(args.names), args.force, args.seed)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(f"unknown action {args.action!r}")


def status(names: list[str], root=None, open_files: bool = True) -> int:
    """Print a table per dataset; return 1 if a used folder fails its checks."""
    from course_utils import data, datasets

    if root is not None and len(names) != 1:
        raise data.DatasetError("--root is one dataset's folder: name the dataset too, e.g. "
                                "`data status phc --root PATH`")
    failed = False
    for name in names:
        print(f"{name}: {data.registry()[name]['title']}")
        rows, notes, used = [("#", "source", "exists", "used", "path", "check")], [], None
        for i, source in enumerate(data.candidates(name, root), start=1):
            path, check, mark = source.path, "-", ""
            report = datasets.validate(name, path, open_files=open_files) if path.is_dir() else None
            if report is not None:
                check = report.verdict()
                if (path / datasets.SYNTHETIC_MARKER).is_file():
                    check += ", a synthetic twin"
                notes += [f"  [{i}] {finding}" for finding in report.findings]
            elif source.kind == "synthetic":
                check = "generated on first use"
            explicit = source.kind in ("argument", data.DATA_DIR_ENV)
            if used is None and (report is not None or explicit or source.kind == "synthetic"):
                used, mark = i, "<-- used"
                if report is None and explicit:
                    mark = "<-- ERROR: lessons stop here"
                failed |= (report is None and explicit) or (report is not None and not report.ok)
            shown = f"{path} -> {os.readlink(path)}" if path.is_symlink() else str(path)
            rows.append((str(i), source.kind, _exists(path), mark, shown, check))
        _print_rows(rows)
        print("\n".join(notes + [""]))
    print(f"Order tried: {_ORDER}; the first folder found is used. See data_links/README.md.")
    return 1 if failed else 0


def link(names: list[str], to=None, force: bool = False) -> int:
    """Symlink ``data_links/<folder>`` to ``to`` or the course HPC path; 1 if any failed."""
    from course_utils import data, datasets

    if to is not None and len(names) != 1:
        raise data.DatasetError("--to links one dataset: name it, e.g. `data link phc --to PATH`")
    failed = False
    for name in names:
        entry = data.registry()[name]
        target = Path(os.path.abspath(Path(to or entry["hpc_path"]).expanduser()))
        dest = data.DATA_LINKS / entry["folder"]
        try:
            if not target.is_dir():
                where = "" if to else " (the course HPC path: are you on the course HPC?)"
                raise data.DatasetError(f"{target} is not a folder{where}; nothing was linked. "
                                        f"Give the folder with --to (see data_links/README.md).")
            if dest.is_symlink() and Path(os.readlink(dest)) == target:
                print(f"{name}: {dest} already links to {target}")
                continue
            report = datasets.validate(name, target)
            if not report.ok and not force:
                raise data.DatasetError(report.message() + "\nNothing was linked; --force links "
                                                           "it anyway.")
            old = _make_room(dest, force)
            dest.parent.mkdir(parents=True, exist_ok=True)
            new = dest.with_name(f".{dest.name}.link-{os.getpid()}")
            new.unlink(missing_ok=True)
            new.symlink_to(target, target_is_directory=True)
            _replace(dest, new, old)
            print(f"{name}: linked {dest} -> {target}: {report.verdict()}")
        except data.DatasetError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def fetch(name: str, archive=None, url=None, force: bool = False, progress: bool = True) -> int:
    """Download (or take ``archive``), check and safely extract into ``data_links/``."""
    from course_utils import data, datasets, download

    entry = data.registry()[name]
    if name == "phc":
        raise data.DatasetError(
            f"the cell data may not be downloaded for you: accept the conditions of use at "
            f"{entry['terms_url']}, download {entry['source_url']} yourself, then run "
            f"`python -m course_utils data prepare phc --from PhC-C2DH-U373.zip`.")
    dest = data.DATA_LINKS / entry["folder"]
    old = _make_room(dest, force)
    if archive is not None:
        path = Path(archive).expanduser()
        if not path.is_file():
            raise data.DatasetError(f"{path} is not a file; give the downloaded archive.")
        sha256 = download.sha256_of(path)
    else:
        url = url or entry["source_url"]
        path = data.DATA_LINKS / ".downloads" / (Path(urlparse(url).path).name or "archive.zip")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            print(f"using the earlier download {path}")
            sha256 = download.sha256_of(path)
        else:
            print(f"downloading {url}")
            try:
                sha256 = download.download(url, path, progress=progress, hint=(
                    f"Then run `python -m course_utils data fetch {name} --from FILE`."))
            except data.DatasetError:
                if not any(path.parent.iterdir()):
                    path.parent.rmdir()  # leave data_links/ as it was
                raise
    print(f"SHA-256 {sha256}")
    expected = entry.get("archive_sha256")
    if expected and sha256 != expected:
        if archive is None:
            path.unlink()  # our own download, damaged: the next run fetches it again
        raise data.DatasetError(f"{path} has SHA-256 {sha256}, expected {expected}: damaged "
                                f"or not the expected archive. Download it again.")
    if not expected:
        print("(datasets.toml records no checksum for it yet, so there is nothing to compare)")
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        download.safe_extract(path, tmp)
        root = _dataset_root(tmp, entry["subfolder"])
        report = datasets.validate(name, root)
        report.raise_if_failed()
        _replace(dest, root, old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{name}: extracted into {dest}: {report.verdict()}")
    print(f"Licence: {entry['licence']}\nCite: {entry['citation']}")
    return 0


def prepare(name: str, archive, out=None, seed: int = 0) -> int:
    """Make the course's ``phc_data`` from the challenge archive; print what was made."""
    from course_utils import data
    from course_utils import prepare as cells

    if name != "phc":
        raise data.DatasetError(f"only phc is prepared from an archive, got {name!r}; the "
                                f"facades are ready to use: `data fetch facade`.")
    entry = data.registry()[name]
    out = Path(out) if out else data.DATA_LINKS / entry["folder"]
    print(cells.prepare_phc(archive, out, seed=seed).describe())
    print(f"Licence: {entry['licence']}\nCite: {entry['citation']}")
    return 0


def synth(names: list[str], force: bool = False, seed: int = 0) -> int:
    """Write the synthetic twins into ``data_links/`` (which then come before the HPC path)."""
    from course_utils import data, datasets, synthetic

    makers = {"phc": synthetic.make_synthetic_phc, "facade": synthetic.make_synthetic_facade}
    for name in names:
        entry = data.registry()[name]
        dest = data.DATA_LINKS / entry["folder"]
        old = _make_room(dest, force)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            makers[name](tmp, seed=seed)
            (tmp / datasets.SYNTHETIC_MARKER).write_text(
                f"A synthetic twin of the {entry['title']}, written by `python -m course_utils "
                f"data synth` (seed {seed}). Not real data.\n")
            _replace(dest, tmp, old)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"{name}: wrote a synthetic twin to {dest}\n  note: data_links/ comes before the "
              f"course HPC path, so lessons now read this twin (order: {_ORDER}); delete "
              f"{dest} to fall back.")
    return 0


def _names(names: list[str]) -> list[str]:
    from course_utils import data

    known = sorted(data.registry())
    for name in names:
        if name not in known:
            raise data.DatasetError(f"unknown dataset {name!r}; expected one of {known}")
    return list(dict.fromkeys(names)) or known


def _exists(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "broken link"
    return "yes" if path.is_dir() else "not a folder" if path.exists() else "no"


def _print_rows(rows) -> None:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]) - 1)]
    for row in rows:
        print("  " + "  ".join(f"{v:<{w}}" for v, w in zip(row, widths, strict=False)) + "  "
              + row[-1])


def _make_room(dest: Path, force: bool) -> str | None:
    """What stands at ``dest`` and may be replaced: None, "link" or "twin"; else raise."""
    from course_utils import data, datasets

    if dest.is_symlink():
        if not force:
            raise data.DatasetError(f"{dest} already links to {os.readlink(dest)}; add --force "
                                    f"to replace the link (the folder it points to is kept).")
        return "link"
    if (dest / datasets.SYNTHETIC_MARKER).is_file():
        if not force:
            raise data.DatasetError(f"{dest} holds a synthetic twin; add --force to replace it.")
        return "twin"
    if dest.exists():
        raise data.DatasetError(f"{dest} is a real folder (your data?) and is never replaced; "
                                f"move or rename it yourself first.")
    return None


def _replace(dest: Path, new: Path, old: str | None) -> None:
    """Move ``new`` to ``dest``, first removing what ``_make_room`` allowed to go."""
    if old == "link":
        dest.unlink()
    aside = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if old == "twin":
        dest.rename(aside)
    dest.parent.mkdir(parents=True, exist_ok=True)
    new.rename(dest)
    if old == "twin":
        shutil.rmtree(aside)


def _dataset_root(folder: Path, subfolder: str) -> Path:
    """``folder``, or its only subfolder that holds ``subfolder`` (an archive's top folder)."""
    if (folder / subfolder).is_dir():
        return folder
    inner = [d for d in folder.iterdir() if (d / subfolder).is_dir()]
    return inner[0] if len(inner) == 1 else folder
