"""nbgrader on the real JupyterHub: the instructor releases lesson 00 through the exchange,
the student fetches and submits it in JupyterLab's Assignments panel (Chromium, Playwright),
and the instructor collects and autogrades it (the command line on the same exchange, as in
README's "Grading with nbgrader"), and the student fetches the feedback there.

The hub runs every user as the same system user here (the simple spawner), so the student's
``nbgrader_config.py`` names the student (``CourseDirectory.student_id``); on a hub with one
system user per student nbgrader takes the login name instead. A screenshot of the panel
after the submission goes to ``test-output/browser/nbgrader-assignments.png``.
"""

from __future__ import annotations

import time
import uuid

import browser_harness as bh
import nbformat
import pytest
from test_hub import OUTPUT_DIR, pytestmark  # noqa: F401 (the same skips and marks)

from course_utils.instructor import authoring, grading

LESSON = "00-setup-and-data"
STUDENT = "student"
PASSWORD = uuid.uuid4().hex
PANEL_MS = 60_000
STUDENT_CONFIG = """\
c = get_config()  # noqa: F821
c.Exchange.root = {exchange!r}
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.student_id = {student!r}
"""


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """The instructor's course folder with lesson 00 released, and a hub with a student."""
    work = tmp_path_factory.mktemp("hub-grading")
    exchange = work / "exchange"
    course = grading.init_course(work / "course", exchange=exchange)
    assert grading.release(course, ["00"]) == [LESSON]
    home = work / "home" / STUDENT
    (home / ".jupyter").mkdir(parents=True)
    (home / ".jupyter" / "nbgrader_config.py").write_text(STUDENT_CONFIG.format(
        exchange=str(exchange), course_id=grading.COURSE_ID, student=STUDENT))
    with bh.jupyter_hub(work, [STUDENT], PASSWORD, env={"COURSE_QUICK": "1"}) as hub:
        yield {"hub": hub, "course": course, "home": home}


@pytest.fixture(scope="module")
def panel(setting, tmp_path_factory):
    """The student's JupyterLab with Nbgrader > Assignment List open."""
    from playwright.sync_api import sync_playwright

    hub = setting["hub"]
    with sync_playwright() as playwright:
        context = bh.launch_chromium(playwright, tmp_path_factory.mktemp("chromium-profile"))
        page = context.new_page()
        try:
            bh.log_in(page, hub, STUDENT, PASSWORD)
            page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
            page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
            yield page
        finally:
            context.close()


def _section(page, title):
    return page.locator(".panel", has=page.locator(".panel-heading", has_text=title))


def test_student_fetches_and_submits_in_lab_and_the_instructor_grades_it(setting, panel):
    released = _section(panel, "Released assignments")
    released.locator(".list_item", has_text=LESSON).wait_for(timeout=PANEL_MS)
    released.locator("button", has_text="Fetch").click()

    downloaded = _section(panel, "Downloaded assignments")
    downloaded.locator(".list_item", has_text=LESSON).first.wait_for(timeout=PANEL_MS)
    fetched = setting["home"] / LESSON / f"{LESSON}.ipynb"
    assert fetched.is_file(), "Fetch put nothing in the student's home"
    assert "HIDDEN TESTS" not in fetched.read_text()

    # The student's work: the task's solution in its cell, as typed in the editor.
    nb = nbformat.read(fetched, as_version=4)
    solution = nbformat.read(authoring.NOTEBOOKS / "solutions" / f"{LESSON}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = "\n".join(line for line in answers[grade_id].split("\n")
                                    if line.strip() not in (authoring.BEGIN, authoring.END))
    nbformat.write(nb, fetched)

    downloaded.locator("button", has_text="Submit").first.click()
    submitted = _section(panel, "Submitted assignments")
    submitted.locator(".list_item", has_text=LESSON).first.wait_for(timeout=PANEL_MS)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(OUTPUT_DIR / "nbgrader-assignments.png"))

    course = setting["course"]
    assert grading.collect(course, ["00"]) == []
    assert (course / "submitted" / STUDENT / LESSON / f"{LESSON}.ipynb").is_file()
    assert grading.autograde(course, ["00"]) == []
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}",
                   course_id=grading.COURSE_ID) as gb:
        graded = gb.find_submission_notebook(LESSON, LESSON, STUDENT)
        assert (graded.score, graded.max_score) == (2.0, 2.0)
    assert (course / "feedback" / STUDENT / LESSON / f"{LESSON}.html").is_file()

    # ... and the student fetches the feedback in the same panel.
    panel.locator("#refresh_assignments_list").click()
    submitted.locator("button", has_text="Fetch Feedback").first.click()
    feedback = setting["home"] / LESSON / "feedback"
    deadline = time.monotonic() + PANEL_MS / 1000
    while not list(feedback.glob(f"*/{LESSON}.html")) and time.monotonic() < deadline:
        time.sleep(0.5)
    (page,) = feedback.glob(f"*/{LESSON}.html")
    assert "Score: 2.0 / 2.0" in page.read_text()
