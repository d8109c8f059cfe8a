"""Repository-wide pytest set-up.

- Tests and notebook runs use quick mode unless told otherwise.
- Each solution notebook that nbval executes writes the numbers its lesson hands over with
  ``config.record_outcome`` to ``test-output/lesson-outcomes/<lesson>.json``; the tests in
  ``tests/test_lesson_outcomes.py`` run after every notebook and pin the quick-mode outcomes
  the lessons' prose was written around.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("COURSE_QUICK", "1")

OUTCOMES_DIR = Path(__file__).parent / "test-output" / "lesson-outcomes"
OUTCOME_TESTS = "test_lesson_outcomes.py"


def _lesson_of(item) -> str | None:
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb" and path.parent.name == "solutions":
        return path.stem
    return None


def pytest_collection_modifyitems(session, config, items):
    """Outcome tests go last, after the notebooks whose numbers they read; each collected
    notebook starts from an empty outcome file."""
    lessons = {lesson for item in items if (lesson := _lesson_of(item))}
    config.course_lessons_executed = lessons  # read by tests/test_lesson_outcomes.py
    for lesson in lessons:
        (OUTCOMES_DIR / f"{lesson}.json").unlink(missing_ok=True)
    items.sort(key=lambda item: Path(str(item.fspath)).name == OUTCOME_TESTS)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Point the kernel nbval is about to start for a lesson at that lesson's outcome file."""
    lesson = _lesson_of(item)
    if lesson is not None:
        OUTCOMES_DIR.mkdir(parents=True, exist_ok=True)
        os.environ["COURSE_RESULTS_FILE"] = str(OUTCOMES_DIR / f"{lesson}.json")
