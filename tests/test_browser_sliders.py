"""The lessons' sliders in a real JupyterLab, driven through Debian's Chromium by Playwright.

For lessons 02 (focal loss gamma) and 07 (decision threshold) the test opens the solution
notebook in JupyterLab, runs all cells in quick mode, moves the slider with the keyboard and
by dragging, and checks after every move that the figure and the printed metrics changed
with it. Screenshots go to ``test-output/browser/``. A throwaway notebook with a working and
a broken callback first proves the harness itself tells the two apart. The server and the
browser are set up by ``browser_harness.py``; what happens in the page is ``lab_page.py``.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``scripts/course.sh test``
installs it when run as root) and is skipped, saying so, where there is none.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import browser_harness as bh
import lab_page as lp
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "notebooks" / "solutions"
OUTPUT_DIR = ROOT / "test-output" / "browser"
# Read at import, before the autouse fixture points it at a per-test folder: the kernel
# reuses the caller's synthetic twins instead of generating them again (~20 s).
CACHE_DIR = os.environ.get("COURSE_CACHE_DIR")

# lesson, slider description (the label left of the slider), screenshot name
LESSONS = [
    pytest.param("02", re.compile(r"gamma|γ", re.I), "gamma-slider", id="02-gamma"),
    pytest.param("07", re.compile(r"threshold", re.I), "threshold-slider", id="07-threshold"),
]
RUN_ALL_MS = 240_000  # a lesson runs ~60 s in quick mode on 2 cores; more under load
CHANGE_MS = 30_000  # one callback redraw
TOY_CHANGE_MS = 8_000

needs_chromium = pytest.mark.skipif(
    not bh.CHROMIUM.exists(),
    reason=f"no Chromium at {bh.CHROMIUM}: install Debian's package (apt-get install chromium); "
           f"'bash scripts/course.sh test' does so when run as root",
)
TOY_CELL = """\
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

out = widgets.Output()
slider = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="threshold")
x = np.linspace(0, 1, 50)

def show(change=None):
    t = slider.value
    with out:
        out.clear_output(wait=True)
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot(x, x > t)
        plt.show()
        print(f"threshold {t:.2f}  Dice {1 - abs(t - 0.3):.3f}")

show()
slider.observe(CALLBACK, names="value")
display(widgets.VBox([slider, out]))
"""
TOYS = {"toy-working.ipynb": "show", "toy-broken.ipynb": "lambda change: None"}


def write_toy(path: Path, callback: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        TOY_CELL.replace("CALLBACK", callback))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, path)


def solution_notebook(lesson: str) -> Path:
    found = sorted(SOLUTIONS.glob(f"{lesson}-*.ipynb"))
    if not found:
        pytest.fail(f"lesson {lesson} has no solution notebook in {SOLUTIONS}; "
                    f"build it with 'python -m course_utils build'")
    return found[0]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of the slider lessons and the toy notebooks (so that
    autosave never writes outputs into the repository); stopped with its kernels at the end."""
    root = tmp_path_factory.mktemp("lab-root")
    for name, callback in TOYS.items():
        write_toy(root / name, callback)
    for lesson in ("02", "07"):
        found = sorted(SOLUTIONS.glob(f"{lesson}-*.ipynb"))
        bh.copy_notebooks(ROOT / "notebooks", root, [str(p.relative_to(ROOT / "notebooks"))
                                                     for p in found])
    # Quick mode on the caller's synthetic twins; none of the caller's data, device or
    # results overrides; inline figures (MPLBACKEND=Agg would leave the output imageless).
    env = {"COURSE_QUICK": "1", "COURSE_CACHE_DIR": CACHE_DIR, "COURSE_DATA_DIR": None,
           "COURSE_DEVICE": None, "COURSE_RESULTS_FILE": None, "MPLBACKEND": None}
    with bh.jupyter_lab(root, tmp_path_factory.mktemp("lab-state"), env=env) as server:
        yield server


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """One Chromium on a fresh profile for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = bh.launch_chromium(playwright, tmp_path_factory.mktemp("chromium-profile"))
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(chromium, lab):
    page = chromium.new_page()
    try:
        yield page
    finally:
        page.close()
        bh.shutdown_sessions(lab)


def open_and_run(page, lab, relative: str, timeout_ms: float):
    lp.open_notebook(page, lab, relative)
    lp.run_all_cells(page, timeout_ms)


@pytest.mark.browser
@needs_chromium
@pytest.mark.parametrize(("toy", "works"), [("toy-working.ipynb", True),
                                            ("toy-broken.ipynb", False)])
def test_harness_tells_a_working_callback_from_a_broken_one(page, lab, toy, works):
    open_and_run(page, lab, toy, 60_000)
    slider = lp.find_slider(page, re.compile("threshold"), 30_000)
    move = lp.move_by_keyboard("ArrowRight")
    if works:
        before, after = lp.move_and_compare(page, slider, move, TOY_CHANGE_MS)
        assert (before.readout, after.readout) == ("0.50", "0.55")
        assert "Dice 0.750" in after.text
    else:
        with pytest.raises(AssertionError, match="the figure did not change"):
            lp.move_and_compare(page, slider, move, TOY_CHANGE_MS)


@pytest.mark.browser
@needs_chromium
@pytest.mark.parametrize(("lesson", "description", "name"), LESSONS)
def test_slider_redraws_figure_and_metrics(page, lab, lesson, description, name):
    notebook = solution_notebook(lesson)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    try:
        open_and_run(page, lab, f"solutions/{notebook.name}", RUN_ALL_MS)
        try:
            slider = lp.find_slider(page, description, 30_000)
        except Exception as exc:
            raise AssertionError(
                f"{notebook.name}: no slider labelled {description.pattern!r}; sliders found: "
                f"{lp.slider_labels(page)}") from exc
        page.screenshot(path=OUTPUT_DIR / f"{name}-0-before.png")
        moves = [lp.move_by_keyboard("ArrowRight", "ArrowRight", "ArrowRight"),
                 lp.move_by_keyboard("End"), lp.move_by_drag(-0.4)]
        for i, move in enumerate(moves, 1):
            lp.move_and_compare(page, slider, move, CHANGE_MS)
            kind = move.__name__.split()[0]
            page.screenshot(path=OUTPUT_DIR / f"{name}-{i}-after-{kind}.png")
        slider.cell.locator(".jp-Cell-outputWrapper").screenshot(path=OUTPUT_DIR / f"{name}.png")
    except BaseException:
        page.screenshot(path=OUTPUT_DIR / f"{name}-failure.png")
        raise


# The comparison itself, without a browser: a table of what a cell showed before and after.
MOVES = [
    pytest.param(lp.Shown("0.50", "a", "threshold 0.50 Dice 0.800"),
                 lp.Shown("0.55", "b", "threshold 0.55 Dice 0.750"), None, id="follows"),
    pytest.param(lp.Shown("0.50", "a", "Dice 0.800"), lp.Shown("0.50", "a", "Dice 0.800"),
                 "did not move", id="not moved"),
    pytest.param(lp.Shown("0.50", "a", "Dice 0.800"), lp.Shown("0.55", "", "Dice 0.750"),
                 "no figure", id="figure gone"),
    pytest.param(lp.Shown("0.50", "a", "Dice 0.800"), lp.Shown("0.55", "a", "Dice 0.750"),
                 "figure did not change", id="stale figure"),
    pytest.param(lp.Shown("0.50", "a", "threshold 0.50 Dice 0.800"),
                 lp.Shown("0.55", "b", "threshold 0.55 Dice 0.800"),
                 "metrics did not change", id="stale metrics"),
    pytest.param(lp.Shown("0.50", "a", "threshold 0.50 Dice 0.800"),
                 lp.Shown("0.55", "b", "threshold 0.50 Dice 0.750"),
                 "printed 0.5 before but not 0.55", id="stale echo"),
    pytest.param(lp.Shown("0.50", "a", "threshold 0.50 Dice 0.800"),
                 lp.Shown("0.55", "b", "threshold 0.50 Dice 0.800"),
                 "metrics did not change", id="stale text"),
]


@pytest.mark.parametrize(("before", "after", "error"), MOVES)
def test_assert_follows(before, after, error):
    if error is None:
        lp.assert_follows(before, after)
    else:
        with pytest.raises(AssertionError, match=re.escape(error)):
            lp.assert_follows(before, after)
