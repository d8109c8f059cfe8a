"""The dataset registry (``datasets.toml``), the error every data module raises, and where
``data_links/`` is.

The registry is the one place that states where each dataset lives and what a valid copy
looks like; every other data module reads these facts from here.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DATA_LINKS", "DatasetError", "entry", "registry"]

# The repository's data_links/ (course_utils/data/ is two levels below the repository).
DATA_LINKS = Path(__file__).resolve().parents[2] / "data_links"


class DatasetError(ValueError):
    """A dataset folder is missing, incomplete or holds a file that is not what was expected."""


@cache
def registry() -> dict[str, dict]:
    """The dataset registry (``course_utils/data/datasets.toml``): paths, URLs, counts, licences."""
    return tomllib.loads((Path(__file__).parent / "datasets.toml").read_text())


def entry(name: str) -> dict:
    """The registry entry of dataset ``name``; ``ValueError`` naming the known ones if unknown."""
    if name not in registry():
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(registry())}")
    return registry()[name]
