"""The course as a student meets it on a JupyterHub, in a real Chromium (Playwright).

A JupyterHub on 127.0.0.1 (dummy authenticator, simple local-process spawner,
``configurable-http-proxy`` from npm) gives the user ``student`` a JupyterLab from this
virtual environment at ``/user/student/``. The test, in order:

1. registers the ``seg-course`` kernel exactly as README's "On the course JupyterHub" says
   (``ipykernel install --user``, in the student's home);
2. logs in through the hub's login form and lands in ``/user/student/lab``;
3. follows the link ``python -m course_utils hub-link`` prints (nbgitpuller, pointing at a
   git repository made from this working tree): the course is cloned into the home and
   exercise 00 opens on the "Segmentation course" kernel with no dialog, and runs up to
   its first stub;
4. edits and saves that exercise, commits something new upstream, follows the link again:
   the upstream change arrives and the student's edit is still there;
5. runs the solution notebooks 02 and 07 of the clone and moves the gamma and threshold
   sliders with the keyboard and the mouse: the figure and the printed numbers follow;
6. proves the slider check itself on a toy notebook with a working and a broken callback.

Screenshots go to ``test-output/browser/``. ``COURSE_HUB_BREAK`` breaks the set-up on
purpose, to see the test fail as it must: ``callback`` (the lessons' slider callbacks are
never wired), ``widgets`` (the widget extension is disabled in the user's JupyterLab) or
``kernel`` (the ``seg-course`` kernel cannot import course_utils).

Needs ``/usr/bin/chromium``, ``jupyterhub`` and ``configurable-http-proxy`` under ``.tools/``;
``bash scripts/course.sh test`` installs all three, and the test is skipped, saying which is
missing, without them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import browser_harness as bh
import lab_page as lp
import nbformat
import pytest

from course_utils.instructor import hublink
from course_utils.instructor.injected import KERNELSPEC

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = ROOT / "test-output" / "browser"
USER = "student"
PASSWORD = uuid.uuid4().hex
CLONE = "seg-course"  # the folder nbgitpuller clones into (the repository's name)
# Read at import, before the autouse fixture points it at a per-test folder: the kernels
# reuse the caller's synthetic twins instead of generating them again (~20 s).
CACHE_DIR = os.environ.get("COURSE_CACHE_DIR") or str(Path.home() / ".cache" / "course_utils")
BREAK = os.environ.get("COURSE_HUB_BREAK", "")
STUDENT_MARK = "# my own note, written in the browser"

# lesson, slider description (the label left of the slider), screenshot name
LESSONS = [
    pytest.param("02", re.compile(r"gamma|γ", re.I), "gamma-slider", id="02-gamma"),
    pytest.param("07", re.compile(r"threshold", re.I), "threshold-slider", id="07-threshold"),
]
RUN_ALL_MS = 240_000  # a lesson runs ~60 s in quick mode on 2 cores; more under load
CHANGE_MS = 30_000  # one callback redraw
TOY_CHANGE_MS = 8_000
PULL_MS = 120_000  # nbgitpuller's clone or merge, then JupyterLab opening the notebook

_missing = [what for what, ok in [
    (f"Chromium at {bh.CHROMIUM} (apt-get install chromium)", bh.CHROMIUM.exists()),
    (f"configurable-http-proxy at {bh.PROXY} (npm install --prefix .tools "
     f"configurable-http-proxy)", bh.PROXY.exists()),
    ("jupyterhub (pip install -e '.[dev]')", importlib.util.find_spec("jupyterhub") is not None),
    ("nbgitpuller (pip install -e .)", importlib.util.find_spec("nbgitpuller") is not None),
] if not ok]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(bool(_missing), reason="the hub test needs " + "; ".join(_missing) +
                       "; 'bash scripts/course.sh test' installs them (chromium as root)"),
]

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

# COURSE_HUB_BREAK=callback: an IPython start-up file that drops every slider callback
# named "show" (the lessons' and the toy's), so sliders move and nothing follows.
BREAK_CALLBACK = """\
import ipywidgets

_observe = ipywidgets.FloatSlider.observe


def observe(self, handler, *args, **kwargs):
    if getattr(handler, "__name__", "") != "show":
        return _observe(self, handler, *args, **kwargs)


ipywidgets.FloatSlider.observe = observe
"""
# COURSE_HUB_BREAK=kernel: the kernel starts, but course_utils cannot be imported.
BREAK_KERNEL_ARGV = [sys.executable, "-c", "import sys; sys.modules['course_utils'] = None; "
                     "from ipykernel import kernelapp; kernelapp.launch_new_instance()",
                     "-f", "{connection_file}"]


def write_toy(path: Path, callback: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        TOY_CELL.replace("CALLBACK", callback))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, path)


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "instructor", "GIT_AUTHOR_EMAIL": "i@example.edu",
           "GIT_COMMITTER_NAME": "instructor", "GIT_COMMITTER_EMAIL": "i@example.edu"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def course_repo(tmp_path_factory) -> Path:
    """The instructor's repository: a git repository named like the course, holding this
    working tree as it is now (tracked and untracked files that git does not ignore)."""
    repo = tmp_path_factory.mktemp("upstream") / CLONE
    names = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, names.split("\0")):
        if (ROOT / name).is_file():  # not deleted in the working tree
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "the course", cwd=repo)
    return repo


def prepare_home(home: Path) -> None:
    """What a student has done in a terminal before opening a lesson (README), plus the
    test's quiet JupyterLab settings and, with COURSE_HUB_BREAK, the breakage."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user",
                    "--name", KERNELSPEC["name"], "--display-name", KERNELSPEC["display_name"]],
                   env=env, check=True, capture_output=True)
    for rel, settings in bh.LAB_SETTINGS.items():
        path = home / ".jupyter" / "lab" / "user-settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    for name, callback in TOYS.items():
        write_toy(home / name, callback)
    if BREAK == "callback":
        startup = home / ".ipython" / "profile_default" / "startup" / "00-break.py"
        startup.parent.mkdir(parents=True)
        startup.write_text(BREAK_CALLBACK)
    elif BREAK == "widgets":
        config = home / ".jupyter" / "labconfig" / "page_config.json"
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps(
            {"disabledExtensions": {"@jupyter-widgets/jupyterlab-manager": True}}))
    elif BREAK == "kernel":
        spec = home / ".local" / "share" / "jupyter" / "kernels" / KERNELSPEC["name"]
        kernel = json.loads((spec / "kernel.json").read_text())
        (spec / "kernel.json").write_text(json.dumps(kernel | {"argv": BREAK_KERNEL_ARGV}))
    elif BREAK:
        raise ValueError(f"COURSE_HUB_BREAK={BREAK!r}: use callback, widgets or kernel")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    work = tmp_path_factory.mktemp("hub")
    prepare_home(work / "home" / USER)
    env = {"COURSE_QUICK": "1", "COURSE_CACHE_DIR": CACHE_DIR}
    with bh.jupyter_hub(work, [USER], PASSWORD, env=env) as hub:
        yield hub


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


@pytest.fixture(scope="module")
def logged_in(chromium, hub):
    """Log in through the hub's form; returns the URL the browser lands on."""
    page = chromium.new_page()
    try:
        yield bh.log_in(page, hub, USER, PASSWORD)
    finally:
        page.close()


@pytest.fixture(scope="module")
def server(hub, logged_in):
    return hub.user(USER)


@pytest.fixture(scope="module")
def link(hub, course_repo) -> str:
    return hublink.hub_link(hub.url, f"file://{course_repo}", lesson="00")


@pytest.fixture(scope="module")
def student(chromium, server):
    """The student's tab, kept across the nbgitpuller tests."""
    page = chromium.new_page()
    try:
        yield page
    finally:
        page.close()
        bh.shutdown_sessions(server)


@pytest.fixture(scope="module")
def cloned(student, link):
    """The student followed the link once: the course is cloned, exercise 00 is open."""
    follow(student, link)
    return student


def follow(page, link: str) -> None:
    page.goto(link, timeout=PULL_MS)
    page.wait_for_url(re.compile(rf"/user/{USER}/lab/tree/{CLONE}/notebooks/exercises/00-"),
                      timeout=PULL_MS)
    lp.wait_notebook_ready(page, PULL_MS, dismiss_dialogs=False)


@pytest.fixture
def page(chromium, server):
    page = chromium.new_page()
    try:
        yield page
    finally:
        page.close()
        bh.shutdown_sessions(server)


def test_login_form_lands_in_the_users_lab(logged_in, hub):
    assert re.fullmatch(rf"{re.escape(hub.url)}/user/{USER}/lab/?(\?.*)?", logged_in)


def test_link_clones_the_course_and_opens_exercise_00_on_the_course_kernel(
        cloned, hub, screenshots):
    student = cloned
    clone = hub.homes / USER / CLONE
    assert (clone / hublink.lesson_notebook("00")).is_file()
    assert lp.kernel_name(student) == KERNELSPEC["display_name"]
    error = lp.run_all_cells(student, RUN_ALL_MS, allow_error=True)
    student.screenshot(path=screenshots / "hub-exercise-00.png")
    # The exercise runs up to its first stub, which says what to write.
    assert "NotImplementedError" in error and "ModuleNotFoundError" not in error, error


def test_link_again_pulls_upstream_and_keeps_the_students_edit(cloned, link, hub,
                                                               course_repo):
    student = cloned
    notebook = hub.homes / USER / CLONE / hublink.lesson_notebook("00")
    stub = student.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").filter(
        has_text="raise NotImplementedError").first
    stub.locator(".cm-content").click()
    student.keyboard.press("Control+Home")
    student.keyboard.type(STUDENT_MARK)
    student.keyboard.press("Enter")
    student.keyboard.press("Control+s")
    # (cells carry jp-mod-dirty once edited, saved or not: the file itself is the check)
    deadline = time.monotonic() + 30
    while STUDENT_MARK not in notebook.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert STUDENT_MARK in notebook.read_text(), "Ctrl+S did not save the student's edit"

    news = "\nAnnouncement: lesson 01 is online.\n"
    with open(course_repo / "README.md", "a") as f:
        f.write(news)
    git("commit", "-q", "-am", "announce lesson 01", cwd=course_repo)

    follow(student, link)
    assert (hub.homes / USER / CLONE / "README.md").read_text().endswith(news)
    assert STUDENT_MARK in notebook.read_text()
    cells = student.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
    assert STUDENT_MARK in cells.filter(has_text="raise NotImplementedError").first.inner_text()


@pytest.fixture(scope="module")
def screenshots():
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR


@pytest.mark.parametrize(("toy", "works"), [("toy-working.ipynb", True),
                                            ("toy-broken.ipynb", False)])
def test_harness_tells_a_working_callback_from_a_broken_one(page, server, toy, works):
    lp.open_notebook(page, server, toy)
    lp.run_all_cells(page, 60_000)
    slider = lp.find_slider(page, re.compile("threshold"), 30_000)
    move = lp.move_by_keyboard("ArrowRight")
    if works:
        before, after = lp.move_and_compare(page, slider, move, TOY_CHANGE_MS)
        assert (before.readout, after.readout) == ("0.50", "0.55")
        assert "Dice 0.750" in after.text
    else:
        with pytest.raises(AssertionError, match="the figure did not change"):
            lp.move_and_compare(page, slider, move, TOY_CHANGE_MS)


@pytest.mark.parametrize(("lesson", "description", "name"), LESSONS)
def test_slider_redraws_figure_and_metrics(page, server, hub, cloned, lesson, description,
                                           name, screenshots):
    """On the clone's solution notebook, with the course kernel."""
    found = sorted((hub.homes / USER / CLONE / "notebooks" / "solutions").glob(
        f"{lesson}-*.ipynb"))
    assert found, f"the clone has no solution notebook for lesson {lesson}"
    notebook = found[0]
    try:
        lp.open_notebook(page, server, f"{CLONE}/notebooks/solutions/{notebook.name}",
                         dismiss_dialogs=False)
        assert lp.kernel_name(page) == KERNELSPEC["display_name"]
        lp.run_all_cells(page, RUN_ALL_MS)
        try:
            slider = lp.find_slider(page, description, 30_000)
        except Exception as exc:
            raise AssertionError(
                f"{notebook.name}: no slider labelled {description.pattern!r} (is the widget "
                f"extension installed?); sliders found: {lp.slider_labels(page)}") from exc
        page.screenshot(path=screenshots / f"{name}-0-before.png")
        moves = [lp.move_by_keyboard("ArrowRight", "ArrowRight", "ArrowRight"),
                 lp.move_by_keyboard("End"), lp.move_by_drag(-0.4)]
        for i, move in enumerate(moves, 1):
            lp.move_and_compare(page, slider, move, CHANGE_MS)
            kind = move.__name__.split()[0]
            page.screenshot(path=screenshots / f"{name}-{i}-after-{kind}.png")
        slider.cell.locator(".jp-Cell-outputWrapper").screenshot(
            path=screenshots / f"{name}.png")
    except BaseException:
        page.screenshot(path=screenshots / f"{name}-failure.png")
        raise
