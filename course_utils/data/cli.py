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

from course_utils import synthetic
from course_utils.data import archives, catalog, sources, validation
from course_utils.data.prepare import prepare_phc

_ORDER = "argument, COURSE_DATA_DIR, data_links, course HPC, synthetic"


def main(argv: list[str] | None = None) -> int:
    """Parse and run one ``data`` action; print an error (not a traceback) for bad input."""
    args = _parser().parse_args(argv)
    try:
        if args.action == "status":
            return status(_names(args.names), args.root, open_files=not args.folders_only)
        if args.action == "link":
            return link(_names(args.names), args.to, args.force)
        if args.action == "fetch":
            return fetch(_names([args.name])[0], args.archive, args.url, args.force)
        if args.action == "prepare":
            return prepare(_names([args.name])[0], args.archive, args.out, args.seed)
        if args.action == "synth":
            return synth(_names(args.names), args.force, args.seed)
    except catalog.DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(f"unknown action {args.action!r}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    names = {"nargs": "*", "metavar": "NAME", "help": "phc and/or facade (default: both)"}
    status = sub.add_parser("status", help="where each dataset is read from, and checks")
    status.add_argument("names", **names)
    status.add_argument("--root", help="also show this folder, as a lesson's data root argument")
    status.add_argument("--folders-only", action="store_true",
                        help="check the folders, not every file in them")
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
    return parser


def status(names: list[str], root=None, open_files: bool = True) -> int:
    """Print a table per dataset; return 1 if the folder lessons would use fails its checks."""
    if root is not None and len(names) != 1:
        raise catalog.DatasetError("--root is one dataset's folder: name the dataset too, e.g. "
                                   "`data status phc --root PATH`")
    failed = False
    for name in names:
        print(f"{name}: {catalog.registry()[name]['title']}")
        rows, notes, used = [("#", "source", "exists", "used", "path", "check")], [], None
        for i, source in enumerate(sources.candidates(name, root), start=1):
            path, check, mark = source.path, "-", ""
            verdict, why = sources.assess(source)
            report = None
            if path.is_dir():
                report = validation.validate(name, path, open_files=open_files)
            if report is not None:
                check = report.verdict()
                if (path / validation.SYNTHETIC_MARKER).is_file():
                    check += ", a synthetic twin"
                notes += [f"  [{i}] {finding}" for finding in report.findings]
            elif source.kind == "synthetic":
                check = "generated on first use"
            if used is None and verdict == "skip":
                notes.append(f"  [{i}] passed over: {why}")
            if used is None and verdict in ("use", "error"):
                used, mark = i, "<-- used"
                if verdict == "error":
                    mark = "<-- ERROR: lessons stop here"
                    notes.append(f"  [{i}] {why}")
                failed |= verdict == "error" or (report is not None and not report.ok)
            shown = f"{path} -> {os.readlink(path)}" if path.is_symlink() else str(path)
            rows.append((str(i), source.kind, _exists(path), mark, shown, check))
        _print_rows(rows)
        print("\n".join(notes + [""]))
    print(f"Order tried: {_ORDER}; the first folder found is used. See data_links/README.md.")
    return 1 if failed else 0


def link(names: list[str], to=None, force: bool = False) -> int:
    """Symlink ``data_links/<folder>`` to ``to`` or the course HPC path; 1 if any failed."""
    if to is not None and len(names) != 1:
        raise catalog.DatasetError("--to links one dataset: name it, e.g. "
                                   "`data link phc --to PATH`")
    failed = False
    for name in names:
        entry = catalog.registry()[name]
        target = Path(os.path.abspath(Path(to or entry["hpc_path"]).expanduser()))
        dest = catalog.DATA_LINKS / entry["folder"]
        try:
            if not target.is_dir():
                where = "" if to else " (the course HPC path: are you on the course HPC?)"
                raise catalog.DatasetError(f"{target} is not a folder{where}; nothing was linked. "
                                           f"Give the folder with --to (see data_links/README.md).")
            if dest.is_symlink() and Path(os.readlink(dest)) == target:
                print(f"{name}: {dest} already links to {target}")
                continue
            report = validation.validate(name, target)
            if not report.ok and not force:
                raise catalog.DatasetError(report.message()
                                           + "\nNothing was linked; --force links it anyway.")
            old = _make_room(dest, force)
            dest.parent.mkdir(parents=True, exist_ok=True)
            new = dest.with_name(f".{dest.name}.link-{os.getpid()}")
            new.unlink(missing_ok=True)
            new.symlink_to(target, target_is_directory=True)
            _replace(dest, new, old)
            print(f"{name}: linked {dest} -> {target}: {report.verdict()}")
        except catalog.DatasetError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def fetch(name: str, archive=None, url=None, force: bool = False, progress: bool = True) -> int:
    """Download (or take ``archive``), check and safely extract into ``data_links/``."""
    entry = catalog.registry()[name]
    if name == "phc":
        raise catalog.DatasetError(
            f"the cell data may not be downloaded for you: accept the conditions of use at "
            f"{entry['terms_url']}, download {entry['source_url']} yourself, then run "
            f"`python -m course_utils data prepare phc --from PhC-C2DH-U373.zip`.")
    dest = catalog.DATA_LINKS / entry["folder"]
    old = _make_room(dest, force)
    if archive is not None:
        path = Path(archive).expanduser()
        if not path.is_file():
            raise catalog.DatasetError(f"{path} is not a file; give the downloaded archive.")
        sha256 = archives.sha256_of(path)
    else:
        url = url or entry["source_url"]
        path = catalog.DATA_LINKS / ".downloads" / (Path(urlparse(url).path).name or "archive.zip")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            print(f"using the earlier download {path}")
            sha256 = archives.sha256_of(path)
        else:
            print(f"downloading {url}")
            try:
                sha256 = archives.download(url, path, progress=progress, hint=(
                    f"Then run `python -m course_utils data fetch {name} --from FILE`."))
            except catalog.DatasetError:
                if not any(path.parent.iterdir()):
                    path.parent.rmdir()  # leave data_links/ as it was
                raise
    print(f"SHA-256 {sha256}")
    expected = entry.get("archive_sha256")
    if expected and sha256 != expected:
        if archive is None:
            path.unlink()  # our own download, damaged: the next run fetches it again
        raise catalog.DatasetError(f"{path} has SHA-256 {sha256}, expected {expected}: damaged "
                                   f"or not the expected archive. Download it again.")
    if not expected:
        print("(datasets.toml records no checksum for it yet, so there is nothing to compare)")
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archives.safe_extract(path, tmp)
        root = _dataset_root(tmp, entry["subfolder"])
        report = validation.validate(name, root)
        report.raise_if_failed()
        _replace(dest, root, old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{name}: extracted into {dest}: {report.verdict()}")
    print(f"Licence: {entry['licence']}\nCite: {entry['citation']}")
    return 0


def prepare(name: str, archive, out=None, seed: int = 0) -> int:
    """Make the course's ``phc_data`` from the challenge archive; print what was made."""
    if name != "phc":
        raise catalog.DatasetError(f"only phc is prepared from an archive, got {name!r}; the "
                                   f"facades are ready to use: `data fetch facade`.")
    entry = catalog.registry()[name]
    out = Path(out) if out else catalog.DATA_LINKS / entry["folder"]
    print(prepare_phc(archive, out, seed=seed).describe())
    print(f"Licence: {entry['licence']}\nCite: {entry['citation']}")
    return 0


def synth(names: list[str], force: bool = False, seed: int = 0) -> int:
    """Write the synthetic twins into ``data_links/`` (which then come before the HPC path)."""
    makers = {"phc": synthetic.make_synthetic_phc, "facade": synthetic.make_synthetic_facade}
    for name in names:
        entry = catalog.registry()[name]
        dest = catalog.DATA_LINKS / entry["folder"]
        old = _make_room(dest, force)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            makers[name](tmp, seed=seed)
            (tmp / validation.SYNTHETIC_MARKER).write_text(
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
    known = sorted(catalog.registry())
    for name in names:
        if name not in known:
            raise catalog.DatasetError(f"unknown dataset {name!r}; expected one of {known}")
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
    if dest.is_symlink():
        if not force:
            raise catalog.DatasetError(f"{dest} already links to {os.readlink(dest)}; add --force "
                                       f"to replace the link (the folder it points to is kept).")
        return "link"
    if (dest / validation.SYNTHETIC_MARKER).is_file():
        if not force:
            raise catalog.DatasetError(f"{dest} holds a synthetic twin; add --force to replace it.")
        return "twin"
    if dest.exists():
        raise catalog.DatasetError(f"{dest} is a real folder (your data?) and is never replaced; "
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
