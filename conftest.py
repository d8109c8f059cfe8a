"""Repository-wide pytest set-up.

- Tests and notebook runs use quick mode unless told otherwise.
- Each solution notebook that nbval executes writes the numbers its lesson hands over with
  ``reporting.record_outcome`` to ``test-output/lesson-outcomes/<lesson>.json``; the tests in
  ``tests/integration/test_lesson_outcomes.py`` run after every notebook and pin the quick-mode outcomes
  the lessons' prose was written around.
- Each executed solution notebook is also written, with its outputs, to
  ``test-output/executed/<lesson>.ipynb`` (the runner's format, run metadata included), so
  that ``tests/test_book.py`` builds the book from the very notebooks CI executed.
"""

import os
from pathlib import Path

import nbformat
import pytest

os.environ.setdefault("COURSE_QUICK", "1")

OUTCOMES_DIR = Path(__file__).parent / "test-output" / "lesson-outcomes"
EXECUTED_DIR = Path(__file__).parent / "test-output" / "executed"
LAST_TESTS = ("test_lesson_outcomes.py", "test_book.py")  # they read what the notebooks left


def _lesson_of(item) -> str | None:
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb" and path.parent.name == "solutions":
        return path.stem
    return None


def pytest_collection_modifyitems(session, config, items):
    """Each cell nbval collects carries the ``notebooks`` marker (the fast lane leaves them
    out); outcome and book tests go last, after the notebooks they read; each collected
    notebook starts from an empty outcome file and no executed copy."""
    for item in items:
        if _lesson_of(item) is not None or Path(str(item.fspath)).suffix == ".ipynb":
            item.add_marker(pytest.mark.notebooks)
    lessons = {lesson for item in items if (lesson := _lesson_of(item))}
    config.course_lessons_executed = lessons  # read by tests/integration/test_lesson_outcomes.py
    for lesson in lessons:
        (OUTCOMES_DIR / f"{lesson}.json").unlink(missing_ok=True)
        (EXECUTED_DIR / f"{lesson}.ipynb").unlink(missing_ok=True)
    items.sort(key=lambda item: Path(str(item.fspath)).name in LAST_TESTS)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Point the kernel nbval is about to start for a lesson at that lesson's outcome file."""
    lesson = _lesson_of(item)
    if lesson is not None:
        OUTCOMES_DIR.mkdir(parents=True, exist_ok=True)
        os.environ["COURSE_RESULTS_FILE"] = str(OUTCOMES_DIR / f"{lesson}.json")


# ---- the executed copies --------------------------------------------------------------

def _coalesce_in_order(outputs):
    """nbval's stream merge without moving text: only neighbouring outputs of one stream
    are joined (nbval joins all of them at the first one's place, so a verdict printed
    after a figure would land above it). Pinned cells are compared after the same merge
    on both sides, so their checks are unchanged."""
    import nbval.plugin as nbval_plugin

    merged = []
    for output in outputs or []:
        last = merged[-1] if merged else None
        if (output.output_type == "stream" and last is not None
                and last.output_type == "stream" and last.name == output.name):
            last.text += output.text
        else:
            merged.append(output)
    for output in merged:  # nbval's carriage-return rule (its backspace rule never runs)
        if output.output_type == "stream":
            output.text = nbval_plugin.carriagereturn_pat.sub("", output.text)
    return merged if outputs else outputs


_CELL_OUTPUTS: dict[str, dict[int, tuple[list, bool]]] = {}  # lesson -> cell -> outputs, ok


def pytest_configure(config):
    try:
        import nbval.plugin as nbval_plugin
    except ImportError:  # no notebooks to execute then
        return
    nbval_plugin.coalesce_streams = _coalesce_in_order


def pytest_runtest_makereport(item, call):
    """Keep each lesson cell's outputs as nbval received them from the kernel."""
    if call.when == "call" and _lesson_of(item) is not None:
        _CELL_OUTPUTS.setdefault(_lesson_of(item), {})[item.cell_num] = (item.test_outputs or [], call.excinfo is None)


def pytest_runtest_teardown(item, nextitem):
    """After a lesson's last cell, write its executed copy with the run's metadata."""
    lesson = _lesson_of(item)
    if lesson is None or (nextitem is not None and nextitem.parent is item.parent):
        return
    from course_utils import config
    from course_utils.instructor import runner

    executed = _CELL_OUTPUTS.pop(lesson, {})
    nb = nbformat.read(str(item.fspath), as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    failed = [i for i, (_, ok) in executed.items() if not ok]
    for i, cell in enumerate(code):
        outputs, _ = executed.get(i, ([], True))
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        cell.execution_count = i + 1 if i in executed else None
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = cell.execution_count
    missing = len(code) - len(executed)
    status = (f"FAILED: cell {failed[0]}" if failed else
              f"FAILED: {missing} cells not run" if missing else "ok")
    # The kernel inherits this process's environment (--nbval-current-env): same device.
    device = config.environment_report()["device"]
    nb.metadata[runner.RUN_KEY] = runner.run_metadata(config.is_quick(), device, status)
    EXECUTED_DIR.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, EXECUTED_DIR / f"{lesson}.ipynb")
