"""The workers' share of the cores, the shards of an array, and the report read from the
workers' verdict files (no sandbox, no notebook runs)."""

from __future__ import annotations

import json

import nbformat
import pytest

from course_utils.instructor.grading import report, workers


@pytest.mark.parametrize(("environ", "expected"), [
    ({"SLURM_CPUS_PER_TASK": "4", "SLURM_CPUS_ON_NODE": "8"}, 4),  # --cpus-per-task first
    ({"SLURM_CPUS_ON_NODE": "1"}, 1),  # an array task's one CPU, on a node of many
    ({"LSB_DJOB_NUMPROC": "3"}, 3),  # LSF's slots
    ({"SLURM_CPUS_PER_TASK": "0", "SLURM_CPUS_ON_NODE": "2"}, 2),  # 0 or junk: the next
    ({"SLURM_CPUS_PER_TASK": "two", "LSB_DJOB_NUMPROC": " 5 "}, 5),
])
def test_cores_are_the_cluster_tasks_share(environ, expected):
    assert workers.cores(environ) == expected


def test_cores_outside_a_cluster_are_the_cpus_it_may_use(monkeypatch):
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {0, 5, 7}, raising=False)
    assert workers.cores({}) == 3


@pytest.mark.parametrize(("index", "count", "expected"), [
    (0, 3, ["a", "d", "g"]), (2, 3, ["c", "f"]), (0, 1, list("abcdefg")), (4, 5, ["e"]),
])
def test_shards_take_every_count_th_job(index, count, expected):
    assert workers.shard(list("abcdefg"), index, count) == expected


@pytest.mark.parametrize(("index", "count"), [(3, 3), (-1, 2), (0, 0)])
def test_a_shard_outside_the_array_is_refused(index, count):
    with pytest.raises(ValueError, match="the index must be in"):
        workers.shard(list("abc"), index, count)


def _course(tmp_path, outcomes: dict[str, dict[str, tuple[bool, str, str | None]]]):
    """A course folder with one lesson ``L`` (tests t1 worth 2, t2 worth 3) and a verdict
    file per student as a worker writes it."""
    source = nbformat.v4.new_notebook()
    for grade_id, points in (("t1", 2), ("t2", 3)):
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": points}
        source.cells.append(cell)
    (tmp_path / "source" / "L").mkdir(parents=True)
    nbformat.write(source, tmp_path / "source" / "L" / "L.ipynb")
    for student, verdicts in outcomes.items():
        folder = tmp_path / "submitted" / student / "L"
        folder.mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(), folder / "L.ipynb")
        job = workers.Job("L", student)
        path = workers.verdict_file(tmp_path, job)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": workers._key(tmp_path, job, True), "verdicts": {
            test: {"passed": p, "message": m, "note": n} for test, (p, m, n) in verdicts.items()}}))
    return tmp_path


OK = (True, "", None)


def test_the_report_table_counts_scores_pass_rates_and_stops(tmp_path):
    course = _course(tmp_path, {
        "a": {"t1": OK, "t2": OK},  # 5
        "b": {"t1": OK, "t2": (False, "AssertionError: wrong\nmore", None)},  # 2
        "c": {"t1": (False, "Not graded: too slow", "time bound"),
              "t2": (False, "AssertionError: wrong", None)},  # 0
    })
    text = report.lesson_report(course, "L", ["a", "b", "c"], quick=True)
    assert text.splitlines()[0] == ("L: 3 submissions, mean 2.3 of 5 autograded points "
                                    "(min 0, quartiles 0 / 2 / 5, max 5)")
    assert "t1" in text and " 67%" in text.splitlines()[2]
    assert text.splitlines()[3].rstrip().endswith("AssertionError: wrong (2x)")
    assert text.splitlines()[-1] == "  stopped: c (t1: time bound)"
    figure = report.plot_lesson(course, "L", ["a", "b", "c"], quick=True)
    assert figure == course / "reports" / "L.png" and figure.stat().st_size > 1000


def test_the_report_skips_what_no_worker_graded(tmp_path):
    course = _course(tmp_path, {"a": {"t1": OK, "t2": OK}})
    (tmp_path / "submitted" / "a" / "L" / "L.ipynb").write_text("{}")  # handed in again
    assert report.lesson_report(course, "L", ["a"], quick=True) == "L: no graded submission"
    assert report.plot_lesson(course, "L", ["a"], quick=True) is None


def test_a_shard_is_not_graded_without_a_sandbox_unless_unsafe(tmp_path, monkeypatch):
    from course_utils.instructor import grading
    from course_utils.instructor.grading import sandbox

    course = grading.init_course(tmp_path / "course")
    monkeypatch.setattr(sandbox, "sandbox_available", lambda: "no user namespaces")
    with pytest.raises(grading.GradingError, match=r"refusing to grade shard 1/3 on .+: no "
                                                   r"user namespaces\. .* --unsafe"):
        grading.grade_shard(course, ["00"], 1, 3)
    assert not (course / "verdicts").exists()  # nothing kept as "not graded"
