"""course_utils.instructor.authoring on tiny lesson sources written into tmp_path."""

import ast
import json
import os
import subprocess
import sys

import nbformat
import pytest

from course_utils.instructor import authoring, injected
from course_utils.instructor.authoring import AuthoringError

LESSON = '''\
# %% [markdown]
# # 01 · Demo

# %%
import math

# %% tags=["keep"]
def area(r):
    # HINT: multiply math.pi by the squared radius
    ### BEGIN SOLUTION
    value = math.pi * r**2
    return value
    ### END SOLUTION

# %% [markdown] points=1
# Why is the area quadratic?
#
# ### BEGIN SOLUTION
# Because both sides scale with r.
# ### END SOLUTION
'''

SOLUTION_LINES = ["value = math.pi * r**2", "return value", "Because both sides scale with r."]


def _lesson_dir(tmp_path, text=LESSON, name="01-demo"):
    src = tmp_path / "nb" / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / f"{name}.py").write_text(text)
    return tmp_path / "nb"


def _read(path, kernel_check=False):
    """A built notebook; without ``kernel_check`` the cell the build adds before the first
    code cell is checked and left out, so that the tests below see the lesson's own cells."""
    nb = nbformat.read(path, as_version=4)
    if not kernel_check:
        first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        assert nb.cells[first].source == injected.KERNEL_CHECK
        del nb.cells[first]
    return nb


@pytest.fixture
def built(tmp_path):
    root = _lesson_dir(tmp_path)
    written = authoring.build(root)
    return root, written


def test_build_writes_both_notebooks(built):
    root, written = built
    assert written == [root / "solutions" / "01-demo.ipynb", root / "exercises" / "01-demo.ipynb"]
    assert all(p.is_file() for p in written)


def test_exercise_code_stub(built):
    root, _ = built
    cells = _read(root / "exercises" / "01-demo.ipynb").cells
    assert [c.cell_type for c in cells] == ["markdown", "code", "code", "markdown"]
    assert cells[2].source == (
        "def area(r):\n"
        "    # HINT: multiply math.pi by the squared radius\n"
        "    # YOUR CODE HERE\n"
        '    raise NotImplementedError("multiply math.pi by the squared radius")'
    )
    assert cells[3].source == "Why is the area quadratic?\n\nYOUR ANSWER HERE"


def test_exercise_holds_no_solution_text(built):
    root, _ = built
    text = (root / "exercises" / "01-demo.ipynb").read_text()
    for line in SOLUTION_LINES + [authoring.BEGIN, authoring.END]:
        assert line not in text
    solution = (root / "solutions" / "01-demo.ipynb").read_text()
    assert all(line in solution for line in SOLUTION_LINES)


def test_solution_cells_carry_nbgrader_metadata(built):
    root, _ = built
    solution = _read(root / "solutions" / "01-demo.ipynb").cells
    assert solution[2].metadata == {
        "tags": ["keep"],
        "nbgrader": {"grade": False, "grade_id": "01-area", "locked": False,
                     "schema_version": 3, "solution": True},
    }
    assert solution[3].metadata["nbgrader"] == {
        "grade": True, "grade_id": "01-answer-1", "locked": False, "points": 1,
        "schema_version": 3, "solution": True}
    assert "nbgrader" not in solution[1].metadata
    exercise = _read(root / "exercises" / "01-demo.ipynb").cells
    assert [c.metadata for c in exercise] == [{}, {}, {"tags": ["keep"]}, {}]


def test_notebooks_are_clean(built):
    root, _ = built
    for kind in ("solutions", "exercises"):
        nb = _read(root / kind / "01-demo.ipynb")
        nbformat.validate(nb)
        assert nb.metadata.kernelspec == {"display_name": "Segmentation course",
                                          "language": "python", "name": "seg-course"}
        assert [c.id for c in nb.cells] == ["01-000", "01-001", "01-002", "01-003"]
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None


def test_build_is_idempotent(built):
    root, _ = built
    paths = sorted(root.rglob("*.ipynb"))
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert authoring.build(root) == []
    assert authoring.build(root, check=True) == []
    assert [p.stat().st_mtime_ns for p in paths] == stamps


def test_cell_ids_stable_across_edits(built):
    root, _ = built
    (root / "src" / "01-demo.py").write_text(LESSON.replace("import math", "import math  # pi"))
    authoring.build(root)
    assert [c.id for c in _read(root / "exercises" / "01-demo.ipynb").cells] == \
        ["01-000", "01-001", "01-002", "01-003"]


def test_check_reports_stale_and_orphans_without_writing(built):
    root, _ = built
    (root / "src" / "01-demo.py").write_text(LESSON.replace("Demo", "Demo, edited"))
    orphan = root / "exercises" / "99-old.ipynb"
    orphan.write_text("{}")
    before = {p: p.read_bytes() for p in root.rglob("*.ipynb")}
    stale = authoring.build(root, check=True)
    assert stale == [root / "solutions" / "01-demo.ipynb", root / "exercises" / "01-demo.ipynb",
                     orphan]
    assert {p: p.read_bytes() for p in root.rglob("*.ipynb")} == before
    assert authoring.build(root) == stale
    assert not orphan.exists()
    assert "Demo, edited" in (root / "solutions" / "01-demo.ipynb").read_text()


def test_check_reports_missing_notebooks(tmp_path):
    root = _lesson_dir(tmp_path)
    assert len(authoring.build(root, check=True)) == 2
    assert not (root / "solutions").exists()


def test_build_selected_lessons_keeps_the_rest(tmp_path):
    root = _lesson_dir(tmp_path)
    _lesson_dir(tmp_path, LESSON.replace("01 · Demo", "02 · Next"), "02-next")
    (root / "solutions").mkdir()
    keep = root / "solutions" / "07-unrelated.ipynb"
    keep.write_text("{}")
    written = authoring.build(root, lessons=["02"])
    assert written == [root / "solutions" / "02-next.ipynb", root / "exercises" / "02-next.ipynb"]
    assert keep.exists() and not (root / "solutions" / "01-demo.ipynb").exists()
    assert [c.id for c in _read(written[0]).cells][:1] == ["02-000"]


def test_build_without_sources(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.py").write_text("# not a lesson\n")
    with pytest.raises(AuthoringError, match="no lesson sources NN-slug.py in"):
        authoring.build(tmp_path)


def test_lesson_sources_order_and_pattern(tmp_path):
    for name in ("10-late.py", "02-b.py", "01-a.py", "helper.py", "1-short.py", "03-c.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in authoring.lesson_sources(tmp_path)] == ["01-a.py", "02-b.py",
                                                                    "10-late.py"]


# --------------------------------------------------------------------------- stripping


def _code(source):
    return nbformat.v4.new_code_cell(source)


def _markdown(source):
    return nbformat.v4.new_markdown_cell(source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (  # region at top level
            "x = 1\n# HINT: set y\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\nprint(y)",
            'x = 1\n# HINT: set y\n# YOUR CODE HERE\nraise NotImplementedError("set y")\nprint(y)',
        ),
        (  # deeper indentation follows the marker, not the hint
            "for i in r:\n    if i:\n        # HINT: add i\n        ### BEGIN SOLUTION\n"
            "        total += i\n        ### END SOLUTION",
            "for i in r:\n    if i:\n        # HINT: add i\n        # YOUR CODE HERE\n"
            '        raise NotImplementedError("add i")',
        ),
        (  # two regions in one cell
            "# HINT: a\n### BEGIN SOLUTION\na = 1\n### END SOLUTION\n"
            "# HINT: b\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION",
            '# HINT: a\n# YOUR CODE HERE\nraise NotImplementedError("a")\n'
            '# HINT: b\n# YOUR CODE HERE\nraise NotImplementedError("b")',
        ),
        (  # quotes and backslashes in the hint stay a valid string literal
            '# HINT: say "hi" \\ bye  \n### BEGIN SOLUTION\npass\n### END SOLUTION',
            '# HINT: say "hi" \\ bye  \n# YOUR CODE HERE\n'
            'raise NotImplementedError("say \\"hi\\" \\\\ bye")',
        ),
        ("x = 1", "x = 1"),
    ],
    ids=["top level", "indented", "two regions", "quoted hint", "no region"],
)
def test_exercise_code_cells(source, expected):
    (cell,) = authoring.exercise_cells([_code(source)], "05-x")
    assert cell.source == expected
    ast.parse(cell.source)  # still valid Python


def test_exercise_stub_message_is_the_hint():
    source = '# HINT: say "hi" \\ bye  \n### BEGIN SOLUTION\npass\n### END SOLUTION'
    (cell,) = authoring.exercise_cells([_code(source)], "05-x")
    raise_node = ast.parse(cell.source).body[-1]
    assert raise_node.exc.args[0].value == 'say "hi" \\ bye'


def test_exercise_markdown_cells():
    source = "Q?\n### BEGIN SOLUTION\nA.\nMore.\n### END SOLUTION\nAfter."
    (cell,) = authoring.exercise_cells([_markdown(source)], "05-x")
    assert cell.source == "Q?\nYOUR ANSWER HERE\nAfter."


def test_exercise_cells_leave_their_input_alone():
    cell = _code("# HINT: h\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    cell.metadata["nbgrader"] = {"solution": True}
    authoring.exercise_cells([cell], "05-x")
    assert "x = 1" in cell.source and cell.metadata == {"nbgrader": {"solution": True}}


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (_code("x = 1\n### BEGIN SOLUTION\ny\n### END SOLUTION"),
         r"05-x, cell 1: the line above ### BEGIN SOLUTION \(line 2\) must be '# HINT: "),
        (_code("### BEGIN SOLUTION\ny\n### END SOLUTION"), r"05-x, cell 1: the line above"),
        (_code("# HINT:\n### BEGIN SOLUTION\ny\n### END SOLUTION"), "05-x, cell 1: the line above"),
        (_code("# HINT: h\n### BEGIN SOLUTION\ny"),
         r"05-x, cell 1: ### BEGIN SOLUTION at line 2 is never closed"),
        (_code("# HINT: h\n### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"),
         r"05-x, cell 1: nested ### BEGIN SOLUTION at line 3"),
        (_code("y = 1\n### END SOLUTION"),
         r"05-x, cell 1: ### END SOLUTION without ### BEGIN SOLUTION at line 2"),
        (_markdown("### BEGIN SOLUTION\nA."), "05-x, cell 1: ### BEGIN SOLUTION at line 1 is never"),
        (_markdown("A.\n### END SOLUTION"), "05-x, cell 1: ### END SOLUTION without"),
    ],
    ids=["no hint", "marker on first line", "empty hint", "unclosed", "nested", "unmatched end",
         "markdown unclosed", "markdown unmatched"],
)
def test_exercise_cells_bad_markers(cell, message):
    with pytest.raises(AuthoringError, match=message):
        authoring.exercise_cells([_code("ok = 1"), cell], "05-x")


@pytest.mark.parametrize(
    ("cell_text", "message"),
    [
        ("# %%\n# HINT: h\n### BEGIN SOLUTION\nx = 1\n", r"01-demo, cell 1: .* is never closed"),
        ("# %%\nx = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION\n",
         "01-demo, cell 1: the line above"),
        ("# %% [markdown]\n# ### BEGIN SOLUTION\n# ### BEGIN SOLUTION\n# ### END SOLUTION\n",
         "01-demo, cell 1: nested"),
    ],
    ids=["unclosed", "no hint", "nested markdown"],
)
def test_build_names_the_bad_cell(tmp_path, cell_text, message):
    root = _lesson_dir(tmp_path, "# %%\nok = 1\n\n" + cell_text)
    with pytest.raises(AuthoringError, match=message):
        authoring.build(root)
    assert not (root / "solutions").exists()


# --------------------------------------------------------------------------- pinned outputs

PINNED_CELL = "# NBVAL_CHECK_OUTPUT\nprint(2 + 2)"


def _pinned_lesson(tmp_path):
    return _lesson_dir(tmp_path, LESSON + "\n# %%\n" + PINNED_CELL + "\n")


def test_pinned_cell_without_pin_is_an_error(tmp_path):
    root = _pinned_lesson(tmp_path)
    with pytest.raises(AuthoringError, match=r"01-demo.py, cell 01-004 is marked # NBVAL_CHECK"
                                             r"_OUTPUT but has no pinned output .*--pin 01"):
        authoring.build(root)


def test_pinned_outputs_go_to_the_solution_only(tmp_path):
    root = _pinned_lesson(tmp_path)
    output = {"name": "stdout", "output_type": "stream", "text": "4\n"}
    pinned = root / "src" / "pinned" / "01-demo.json"
    pinned.parent.mkdir()
    pinned.write_text(json.dumps({authoring._key(PINNED_CELL): [output]}))
    authoring.build(root)
    solution = _read(root / "solutions" / "01-demo.ipynb").cells[4]
    assert solution.outputs == [output]
    assert _read(root / "exercises" / "01-demo.ipynb").cells[4].outputs == []
    assert authoring.build(root, check=True) == []


def test_pin_stores_outputs_keyed_by_source(tmp_path, monkeypatch):
    import nbclient

    root = _pinned_lesson(tmp_path)
    seen = {}

    class FakeClient:
        def __init__(self, nb, **kwargs):
            self.nb, seen["kwargs"] = nb, kwargs

        def execute(self):
            seen["quick"] = os.environ.get("COURSE_QUICK")
            for cell in self.nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "4"},
                                                           execution_count=7)]

    monkeypatch.setattr(nbclient, "NotebookClient", FakeClient)
    monkeypatch.setenv("COURSE_QUICK", "0")
    path = authoring.pin(root / "src" / "01-demo.py")
    assert path == root / "src" / "pinned" / "01-demo.json"
    assert seen["quick"] == "1" and os.environ["COURSE_QUICK"] == "0"
    assert seen["kwargs"]["kernel_name"] == "python3"
    stored = json.loads(path.read_text())
    assert list(stored) == [authoring._key(PINNED_CELL)]
    assert stored[authoring._key(PINNED_CELL)] == [
        {"data": {"text/plain": "4"}, "execution_count": None, "metadata": {},
         "output_type": "execute_result"}]
    authoring.build(root)
    assert _read(root / "solutions" / "01-demo.ipynb").cells[4].outputs[0]["data"] == \
        {"text/plain": "4"}


def test_edited_pinned_cell_needs_a_new_pin(tmp_path):
    root = _pinned_lesson(tmp_path)
    pinned = root / "src" / "pinned" / "01-demo.json"
    pinned.parent.mkdir()
    pinned.write_text(json.dumps({authoring._key(PINNED_CELL): []}))
    authoring.build(root)
    (root / "src" / "01-demo.py").write_text(
        (root / "src" / "01-demo.py").read_text().replace("2 + 2", "2 + 3"))
    with pytest.raises(AuthoringError, match="new or edited"):
        authoring.build(root)


def test_kernel_check_comes_before_the_first_code_cell(built):
    root, _ = built
    for kind in ("solutions", "exercises"):
        cells = _read(root / kind / "01-demo.ipynb", kernel_check=True).cells
        assert [c.id for c in cells] == ["01-000", "01-kernel-check", "01-001", "01-002",
                                         "01-003"]
        assert cells[1].source == injected.KERNEL_CHECK
        # read-only for nbgrader in the solution (the release's source), plain in the exercise
        assert cells[1].metadata == ({"nbgrader": {
            "grade": False, "grade_id": "01-kernel-check", "locked": True, "schema_version": 3,
            "solution": False}} if kind == "solutions" else {})


def test_kernel_check_without_code_cells(tmp_path):
    root = _lesson_dir(tmp_path, "# %% [markdown]\n# # 01 · Only prose\n")
    authoring.build(root)
    cells = _read(root / "solutions" / "01-demo.ipynb", kernel_check=True).cells
    assert [c.cell_type for c in cells] == ["markdown", "code"]


def _run_check(hide_course_utils):
    hide = "import sys; sys.modules['course_utils'] = None\n" if hide_course_utils else ""
    return subprocess.run([sys.executable, "-c", hide + injected.KERNEL_CHECK],
                          capture_output=True, text=True, timeout=120)


def test_kernel_check_passes_silently_on_the_course_kernel():
    done = _run_check(hide_course_utils=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_kernel_check_says_which_kernel_to_pick_and_how_to_register_it():
    done = _run_check(hide_course_utils=True)
    assert done.returncode == 1
    last = done.stderr[done.stderr.index("ModuleNotFoundError: "):]
    assert last.startswith("ModuleNotFoundError: This kernel cannot import the course package "
                           "(import of course_utils halted")
    assert "Switch to the kernel 'Segmentation course': Kernel > Change Kernel..." in last
    assert ("  .venv/bin/python -m ipykernel install --user --name seg-course "
            "--display-name 'Segmentation course'\n") in last
    assert "During handling" not in done.stderr  # "from None": one short traceback


def test_memory_cells_follow_the_parameters_cell_and_end_the_lesson(tmp_path):
    root = _lesson_dir(tmp_path, "# %% [markdown]\n# # 01 · Demo\n\n# %%\nSEED = 0\n"
                                 "DEVICE = 'cpu'\n\n# %%\nx = SEED + 1\n")
    authoring.build(root)
    for kind in ("solutions", "exercises"):
        cells = _read(root / kind / "01-demo.ipynb").cells
        assert [c.source for c in cells[1:3]] == ["SEED = 0\nDEVICE = 'cpu'",
                                                  injected.MEMORY_START]
        assert cells[3].source == "x = SEED + 1"
        assert [c.id for c in cells[-2:]] == ["01-memory-note", "01-memory-release"]
        assert cells[-1].source == injected.MEMORY_RELEASE


def test_a_lesson_without_parameters_gets_no_memory_cells(tmp_path):
    root = _lesson_dir(tmp_path, "# %% [markdown]\n# # 01 · Demo\n\n# %%\nx = 1\n")
    authoring.build(root)
    cells = _read(root / "solutions" / "01-demo.ipynb").cells
    assert [c.source for c in cells] == ["# 01 · Demo", "x = 1"]


# --------------------------------------------------------------------------- nbgrader

GRADED = '''\
# %% [markdown]
# # 02 · Graded

# %%
SEED = 0

# %%
def double(x):
    # HINT: twice x
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

# %% points=2
assert double(2) == 4
### BEGIN HIDDEN TESTS
assert double(-3) == -6
### END HIDDEN TESTS

# %% [markdown]
# Why?

# %% [markdown] points=1.5
# ### BEGIN SOLUTION
# Because.
# ### END SOLUTION

# %% [markdown] points=3 grade_id="02-essay"
# ### BEGIN SOLUTION
# Long.
# ### END SOLUTION
'''


def _graded(tmp_path, text=GRADED):
    root = _lesson_dir(tmp_path, text, name="02-graded")
    authoring.build(root)
    return [nbformat.read(root / kind / "02-graded.ipynb", as_version=4)
            for kind in ("solutions", "exercises")]


def _meta(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in nb.cells
            if "nbgrader" in c.metadata}


def test_graded_cells_get_nbgrader_metadata(tmp_path):
    solution, exercise = _graded(tmp_path)
    meta = _meta(solution)
    assert list(meta) == ["02-kernel-check", "02-parameters", "02-double", "02-test-double",
                          "02-answer-1", "02-essay"]
    assert meta["02-kernel-check"] == meta["02-parameters"] | {"grade_id": "02-kernel-check"}
    assert meta["02-parameters"] == {"grade": False, "grade_id": "02-parameters",
                                     "locked": True, "schema_version": 3, "solution": False}
    assert meta["02-test-double"] == {"grade": True, "grade_id": "02-test-double",
                                      "locked": True, "points": 2, "schema_version": 3,
                                      "solution": False}
    assert meta["02-answer-1"]["points"] == 1.5 and meta["02-answer-1"]["grade"]
    assert meta["02-essay"]["points"] == 3
    assert authoring.lesson_points(solution) == {"autograded": 2, "manual": 4.5}
    assert _meta(exercise) == {}


def test_hidden_tests_stay_in_the_solution_and_leave_the_exercise(tmp_path):
    solution, exercise = _graded(tmp_path)
    test = next(c for c in solution.cells if c.source.startswith("assert double(2)"))
    assert "assert double(-3) == -6" in test.source
    (stub,) = [c for c in exercise.cells if c.source.startswith("assert double(2)")]
    assert stub.source == "assert double(2) == 4"
    assert "HIDDEN" not in (tmp_path / "nb" / "exercises" / "02-graded.ipynb").read_text()


@pytest.mark.parametrize(("source", "expected"), [
    ("a\n### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS\nc", "a\nc"),
    ("a\n    ### BEGIN HIDDEN TESTS\n    b\n    ### END HIDDEN TESTS\n", "a"),
    ("a", "a"),
], ids=["middle", "indented at the end", "none"])
def test_strip_hidden_tests(source, expected):
    assert authoring.strip_hidden_tests(source) == expected


@pytest.mark.parametrize(("cells", "message"), [
    ("# %% [markdown]\n# ### BEGIN SOLUTION\n# A.\n# ### END SOLUTION\n",
     r"cell 1: a written answer is graded by hand and needs points"),
    ("# %% points=2\n# HINT: h\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n",
     r"cell 1: a cell with a solution region cannot carry points"),
    ("# %%\nx = 1\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS\n",
     r"cell 1: ### BEGIN HIDDEN TESTS belongs in a test cell"),
    ("# %% points=1\nx = 1\n### BEGIN HIDDEN TESTS\nassert x\n",
     r"cell 1: ### BEGIN HIDDEN TESTS at line 2 is never closed"),
    ("# %% [markdown] points=1\n# Just prose.\n",
     r"cell 1: points or grade_id on a cell that is neither"),
    ("# %% points=0\nassert True\n", r"cell 1: points=0; write a positive number"),
    ("# %% points=\"two\"\nassert True\n", r"cell 1: points='two'; write a positive number"),
    ("# %%\ndef f():\n    # HINT: h\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
     "\n\n# %% points=1\nassert f()\n\n# %% points=1\nassert f() == 1\n",
     r"cell 3: grade id '01-test-f' is also cell 2's; give one grade_id="),
], ids=["answer without points", "points on a solution", "hidden outside a test",
        "hidden unclosed", "points on prose", "zero points", "text points", "duplicate id"])
def test_bad_grading_metadata_is_named(tmp_path, cells, message):
    root = _lesson_dir(tmp_path, "# %%\nok = 1\n\n" + cells)
    with pytest.raises(AuthoringError, match=message):
        authoring.build(root)
