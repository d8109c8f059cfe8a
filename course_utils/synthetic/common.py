"""What both twin generators share: the cache version, argument checks, the output folders."""

from pathlib import Path

import numpy as np

# Bump whenever the generated files change: cached twins live in a folder named after it,
# so a changed generator never meets a twin made by an older one.
TWIN_VERSION = 4  # 4: the cells imaged as phase contrast (issue 28)


def check_int(name, value, low, high):
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def prepare(root, subdirs):
    """Create ``root/<subdir>`` folders, refusing any that already hold files."""
    root = Path(root)
    for sub in subdirs:
        folder = root / sub
        if folder.is_dir() and any(folder.iterdir()):
            raise ValueError(f"{folder} already contains files; generate into a fresh folder")
    for sub in subdirs:
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root
