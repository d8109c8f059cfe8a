"""The instructors' round trip with the real nbgrader, every lesson, three students.

The course folder is made by ``grading.init_course``; every lesson is released to an
exchange; three students fetch it with ``nbgrader fetch_assignment``, fill it in and hand
it in with ``nbgrader submit``; the instructor collects, autogrades in quick mode
(``COURSE_QUICK=1`` in the grader's kernel), writes feedback and exports the grades:

- ``ada`` fills in every solution: full marks on every autograded cell;
- ``ben`` hands in the release untouched: zero on every autograded cell, and every cell of
  every notebook still ran (a stub neither hangs nor kills the grader's kernel);
- ``cy`` makes the typical slips of ``grading_slips.SLIPS`` (at least one per lesson): she
  loses exactly the points of the test cells they break, and the feedback HTML shows the
  check's message;
- the adversarial class of ``grading_attacks.ATTACKS`` (lessons 00 and 01, one on 03): each
  scores 0 on exactly the test it attacks and full marks elsewhere, changes nothing outside
  its folder, and leaves the instructor one note naming the student, the file and the cell.

The grader runs only the test cells, in the sandbox (no notebook runs top to bottom, no
training); the time is written to ``test-output/grading/round-trip.txt``.
"""

from __future__ import annotations

import csv
import html
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from grading_attacks import ATTACKS, lessons_of
from grading_slips import SLIPS
from test_notebooks_built import hidden_test_lines

from course_utils.instructor import authoring, grading
from course_utils.instructor.grading.sandbox import sandbox_available

pytestmark = [pytest.mark.notebooks,
              pytest.mark.skipif(sandbox_available() is not None,
                                 reason=f"no sandbox: {sandbox_available()}")]

ROOT = Path(__file__).resolve().parents[1]
LESSONS = grading.lessons()
STUDENTS = ("ada", "ben", "cy")
ATTACKERS = {a.student: a for a in ATTACKS}
STEP_SECONDS = 30  # the grader's bound on one test cell here (lou's loop)


def _solutions(lesson):
    return nbformat.read(authoring.NOTEBOOKS / "solutions" / f"{lesson}.ipynb", as_version=4)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _autograded(lesson) -> dict[str, float]:
    """Points of the autograded test cells, by grade id."""
    return {_grade_id(c): c.metadata["nbgrader"]["points"] for c in _solutions(lesson).cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def _without_markers(source: str) -> str:
    """What a student who got it right has in the cell: the solution without the markers."""
    return "\n".join(line for line in source.split("\n")
                     if line.strip() not in (authoring.BEGIN, authoring.END))


def _slipped(source: str, slip) -> str:
    lines = source.split("\n")
    begin, end = list(authoring._regions(lines, slip.solution_id))[getattr(slip, "index", 0)]
    return _without_markers("\n".join(lines[:begin] + slip.region.split("\n")
                                      + lines[end + 1:]))


def _fill(nb, lesson, student, course=None):
    """The student's work on the fetched notebook, in place."""
    if student == "ben":
        return
    attack = ATTACKERS.get(student)
    answers = {_grade_id(c): c.source for c in _solutions(lesson).cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    slips = {s.solution_id: s for s in SLIPS[lesson]} if student == "cy" else {}
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if attack and grade_id == attack.answer:
            cell.source = attack.source.replace("{course}", str(course))
        elif grade_id in slips:
            cell.source = _slipped(answers[grade_id], slips[grade_id])
        elif grade_id in answers:
            cell.source = _without_markers(answers[grade_id])


def _as_student(student, home, exchange, *args):
    env = os.environ | {"HOME": str(home),
                        "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                 os.environ.get("PATH", "")])}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--course",
                           grading.COURSE_ID, f"--Exchange.root={exchange}"],
                          cwd=home, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{student}: nbgrader {args[0]}:\n{done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release, fetch, submit, collect, autograde (quick mode), feedback, export."""
    root = tmp_path_factory.mktemp("grading")
    # the graded kernels must not write into a lesson's outcome file (conftest.py)
    os.environ.pop("COURSE_RESULTS_FILE", None)
    exchange = root / "exchange"
    started = time.monotonic()
    course = grading.init_course(root / "course", exchange=exchange)
    assert grading.release(course, LESSONS) == LESSONS
    released = time.monotonic()
    for student in (*STUDENTS, *ATTACKERS):
        home = root / "home" / student
        home.mkdir(parents=True)
        chosen = _lessons_of(student)
        _as_student(student, home, exchange, "fetch_assignment", *chosen)
        for lesson in chosen:
            path = home / lesson / f"{lesson}.ipynb"
            nb = nbformat.read(path, as_version=4)
            _fill(nb, lesson, student, course)
            nbformat.write(nb, path)
            _as_student(student, home, exchange, "submit", lesson, "--student", student)
    submitted = time.monotonic()
    findings = grading.collect(course, LESSONS)
    before = _tree(course / "submitted")
    notes = grading.autograde(course, LESSONS, step_seconds=STEP_SECONDS)
    graded_at = time.monotonic()
    grades = grading.export(course, root / "grades.csv")
    timing = (f"round trip {graded_at - started:.0f} s: release {released - started:.0f} s, "
              f"fetch and submit {submitted - released:.0f} s, collect, autograde and feedback "
              f"{graded_at - submitted:.0f} s ({len(LESSONS)} lessons x {len(STUDENTS)} "
              f"students, and {len(ATTACKERS)} attackers with 2-3 lessons each)\n")
    out = ROOT / "test-output" / "grading"
    out.mkdir(parents=True, exist_ok=True)
    (out / "round-trip.txt").write_text(timing)
    print(timing)
    return {"course": course, "root": root, "findings": findings, "grades": grades,
            "notes": notes, "submitted_before": before,
            "submitted_after": _tree(course / "submitted")}


def _lessons_of(student) -> list[str]:
    if student not in ATTACKERS:
        return LESSONS
    return [lesson for lesson in LESSONS if lesson[:2] in lessons_of(ATTACKERS[student])]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def scores(graded):
    """``{(student, lesson): {grade_id: auto_score}}`` of the autograded test cells."""
    from nbgrader.api import Gradebook

    table = {}
    with Gradebook(f"sqlite:///{graded['course'] / 'gradebook.db'}",
                   course_id=grading.COURSE_ID) as gb:
        for student in (*STUDENTS, *ATTACKERS):
            for lesson in _lessons_of(student):
                nb = gb.find_submission_notebook(lesson, lesson, student)
                tests = _autograded(lesson)
                table[student, lesson] = {g.name: g.auto_score for g in nb.grades
                                          if g.name in tests}
    return table


def test_the_submissions_were_clean(graded):
    assert graded["findings"] == []


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: f"{a.student}-{a.stopped_by}")
def test_an_attack_scores_zero_on_exactly_its_test(scores, attack):
    for lesson in _lessons_of(attack.student):
        tests = _autograded(lesson)
        want = {g: 0 if g == attack.test else p for g, p in tests.items()}
        assert scores[attack.student, lesson] == want, lesson


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: f"{a.student}-{a.stopped_by}")
def test_the_instructor_gets_one_note_per_attack(graded, attack):
    if attack.stopped_by == "hidden test":  # an honest-looking wrong answer: no note
        return
    lesson = next(x for x in LESSONS if x[:2] == attack.answer[:2])
    mine = [n for n in graded["notes"] if n.startswith(f"student {attack.student},")]
    assert len(mine) == 1, mine
    assert f"submitted/{attack.student}/{lesson}/{lesson}.ipynb" in mine[0]
    assert f"cell {attack.answer}" in mine[0]


def test_nothing_outside_a_students_folder_changed(graded):
    assert graded["submitted_after"] == graded["submitted_before"]
    assert not list(graded["course"].rglob("planted.txt"))


@pytest.mark.parametrize("lesson", LESSONS)
def test_solutions_get_full_marks(scores, lesson):
    assert scores["ada", lesson] == _autograded(lesson)


@pytest.mark.parametrize("lesson", LESSONS)
def test_untouched_release_gets_zero_and_every_test_a_verdict(graded, scores, lesson):
    assert scores["ben", lesson] == dict.fromkeys(_autograded(lesson), 0)
    nb = nbformat.read(graded["course"] / "autograded" / "ben" / lesson / f"{lesson}.ipynb",
                       as_version=4)
    tests = [c for c in nb.cells if _grade_id(c) in _autograded(lesson)]
    assert len(tests) == len(_autograded(lesson))
    for cell in tests:  # a stub neither hangs nor stops the grader: each test has its verdict
        assert [o.output_type for o in cell.outputs] == ["error"], _grade_id(cell)
        assert "NotImplementedError" in cell.outputs[0].evalue, cell.outputs[0].evalue


@pytest.mark.parametrize("lesson", LESSONS)
def test_slips_lose_exactly_their_points(scores, lesson):
    failing = {t for slip in SLIPS[lesson] for t in slip.failing_tests}
    tests = _autograded(lesson)
    assert failing and failing <= set(tests)
    assert scores["cy", lesson] == {g: 0 if g in failing else p for g, p in tests.items()}


@pytest.mark.parametrize("lesson", LESSONS)
def test_feedback_shows_the_checks_message(graded, lesson):
    page = graded["course"] / "feedback" / "cy" / lesson / f"{lesson}.html"
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
    for slip in SLIPS[lesson]:
        assert slip.message in text, f"{lesson}: {slip.message!r} not in {page}"
    assert "Score:" in text or "score" in text.lower()


def test_no_feedback_page_holds_a_hidden_test(graded):
    pages = sorted((graded["course"] / "feedback").rglob("*.html"))
    assert len(pages) == len(LESSONS) * len(STUDENTS) + sum(
        len(_lessons_of(s)) for s in ATTACKERS)
    for page in pages:
        lesson = page.parent.name
        text = html.unescape(page.read_text())
        assert "HIDDEN TESTS" not in text, page
        lines = {line.strip() for line in text.splitlines()}
        leaked = hidden_test_lines(_solutions(lesson), lesson) & lines
        assert not leaked, f"{page}: {sorted(leaked)}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_no_hidden_test_can_be_read_in_a_release(graded, lesson):
    hidden = hidden_test_lines(_solutions(lesson), lesson)
    name = f"{lesson}.ipynb"
    copies = [graded["course"] / "release" / lesson / name,
              graded["root"] / "exchange" / grading.COURSE_ID / "outbound" / lesson / name,
              *(graded["root"] / "home" / s / lesson / name for s in ("ben",))]
    for path in copies:
        text = path.read_text()
        assert "HIDDEN TESTS" not in text, path
        lines = {line.strip() for c in nbformat.reads(text, 4).cells
                 for line in c.source.splitlines()}
        assert not hidden & lines, f"{path}: {sorted(hidden & lines)}"
    # ... but the grader ran them: they are back in the graded copy
    graded_text = (graded["course"] / "autograded" / "ada" / lesson / name).read_text()
    graded_lines = {line.strip() for c in nbformat.reads(graded_text, 4).cells
                    for line in c.source.splitlines()}
    assert hidden <= graded_lines


def test_grades_export_one_row_per_student_and_lesson(graded):
    with open(graded["grades"], newline="") as f:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    assert set(rows) >= {(s, lesson) for s in STUDENTS for lesson in LESSONS}
    for lesson in LESSONS:
        tests = _autograded(lesson)
        lost = sum(tests[t] for t in {t for slip in SLIPS[lesson] for t in slip.failing_tests})
        full = sum(tests.values())
        assert float(rows["ada", lesson]["score"]) == full  # written answers: not graded yet
        assert float(rows["ben", lesson]["score"]) == 0
        assert float(rows["cy", lesson]["score"]) == full - lost
