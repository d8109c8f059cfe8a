"""The course as a static HTML book: executed lessons rendered by Sphinx and MyST-NB.

``python -m course_utils book`` reads the executed solution notebooks that
``python -m course_utils run`` leaves in ``notebooks/executed/`` (quick or full mode) and
writes one site per edition under ``notebooks/book/<edition>/``, one page per lesson in
lesson order with its outputs and figures:

- **students**: the tasks (solution cells, answer cells) and their checks are shown as the
  exercise has them, without outputs, and so is any other cell that differs between
  solution and exercise; every other cell keeps the outputs of the reference run, so the
  figures show what a working solution gives. Safe to publish.
- **instructors**: the solution notebooks as they ran. Keep it private.

Each page opens with a note on the run that produced it (mode, device, date). A slider has
no kernel in a static page: the book shows what it drew at its starting value (from the
widget state the runner stores) and says so. The site needs no network: MathJax is served
from the site itself.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import warnings
from datetime import datetime
from pathlib import Path

import nbformat

from course_utils.instructor.paths import NOTEBOOKS
from course_utils.instructor.runner import RUN_KEY

__all__ = ["EDITIONS", "BookError", "build_book", "edition_notebook"]

EDITIONS = ("students", "instructors")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TITLE = "Semantic image segmentation with PyTorch"
MARKER = ".course-book"  # in every site built here: only such a folder is replaced

EDITION_TEXT = {
    "students": ("the students' edition: each task and its check appear as you get them in "
                 "the exercise notebook, without outputs; every other cell shows the outputs "
                 "of a reference run, so the figures show what a working solution gives"),
    "instructors": "the instructors' edition: the solution notebooks as they ran",
}

CONF = """\
# Written by course_utils.instructor.book for one build; edit book.py, not this file.
project = {title!r}
html_title = {html_title!r}
# githubpages writes .nojekyll, without which GitHub Pages hides _static/ and _images/
extensions = ["myst_nb", "sphinx-mathjax-offline", "sphinx.ext.githubpages"]
html_theme = "sphinx_book_theme"
html_theme_options = {{"show_toc_level": 2, "use_download_button": False}}
html_static_path = []
nb_execution_mode = "off"  # the notebooks were executed by `python -m course_utils run`
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
exclude_patterns = ["_build"]
"""


class BookError(ValueError):
    """An executed notebook the book cannot be built from; the message says what to do."""


def build_book(edition: str = "students", executed_dir: Path = NOTEBOOKS / "executed",
               out_dir: Path | None = None, solutions_dir: Path = NOTEBOOKS / "solutions",
               exercises_dir: Path = NOTEBOOKS / "exercises") -> Path:
    """Build one edition of the book; return the path of its ``index.html``.

    Raises:
        BookError: on an unknown edition, no executed lesson, a lesson that failed or is
            older than its solution notebook, or an exercise that does not match.
    """
    if edition not in EDITIONS:
        raise BookError(f"unknown edition {edition!r}; choose one of {', '.join(EDITIONS)}")
    executed_dir = Path(executed_dir)
    paths = sorted(executed_dir.glob("[0-9][0-9]-*.ipynb"))
    if not paths:
        raise BookError(f"no executed lesson in {executed_dir}; run "
                        f"`python -m course_utils run` (or `run --full`) first")
    out_dir = Path(out_dir) if out_dir else NOTEBOOKS / "book" / edition
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise BookError(f"{out_dir} holds files that are not a book built here; choose a new "
                        f"or empty folder (the build replaces the whole folder)")
    with tempfile.TemporaryDirectory() as tmp:
        _build_site(Path(tmp), paths, out_dir, edition, solutions_dir, exercises_dir)
    (out_dir / MARKER).write_text("built by python -m course_utils book; rebuilt as a whole\n")
    return out_dir / "index.html"


def _build_site(source: Path, paths: list[Path], out_dir: Path, edition: str,
                solutions_dir: Path, exercises_dir: Path) -> None:
    from sphinx.cmd.build import build_main

    pages = []
    for path in paths:
        solution = _read(solutions_dir / path.name, "solution notebook",
                         "run `python -m course_utils build`")
        executed = _read(path, "executed notebook", "run `python -m course_utils run` again")
        exercise = (_read(exercises_dir / path.name, "exercise notebook",
                          "run `python -m course_utils build`")
                    if edition == "students" else None)
        page = edition_notebook(executed, solution, exercise, path.stem, edition)
        nbformat.write(page, source / path.name)
        pages.append(path.stem)
    (source / "conf.py").write_text(CONF.format(
        title=TITLE, html_title=f"{TITLE} ({edition})"))
    (source / "index.md").write_text(_index(pages, edition))
    shutil.rmtree(out_dir, ignore_errors=True)
    with warnings.catch_warnings():  # the theme's use of deprecated Sphinx API: not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        status = build_main(["-b", "html", "-q", "-d", str(source / "_doctrees"),
                             str(source), str(out_dir)])
    if status != 0:
        raise BookError(f"Sphinx could not build the {edition}' edition (exit {status}); "
                        f"its messages are above")


def edition_notebook(executed, solution, exercise, lesson: str, edition: str):
    """The page of one lesson: ``executed`` checked against ``solution``, in the students'
    edition with ``exercise``'s cells where they differ, a run note after the title, and
    slider outputs made static. Raises ``BookError`` on a run the book must not show."""
    run = executed.metadata.get(RUN_KEY)
    if run is None:
        raise BookError(f"{lesson}: the executed notebook has no {RUN_KEY!r} metadata; build "
                        f"the book from the output of `python -m course_utils run`")
    if run.get("status") != "ok":
        raise BookError(f"{lesson} did not run to the end ({run.get('status')}); fix it and "
                        f"run it again: the book would show its error")
    _check_same_cells(executed, solution, lesson, "solution notebook")
    page = copy.deepcopy(executed)
    if edition == "students":
        _check_same_cells(exercise, solution, lesson, "exercise notebook", sources=False)
        for cell, stub, reference in zip(page.cells, exercise.cells, solution.cells,
                                         strict=True):
            graded = reference.metadata.get("nbgrader", {})
            if stub.source != reference.source or graded.get("solution") or graded.get("grade"):
                cell.source = stub.source
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
    for cell in page.cells:
        if cell.cell_type == "code":
            if any(out.get("output_type") == "error" for out in cell.outputs):
                raise BookError(f"{lesson}: a cell's output is an error; run the lesson "
                                f"again: the book would show its traceback")
            cell.outputs = _static_outputs(cell.outputs, page.metadata)
    page.metadata.pop("widgets", None)
    page.cells.insert(1, nbformat.v4.new_markdown_cell(_run_note(run, edition)))
    return page


def _read(path: Path, what: str, fix: str):
    if not path.exists():
        raise BookError(f"no {what} {path}; {fix}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several kinds
        raise BookError(f"{path} is not a readable notebook ({exc}); {fix}") from None


def _check_same_cells(nb, solution, lesson: str, what: str, sources: bool = True) -> None:
    """Same cells as the solution notebook (the parameters cell may differ: the runner sets
    parameters there)."""
    kinds = [c.cell_type for c in nb.cells]
    if kinds != [c.cell_type for c in solution.cells]:
        raise BookError(f"{lesson}: the {what} does not have the solution's cells; "
                        + ("run the lesson again" if sources else
                           "run `python -m course_utils build`"))
    if sources:
        for cell, reference in zip(nb.cells, solution.cells, strict=True):
            if cell.source != reference.source and "SEED = " not in reference.source:
                raise BookError(f"{lesson}: the executed notebook is older than its solution "
                                f"notebook; run `python -m course_utils run {lesson[:2]}` again")


def _static_outputs(outputs: list, metadata) -> list:
    """Outputs with each widget replaced by what its Output widgets showed, or a note."""
    state = metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    result = []
    for out in outputs:
        view = out.get("data", {}).get(WIDGET_VIEW) if out.get("output_type") in (
            "display_data", "execute_result") else None
        if view is None:
            result.append(out)
            continue
        shown = _widget_outputs(view.get("model_id"), state)
        what = ("its starting value" if shown else
                "no figure: this run did not store the widget's state")
        result.append(nbformat.v4.new_output("display_data", data={
            "text/markdown": f"*An interactive slider: run the notebook in JupyterLab to move "
                             f"it. Here: {what}.*",
            "text/plain": "[interactive slider]"}))
        result.extend(nbformat.from_dict(o) for o in shown)
    return result


def _widget_outputs(model_id: str | None, state: dict, depth: int = 0) -> list:
    """The outputs of the Output widgets inside widget ``model_id`` (a box's children
    included), in order."""
    model = state.get(model_id or "", {})
    if depth > 20 or not model:
        return []
    fields = model.get("state", {})
    if model.get("model_name") == "OutputModel":
        return list(fields.get("outputs", []))
    found = []
    for child in fields.get("children", []):
        found += _widget_outputs(str(child).removeprefix("IPY_MODEL_"), state, depth + 1)
    return found


def _run_note(run: dict, edition: str) -> str:
    try:
        when = datetime.fromisoformat(run["date"]).strftime("%Y-%m-%d %H:%M %Z").strip()
    except (KeyError, TypeError, ValueError):
        when = "an unknown date"
    return (f":::{{admonition}} About this page\n:class: note\nThis page shows a run in **{run.get('mode', 'unknown')} mode** on "
            f"**{run.get('device', 'an unknown device')}**, {when}. It is "
            f"{EDITION_TEXT[edition]}. Your own run may differ in its numbers; the lesson's "
            f"verdicts are computed from each run.\n:::\n")


def _index(pages: list[str], edition: str) -> str:
    toc = "\n".join(pages)
    return (f"# {TITLE}\n\nA numbered series of lessons, one per exercise of the course. "
            f"This is {EDITION_TEXT[edition]}. To work on a lesson, open its exercise "
            f"notebook in JupyterLab.\n\n```{{toctree}}\n:maxdepth: 1\n\n"
            f"{toc}\n```\n")
