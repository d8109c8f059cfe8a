"""``python -m course_utils data status|link|fetch|synth`` in temporary folders, offline.

``catalog.DATA_LINKS`` points into ``tmp_path`` and the course HPC paths to ``tmp_path/hpc``;
``fetch`` downloads from a server on 127.0.0.1 (the ``serve`` fixture).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
import zipfile

import pytest
from PIL import Image

from course_utils import data, synthetic
from course_utils.__main__ import main
from course_utils.data import FacadeDataset, PhCDataset, catalog


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """``serve()`` -> base URL of a server on 127.0.0.1 serving ``serve.root``."""
    root = tmp_path / "www"
    root.mkdir()
    servers = []

    def start():
        handler = functools.partial(_QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    start.root = root
    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def links(monkeypatch, tmp_path):
    links = tmp_path / "links"
    monkeypatch.setattr(catalog, "DATA_LINKS", links)
    for entry in data.registry().values():
        monkeypatch.setitem(entry, "hpc_path", str(tmp_path / "hpc" / entry["folder"]))
    return links


@pytest.fixture
def phc128(make_phc):
    """A PhC folder like the course copy but for the counts."""
    def make(name="phc"):
        root = make_phc(name, size=128)
        for path in root.rglob("img_*.jpg"):
            Image.open(path).convert("RGB").save(path, quality=95)
        return root
    return make


def _hpc(tmp_path, make_facade, phc128):
    hpc = tmp_path / "hpc"
    phc, facade = phc128(), make_facade()
    hpc.mkdir()
    phc.rename(hpc / "phc_data")
    facade.rename(hpc / "CMP_facade_DB_base")
    return hpc


def _tree(root):
    return {p.relative_to(root): (p.is_symlink() and os.readlink(p)) or
            (p.is_file() and p.read_bytes()) for p in sorted(root.rglob("*"))}


def _entries(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _run(capsys, *argv):
    rc = main(["data", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --------------------------------------------------------------------------- status


def test_status_with_nothing_anywhere(links, tmp_path, capsys):
    rc, out, _ = _run(capsys, "status")
    assert rc == 0
    assert out.startswith("facade: CMP Facade Database, base set\n  #  source      exists  used")
    assert f"1  data_links  no                {links / 'CMP_facade_DB_base'}" in out
    assert f"2  course HPC  no                {tmp_path / 'hpc' / 'CMP_facade_DB_base'}" in out
    assert "3  synthetic   no      <-- used" in out and "generated on first use" in out
    assert "phc: PhC-C2DH-U373" in out
    assert out.endswith("Order tried: argument, COURSE_DATA_DIR, data_links, course HPC, "
                        "synthetic; the first folder found is used. See data_links/README.md.\n")
    assert not (tmp_path / "cache").exists() and not links.exists()  # status generates nothing


def test_status_linked_folder_is_used_and_checked(links, tmp_path, phc128, capsys):
    target = phc128()
    links.mkdir()
    os.symlink(target, links / "phc_data")
    before = _tree(tmp_path)
    rc, out, _ = _run(capsys, "status", "phc")
    assert rc == 0
    assert (f"1  data_links  yes     <-- used  {links / 'phc_data'} -> {target}  ok, 2 notes "
            f"(train 10, test 3)") in out
    assert "  [1] train; expected 151 pairs (the course's copy), found 10\n" in out
    assert "2  course HPC  no" in out and "facade" not in out
    assert _tree(tmp_path) == before  # reading changes nothing


def test_status_fails_when_the_used_folder_fails(links, tmp_path, phc128, capsys):
    hpc = tmp_path / "hpc"
    hpc.mkdir()
    phc128().rename(hpc / "phc_data")
    (hpc / "phc_data" / "test" / "labels").rename(hpc / "phc_data" / "test" / "masks")
    rc, out, _ = _run(capsys, "status", "phc")
    assert rc == 1
    assert "2  course HPC  yes     <-- used" in out and "FAILED: 1 error" in out
    assert f"  [2] missing folder {hpc / 'phc_data' / 'test' / 'labels'}; expected" in out


def test_status_env_var_to_a_missing_folder(links, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "nowhere"))
    rc, out, _ = _run(capsys, "status", "phc")
    assert rc == 1
    assert "1  COURSE_DATA_DIR  no      <-- ERROR: lessons stop here" in out


def test_status_dataset_missing_from_course_data_dir_is_passed_over(links, tmp_path,
                                                                   monkeypatch, capsys):
    env = tmp_path / "env"
    (env / "phc_data").mkdir(parents=True)
    monkeypatch.setenv("COURSE_DATA_DIR", str(env))
    rc, out, _ = _run(capsys, "status", "facade", "--folders-only")
    assert rc == 0
    assert re.search(r"1  COURSE_DATA_DIR  no +" + re.escape(str(env / "CMP_facade_DB_base")), out)
    assert re.search(r"4  synthetic        no      <-- used", out)
    assert (f"  [1] passed over: not in COURSE_DATA_DIR ({env / 'CMP_facade_DB_base'} missing)"
            in out)


def test_data_help_and_missing_action(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["data", "-h"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m course_utils data [-h] ACTION")
    assert "status" in out and "synth" in out
    with pytest.raises(SystemExit) as exit_:
        main(["data"])
    assert exit_.value.code == 2
    assert "the following arguments are required: ACTION" in capsys.readouterr().err


def test_the_command_line_imports_the_data_package_only_for_data():
    code = ("import sys; from course_utils.__main__ import main; main(['build', '--check', "
            "'99']); print(sorted(m for m in ('torch', 'course_utils.data') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_status_broken_link_is_skipped(links, tmp_path, capsys):
    links.mkdir()
    os.symlink(tmp_path / "gone", links / "phc_data")
    rc, out, _ = _run(capsys, "status", "phc", "--folders-only")
    assert rc == 0
    assert f"1  data_links  broken link            {links / 'phc_data'} -> {tmp_path / 'gone'}" \
        in out
    assert "3  synthetic   no           <-- used" in out


def test_status_root_argument(links, phc128, capsys):
    root = phc128()
    rc, out, _ = _run(capsys, "status", "phc", "--root", str(root))
    assert rc == 0
    assert re.search(rf"1  argument    yes     <-- used  {re.escape(str(root))} +ok, 2 notes", out)
    rc, _, err = _run(capsys, "status", "--root", str(root))
    assert rc == 1 and "--root is one dataset's folder: name the dataset too" in err


def test_unknown_dataset_name(links, capsys):
    rc, _, err = _run(capsys, "status", "cells")
    assert rc == 1 and "error: unknown dataset 'cells'; expected one of ['facade', 'phc']" in err


# --------------------------------------------------------------------------- link


def test_link_to_the_course_hpc_paths(links, tmp_path, make_facade, phc128, capsys):
    hpc = _hpc(tmp_path, make_facade, phc128)
    rc, out, _ = _run(capsys, "link")
    assert rc == 0
    for folder in ("phc_data", "CMP_facade_DB_base"):
        assert os.readlink(links / folder) == str(hpc / folder)
    assert f"phc: linked {links / 'phc_data'} -> {hpc / 'phc_data'}: ok, 2 notes" in out
    assert PhCDataset("train").source.kind == "data_links"  # the lessons pick it up
    assert FacadeDataset("train", size=(12, 8)).source.kind == "data_links"
    rc, out, _ = _run(capsys, "link", "phc")
    assert rc == 0 and f"phc: {links / 'phc_data'} already links to {hpc / 'phc_data'}" in out


def test_link_elsewhere_needs_force_and_keeps_the_old_target(links, tmp_path, make_facade,
                                                            phc128, capsys):
    hpc = _hpc(tmp_path, make_facade, phc128)
    _run(capsys, "link", "phc")
    other = phc128("other")
    before = _tree(hpc)
    rc, _, err = _run(capsys, "link", "phc", "--to", str(other))
    assert rc == 1 and "already links to" in err and "add --force to replace the link" in err
    assert os.readlink(links / "phc_data") == str(hpc / "phc_data")
    rc, _, _ = _run(capsys, "link", "phc", "--to", str(other), "--force")
    assert rc == 0 and os.readlink(links / "phc_data") == str(other)
    assert _tree(hpc) == before


def test_link_never_replaces_a_real_folder(links, tmp_path, phc128, capsys):
    (links / "phc_data").mkdir(parents=True)
    (links / "phc_data" / "mine.txt").write_text("keep")
    for force in ([], ["--force"]):
        rc, _, err = _run(capsys, "link", "phc", "--to", str(phc128()), *force)
        assert rc == 1 and "is a real folder (your data?) and is never replaced" in err
        assert (links / "phc_data" / "mine.txt").read_text() == "keep"
        (tmp_path / "phc").rename(tmp_path / f"phc{len(force)}")


def test_link_off_the_hpc(links, capsys):
    rc, _, err = _run(capsys, "link")
    assert rc == 1
    assert "error: phc: " in err and "error: facade: " in err
    assert "is not a folder (the course HPC path: are you on the course HPC?); nothing was " \
           "linked. Give the folder with --to" in err
    assert not links.exists() or not any(links.iterdir())


def test_link_refuses_a_wrong_folder_unless_forced(links, tmp_path, phc128, capsys):
    root = phc128()
    rc, _, err = _run(capsys, "link", "phc", "--to", str(tmp_path))  # one level too high
    assert rc == 1
    assert f"missing folder {tmp_path / 'train'}; expected" in err
    assert "--force links it anyway" in err and not (links / "phc_data").is_symlink()
    rc, out, _ = _run(capsys, "link", "phc", "--to", str(tmp_path), "--force")
    assert rc == 0 and "FAILED" in out and os.readlink(links / "phc_data") == str(tmp_path)
    assert root.is_dir()


def test_link_relative_path_and_one_name(links, tmp_path, phc128, monkeypatch, capsys):
    phc128()
    monkeypatch.chdir(tmp_path)
    assert _run(capsys, "link", "phc", "--to", "phc")[0] == 0
    assert os.readlink(links / "phc_data") == str(tmp_path / "phc")
    rc, _, err = _run(capsys, "link", "--to", "phc")
    assert rc == 1 and "--to links one dataset: name it" in err


# --------------------------------------------------------------------------- fetch


def _facade_zip(path, make_facade, top="", extra=()):
    root = make_facade()
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted((root / "base").iterdir()):
            zf.write(file, f"{top}base/{file.name}")
        zf.writestr(f"{top}readme.txt", "CMP facade base")
        for name, content in extra:
            zf.writestr(name, content)
    return path


def test_fetch_facade_from_a_server(links, tmp_path, make_facade, serve, capsys):
    archive = _facade_zip(serve.root / "CMP_facade_DB_base.zip", make_facade)
    url = serve() + "/CMP_facade_DB_base.zip"
    rc, out, _ = _run(capsys, "fetch", "facade", "--url", url)
    assert rc == 0
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert f"downloading {url}\nSHA-256 {digest}\n(datasets.toml records no checksum" in out
    dest = links / "CMP_facade_DB_base"
    assert f"facade: extracted into {dest}: ok, 1 note (20 photos)" in out
    assert "Cite: Tylecek, R. and Sara, R." in out
    assert len(list((dest / "base").glob("cmp_b*.png"))) == 20 and (dest / "readme.txt").exists()
    assert sorted(p.name for p in links.iterdir()) == [".downloads", "CMP_facade_DB_base"]
    assert FacadeDataset("test", size=(12, 8)).source.kind == "data_links"
    rc, _, err = _run(capsys, "fetch", "facade", "--url", url)
    assert rc == 1 and "is a real folder (your data?) and is never replaced" in err


def test_fetch_reuses_an_earlier_download(links, tmp_path, make_facade, capsys):
    (links / ".downloads").mkdir(parents=True)
    _facade_zip(links / ".downloads" / "CMP_facade_DB_base.zip", make_facade)
    rc, out, _ = _run(capsys, "fetch", "facade", "--url", "http://127.0.0.1:9/"
                                                          "CMP_facade_DB_base.zip")
    assert rc == 0 and "using the earlier download" in out


def test_fetch_from_a_file_with_a_top_folder(links, tmp_path, make_facade, capsys):
    archive = _facade_zip(tmp_path / "mine.zip", make_facade, top="CMP_facade_DB_base/")
    rc, out, _ = _run(capsys, "fetch", "facade", "--from", str(archive))
    assert rc == 0 and (links / "CMP_facade_DB_base" / "base" / "cmp_b0001.jpg").is_file()
    assert archive.is_file()


def test_fetch_checks_a_known_checksum(links, tmp_path, make_facade, monkeypatch, capsys):
    archive = _facade_zip(tmp_path / "mine.zip", make_facade)
    monkeypatch.setitem(data.registry()["facade"], "archive_sha256", "0" * 64)
    rc, _, err = _run(capsys, "fetch", "facade", "--from", str(archive))
    assert rc == 1 and f"expected {'0' * 64}: damaged or not the expected archive" in err
    assert archive.is_file() and not (links / "CMP_facade_DB_base").exists()
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(data.registry()["facade"], "archive_sha256", digest)
    assert _run(capsys, "fetch", "facade", "--from", str(archive))[0] == 0


def test_fetch_removes_its_own_damaged_download(links, make_facade, serve, monkeypatch, capsys):
    _facade_zip(serve.root / "CMP_facade_DB_base.zip", make_facade)
    monkeypatch.setitem(data.registry()["facade"], "archive_sha256", "0" * 64)
    rc, _, _ = _run(capsys, "fetch", "facade", "--url", serve() + "/CMP_facade_DB_base.zip")
    assert rc == 1 and not any((links / ".downloads").iterdir())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([("../evil.txt", "x")], "refusing to extract '../evil.txt', which has a '..' component"),
        ([("/tmp/evil.txt", "x")], "refusing to extract '/tmp/evil.txt', which has an absolute"),
    ],
    ids=["dotdot", "absolute"],
)
def test_fetch_rejects_an_unsafe_archive(links, tmp_path, make_facade, capsys, extra, message):
    archive = _facade_zip(tmp_path / "bad.zip", make_facade, extra=extra)
    rc, _, err = _run(capsys, "fetch", "facade", "--from", str(archive))
    assert rc == 1 and message in err
    assert not (tmp_path / "evil.txt").exists() and not links.joinpath("evil.txt").exists()
    assert _entries(links) == []


def test_fetch_rejects_an_archive_of_something_else(links, tmp_path, capsys):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("photos/a.jpg", "x")
    rc, _, err = _run(capsys, "fetch", "facade", "--from", str(tmp_path / "other.zip"))
    assert rc == 1 and "missing folder" in err and "expected" in err and "found in" in err
    assert _entries(links) == []


def test_fetch_network_failure(links, serve, capsys):
    url = serve() + "/nothing.zip"
    rc, _, err = _run(capsys, "fetch", "facade", "--url", url)
    assert rc == 1
    assert f"could not download {url}: HTTP Error 404" in err
    assert "download the file by hand" in err
    assert "Then run `python -m course_utils data fetch facade --from FILE`." in err
    assert _entries(links) == []


def test_fetch_phc_is_refused_with_the_way_to_go(links, capsys):
    rc, _, err = _run(capsys, "fetch", "phc")
    assert rc == 1 and "accept the conditions of use at https://celltrackingchallenge.net/" in err
    assert "data prepare phc --from PhC-C2DH-U373.zip" in err and not links.exists()


def test_fetch_replaces_a_link_only_with_force(links, tmp_path, make_facade, capsys):
    target = tmp_path / "target"
    target.mkdir()
    links.mkdir()
    os.symlink(target, links / "CMP_facade_DB_base")
    archive = _facade_zip(tmp_path / "mine.zip", make_facade)
    assert _run(capsys, "fetch", "facade", "--from", str(archive))[0] == 1
    assert _run(capsys, "fetch", "facade", "--from", str(archive), "--force")[0] == 0
    assert not (links / "CMP_facade_DB_base").is_symlink() and target.is_dir()


# --------------------------------------------------------------------------- synth


@pytest.fixture
def small_twins(monkeypatch):
    monkeypatch.setattr(synthetic, "make_synthetic_phc",
                        functools.partial(synthetic.make_synthetic_phc, n_train=3, n_test=2,
                                          size=32))
    monkeypatch.setattr(synthetic, "make_synthetic_facade",
                        functools.partial(synthetic.make_synthetic_facade, n_images=2))


def test_synth_writes_twins_that_take_precedence(links, small_twins, capsys):
    rc, out, _ = _run(capsys, "synth")
    assert rc == 0
    assert f"phc: wrote a synthetic twin to {links / 'phc_data'}" in out
    assert "data_links/ comes before the course HPC path, so lessons now read this twin" in out
    assert (links / "phc_data" / "SYNTHETIC.txt").is_file()
    assert len(list((links / "CMP_facade_DB_base" / "base").glob("*.png"))) == 2
    rc, out, _ = _run(capsys, "status", "phc")
    assert "1  data_links  yes     <-- used" in out and "a synthetic twin" in out
    rc, _, err = _run(capsys, "synth", "phc")
    assert rc == 1 and "holds a synthetic twin; add --force to replace it" in err
    (links / "phc_data" / "train" / "images" / "img_00000.jpg").unlink(missing_ok=True)
    assert _run(capsys, "synth", "phc", "--force")[0] == 0
    assert sorted(p.name for p in links.iterdir()) == ["CMP_facade_DB_base", "phc_data"]


def test_synth_never_replaces_a_real_folder(links, small_twins, capsys):
    (links / "phc_data").mkdir(parents=True)
    (links / "phc_data" / "mine.txt").write_text("keep")
    rc, _, err = _run(capsys, "synth", "phc", "--force")
    assert rc == 1 and "is a real folder (your data?) and is never replaced" in err
    assert sorted(p.name for p in (links / "phc_data").iterdir()) == ["mine.txt"]


def test_synth_replaces_a_link_with_force_keeping_its_target(links, tmp_path, small_twins,
                                                             capsys):
    target = tmp_path / "real"
    (target / "train").mkdir(parents=True)
    links.mkdir()
    os.symlink(target, links / "phc_data")
    assert _run(capsys, "synth", "phc")[0] == 1
    assert _run(capsys, "synth", "phc", "--force")[0] == 0
    assert not (links / "phc_data").is_symlink() and (target / "train").is_dir()
