"""Quick mode, seeding, device choice, the environment report and lesson results.

Every lesson reads its settings once, in its parameters cell, through this module:

    QUICK = config.is_quick()        # COURSE_QUICK=1 in CI and for a fast pass
    DEVICE = config.get_device()     # cuda, then mps, then cpu
    config.seed_everything(SEED)
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import re
import sys
from pathlib import Path

import numpy as np
import torch

QUICK_ENV = "COURSE_QUICK"
RESULTS_ENV = "COURSE_RESULTS_FILE"
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


def record_result(key: str, value: object, echo: bool = True) -> None:
    """Record a lesson's headline figure for the batch runner (no-op outside it).

    The runner sets ``COURSE_RESULTS_FILE`` per lesson and prints what was recorded in
    its summary table; a lesson run by hand just prints the figure.
    """
    if isinstance(value, float | np.floating):
        value = round(float(value), 4)
    if echo:
        print(f"{key}: {value}")
    _write_result(key, value)


def record_outcome(key: str, value: float | bool) -> None:
    """Hand a number behind one of the lesson's verdicts to the course's CI; prints nothing.

    The lessons were written around what quick mode shows on the synthetic twins with seed 0
    (the U-Net beats the encoder-decoder, ...). CI pins those outcomes in
    ``tests/integration/test_lesson_outcomes.py`` from the numbers recorded here, so a change that flips
    one fails CI, while a student's run, with its own seed, device and data, never fails
    because its numbers differ. Outside CI and the runner this does nothing.
    """
    if isinstance(value, bool | np.bool_):
        value = bool(value)
    elif isinstance(value, int | float | np.number):
        if not np.isfinite(value):
            raise ValueError(f"outcome {key!r} must be finite, got {value!r}")
        value = float(value)
    else:
        raise ValueError(f"outcome {key!r} must be a number or a bool, got {type(value).__name__}")
    _write_result(key, value, section=OUTCOMES_KEY)


OUTCOMES_KEY = "outcomes"


def _write_result(key: str, value: object, section: str | None = None) -> None:
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    path = Path(path)
    results = json.loads(path.read_text()) if path.exists() else {}
    if section is None:
        results[key] = value
    else:
        results.setdefault(section, {})[key] = value
    path.write_text(json.dumps(results, indent=1))
