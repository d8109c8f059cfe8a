"""The book (``course_utils.instructor.book``): the executed lessons as a static site.

The first tests use tiny hand-made notebooks: what the students' edition takes from the
exercise, the run note, the sliders made static, and every notebook the book must refuse.
The browser tests build both editions from the quick-mode notebooks this pytest session
executed (the root conftest.py writes them to ``test-output/executed/``; a lesson missing
there is executed first, as ``python -m course_utils run`` would) and open every page in
Debian's Chromium: title, a typeset equation, figures of non-zero size, no traceback, no
request leaving the site, and in the students' edition no line of a solution or hidden test.
A screenshot of lesson 07 goes to ``test-output/browser/book-07.png``.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import browser_harness as bh
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from notebook_regions import TRIVIAL, hidden_test_lines, outside_lines, region_lines

from course_utils.instructor import authoring, book, injected, runner

ROOT = Path(__file__).resolve().parents[1]
EXECUTED_DIR = ROOT / "test-output" / "executed"  # where the root conftest.py writes them
OUTPUT_DIR = ROOT / "test-output" / "browser"
LESSONS = [source.stem for source in authoring.lesson_sources()]
SOLUTION = "    return x * 2  # the secret line"
GRADED = {"grade": False, "grade_id": "t-double", "locked": False, "schema_version": 3,
          "solution": True}
TEST = {"grade": True, "grade_id": "t-test-double", "locked": True, "points": 1,
        "schema_version": 3, "solution": False}


def _png() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _lesson(solution: bool = True):
    """A three-task lesson as solution (or exercise) notebook, without outputs."""
    body = (f"def double(x):\n    ### BEGIN SOLUTION\n{SOLUTION}\n    ### END SOLUTION"
            if solution else "def double(x):\n    raise NotImplementedError('twice x')")
    return new_notebook(metadata={"kernelspec": injected.KERNELSPEC,
                                  "language_info": {"name": "python"}}, cells=[
        new_markdown_cell("# 99 · A tiny lesson\n\nThe area is $\\pi r^2$."),
        new_code_cell("SEED = 0"),
        new_code_cell(body, metadata={"nbgrader": GRADED}),
        new_code_cell("assert double(2) == 4", metadata={"nbgrader": TEST}),
        new_code_cell("print('figure'); show()"),
    ])


def _executed(status: str = "ok"):
    nb = _lesson()
    nb.cells[4].outputs = [new_output("stream", name="stdout", text="figure\n"),
                           new_output("display_data", data={"image/png": _png(),
                                                            "text/plain": "<Figure>"})]
    nb.cells[3].outputs = [new_output("stream", name="stdout", text="passed\n")]
    nb.cells[2].execution_count = 1
    nb.metadata[runner.RUN_KEY] = runner.run_metadata(True, "cuda (NVIDIA H100, 79 GiB)", status)
    return nb


def _page(edition="students", executed=None):
    return book.edition_notebook(executed or _executed(), _lesson(), _lesson(False), "99-tiny",
                                 edition)


def test_students_edition_shows_the_tasks_as_the_exercise_without_outputs():
    page = _page()
    assert SOLUTION not in "\n".join(c.source for c in page.cells)
    task, check, demo = page.cells[3], page.cells[4], page.cells[5]  # the note is cell 1
    assert "NotImplementedError" in task.source and task.outputs == []
    assert check.source == "assert double(2) == 4" and check.outputs == []
    assert [o.output_type for o in demo.outputs] == ["stream", "display_data"]


def test_instructors_edition_keeps_the_solutions_and_their_outputs():
    page = _page("instructors")
    assert SOLUTION in page.cells[3].source
    assert page.cells[4].outputs[0].text == "passed\n"


def test_every_page_opens_with_a_note_on_its_run():
    note = _page().cells[1]
    assert note.cell_type == "markdown" and note.source.startswith(":::{admonition}")
    assert "**quick mode**" in note.source and "cuda (NVIDIA H100, 79 GiB)" in note.source
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", note.source)
    assert "students' edition" in note.source


def test_a_slider_becomes_what_its_output_widget_showed():
    executed = _executed()
    executed.cells[4].outputs = [new_output("execute_result", execution_count=5, data={
        book.WIDGET_VIEW: {"model_id": "box", "version_major": 2, "version_minor": 0},
        "text/plain": "VBox(...)"})]
    figure = {"output_type": "display_data", "metadata": {},
              "data": {"image/png": _png(), "text/plain": "<Figure>"}}
    executed.metadata["widgets"] = {book.WIDGET_STATE: {"version_major": 2, "version_minor": 0,
                                                        "state": {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_s", "IPY_MODEL_o"]}},
        "s": {"model_name": "FloatSliderModel", "state": {"value": 0.5}},
        "o": {"model_name": "OutputModel", "state": {"outputs": [figure]}},
    }}}
    outputs = _page(executed=executed).cells[5].outputs
    assert "starting value" in outputs[0].data["text/markdown"]
    assert outputs[1].data["image/png"] == figure["data"]["image/png"]
    assert not any(book.WIDGET_VIEW in o.get("data", {}) for o in outputs)


def test_a_slider_without_stored_state_says_so():
    executed = _executed()
    executed.cells[4].outputs = [new_output("display_data", data={
        book.WIDGET_VIEW: {"model_id": "gone"}, "text/plain": "VBox(...)"})]
    (only,) = _page(executed=executed).cells[5].outputs
    assert "did not store the widget" in only.data["text/markdown"]


@pytest.mark.parametrize("change, message", [
    (lambda nb: nb.metadata.pop(runner.RUN_KEY), "no 'course_run' metadata"),
    (lambda nb: nb.metadata[runner.RUN_KEY].update(status="FAILED: cell 3"),
     r"did not run to the end \(FAILED: cell 3\)"),
    (lambda nb: nb.cells[4].outputs.append(new_output("error", ename="ValueError",
                                                      evalue="x", traceback=[])),
     "the book would show its traceback"),
    (lambda nb: setattr(nb.cells[4], "source", "print('an older version')"),
     r"older than its solution notebook; run `python -m course_utils run 99`"),
    (lambda nb: nb.cells.pop(), "does not have the solution's cells; run the lesson again"),
], ids=["no-run-metadata", "failed-run", "error-output", "stale", "other-cells"])
def test_a_notebook_the_book_must_not_show_is_refused(change, message):
    executed = _executed()
    change(executed)
    with pytest.raises(book.BookError, match=message):
        _page(executed=executed)


def test_an_exercise_with_other_cells_is_refused():
    exercise = _lesson(False)
    exercise.cells.insert(1, new_markdown_cell("extra"))
    with pytest.raises(book.BookError, match=r"exercise notebook does not have the solution's "
                                             r"cells; run `python -m course_utils build`"):
        book.edition_notebook(_executed(), _lesson(), exercise, "99-tiny", "students")


def test_the_parameters_cell_may_differ():
    executed = _executed()
    executed.cells[1].source = "SEED = 3  # set by the runner"
    assert _page(executed=executed).cells[2].source.startswith("SEED = 3")


@pytest.fixture
def tiny_dirs(tmp_path):
    dirs = {name: tmp_path / name for name in ("executed", "solutions", "exercises")}
    for folder in dirs.values():
        folder.mkdir()
    nbformat.write(_executed(), dirs["executed"] / "99-tiny.ipynb")
    nbformat.write(_lesson(), dirs["solutions"] / "99-tiny.ipynb")
    nbformat.write(_lesson(False), dirs["exercises"] / "99-tiny.ipynb")
    return dirs


def _build(dirs, edition="students", out=None):
    return book.build_book(edition, dirs["executed"], out or dirs["executed"].parent / "site",
                           dirs["solutions"], dirs["exercises"])


def test_build_writes_a_site_with_the_page_and_offline_mathjax(tiny_dirs):
    index = _build(tiny_dirs)
    page = index.parent / "99-tiny.html"
    html = page.read_text()
    assert "A tiny lesson" in html and "_static/mathjax/tex-chtml.js" in html
    assert (index.parent / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert (index.parent / ".nojekyll").exists()  # GitHub Pages serves _static/ then
    assert "99-tiny.html" in index.read_text()
    assert SOLUTION.strip() not in html
    assert not re.search(r"""(src|href)=["']https?://""", html), "the page loads from the web"


@pytest.mark.parametrize("what, fix", [
    ("edition", "choose one of students, instructors"),
    ("empty", "no executed lesson in .*; run `python -m course_utils run`"),
    ("garbage", r"99-tiny.ipynb is not a readable notebook .*; run `python -m course_utils run`"),
    ("no-exercise", r"no exercise notebook .*99-tiny.ipynb; run `python -m course_utils build`"),
])
def test_bad_input_is_refused_with_what_to_do(tiny_dirs, what, fix):
    edition = "teachers" if what == "edition" else "students"
    if what == "empty":
        (tiny_dirs["executed"] / "99-tiny.ipynb").unlink()
    if what == "garbage":
        (tiny_dirs["executed"] / "99-tiny.ipynb").write_text("{ not json")
    if what == "no-exercise":
        (tiny_dirs["exercises"] / "99-tiny.ipynb").unlink()
    with pytest.raises(book.BookError, match=fix):
        _build(tiny_dirs, edition)


def test_a_folder_that_is_not_a_book_is_never_replaced(tiny_dirs, tmp_path):
    site = tmp_path / "public_html"
    site.mkdir()
    (site / "mine.txt").write_text("keep me")
    with pytest.raises(book.BookError, match="public_html holds files that are not a book"):
        _build(tiny_dirs, out=site)
    assert (site / "mine.txt").read_text() == "keep me"
    (site / "mine.txt").unlink()
    _build(tiny_dirs, out=site)
    _build(tiny_dirs, out=site)  # a book built here is rebuilt
    assert (site / "99-tiny.html").exists() and (site / book.MARKER).exists()


def test_book_command_builds_both_editions(tmp_path, capsys):
    from course_utils import __main__ as cli

    lesson = LESSONS[0]
    nb = nbformat.read(authoring.NOTEBOOKS / "solutions" / f"{lesson}.ipynb", as_version=4)
    nb.metadata[runner.RUN_KEY] = runner.run_metadata(True, "cpu", "ok")
    (tmp_path / "executed").mkdir()
    nbformat.write(nb, tmp_path / "executed" / f"{lesson}.ipynb")
    assert cli.main(["book", "--executed", str(tmp_path / "executed"),
                     "--out", str(tmp_path / "books")]) == 0
    for edition in book.EDITIONS:
        assert (tmp_path / "books" / edition / f"{lesson}.html").exists()
    assert f"students: {tmp_path / 'books' / 'students' / 'index.html'}" in capsys.readouterr().out
    assert cli.main(["book", "--executed", str(tmp_path / "nothing")]) == 2
    assert "no executed lesson" in capsys.readouterr().err


# ---- the real lessons, in Chromium ----------------------------------------------------

@pytest.fixture(scope="module")
def executed():
    """The quick-mode lessons this session executed; the missing ones are executed now."""
    missing = [lesson for lesson in LESSONS if not (EXECUTED_DIR / f"{lesson}.ipynb").exists()]
    if missing:
        rows = runner.run_lessons([m[:2] for m in missing], quick=True, out_dir=EXECUTED_DIR)
        assert all(row["status"] == "ok" for row in rows), rows
    return EXECUTED_DIR


@pytest.fixture(scope="module")
def sites(executed, tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    return {edition: book.build_book(edition, executed, out / edition).parent
            for edition in book.EDITIONS}


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    if not bh.CHROMIUM.exists():
        pytest.skip(f"the book's browser test needs Chromium at {bh.CHROMIUM} "
                    f"(apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = bh.launch_chromium(playwright, tmp_path_factory.mktemp("chromium-profile"))
        yield context
        context.close()


def page_problems(page, url: str, title: str) -> list[str]:
    """What is wrong with the book page at ``url``: empty means it shows its title, at
    least one typeset equation and figures that all have a size, no traceback, and loads
    nothing from outside the site."""
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith("file:")
            else None)
    page.goto(url)
    problems = []
    if page.locator("script[src*='mathjax']").count():  # Sphinx adds it where there is math
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=30_000)
        page.evaluate("MathJax.startup.promise")
    heading = page.locator("h1").first.inner_text()
    if title not in heading:
        problems.append(f"title {heading!r}, expected {title!r}")
    if page.locator("mjx-container").count() == 0:
        problems.append("no typeset equation")
    sizes = page.evaluate("[...document.querySelectorAll('article img')]"
                          ".map(i => [i.naturalWidth, i.naturalHeight])")
    if not sizes:
        problems.append("no figure")
    if any(w == 0 or h == 0 for w, h in sizes):
        problems.append(f"{sum(w == 0 or h == 0 for w, h in sizes)} figure(s) without a size")
    text = page.locator("article").inner_text()
    if "Traceback (most recent call last)" in text or page.locator(".traceback").count():
        problems.append("a Python traceback")
    if outside:
        problems.append(f"requests outside the site: {outside[:3]}")
    return problems


def _title(lesson: str) -> str:
    nb = nbformat.read(authoring.NOTEBOOKS / "solutions" / f"{lesson}.ipynb", as_version=4)
    return nb.cells[0].source.splitlines()[0].lstrip("# ").strip()


@pytest.mark.browser
@pytest.mark.parametrize("edition", book.EDITIONS)
def test_every_lesson_page_loads_with_title_equation_and_figures(chromium, sites, edition):
    page = chromium.new_page()
    try:
        index = sites[edition] / "index.html"
        page.goto(index.as_uri())
        links = page.locator("article a.reference.internal").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))")
        assert links == [f"{lesson}.html" for lesson in LESSONS], "the table of contents"
        problems = {lesson: page_problems(page, (sites[edition] / f"{lesson}.html").as_uri(),
                                          _title(lesson)) for lesson in LESSONS}
        assert not any(problems.values()), {k: v for k, v in problems.items() if v}
        if edition == "students":
            OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
            page.goto((sites[edition] / f"{LESSONS[7]}.html").as_uri())
            page.wait_for_load_state("load")
            page.screenshot(path=str(OUTPUT_DIR / "book-07.png"))
    finally:
        page.close()


def _secret_lines(lesson: str) -> set[str]:
    """Lines of the solution regions and hidden tests that the exercise does not have."""
    solution = nbformat.read(authoring.NOTEBOOKS / "solutions" / f"{lesson}.ipynb", 4)
    exercise = nbformat.read(authoring.NOTEBOOKS / "exercises" / f"{lesson}.ipynb", 4)
    shared = {line for cell in solution.cells for line in outside_lines(cell)}
    shared |= {line.strip() for cell in exercise.cells for line in cell.source.splitlines()}
    region = {line.strip() for i, cell in enumerate(solution.cells)
              for line in region_lines(cell, f"{lesson}, cell {i}")}
    secret = (region | hidden_test_lines(solution, lesson)) - shared
    return {line for line in secret if line.lstrip("# ").strip() not in TRIVIAL}


@pytest.mark.browser
def test_no_solution_or_hidden_test_reaches_the_students_book(chromium, sites):
    page = chromium.new_page()
    try:
        seen = {}
        for edition in book.EDITIONS:
            for lesson in LESSONS:
                page.goto((sites[edition] / f"{lesson}.html").as_uri())
                lines = {line.strip() for line in
                         page.locator("article").inner_text().splitlines()}
                seen[edition, lesson] = lines & _secret_lines(lesson)
        leaks = {lesson: sorted(seen["students", lesson])[:3] for lesson in LESSONS
                 if seen["students", lesson]}
        assert not leaks, f"solution text in the students' book: {leaks}"
        # The check can see code: the instructors' pages show the solutions' lines.
        assert all(seen["instructors", lesson] for lesson in LESSONS if _secret_lines(lesson))
    finally:
        page.close()


@pytest.mark.browser
def test_the_page_check_fails_when_a_lesson_loses_its_figures(chromium, executed, tmp_path):
    """The browser check above is not vacuous: without its figures a page fails it."""
    lesson = LESSONS[0]
    stripped = tmp_path / "executed"
    stripped.mkdir()
    nb = nbformat.read(executed / f"{lesson}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if "image/png" not in o.get("data", {})]
    nbformat.write(nb, stripped / f"{lesson}.ipynb")
    site = book.build_book("students", stripped, tmp_path / "site").parent
    page = chromium.new_page()
    try:
        problems = page_problems(page, (site / f"{lesson}.html").as_uri(), _title(lesson))
    finally:
        page.close()
    assert problems == ["no figure"]
