"""Shared fixtures: tiny dataset folders in the real layouts, written by hand with PIL.

The folders are built here rather than with ``course_utils.synthetic`` so that the data tests
pin down the readers against files whose every pixel the test knows:

- PhC: ``train/`` holds keys 0..9, ``test/`` keys 100..102, 16 x 16. Image ``i`` is the grey
  level ``10 + 20 * (i % 12)`` (constant grey survives JPEG exactly); its mask has the first
  ``i % 16 + 1`` columns set to 255.
- Facade: ``base/cmp_b0001`` .. ``cmp_b0020``, 24 high x 16 wide. Photo ``i`` is the grey
  level ``50 + 5 * i``; its label holds id ``i % 12 + 1`` in the top half and ``12 - i % 12``
  in the bottom half (a palette PNG).
"""

from __future__ import annotations

import base64
import builtins
import os
import sys
import types
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

matplotlib.use("Agg")

from course_utils.facade_classes import FACADE_PALETTE  # noqa: E402

PHC_SIZE = 16
N_PHC_TRAIN, N_PHC_TEST = 10, 3


@pytest.fixture(autouse=True)
def _isolated_env(request, monkeypatch, tmp_path):
    """No unit test sees the caller's data folder, device choice or results file; synthetic
    twins (if a unit test ever reaches them) go to a per-test cache. Notebook tests run in
    the caller's environment, sharing its cache of synthetic data."""
    if request.node.get_closest_marker("notebooks"):
        return
    for name in ("COURSE_DATA_DIR", "COURSE_DEVICE", "COURSE_DEVICE_AUDIT",
                 "COURSE_RESULTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def shown():
    """The text an ipywidgets Output shows, after checking it shows one PNG above it."""

    def text_of(out) -> str:
        kinds = [o["output_type"] for o in out.outputs]
        assert kinds == ["display_data", "stream"], kinds
        png = base64.b64decode(out.outputs[0]["data"]["image/png"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        return out.outputs[1]["text"]

    return text_of


def phc_image_value(i: int) -> int:
    """Grey level of PhC image number ``i``: constant images survive JPEG exactly."""
    return 10 + 20 * (i % 12)


def phc_label(i: int, size: int = PHC_SIZE) -> np.ndarray:
    """Mask of PhC image number ``i``: the first ``i % size + 1`` columns are cell (255)."""
    label = np.zeros((size, size), dtype=np.uint8)
    label[:, : i % size + 1] = 255
    return label


def write_phc_split(folder: Path, keys, size: int = PHC_SIZE) -> None:
    """``folder/images/img_KKKKK.jpg`` and ``folder/labels/label_KKKKK.png`` for each key."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for i in keys:
        grey = np.full((size, size), phc_image_value(i), dtype=np.uint8)
        Image.fromarray(grey).save(folder / "images" / f"img_{i:05d}.jpg", quality=95)
        Image.fromarray(phc_label(i, size)).save(folder / "labels" / f"label_{i:05d}.png")


@pytest.fixture
def make_phc(tmp_path):
    """Factory: a PhC root (``train/`` and ``test/``) under ``tmp_path/name``."""

    def make(name: str = "phc", n_train: int = N_PHC_TRAIN, n_test: int = N_PHC_TEST,
             size: int = PHC_SIZE) -> Path:
        root = tmp_path / name
        write_phc_split(root / "train", range(n_train), size)
        write_phc_split(root / "test", range(100, 100 + n_test), size)
        return root

    return make


@pytest.fixture
def phc_root(make_phc) -> Path:
    """A PhC root with 10 train and 3 test 16 x 16 crops."""
    return make_phc()


def facade_ids(i: int, height: int, width: int) -> np.ndarray:
    """Label ids of facade number ``i``: the top half is class id ``i % 12 + 1``, the bottom
    half class id 12 - i % 12, so every id 1..12 occurs across 12 images."""
    ids = np.empty((height, width), dtype=np.uint8)
    ids[: height // 2] = i % 12 + 1
    ids[height // 2 :] = 12 - i % 12
    return ids


def write_facade_label(path: Path, ids: np.ndarray) -> None:
    """A palette PNG with the facade palette (entry id -> colour of class id - 1)."""
    label = Image.frombytes("P", (ids.shape[1], ids.shape[0]), np.ascontiguousarray(ids).tobytes())
    flat = [0, 0, 0] + [c for rgb in FACADE_PALETTE for c in rgb]
    label.putpalette(flat + [0] * (768 - len(flat)))
    label.save(path)


def facade_grey(i: int) -> int:
    """Grey level of facade photo number ``i`` (grey survives JPEG exactly)."""
    return 50 + 5 * i


def write_facade(base: Path, i: int, height: int, width: int, ids: np.ndarray | None = None):
    base.mkdir(parents=True, exist_ok=True)
    photo = np.full((height, width, 3), facade_grey(i), dtype=np.uint8)
    Image.fromarray(photo).save(base / f"cmp_b{i:04d}.jpg", quality=95)
    write_facade_label(base / f"cmp_b{i:04d}.png",
                       facade_ids(i, height, width) if ids is None else ids)


@pytest.fixture
def make_facade(tmp_path):
    """Factory: a facade root (``base/cmp_bNNNN.{jpg,png}``) under ``tmp_path/name``."""

    def make(name: str = "facade", n: int = 20, height: int = 24, width: int = 16) -> Path:
        root = tmp_path / name
        for i in range(1, n + 1):
            write_facade(root / "base", i, height, width)
        return root

    return make


@pytest.fixture
def facade_root(make_facade) -> Path:
    """A facade root with 20 portrait 24 x 16 photos and palette labels."""
    return make_facade()
    """A facade root with 20 portrait 24 x 16 photos and palette labels."""
    return make_facade()


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """A real IPython ``InteractiveShell`` of its own, for what students see under an error
    (``hints``, ``checks.CheckFailed``)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from course_utils import hints

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    config = Config()
    config.HistoryManager.enabled = False
    names = set(vars(builtins))
    # Its own user module, so that sys.modules["__main__"] stays pytest's.
    ip = InteractiveShell.instance(config=config, user_module=types.ModuleType("hints_test_ns"))
    yield ip
    hints.uninstall(ip)
    InteractiveShell.clear_instance()
    sys.modules.pop("hints_test_ns", None)
    for name in set(vars(builtins)) - names:  # __IPYTHON__ would fool later tests
        delattr(builtins, name)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm on 127.0.0.1 for the whole session (``course_utils.instructor.local_slurm``:
    munged, slurmctld, slurmd, 2 CPUs or the machine's one), with ``SLURM_CONF`` pointing sbatch, squeue and
    scontrol at it; stopped, its jobs cancelled, at the end. Skipped, saying why, where
    Slurm cannot start (not root, slurm-wlm or munge not installed, a daemon that dies)."""
    from course_utils.instructor.local_slurm import LocalSlurm, SlurmUnavailable

    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), cpus=min(2, os.cpu_count() or 1))
    try:
        cluster.start()
    except SlurmUnavailable as exc:
        pytest.skip(f"no local Slurm: {exc}")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(cluster.conf))
            yield cluster
    finally:
        cluster.stop()
