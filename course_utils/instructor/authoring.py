"""One source per lesson, two notebooks: build ``solutions/`` and ``exercises/`` from ``src/``.

A lesson is written once as ``notebooks/src/NN-slug.py`` in jupytext's percent format.
Solution regions use nbgrader's markers, so the solution notebooks work as nbgrader
source notebooks as they are:

- in a code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
  the line just above the region must be ``# HINT: ...``. The exercise keeps the hint and
  gets ``raise NotImplementedError("<the hint>")`` in place of the region.
- in a markdown cell, the same markers; the exercise gets "YOUR ANSWER HERE".

The solution notebooks are nbgrader *source* notebooks (``course_utils.instructor.grading`` hands them to
nbgrader). Points are cell metadata in the source, ``# %% points=2``:

- a code cell with ``points`` is an autograded test cell (read-only): it passes when it runs
  without an error. Lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
  stay in the solution notebook (and so in the grader's copy) and leave the exercise;
- a markdown cell with a solution region must have ``points``: a manually graded answer;
- a code cell with a solution region is a solution cell; it may not carry points.

Grade ids name what they grade (``02-DiceLoss``, ``02-test-DiceLoss``, ``02-answer-1``), so
that they survive inserted cells; ``grade_id="..."`` in a cell's metadata overrides the
name. The kernel check and the parameters cell are read-only in nbgrader's release, so that
a graded run uses the instructor's settings.

Generated notebooks carry no outputs, the course's kernelspec ``seg-course`` (the kernel
the README registers, so that JupyterLab starts it without asking) and stable cell ids, so a
rebuild of an unchanged source gives identical files (``build(check=True)`` relies on it).
The build also injects the cells of ``injected`` (the kernel check, the memory cells).
The one exception: a code cell starting with ``# NBVAL_CHECK_OUTPUT`` carries its *pinned*
output in the solution notebook, which nbval then compares on every run. ``pin`` executes a
lesson and stores those outputs in ``src/pinned/NN-slug.json``, keyed by the cell's source,
so that editing a pinned cell without pinning again fails the build.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jupytext
import nbformat

from course_utils.instructor.injected import KERNELSPEC, add_kernel_check, add_memory_cells
from course_utils.instructor.paths import NOTEBOOKS

__all__ = ["AuthoringError", "build", "build_lesson", "exercise_cells", "lesson_points",
           "lesson_sources", "pin", "strip_code_solutions", "strip_hidden_tests"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
PIN = "# NBVAL_CHECK_OUTPUT"
HINT = re.compile(r"^\s*# HINT: (?P<hint>.+)$")
ANSWER_STUB = "YOUR ANSWER HERE"
class AuthoringError(ValueError):
    """A lesson source breaks the authoring rules (markers, hints)."""


def lesson_sources(src_dir: Path = NOTEBOOKS / "src") -> list[Path]:
    """The lesson sources, in lesson order."""
    return sorted(Path(src_dir).glob("[0-9][0-9]-*.py"))


def _regions(lines: list[str], where: str, markers: tuple[str, str] = (BEGIN, END)):
    """Yield (begin, end) line indices of solution regions, validating the markers."""
    start, stop = markers
    begin = None
    for i, line in enumerate(lines):
        marker = line.strip()
        if marker == start:
            if begin is not None:
                raise AuthoringError(f"{where}: nested {start} at line {i + 1}")
            begin = i
        elif marker == stop:
            if begin is None:
                raise AuthoringError(f"{where}: {stop} without {start} at line {i + 1}")
            yield begin, i
            begin = None
    if begin is not None:
        raise AuthoringError(f"{where}: {start} at line {begin + 1} is never closed")


def _strip_code(source: str, where: str) -> str:
    lines = source.split("\n")
    out, last = [], 0
    for begin, end in _regions(lines, where):
        hint = HINT.match(lines[begin - 1]) if begin else None
        if hint is None:
            raise AuthoringError(f"{where}: the line above {BEGIN} (line {begin + 1}) must be "
                                 f"'# HINT: <what to do>'")
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        out += lines[last:begin]
        out += [f"{indent}# YOUR CODE HERE",
                f"{indent}raise NotImplementedError({json.dumps(hint['hint'].strip())})"]
        last = end + 1
    return "\n".join(out + lines[last:])


def strip_code_solutions(source: str, where: str = "cell") -> str:
    """A code cell's source with every solution region replaced by the hint's stub; also what
    nbgrader's release writes (``grading.ClearSolutionsWithHints``)."""
    return _strip_code(source, where)


def strip_hidden_tests(source: str, where: str = "cell") -> str:
    """A test cell's source without its hidden-test regions (markers included)."""
    lines = source.split("\n")
    out, last = [], 0
    for begin, end in _regions(lines, where, (HIDDEN_BEGIN, HIDDEN_END)):
        out += lines[last:begin]
        last = end + 1
    return "\n".join(out + lines[last:]).rstrip("\n")


def _strip_markdown(source: str, where: str) -> str:
    lines = source.split("\n")
    out, last = [], 0
    for begin, end in _regions(lines, where):
        out += lines[last:begin] + [ANSWER_STUB]
        last = end + 1
    return "\n".join(out + lines[last:])


def exercise_cells(cells, lesson: str):
    """The exercise version of solution cells: every solution region replaced by a stub."""
    out = []
    for i, cell in enumerate(cells):
        cell = nbformat.from_dict(json.loads(json.dumps(cell)))
        where = f"{lesson}, cell {i}"
        strip = _strip_code if cell.cell_type == "code" else _strip_markdown
        cell.source = strip(cell.source, where)
        if cell.cell_type == "code":
            cell.source = strip_hidden_tests(cell.source, where)
        cell.metadata.pop("nbgrader", None)
        out.append(cell)
    return out


def _notebook(cells, lesson: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    for i, cell in enumerate(cells):
        new = (nbformat.v4.new_code_cell if cell.cell_type == "code"
               else nbformat.v4.new_markdown_cell)(cell.source)
        new.id = f"{lesson[:2]}-{i:03d}"
        new.metadata = {k: v for k, v in cell.metadata.items() if k in ("tags", "nbgrader")}
        nb.cells.append(new)
    return nb


def _nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False,
              locked: bool = False, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution}
    if points is not None:
        meta["points"] = points
    return meta


def _defined_name(source: str) -> str | None:
    match = re.search(r"^(?:def|class) (\w+)", source, re.M)
    return match and match[1]


def _solution_cells(cells, lesson: str):
    """Mark solution, test and answer cells with nbgrader's metadata (see the module doc)."""
    number, last_solution, answers, seen = lesson[:2], None, 0, {}
    out = []
    for i, cell in enumerate(cells):
        where = f"{lesson}, cell {i}"
        points = cell.metadata.pop("points", None)
        grade_id = cell.metadata.pop("grade_id", None)
        has_solution = bool(list(_regions(cell.source.split("\n"), where)))
        hidden = list(_regions(cell.source.split("\n"), where, (HIDDEN_BEGIN, HIDDEN_END)))
        if points is not None and (isinstance(points, bool) or not isinstance(points, int | float)
                                   or points <= 0):
            raise AuthoringError(f"{where}: points={points!r}; write a positive number, "
                                 f"e.g. points=2")
        if hidden and (cell.cell_type != "code" or points is None):
            raise AuthoringError(f"{where}: {HIDDEN_BEGIN} belongs in a test cell (a code cell "
                                 f"with points=N)")
        if cell.cell_type == "code" and has_solution:
            if points is not None:
                raise AuthoringError(f"{where}: a cell with a solution region cannot carry "
                                     f"points; put the check in the next cell with points=N")
            last_solution = _defined_name(cell.source) or f"{i:03d}"
            meta = _nbgrader(grade_id or f"{number}-{last_solution}", solution=True)
        elif cell.cell_type == "code" and points is not None:
            name = last_solution or f"{i:03d}"
            meta = _nbgrader(grade_id or f"{number}-test-{name}", grade=True, locked=True,
                             points=points)
        elif cell.cell_type == "markdown" and has_solution:
            if points is None:
                raise AuthoringError(f"{where}: a written answer is graded by hand and needs "
                                     f"points: '# %% [markdown] points=2'")
            answers += 1
            meta = _nbgrader(grade_id or f"{number}-answer-{answers}", grade=True,
                             solution=True, points=points)
        elif points is not None or grade_id is not None:
            raise AuthoringError(f"{where}: points or grade_id on a cell that is neither a test "
                                 f"cell (code) nor a written answer (markdown with a region)")
        else:
            out.append(cell)
            continue
        if meta["grade_id"] in seen:
            raise AuthoringError(f"{where}: grade id {meta['grade_id']!r} is also cell "
                                 f"{seen[meta['grade_id']]}'s; give one grade_id=\"...\"")
        seen[meta["grade_id"]] = i
        cell.metadata["nbgrader"] = meta
        out.append(cell)
    return out


def _lock_fixed_cells(nb, lesson: str) -> None:
    """The kernel check and the parameters cell are read-only for nbgrader."""
    for cell in nb.cells:
        if cell.id == f"{lesson[:2]}-kernel-check":
            cell.metadata["nbgrader"] = _nbgrader(cell.id, locked=True)
        elif cell.cell_type == "code" and "nbgrader" not in cell.metadata and any(
                line.startswith("SEED = ") for line in cell.source.splitlines()):
            cell.metadata["nbgrader"] = _nbgrader(f"{lesson[:2]}-parameters", locked=True)


def lesson_points(nb) -> dict[str, float]:
    """Points of a solution notebook: ``{"autograded": ..., "manual": ...}``."""
    points = {"autograded": 0, "manual": 0}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            points["manual" if meta.get("solution") else "autograded"] += meta["points"]
    return points


def _key(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()[:16]


def _pinned_file(source: Path) -> Path:
    return source.parent / "pinned" / f"{source.stem}.json"


def _apply_pins(nb, source: Path) -> None:
    pinned_file = _pinned_file(source)
    pinned = json.loads(pinned_file.read_text()) if pinned_file.exists() else {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(PIN):
            if _key(cell.source) not in pinned:
                raise AuthoringError(
                    f"{source.name}, cell {cell.id} is marked {PIN} but has no pinned output "
                    f"(new or edited); run `python -m course_utils build --pin {source.stem[:2]}`"
                )
            cell.outputs = [nbformat.from_dict(o) for o in pinned[_key(cell.source)]]
            # nbval rejects outputs on a cell whose execution_count is None ("unrun")
            cell.execution_count = 1


def build_lesson(source: Path) -> dict[str, str]:
    """Render one lesson source; returns ``{"solutions": json, "exercises": json}``."""
    lesson = source.stem
    cells = [c for c in jupytext.read(source).cells if c.source.strip()]
    solution = _notebook(_solution_cells(cells, lesson), lesson)
    exercise = _notebook(exercise_cells(solution.cells, lesson), lesson)
    for nb in (solution, exercise):
        add_kernel_check(nb, lesson)
        add_memory_cells(nb, lesson)
    _lock_fixed_cells(solution, lesson)
    _apply_pins(solution, source)
    for nb in (solution, exercise):
        nbformat.validate(nb)
    return {kind: nbformat.writes(nb) + "\n"
            for kind, nb in (("solutions", solution), ("exercises", exercise))}


def build(notebooks_dir: Path = NOTEBOOKS, check: bool = False,
          lessons: list[str] | None = None) -> list[Path]:
    """Write (or, with ``check``, only compare) every lesson's two notebooks.

    ``lessons`` (e.g. ``["03"]``) limits the build to those lessons and keeps the rest as is.

    Returns:
        The notebooks that were written, or that are stale or missing when ``check``.
    """
    notebooks_dir = Path(notebooks_dir)
    sources = lesson_sources(notebooks_dir / "src")
    if not sources:
        raise AuthoringError(f"no lesson sources NN-slug.py in {notebooks_dir / 'src'}")
    if lessons:
        sources = [s for s in sources if any(s.stem.startswith(x) for x in lessons)]
    changed = []
    expected = set()
    for source in sources:
        for kind, text in build_lesson(source).items():
            path = notebooks_dir / kind / f"{source.stem}.ipynb"
            expected.add(path)
            if path.exists() and path.read_text() == text:
                continue
            changed.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    for kind in ("solutions", "exercises") if not lessons else ():
        for orphan in sorted((notebooks_dir / kind).glob("*.ipynb")):
            if orphan not in expected:
                changed.append(orphan)
                if not check:
                    orphan.unlink()
    return changed


def pin(source: Path, timeout: int = 1800) -> Path:
    """Execute a lesson's solution in quick mode and store its pinned cells' outputs."""
    from nbclient import NotebookClient

    from course_utils.config import QUICK_ENV, env_overrides

    lesson = source.stem
    cells = [c for c in jupytext.read(source).cells if c.source.strip()]
    nb = _notebook(_solution_cells(cells, lesson), lesson)
    with env_overrides({QUICK_ENV: "1"}):
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS / "solutions")}}).execute()
    pinned = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(PIN):
            pinned[_key(cell.source)] = [
                o | {"execution_count": None} if "execution_count" in o else o
                for o in cell.outputs
            ]
    path = _pinned_file(source)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
    return path
