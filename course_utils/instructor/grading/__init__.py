"""Grading the course with nbgrader: ``course`` does the work, ``cli`` is
``python -m course_utils grade``; a submission is graded in a bubblewrap sandbox
(``sandbox``, ``sandboxed``, ``checker``) after its answers are screened (``screen``), by the
steps ``nbgrader_steps`` puts into nbgrader's commands; ``shards`` grades on a cluster's job
array."""

from course_utils.instructor.grading.course import (
    COURSE_ID,
    ClearSolutionsWithHints,
    GradingError,
    autograde,
    check_release,
    check_submissions,
    collect,
    course_folder,
    export,
    init_course,
    lessons,
    points_table,
    release,
    release_preprocessors,
    summary,
)
from course_utils.instructor.grading.nbgrader_steps import configure
from course_utils.instructor.grading.shards import grade_on_slurm, grade_shard, write_grading_array

__all__ = ["COURSE_ID", "ClearSolutionsWithHints", "GradingError", "autograde", "check_release",
           "check_submissions", "collect", "configure", "course_folder", "export",
           "grade_on_slurm", "grade_shard", "init_course", "lessons", "points_table", "release",
           "release_preprocessors", "summary", "write_grading_array"]
