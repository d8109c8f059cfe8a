"""course_utils.instructor.grading with the real nbgrader, on lesson 00 (no training): the course folder,
the release checked against the exercise, and what a collected submission can get wrong.

The three-student round trip over all nine lessons is tests/test_grading_roundtrip.py.
"""

import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from course_utils.instructor import authoring, grading
from course_utils.instructor.grading import GradingError
from course_utils.instructor.grading import cli as grading_cli

LESSON = "00-setup-and-data"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder with lesson 00 released (about 20 s of nbgrader)."""
    path = grading.init_course(tmp_path_factory.mktemp("course"))
    assert grading.release(path, ["00"]) == [LESSON]
    return path


def _released(course):
    return nbformat.read(course / "release" / LESSON / f"{LESSON}.ipynb", as_version=4)


def _submit(course, student, nb=None, text=None):
    """Put a submission where `nbgrader collect` puts it."""
    folder = course / "submitted" / student / LESSON
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{LESSON}.ipynb"
    path.write_text(text if text is not None else nbformat.writes(nb))
    return path


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


# --------------------------------------------------------------------------- pure parts

def test_lessons_by_number_or_name():
    assert grading.lessons() == [s.stem for s in authoring.lesson_sources()]
    assert grading.lessons(["02", "03-unet-skip-connections"]) == [
        "02-dice-focal-tv", "03-unet-skip-connections"]


@pytest.mark.parametrize("name", ["99", "2", "dice"])
def test_unknown_lesson_is_named(name):
    with pytest.raises(GradingError, match=rf"unknown lesson '{name}'; the lessons are 00, 01"):
        grading.lessons([name])


def test_release_preprocessors_swap_only_clear_solutions():
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import ClearSolutions

    default = GenerateAssignment.class_traits()["preprocessors"].default()
    ours = grading.release_preprocessors()
    assert len(ours) == len(default) and ours.count(grading.ClearSolutionsWithHints) == 1
    assert [p for p in ours if p is not grading.ClearSolutionsWithHints] == \
        [p for p in default if p is not ClearSolutions]


@pytest.mark.parametrize(("cell", "expected"), [
    (nbformat.v4.new_code_cell("def f():\n    # HINT: return one\n    ### BEGIN SOLUTION\n"
                               "    return 1\n    ### END SOLUTION"),
     'def f():\n    # HINT: return one\n    # YOUR CODE HERE\n'
     '    raise NotImplementedError("return one")'),
    (nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
     "YOUR ANSWER HERE"),
], ids=["code keeps the hint", "markdown as nbgrader"])
def test_clear_solutions_with_hints(cell, expected):
    assert grading.ClearSolutionsWithHints()._replace_solution_region(cell, "python")
    assert cell.source == expected


def test_a_folder_without_config_is_not_a_course(tmp_path):
    with pytest.raises(GradingError, match=r"is not a course folder \(no nbgrader_config.py\); "
                                           r"make one with `python -m course_utils grade init"):
        grading.release(tmp_path, ["00"])


def test_a_config_importing_the_grader_from_its_old_place_is_refused(course):
    config = course / "nbgrader_config.py"
    text = config.read_text()
    assert "from course_utils.instructor import grading\n" in text
    config.write_text(text.replace("course_utils.instructor import", "course_utils import"))
    try:
        with pytest.raises(GradingError, match=r"imports the grader from where it used to live: "
                                               r"replace `from course_utils import grading` with "
                                               r"`from course_utils.instructor import grading`"):
            grading.release(course, ["00"])
    finally:
        config.write_text(text)


def test_an_old_config_without_the_sandbox_is_refused(course):
    config = course / "nbgrader_config.py"
    text = config.read_text()
    config.write_text(text.replace("grading.configure(c)", ""))
    try:
        with pytest.raises(GradingError, match=r"predates the sandboxed grader: add the line "
                                               r"`grading.configure\(c\)`"):
            grading.autograde(course, ["00"])
    finally:
        config.write_text(text)


def test_grading_without_a_sandbox_is_refused_unless_unsafe(course, monkeypatch):
    from course_utils.instructor.grading import sandbox

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(GradingError, match=r"refusing to grade: bubblewrap is not installed "
                                           r".*pass --unsafe"):
        grading.autograde(course, ["00"])


def test_init_keeps_an_edited_config_and_refreshes_sources(tmp_path):
    path = grading.init_course(tmp_path / "c", exchange=tmp_path / "x")
    config = path / "nbgrader_config.py"
    assert f"c.Exchange.root = {str(tmp_path / 'x')!r}" in config.read_text()
    config.write_text(config.read_text() + "# mine\n")
    source = path / "source" / LESSON / f"{LESSON}.ipynb"
    source.write_text("{}")
    grading.init_course(path)
    assert config.read_text().endswith("# mine\n")
    assert source.read_text() == (authoring.NOTEBOOKS / "solutions" / f"{LESSON}.ipynb").read_text()
    assert sorted(p.name for p in (path / "source").iterdir()) == grading.lessons()


def test_points_table_adds_up():
    rows = grading.points_table()
    assert [r[0] for r in rows] == grading.lessons()
    for name, auto, manual in rows:
        nb = nbformat.read(authoring.NOTEBOOKS / "solutions" / f"{name}.ipynb", as_version=4)
        tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                 and c.cell_type == "code"]
        assert auto == sum(c.metadata["nbgrader"]["points"] for c in tests) > 0
        assert manual >= 0


# --------------------------------------------------------------------------- with nbgrader

def test_release_equals_the_exercise_and_hides_the_hidden_tests(course):
    released = _released(course)
    exercise = nbformat.read(authoring.NOTEBOOKS / "exercises" / f"{LESSON}.ipynb", as_version=4)
    assert [c.source for c in released.cells] == [c.source for c in exercise.cells]
    outbound = course / "exchange" / grading.COURSE_ID / "outbound" / LESSON / f"{LESSON}.ipynb"
    assert outbound.read_text() == (course / "release" / LESSON / f"{LESSON}.ipynb").read_text()
    assert "HIDDEN TESTS" not in outbound.read_text()
    assert _cell(released, "00-parameters").metadata["editable"] is False


def test_a_changed_release_is_refused_by_cell(course, tmp_path):
    fake = tmp_path / "fake"
    shutil.copytree(course / "release", fake / "release")
    path = fake / "release" / LESSON / f"{LESSON}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].source += "\nextra = 1"
    nbformat.write(nb, path)
    with pytest.raises(GradingError, match=rf"{LESSON}: the release differs from "
                                           rf"notebooks/exercises/{LESSON}.ipynb at cell 3"):
        grading.check_release(fake, LESSON)


def test_check_submissions_names_student_and_file_and_changes_nothing(course):
    released = _released(course)
    good = _submit(course, "ann", released)
    deleted = nbformat.from_dict(json.loads(nbformat.writes(released)))
    deleted.cells.remove(_cell(deleted, "00-test-foreground_fraction"))
    _submit(course, "bea", deleted)
    edited = nbformat.from_dict(json.loads(nbformat.writes(released)))
    _cell(edited, "00-parameters").source += "\nQUICK = True"
    _cell(edited, "00-foreground_fraction").source += "\n# my answer"  # an answer cell: fine
    _submit(course, "cid", edited)
    broken = _submit(course, "dan", text='{"cells": [')
    (course / "submitted" / "eve" / LESSON).mkdir(parents=True)
    before = {p: p.read_bytes() for p in (course / "submitted").rglob("*.ipynb")}

    students, findings = grading.check_submissions(course, LESSON)

    where = f"submitted/{{}}/{LESSON}/{LESSON}.ipynb"
    assert students == ["ann", "bea", "cid"]
    assert findings == [
        f"student bea, {where.format('bea')}: the cell '00-test-foreground_fraction' was "
        f"deleted; the grader puts the released version back",
        f"student cid, {where.format('cid')}: the read-only cell '00-parameters' was edited; "
        f"the grader uses the released version",
        f"student dan, {where.format('dan')}: not a readable notebook (NotJSONError: "
        + findings[2].split("(NotJSONError: ", 1)[1],
        f"student eve, {where.format('eve')}: missing; this student scores 0 for the lesson",
    ]
    assert "not graded, ask for a new submission" in findings[2]
    assert {p: p.read_bytes() for p in (course / "submitted").rglob("*.ipynb")} == before
    assert good.read_text() == nbformat.writes(released) and broken.read_text() == '{"cells": ['
    for student in ("ann", "bea", "cid", "dan", "eve"):
        shutil.rmtree(course / "submitted" / student)


# --------------------------------------------------------------------------- command line

def test_cli_points_prints_every_lesson(capsys):
    assert grading_cli.main(["points"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["lesson", "autograded", "by", "hand", "total"]
    assert [line.split()[0] for line in lines[1:]] == grading.lessons()


@pytest.mark.parametrize(("argv", "message"), [
    (["release", "42", "--course", "."], "error: unknown lesson '42'"),
    (["collect", "--course", "/nonexistent"], "error: /nonexistent is not a course folder"),
])
def test_cli_bad_input_is_one_line_not_a_traceback(argv, message):
    done = subprocess.run([sys.executable, "-m", "course_utils", "grade", *argv],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith(message)
    assert "Traceback" not in done.stderr


def test_readme_points_table_is_the_notebooks():
    text = (authoring.NOTEBOOKS.parent / "README.md").read_text()
    auto = next(line for line in text.splitlines() if line.startswith("| autograded |"))
    manual = next(line for line in text.splitlines() if line.startswith("| by hand |"))
    rows = grading.points_table()

    def cells(line):
        return [float(x) for x in line.strip("|").split("|")[1:]]

    assert cells(auto) == [r[1] for r in rows] + [sum(r[1] for r in rows)]
    assert cells(manual) == [r[2] for r in rows] + [sum(r[2] for r in rows)]


def test_array_writes_the_slurm_and_lsf_scripts_of_the_shards(course, capsys):
    assert grading_cli.main(["array", "00", "--tasks", "2", "--course", str(course)]) == 0
    out = capsys.readouterr().out
    slurm = (course / "slurm" / "grade.slurm.sh").read_text()
    lsf = (course / "slurm" / "grade.lsf.sh").read_text()
    assert "#SBATCH --array=0-1" in slurm and '#BSUB -J "grade[1-2]"' in lsf
    assert (course / "slurm" / "items.txt").read_text() == "0/2\n1/2\n"
    assert f"grade work {LESSON} --course {course} --shard" in slurm.replace("'", "")
    assert "sbatch " in out and "bsub < " in out


@pytest.mark.parametrize(("shard", "words"), [("2/2", "I must be in 0..N-1"),
                                             ("a/b", "write it as I/N")])
def test_a_bad_shard_is_named(course, capsys, shard, words):
    assert grading_cli.main(["work", "00", "--shard", shard, "--course", str(course)]) == 2
    assert words in capsys.readouterr().err


def test_work_grades_its_shard_into_verdicts(course, capsys, tmp_path):
    folder = course / "submitted" / "zed" / LESSON
    folder.mkdir(parents=True)
    shutil.copyfile(course / "source" / LESSON / f"{LESSON}.ipynb", folder / f"{LESSON}.ipynb")
    try:
        assert grading_cli.main(["work", "00", "--shard", "0/1", "--course", str(course)]) == 0
        assert "shard 0/1: graded 1 submission(s)" in capsys.readouterr().out
        record = json.loads((course / "verdicts" / LESSON / "zed.json").read_text())
        assert record["verdicts"]["00-test-foreground_fraction"]["passed"] is True
        assert grading_cli.main(["work", "00", "--shard", "0/1", "--course", str(course)]) == 0
        assert "graded 0 submission(s)" in capsys.readouterr().out  # done: not again
    finally:
        shutil.rmtree(course / "submitted")
        shutil.rmtree(course / "verdicts")
