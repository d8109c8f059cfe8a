"""The search order of ``course_utils.data.sources``: ``candidates``, ``assess``, ``locate``.

Every test runs with ``COURSE_CACHE_DIR`` in its own ``tmp_path`` (tests/conftest.py); the
``nowhere`` fixture also points ``data_links/`` and the course HPC paths into it.
"""

from pathlib import Path

import pytest

from course_utils import data, synthetic
from course_utils.data import DatasetError, catalog, sources

# --------------------------------------------------------------------------- locate


@pytest.fixture
def nowhere(monkeypatch, tmp_path):
    """No data_links entry and HPC paths that do not exist: only the synthetic twin is left."""
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setattr(catalog, "DATA_LINKS", links)
    entries = {name: dict(entry) for name, entry in data.registry().items()}
    for name, entry in entries.items():
        entry["hpc_path"] = str(tmp_path / "hpc" / name)
    monkeypatch.setattr(catalog, "registry", lambda: entries)
    return tmp_path


def _folders(tmp_path, *parts):
    path = tmp_path.joinpath(*parts)
    path.mkdir(parents=True)
    return path


def test_candidates_order(nowhere, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(nowhere / "env"))
    kinds = [s.kind for s in data.candidates("phc", nowhere / "arg")]
    assert kinds == ["argument", "COURSE_DATA_DIR", "data_links", "course HPC", "synthetic"]
    assert [s.kind for s in data.candidates("phc")] == kinds[1:]


def test_locate_argument_first(nowhere, monkeypatch):
    arg = _folders(nowhere, "arg")
    _folders(nowhere, "env", "phc_data")
    monkeypatch.setenv("COURSE_DATA_DIR", str(nowhere / "env"))
    assert data.locate("phc", arg) == data.DataSource("phc", arg, "argument")
    assert data.locate("phc", str(arg)).path == arg


def test_locate_env_before_data_links(nowhere, monkeypatch):
    env = _folders(nowhere, "env", "phc_data")
    _folders(nowhere, "links", "phc_data")
    monkeypatch.setenv("COURSE_DATA_DIR", str(nowhere / "env"))
    assert data.locate("phc") == data.DataSource("phc", env, "COURSE_DATA_DIR")


def test_locate_data_links_before_hpc(nowhere):
    link = _folders(nowhere, "links", "CMP_facade_DB_base")
    _folders(nowhere, "hpc", "facade")
    assert data.locate("facade") == data.DataSource("facade", link, "data_links")


def test_locate_hpc_before_synthetic(nowhere):
    hpc = _folders(nowhere, "hpc", "phc")
    _folders(nowhere, "cache", "synthetic", f"v{synthetic.TWIN_VERSION}", "phc_data")
    assert data.locate("phc") == data.DataSource("phc", hpc, "course HPC")


def test_locate_real_registry_hpc_path(monkeypatch, tmp_path):
    links = _folders(tmp_path, "links")
    monkeypatch.setattr(catalog, "DATA_LINKS", links)
    hpc = data.registry()["phc"]["hpc_path"]
    assert data.candidates("phc")[-2] == data.DataSource("phc", Path(hpc), "course HPC")


def test_locate_existing_synthetic_twin_announced_once(nowhere, capsys, monkeypatch):
    monkeypatch.setattr(sources, "_announced", set())
    twin = _folders(nowhere, "cache", "synthetic", f"v{synthetic.TWIN_VERSION}", "phc_data")
    assert data.locate("phc") == data.DataSource("phc", twin, "synthetic")
    assert capsys.readouterr().out.startswith(f"Using SYNTHETIC phc data (a generated twin in "
                                              f"the real layout) from {twin}.")
    assert data.locate("phc").kind == "synthetic"
    assert capsys.readouterr().out == ""


def test_data_source_reads_as_kind_and_path(tmp_path):
    assert str(data.DataSource("phc", tmp_path, "argument")) == f"argument: {tmp_path}"


def test_synthetic_dir_follows_course_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "c"))
    expected = tmp_path / "c" / "synthetic" / f"v{synthetic.TWIN_VERSION}" / "CMP_facade_DB_base"
    assert data.synthetic_dir("facade") == expected


def test_locate_generates_synthetic_twin_once(nowhere, monkeypatch):
    calls = []

    def fake_make(root):
        calls.append(root)
        (root / "train").mkdir(parents=True)

    monkeypatch.setattr(synthetic, "make_synthetic_phc", fake_make)
    twin = nowhere / "cache" / "synthetic" / f"v{synthetic.TWIN_VERSION}" / "phc_data"
    assert data.locate("phc").path == twin
    assert data.locate("phc").path == twin
    assert len(calls) == 1
    assert calls[0].parent == twin.parent and calls[0].name.startswith("phc_data.tmp-")
    assert sorted(p.name for p in twin.parent.iterdir()) == ["phc_data"]
    assert (twin / "train").is_dir()


def _break(path, how):
    """Make ``path`` not a folder: "missing" (nothing), "file" or "broken link"."""
    if how == "file":
        path.write_text("not a folder")
    elif how == "broken link":
        path.symlink_to(path.with_name("gone"))
    return path


@pytest.mark.parametrize(("how", "state"), [("missing", "does not exist"), ("file", "is a file, "
                                             "not a folder"), ("broken link", "is a broken link")])
def test_locate_root_argument_not_a_folder_is_an_error(nowhere, how, state):
    _folders(nowhere, "links", "phc_data")  # a fallback exists, yet is not used
    root = _break(nowhere / "missing", how)
    with pytest.raises(DatasetError, match=rf"the root argument {root} {state}.* Give the folder "
                                           rf"that holds the PhC-C2DH-U373 .*leave root as None"):
        data.locate("phc", root)


@pytest.mark.parametrize("how", ["missing", "file"])
def test_locate_course_data_dir_not_a_folder_is_an_error(nowhere, monkeypatch, how):
    _folders(nowhere, "links", "phc_data")  # a typo must not quietly switch the data
    env = _break(nowhere / "env", how)
    monkeypatch.setenv("COURSE_DATA_DIR", str(env))
    with pytest.raises(DatasetError, match=rf"COURSE_DATA_DIR is {env}, which .* Set it to the "
                                           rf"folder that holds phc_data/ .*or unset it"):
        data.locate("phc")


@pytest.fixture
def only_phc(nowhere, monkeypatch):
    """``COURSE_DATA_DIR`` holds ``phc_data`` but no ``CMP_facade_DB_base``."""
    env = _folders(nowhere, "env", "phc_data").parent
    monkeypatch.setenv("COURSE_DATA_DIR", str(env))
    monkeypatch.setattr(sources, "_announced", set())
    return env


def test_locate_dataset_missing_from_course_data_dir_falls_through_to_synthetic(
        only_phc, nowhere, monkeypatch, make_facade, capsys):
    monkeypatch.setattr(synthetic, "make_synthetic_facade",
                        lambda root: make_facade("tiny").rename(root))
    twin = nowhere / "cache" / "synthetic" / f"v{synthetic.TWIN_VERSION}" / "CMP_facade_DB_base"
    assert data.locate("phc") == data.DataSource("phc", only_phc / "phc_data", "COURSE_DATA_DIR")
    assert capsys.readouterr().out == ""
    assert data.FacadeDataset("train", size=(12, 8)).source == data.DataSource("facade", twin,
                                                                               "synthetic")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"facade: not in COURSE_DATA_DIR ({only_phc / 'CMP_facade_DB_base'} "
                        f"missing); using synthetic: {twin}")
    assert len(lines) == 2 and lines[1].startswith("Using SYNTHETIC facade data")
    data.FacadeDataset("val", size=(12, 8))  # a lesson builds several: said once
    assert capsys.readouterr().out == ""


def test_locate_dataset_missing_from_course_data_dir_falls_through_to_data_links(
        only_phc, nowhere, capsys):
    link = _folders(nowhere, "links", "CMP_facade_DB_base")
    assert data.locate("facade") == data.DataSource("facade", link, "data_links")
    missing = only_phc / "CMP_facade_DB_base"
    assert capsys.readouterr().out == (f"facade: not in COURSE_DATA_DIR ({missing} missing); "
                                       f"using data_links: {link}\n")


def test_locate_passes_over_a_broken_data_link_and_says_so(only_phc, nowhere, capsys):
    link = _break(nowhere / "links" / "CMP_facade_DB_base", "broken link")
    hpc = _folders(nowhere, "hpc", "facade")
    assert data.locate("facade") == data.DataSource("facade", hpc, "course HPC")
    assert capsys.readouterr().out == (
        f"facade: not in COURSE_DATA_DIR ({only_phc / 'CMP_facade_DB_base'} missing); "
        f"{link} is a broken link to {nowhere / 'links' / 'gone'}; using course HPC: {hpc}\n")


def test_a_broken_folder_is_used_and_fails_by_name_never_skipped(only_phc, nowhere):
    _folders(only_phc, "CMP_facade_DB_base", "photos")  # exists, wrong layout
    _folders(nowhere, "links", "CMP_facade_DB_base", "base")  # a good-looking fallback
    assert data.locate("facade").kind == "COURSE_DATA_DIR"
    with pytest.raises(DatasetError, match=r"missing folder .*env/CMP_facade_DB_base/base"):
        data.FacadeDataset("train", size=(12, 8))


@pytest.mark.parametrize(
    ("kind", "how", "verdict"),
    [
        ("argument", "folder", "use"),
        ("argument", "missing", "error"),
        ("COURSE_DATA_DIR", "folder", "use"),
        ("COURSE_DATA_DIR", "missing", "skip"),
        ("COURSE_DATA_DIR", "broken link", "skip"),
        ("COURSE_DATA_DIR", "no parent", "error"),
        ("data_links", "folder", "use"),
        ("data_links", "missing", "pass"),
        ("data_links", "file", "skip"),
        ("data_links", "broken link", "skip"),
        ("course HPC", "missing", "pass"),
        ("course HPC", "broken link", "pass"),
        ("synthetic", "missing", "use"),  # generated on first use
    ],
)
def test_assess(tmp_path, kind, how, verdict):
    path = tmp_path / "parent" / "phc_data"
    if how == "no parent":
        path = tmp_path / "nowhere" / "phc_data"
    else:
        path.parent.mkdir()
        path.mkdir() if how == "folder" else _break(path, how)
    got, why = sources.assess(data.DataSource("phc", path, kind))
    assert got == verdict
    assert (why == "") == (verdict in ("use", "pass"))


def test_locate_unknown_dataset():
    with pytest.raises(ValueError, match=r"unknown dataset 'cells'; expected one of \['facade', "):
        data.locate("cells")
