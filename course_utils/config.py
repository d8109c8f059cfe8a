"""The course's settings: quick mode, seeding, device choice and the environment report.

Every lesson reads its settings once, in its parameters cell, through this module:

    QUICK = config.is_quick()        # COURSE_QUICK=1 in CI and for a fast pass
    DEVICE = config.get_device()     # cuda, then mps, then cpu
    config.seed_everything(SEED)
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import platform
import random
import re
import sys
from pathlib import Path

import numpy as np
import torch

QUICK_ENV = "COURSE_QUICK"
DEVICE_ENV = "COURSE_DEVICE"
AUDIT_ENV = "COURSE_DEVICE_AUDIT"  # CI: a simulated accelerator (see device_audit)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_quick() -> bool:
    """Whether quick mode is on (``COURSE_QUICK=1``): smaller images, fewer epochs and samples.

    Raises:
        ValueError: if the variable holds something other than a yes/no value.
    """
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{QUICK_ENV}={os.environ[QUICK_ENV]!r} is not understood; use {QUICK_ENV}=1 for quick "
        f"mode or {QUICK_ENV}=0 (or unset it) for full mode."
    )


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={os.environ[name]!r} is not understood; use {name}=1 or unset it.")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices) and return a seeded CPU generator.

    Bit-exact reproducibility on a GPU would also need deterministic kernels, which are
    slower; lessons only need runs that come out the same way, so those stay off.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global RNG is what other libraries draw from
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the training device: ``prefer`` or ``COURSE_DEVICE`` if given, else cuda, mps, cpu.

    With ``COURSE_DEVICE_AUDIT=1`` (CI) it returns ``cpu:0``, a CPU that plays an accelerator:
    ``device_audit`` then fails every operation that mixes it with plain CPU tensors.

    Raises:
        ValueError: if the requested device is not available here.
    """
    if _flag(AUDIT_ENV):
        from course_utils import device_audit

        device_audit.install()
        return device_audit.AUDIT_DEVICE
    prefer = prefer or os.environ.get(DEVICE_ENV) or None
    if prefer is not None:
        device = torch.device(prefer)
        available = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": _mps_available(),
        }.get(device.type, False)
        if not available:
            raise ValueError(
                f"device {prefer!r} is not available on this machine; "
                f"leave it unset to pick the best available one."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def environment_report(device: torch.device | None = None) -> dict[str, str]:
    """Versions, device and mode, as a dict a lesson can print as a table."""
    device = device or get_device()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        device_text = f"cuda ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    elif device.index is not None and device.type == "cpu":
        device_text = f"{device} (device audit: a CPU playing an accelerator)"
    else:
        device_text = device.type
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "torchvision": _torchvision_version(),
        "device": device_text,
        "cpu threads": str(torch.get_num_threads()),
        "quick mode": "on" if is_quick() else "off",
    }


def _torchvision_version() -> str:
    """``torchvision.__version__`` (with its build tag, e.g. ``+cu130``) without importing
    torchvision, which would import ``torch._dynamo`` too: 1.3 s of a lesson that never uses
    it (the runner asks every lesson's kernel for this report)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None:
        return "not installed"
    for folder in spec.submodule_search_locations or []:
        version_file = Path(folder) / "version.py"
        if version_file.is_file():
            match = re.search(r"^__version__ = ['\"]([^'\"]+)['\"]", version_file.read_text(), re.M)
            if match:
                return match.group(1)
    return importlib.metadata.version("torchvision")


def print_table(rows: dict[str, object]) -> None:
    """Print a two-column table of ``key: value`` rows, aligned."""
    width = max(len(str(k)) for k in rows)
    for key, value in rows.items():
        print(f"{str(key):<{width}}  {value}")


@contextlib.contextmanager
def env_overrides(values: dict[str, str]):
    """Set environment variables for the length of a ``with`` block, then put back what was
    there (a variable that was unset is unset again), also when the block raises.

    Used where a kernel started inside the block must inherit a setting, e.g.
    ``with env_overrides({QUICK_ENV: "1"}): ...``.
    """
    for name, value in values.items():
        if not isinstance(value, str):
            raise ValueError(f"environment variable {name} must be set to a str, "
                             f"got {type(value).__name__} {value!r}")
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
