"""``course_utils.data.decoded``: the decoded copy on disk is used exactly while the files it
came from are unchanged, and a cache that cannot be used never changes a result.

The ``decode`` functions here count their calls; ``forget()`` plays a new kernel, which has
nothing in memory and finds the copy on disk. Every test has its own ``COURSE_CACHE_DIR``
(tests/conftest.py).
"""

import os

import pytest
import torch

from course_utils.data import FacadeDataset, PhCDataset, decoded, readers

PATTERNS = ("*.txt",)


@pytest.fixture(autouse=True)
def _fresh_memory():
    decoded.forget()
    yield
    decoded.forget()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "files"
    root.mkdir()
    for name, text in (("a.txt", "one"), ("b.txt", "two")):
        (root / name).write_text(text)
    (root / "ignored.csv").write_text("not a pattern's file")
    return root


class Decoder:
    """A stand-in reader: the files' sizes as images, their names as names."""

    def __init__(self, folder):
        self.folder, self.calls = folder, 0

    def __call__(self):
        self.calls += 1
        files = sorted(self.folder.glob("*.txt"))
        sizes = torch.tensor([f.stat().st_size for f in files], dtype=torch.uint8)
        return sizes.view(-1, 1, 1, 1), sizes.view(-1, 1, 1), [f.stem for f in files]


def load(folder, decode, size=(4, 4)):
    return decoded.load("test", folder, size, PATTERNS, decode)


def new_kernel_load(folder, decode, size=(4, 4)):
    decoded.forget()
    return load(folder, decode, size)


def same(a, b):
    return torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]


def test_first_load_decodes_and_keeps_one_file(folder):
    decode = Decoder(folder)
    result = load(folder, decode)
    assert decode.calls == 1
    assert result[2] == ["a", "b"] and result[0].flatten().tolist() == [3, 3]
    path = decoded.cache_file("test", folder, (4, 4))
    assert path.is_file() and list(path.parent.iterdir()) == [path]


def test_a_new_kernel_reads_the_copy_instead_of_decoding(folder):
    decode = Decoder(folder)
    first = load(folder, decode)
    again = new_kernel_load(folder, decode)
    assert decode.calls == 1
    assert same(first, again)


def test_the_same_kernel_reuses_its_memory(folder):
    decode = Decoder(folder)
    first = load(folder, decode)
    decoded.cache_file("test", folder, (4, 4)).unlink()
    assert load(folder, decode) is first
    assert decode.calls == 1


def _rewrite_same_size(folder):
    path = folder / "a.txt"
    stat = path.stat()
    path.write_text("ONE")  # same size; the content differs
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def _replace_by_rename(folder):
    new = folder / "new.tmp"
    new.write_text("uno")
    stat = (folder / "a.txt").stat()
    os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and time: a new inode
    new.replace(folder / "a.txt")


@pytest.mark.parametrize("change", [
    pytest.param(lambda f: (f / "a.txt").write_text("eleven"), id="content and size"),
    pytest.param(_rewrite_same_size, id="same size, new time"),
    pytest.param(_replace_by_rename, id="same size and time, new inode"),
    pytest.param(lambda f: (f / "c.txt").write_text("three"), id="file added"),
    pytest.param(lambda f: (f / "b.txt").unlink(), id="file removed"),
    pytest.param(lambda f: (f / "b.txt").rename(f / "c.txt"), id="file renamed"),
])
def test_a_changed_file_is_decoded_again(folder, change):
    decode = Decoder(folder)
    load(folder, decode)
    change(folder)
    result = new_kernel_load(folder, decode)
    assert decode.calls == 2
    assert same(result, Decoder(folder)())
    new_kernel_load(folder, decode)  # the overwritten copy is the one used next
    assert decode.calls == 2


def test_a_change_is_seen_in_the_same_kernel(folder):
    decode = Decoder(folder)
    load(folder, decode)
    (folder / "a.txt").write_text("eleven")
    assert load(folder, decode)[0].flatten().tolist() == [6, 3]
    assert decode.calls == 2


def test_a_file_outside_the_patterns_does_not_matter(folder):
    decode = Decoder(folder)
    load(folder, decode)
    (folder / "ignored.csv").write_text("changed")
    new_kernel_load(folder, decode)
    assert decode.calls == 1


def test_each_size_has_its_own_copy(folder):
    decode = Decoder(folder)
    load(folder, decode, (4, 4))
    load(folder, decode, (8, 8))
    new_kernel_load(folder, decode, (4, 4))
    new_kernel_load(folder, decode, (8, 8))
    assert decode.calls == 2
    assert decoded.cache_file("test", folder, (4, 4)) != decoded.cache_file("test", folder, (8, 8))


@pytest.mark.parametrize("damage", [
    pytest.param(lambda p: p.write_bytes(b"not a torch file"), id="garbage"),
    pytest.param(lambda p: p.write_bytes(p.read_bytes()[:40]), id="truncated"),
    pytest.param(lambda p: torch.save({"format": decoded.FORMAT + 1}, p), id="other format"),
    pytest.param(lambda p: torch.save([1, 2, 3], p), id="not a dict"),
])
def test_an_unreadable_copy_is_decoded_again_and_overwritten(folder, damage):
    decode = Decoder(folder)
    first = load(folder, decode)
    damage(decoded.cache_file("test", folder, (4, 4)))
    assert same(new_kernel_load(folder, decode), first)
    assert decode.calls == 2
    assert same(new_kernel_load(folder, decode), first)
    assert decode.calls == 2


def test_a_copy_whose_tensors_disagree_is_not_used(folder):
    decode = Decoder(folder)
    first = load(folder, decode)
    path = decoded.cache_file("test", folder, (4, 4))
    entry = torch.load(path, weights_only=True)
    torch.save(entry | {"names": ["a"]}, path)  # 2 images, 1 name
    assert same(new_kernel_load(folder, decode), first)
    assert decode.calls == 2


def test_a_cache_folder_that_cannot_be_written_changes_nothing_but_time(
        folder, tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocked))
    decode = Decoder(folder)
    result = load(folder, decode)
    assert same(result, Decoder(folder)())
    said = capsys.readouterr().out
    assert "Could not keep the decoded data" in said and "COURSE_CACHE_DIR" in said
    new_kernel_load(folder, decode)
    assert decode.calls == 2
    assert capsys.readouterr().out == ""  # said once
    assert blocked.read_text() == "a file where the cache folder should be"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked", "files"]


def test_no_matching_files_leaves_the_error_to_the_reader(tmp_path):
    def decode():
        raise FileNotFoundError("the reader names what is missing")

    with pytest.raises(FileNotFoundError, match="the reader names what is missing"):
        decoded.load("test", tmp_path / "missing", (4, 4), PATTERNS, decode)
    assert not (tmp_path / "cache" / "decoded").exists()


def test_the_reader_error_passes_through_and_nothing_is_kept(folder):
    def decode():
        raise ValueError("bad label in a.txt")

    with pytest.raises(ValueError, match="bad label in a.txt"):
        load(folder, decode)
    assert not decoded.cache_file("test", folder, (4, 4)).exists()


def test_fingerprint_counts_the_matching_files(folder):
    digest, count = decoded.fingerprint(folder, PATTERNS)
    assert count == 2 and len(digest) == 64
    assert decoded.fingerprint(folder, ("*.csv",))[1] == 1
    assert decoded.fingerprint(folder, PATTERNS) == (digest, count)


# ---- the datasets read through it --------------------------------------------------------


def _no_decoding(*args):
    raise AssertionError("decoded again although the files did not change")


def test_a_new_kernel_builds_phc_datasets_from_the_copy(phc_root, monkeypatch):
    first = {split: PhCDataset(split, phc_root, size=8) for split in ("train", "val", "test")}
    decoded.forget()
    monkeypatch.setattr(readers, "read_phc_folder", _no_decoding)
    for split, dataset in first.items():
        again = PhCDataset(split, phc_root, size=8)
        assert torch.equal(again.images, dataset.images)
        assert torch.equal(again.targets, dataset.targets)
        assert again.names == dataset.names


def test_a_new_kernel_builds_facade_datasets_from_the_copy(facade_root, monkeypatch):
    first = FacadeDataset("val", facade_root, size=(12, 8))
    decoded.forget()
    monkeypatch.setattr(readers, "read_facade_folder", _no_decoding)
    again = FacadeDataset("val", facade_root, size=(12, 8))
    assert torch.equal(again.images, first.images) and torch.equal(again.targets, first.targets)
    assert again.names == first.names


def test_a_label_broken_after_caching_is_still_refused(phc_root):
    from PIL import Image

    from course_utils.data import DatasetError

    PhCDataset("test", phc_root)
    Image.new("L", (16, 16), 128).save(phc_root / "test" / "labels" / "label_00101.png")
    decoded.forget()
    with pytest.raises(DatasetError, match="label_00101.png: expected an 8-bit mask"):
        PhCDataset("test", phc_root)
