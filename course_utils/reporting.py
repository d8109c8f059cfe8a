"""The results channel: what a lesson hands to the batch runner and to CI.

The runner (``python -m course_utils run``) and the root ``conftest.py`` set
``COURSE_RESULTS_FILE`` for each lesson they execute; a lesson writes its headline figures
(``record_result``) and the numbers behind its verdicts (``record_outcome``) into that JSON
file. Run by hand, with the variable unset, a lesson only prints its figures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

RESULTS_ENV = "COURSE_RESULTS_FILE"
OUTCOMES_KEY = "outcomes"


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
