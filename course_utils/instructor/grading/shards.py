"""Grading on a cluster: the readable submissions split into shards, one per task of a
Slurm (or LSF) job array, each graded into ``verdicts/``; ``course.autograde`` then writes
the gradebook from them."""

from __future__ import annotations

import os
import sys

from course_utils.instructor import cluster
from course_utils.instructor.grading import workers
from course_utils.instructor.grading.course import (
    GradingError,
    check_submissions,
    course_folder,
    lessons,
)

__all__ = ["grade_on_slurm", "grade_shard", "write_grading_array"]


def write_grading_array(course, names: list[str] | None, tasks: int, full: bool = False,
                        unsafe: bool = False):
    """Write ``slurm/grade.slurm.sh`` and ``slurm/grade.lsf.sh`` in the course folder: a job
    array of ``tasks`` shards, each ``grade work --shard I/N`` (``cluster.write_array``)."""
    chosen = lessons(names)
    course = course_folder(course)
    if tasks < 1:
        raise GradingError(f"{tasks} tasks: an array needs at least 1")
    command = [sys.executable, "-m", "course_utils", "grade", "work", *chosen, "--course",
               str(course), "--shard", "{item}", *(["--full"] if full else []),
               *(["--unsafe"] if unsafe else [])]
    return cluster.write_array(course / "slurm", "grade",
                               [f"{i}/{tasks}" for i in range(tasks)], command)


def grade_on_slurm(course, names: list[str] | None, tasks: int, full: bool = False,
                   unsafe: bool = False, options=(), timeout: float = 24 * 3600):
    """Grade the readable submissions as a Slurm job array of ``tasks`` shards
    (``grade work --shard I/N`` each, into ``verdicts/``), submitting only the tasks that
    have not finished yet: run it again after a failure and it completes the array.

    Returns:
        ``cluster.ArrayReport`` of the array after this round.
    """
    job = write_grading_array(course, names, tasks, full=full, unsafe=unsafe)
    missing = cluster.report(job).rerun
    if not missing:
        return cluster.report(job)
    return cluster.run_slurm(job, tasks=missing, options=options, timeout=timeout)


def grade_shard(course, names: list[str] | None, index: int, count: int,
                full: bool = False, unsafe: bool = False, jobs: int = 1) -> dict:
    """Grade shard ``index`` of ``count`` of the readable submissions into ``verdicts/``
    (one task of a cluster's job array; ``autograde`` then merges them).

    Refuses, as ``autograde`` does, where bubblewrap cannot make a sandbox (a node without
    user namespaces) unless ``unsafe``: else every submission would be kept as "not graded"
    and a resume would not grade it again."""
    from course_utils.instructor.grading.sandbox import sandbox_available

    chosen = lessons(names)
    course = course_folder(course)
    why = sandbox_available()
    if why and not unsafe:
        raise GradingError(f"refusing to grade shard {index}/{count} on {os.uname().nodename}: "
                           f"{why}. Student code would run without a sandbox; pass --unsafe "
                           f"to grade anyway (only time, memory and process bounds then hold)")
    readable = {name: check_submissions(course, name)[0] for name in chosen}
    mine = workers.shard(workers.jobs_of(course, chosen, readable), index, count)
    return workers.grade_jobs(course, mine, quick=not full, workers=jobs, unsafe=unsafe,
                              progress=False)
