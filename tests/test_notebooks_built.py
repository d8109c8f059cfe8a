"""The committed notebooks: up to date with their sources, exercises free of solutions,
stubs that say what to do, and no outputs except pinned ones."""

import ast

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

# hidden_test_lines is also imported from here by tests/test_grading_roundtrip.py
from notebook_regions import TRIVIAL, hidden_test_lines, outside_lines, region_lines

from course_utils.instructor import authoring, injected

NOTEBOOKS = authoring.NOTEBOOKS
LESSONS = [source.stem for source in authoring.lesson_sources()]
# Lines so common that finding them elsewhere in an exercise says nothing about a leak.


def _read(kind, lesson):
    return nbformat.read(NOTEBOOKS / kind / f"{lesson}.ipynb", as_version=4)


def _python(cell):
    """The cell as plain Python (IPython magics and shell escapes translated)."""
    return TransformerManager().transform_cell(cell.source)


def _stubs(tree):
    """``raise NotImplementedError(...)`` nodes of a module."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                and isinstance(node.exc.func, ast.Name)
                and node.exc.func.id == "NotImplementedError"):
            yield node.exc


def test_there_are_lessons():
    assert LESSONS, f"no lesson sources in {NOTEBOOKS / 'src'}"


def test_generated_notebooks_are_up_to_date():
    stale = authoring.build(check=True)
    assert stale == [], "run `python -m course_utils build` and commit: " + ", ".join(
        str(p.relative_to(NOTEBOOKS)) for p in stale)


@pytest.mark.parametrize("lesson", LESSONS)
def test_exercise_holds_no_solution_text(lesson):
    """No line of a solution region reaches the exercise, unless the lesson also has that
    exact line outside every region (e.g. a loop header shown in a demo cell)."""
    def lines(nb):
        return {line.strip() for cell in nb.cells for line in cell.source.splitlines()}

    solution = _read("solutions", lesson)
    exercise_lines = lines(_read("exercises", lesson))
    solution_lines = {}
    for i, cell in enumerate(solution.cells):
        for line in region_lines(cell, f"{lesson}, cell {i}"):
            solution_lines.setdefault(line.strip(), i)
    shared = {line for cell in solution.cells for line in outside_lines(cell)}
    for text, i in solution_lines.items():
        if text.lstrip("# ").strip() in TRIVIAL or text in shared:
            continue
        assert text not in exercise_lines, f"{lesson}, cell {i}: solution line {text!r} leaks"


@pytest.mark.parametrize("lesson", LESSONS)
def test_exercise_holds_no_hidden_tests(lesson):
    exercise = _read("exercises", lesson)
    text = "\n".join(c.source for c in exercise.cells)
    assert "HIDDEN TESTS" not in text
    exercise_lines = {line.strip() for line in text.splitlines()}
    leaks = hidden_test_lines(_read("solutions", lesson), lesson) & exercise_lines
    assert not leaks, f"{lesson}: hidden-test lines in the exercise: {sorted(leaks)}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_exercise_has_no_markers(lesson):
    for cell in _read("exercises", lesson).cells:
        assert authoring.BEGIN not in cell.source and authoring.END not in cell.source
        assert "BEGIN SOLUTION" not in cell.source and "END SOLUTION" not in cell.source
        assert "nbgrader" not in cell.metadata


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_stub_says_what_to_do(lesson):
    solution, exercise = _read("solutions", lesson), _read("exercises", lesson)
    regions = sum(len(list(authoring._regions(c.source.split("\n"), f"{lesson}, cell {i}")))
                  for i, c in enumerate(solution.cells) if c.cell_type == "code")
    stubs = 0
    for i, cell in enumerate(exercise.cells):
        if cell.cell_type != "code":
            continue
        for call in _stubs(ast.parse(_python(cell))):
            stubs += 1
            message = call.args[0] if len(call.args) == 1 and not call.keywords else None
            assert isinstance(message, ast.Constant) and isinstance(message.value, str), \
                f"{lesson}, cell {i}: NotImplementedError needs one string message"
            assert message.value.strip(), f"{lesson}, cell {i}: empty NotImplementedError message"
    assert stubs >= regions, f"{lesson}: {regions} solution regions but {stubs} stubs"


@pytest.mark.parametrize("kind", ["solutions", "exercises"])
@pytest.mark.parametrize("lesson", LESSONS)
def test_no_outputs_except_pinned(lesson, kind):
    nb = _read(kind, lesson)
    assert nb.metadata.kernelspec == injected.KERNELSPEC
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert (first.id, first.source) == (f"{lesson[:2]}-kernel-check", injected.KERNEL_CHECK)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        pinned = kind == "solutions" and cell.source.startswith(authoring.PIN)
        # nbval only compares a cell that looks run, so pinned cells carry a count of 1
        assert cell.execution_count == (1 if pinned else None), f"{lesson} {kind}, {cell.id}"
        if not pinned:
            assert cell.outputs == [], f"{lesson} {kind}, cell {cell.id} has outputs"


@pytest.mark.parametrize("kind", ["solutions", "exercises"])
def test_every_committed_notebook_has_a_source(kind):
    assert sorted(p.stem for p in (NOTEBOOKS / kind).glob("*.ipynb")) == LESSONS
