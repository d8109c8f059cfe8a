"""The course's data: where each dataset is, checking it, reading it, loading it.

Modules, each importing only those above it (``cli`` is the command line, not imported here):

- ``catalog``: the registry ``datasets.toml``, ``DatasetError``, ``DATA_LINKS``;
- ``sources``: the search order (``locate``) and the synthetic twin at its end;
- ``validation``: checking a folder against the registry (``validate``, ``check_layout``);
- ``readers``: decoding the real layouts into uint8 tensors;
- ``decoded``: those tensors kept on disk, so that a new kernel does not decode again;
- ``datasets``: ``PhCDataset``, ``FacadeDataset``, deterministic splits (the shape contract);
- ``loader``: ``InMemoryLoader``, batches on the training device;
- ``archives``: downloading with a SHA-256 and extracting a zip safely;
- ``prepare``: cutting the course's ``phc_data`` from the challenge archive;
- ``cli``: ``python -m course_utils data status|link|fetch|prepare|synth``.
"""

from course_utils.data.archives import download, safe_extract, sha256_of
from course_utils.data.catalog import DATA_LINKS, DatasetError, registry
from course_utils.data.datasets import SPLITS, FacadeDataset, PhCDataset, split_indices
from course_utils.data.loader import InMemoryLoader
from course_utils.data.prepare import Crop, Prepared, crop_cells, prepare_phc, split_frames
from course_utils.data.sources import (
    CACHE_DIR_ENV,
    DATA_DIR_ENV,
    DataSource,
    assess,
    candidates,
    locate,
    synthetic_dir,
)
from course_utils.data.validation import SYNTHETIC_MARKER, Finding, Report, check_layout, validate
from course_utils.facade_classes import (
    FACADE_CLASSES,
    FACADE_PALETTE,
    IGNORE_INDEX,
    NUM_FACADE_CLASSES,
)

__all__ = [
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "DATA_LINKS",
    "FACADE_CLASSES",
    "FACADE_PALETTE",
    "IGNORE_INDEX",
    "NUM_FACADE_CLASSES",
    "SPLITS",
    "SYNTHETIC_MARKER",
    "Crop",
    "DataSource",
    "DatasetError",
    "FacadeDataset",
    "Finding",
    "InMemoryLoader",
    "PhCDataset",
    "Prepared",
    "Report",
    "assess",
    "candidates",
    "check_layout",
    "crop_cells",
    "download",
    "locate",
    "prepare_phc",
    "registry",
    "safe_extract",
    "sha256_of",
    "split_frames",
    "split_indices",
    "synthetic_dir",
    "validate",
]
