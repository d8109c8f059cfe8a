"""Grading a class on the real Slurm of the ``slurm_cluster`` fixture: a job array equals a
sequential run, and a task killed halfway is completed by running the same command again.

The class: 15 students hand in lessons 00 and 01 (30 submissions), in turn the solutions, the untouched
release and the typical slips of ``grading_slips``. The same course folder is graded twice
from the same submissions: ``autograde(jobs=1)`` in this process, and
``autograde(slurm=3)``, whose task 1 is cancelled once it has graded a few submissions.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import nbformat
import pytest
from grading_slips import SLIPS

from course_utils.instructor import authoring, grading
from course_utils.instructor.grading import workers
from course_utils.instructor.grading.sandbox import sandbox_available

pytestmark = [pytest.mark.slurm, pytest.mark.notebooks,
              pytest.mark.skipif(sandbox_available() is not None,
                                 reason=f"no sandbox: {sandbox_available()}")]
LESSONS = grading.lessons(["00", "01"])
STUDENTS = [f"s{i:02d}" for i in range(15)]  # 30 submissions
TASKS = 3


def _handed_in(course, lesson: str, i: int):
    """Student i's notebook: the solutions, the release as it is, or the slips."""
    nb = nbformat.read(course / "release" / lesson / f"{lesson}.ipynb", as_version=4)
    solutions = nbformat.read(authoring.NOTEBOOKS / "solutions" / f"{lesson}.ipynb", 4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solutions.cells
               if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
    slips = {s.solution_id: s for s in SLIPS[lesson]}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id not in answers:
            continue
        if i % 3 == 1:
            continue  # the release as it is
        cell.source = answers[grade_id]
        if i % 3 == 2 and grade_id in slips:
            lines = cell.source.split("\n")
            begin, end = list(authoring._regions(lines, grade_id))[getattr(
                slips[grade_id], "index", 0)]
            cell.source = "\n".join(lines[:begin] + slips[grade_id].region.split("\n")
                                    + lines[end + 1:])
        cell.source = "\n".join(line for line in cell.source.split("\n")
                                if line.strip() not in (authoring.BEGIN, authoring.END))
    return nb


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    course = grading.init_course(root / "sequential", exchange=root / "exchange")
    grading.release(course, LESSONS)
    for lesson in LESSONS:
        for i, student in enumerate(STUDENTS):
            folder = course / "submitted" / student / lesson
            folder.mkdir(parents=True)
            nbformat.write(_handed_in(course, lesson, i), folder / f"{lesson}.ipynb")
            (folder / "timestamp.txt").write_text("2026-12-07 10:00:00.000000 UTC")
            (folder / "submission_secret.txt").write_text(f"secret-{student}-{lesson}")
    shutil.copytree(course, root / "array")
    config = root / "array" / "nbgrader_config.py"  # nothing else names the first folder
    assert str(course) not in config.read_text().replace(str(root / "exchange"), "")
    return root


def _scores(course) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=grading.COURSE_ID) as gb:
        return {(s, lesson): {g.name: g.auto_score for g in
                              gb.find_submission_notebook(lesson, lesson, s).grades
                              if g.auto_score is not None}
                for s in STUDENTS for lesson in LESSONS}


@pytest.fixture(scope="module")
def sequential(classroom):
    started = time.monotonic()
    assert grading.autograde(classroom / "sequential", LESSONS, jobs=1) == []
    return _scores(classroom / "sequential"), time.monotonic() - started


def _array_job_id(timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-n", "grade", "-o", "%F"], capture_output=True,
                             text=True).stdout.split()
        if out:
            return out[0]
        time.sleep(0.2)
    raise AssertionError("the grading array never showed up in squeue")


@pytest.fixture(scope="module")
def on_slurm(classroom, slurm_cluster):
    course = classroom / "array"
    jobs = workers.jobs_of(course, LESSONS, {lesson: STUDENTS for lesson in LESSONS})
    shard1 = workers.shard(jobs, 1, TASKS)
    first = {}

    def grade():
        try:
            grading.autograde(course, LESSONS, slurm=TASKS)
        except grading.GradingError as exc:
            first["error"] = str(exc)

    started = time.monotonic()
    runner = threading.Thread(target=grade)
    runner.start()
    job_id = _array_job_id()
    deadline = time.monotonic() + 300
    while sum(workers.verdict_file(course, j).exists() for j in shard1) < 3:
        assert time.monotonic() < deadline, "task 1 graded nothing in 300 s"
        time.sleep(0.2)
    subprocess.run(["scancel", f"{job_id}_1"], check=True)
    runner.join(timeout=900)
    graded_before_resume = {j for j in shard1 if workers.verdict_file(course, j).exists()}
    findings = grading.autograde(course, LESSONS, slurm=TASKS)  # the same command again
    return {"course": course, "first": first, "findings": findings, "shard1": shard1,
            "before_resume": graded_before_resume, "seconds": time.monotonic() - started}


def test_the_first_round_stops_naming_the_killed_task(on_slurm):
    assert "the Slurm array did not finish" in on_slurm["first"]["error"]
    assert "task 1: CANCELLED" in on_slurm["first"]["error"]
    assert 3 <= len(on_slurm["before_resume"]) < len(on_slurm["shard1"])


def test_the_resume_grades_only_what_was_missing(on_slurm):
    log = (on_slurm["course"] / "slurm" / "logs" / "task-1.log").read_text()
    resumed = log.rsplit("== task 1 (", 1)[1]
    missing = len(on_slurm["shard1"]) - len(on_slurm["before_resume"])
    assert f"graded {missing} submission(s)" in resumed, resumed[-500:]
    for task in (0, 2):  # the finished tasks ran once
        assert (on_slurm["course"] / "slurm" / "logs" / f"task-{task}.log").read_text(
        ).count(f"== task {task} ") == 1


def test_the_array_grades_equal_the_sequential_ones(sequential, on_slurm):
    scores, seconds = sequential
    assert on_slurm["findings"] == []
    assert _scores(on_slurm["course"]) == scores
    per_student = {s: sum(sum(scores[s, lesson].values()) for lesson in LESSONS)
                   for s in STUDENTS}
    assert len(set(per_student.values())) == 3  # solutions, releases and slips differ
    print(f"sequential {seconds:.0f} s, Slurm array of {TASKS} with a kill and a resume "
          f"{on_slurm['seconds']:.0f} s, {len(STUDENTS) * len(LESSONS)} notebooks")


def _test_cells(course, lesson) -> int:
    """The autograded test cells of the lesson's source notebook (one verdict each)."""
    notebook = nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    return sum(cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade", False)
               and not cell.metadata["nbgrader"].get("solution", False)
               for cell in notebook.cells)


def test_no_submission_is_lost_or_graded_twice(on_slurm):
    course = on_slurm["course"]
    files = sorted((course / "verdicts").rglob("*.json"))
    assert len(files) == len(STUDENTS) * len(LESSONS)
    for lesson in LESSONS:
        tests = _test_cells(course, lesson)
        assert tests >= 2
        for student in STUDENTS:
            verdicts = workers.cached(course, workers.Job(lesson, student), quick=True)
            assert verdicts and len(verdicts) == tests, (lesson, student, sorted(verdicts))
