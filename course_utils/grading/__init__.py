"""Grading the course with nbgrader: ``course`` does the work, ``cli`` is
``python -m course_utils grade``."""

from course_utils.grading.course import (
    COURSE_ID,
    ClearSolutionsWithHints,
    GradingError,
    autograde,
    check_release,
    check_submissions,
    collect,
    export,
    init_course,
    lessons,
    points_table,
    release,
    release_preprocessors,
)

__all__ = ["COURSE_ID", "ClearSolutionsWithHints", "GradingError", "autograde", "check_release",
           "check_submissions", "collect", "export", "init_course", "lessons", "points_table",
           "release", "release_preprocessors"]
