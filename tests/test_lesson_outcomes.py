"""The quick-mode outcomes the lessons' prose was written around, pinned for CI.

A lesson never asserts on a training outcome; it prints a verdict (``course_utils.verdicts``)
and hands the numbers behind it to ``config.record_outcome``. When pytest executes the
solution notebooks (quick mode, synthetic twins, seed 0, as CI does), the root conftest.py
collects those numbers per lesson, and these tests, which run after every notebook, check
them. A change that flips a comparison the prose relies on fails here, not in a student's
run. Each lesson's table lists (what the prose relies on, a check of the recorded numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Where the root conftest.py has each executed lesson write its outcomes.
OUTCOMES_DIR = Path(__file__).resolve().parents[1] / "test-output" / "lesson-outcomes"

EXPECTATIONS: dict[str, list[tuple[str, object]]] = {
    # ---- 01-encoder-decoder-bce ----
    "01-encoder-decoder-bce": [],
    # ---- 02-dice-focal-tv ----
    "02-dice-focal-tv": [],
    # ---- 03-unet-skip-connections ----
    "03-unet-skip-connections": [],
    # ---- 04-strided-vs-pooled ----
    "04-strided-vs-pooled": [],
    # ---- 05-dilated-convolutions ----
    "05-dilated-convolutions": [],
    # ---- 06-multiclass-facades ----
    "06-multiclass-facades": [],
    # ---- 07-evaluation-thresholds ----
    "07-evaluation-thresholds": [],
    # ---- 08-further-thoughts ----
    "08-further-thoughts": [],
}

CASES = [(lesson, claim, check) for lesson, rows in EXPECTATIONS.items()
         for claim, check in rows]


@pytest.mark.notebooks
@pytest.mark.parametrize(("lesson", "claim", "check"), CASES,
                         ids=[f"{lesson[:2]}: {claim}" for lesson, claim, _ in CASES])
def test_quick_mode_outcome(request, lesson, claim, check):
    if lesson not in getattr(request.config, "course_lessons_executed", set()):
        pytest.skip(f"notebooks/solutions/{lesson}.ipynb was not executed in this session")
    path = OUTCOMES_DIR / f"{lesson}.json"
    if not path.exists():
        pytest.fail(f"{lesson} recorded no outcomes (did it fail before its first "
                    f"config.record_outcome?); expected {path}")
    outcomes = json.loads(path.read_text()).get("outcomes", {})
    try:
        holds = check(outcomes)
    except KeyError as exc:
        pytest.fail(f"{lesson} did not record outcome {exc}; it recorded {sorted(outcomes)}")
    assert holds, f"{lesson}: the prose relies on '{claim}', but quick mode recorded {outcomes}"
