"""The course's steps inside nbgrader's own commands, installed by ``configure(c)`` in
``nbgrader_config.py``.

- ``autograde`` runs ``GradeInSandbox`` in place of nbgrader's ``Execute``: no kernel runs
  the submission in the grader's process; each test cell gets the sandbox's verdict (from
  the workers' ``verdicts/`` files, or graded on the spot) as its output; an error output
  scores 0, as in nbgrader.
- ``generate_feedback`` strips the hidden tests from the page (their result and message
  stay) and sanitises the HTML of the student's markdown and outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float

from course_utils.instructor import authoring
from course_utils.instructor.grading.sandbox import GIB, Limits
from course_utils.instructor.grading.workers import Job, grade_job

__all__ = ["GradeInSandbox", "StripHiddenTests", "configure"]


class GradeInSandbox(NbGraderPreprocessor):
    """Grade the notebook's test cells in the sandbox and write each verdict as its output."""

    quick = Bool(False, help="COURSE_QUICK=1 in the grading process").tag(config=True)
    unsafe = Bool(False, help="run without bubblewrap (the instructor said so)").tag(config=True)
    memory_gib = Float(4.0, help="data memory of the grading process, GiB").tag(config=True)
    step_seconds = Float(120.0, help="wall time of one test cell, seconds").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        course = Path.cwd()  # nbgrader runs in the course folder
        limits = Limits(step_seconds=self.step_seconds,
                        memory_bytes=int(self.memory_gib * GIB))
        # the workers' verdicts on the submitted file, or graded now (the same answers)
        verdicts = grade_job(course, Job(info["assignment"], info["student"]),
                             quick=self.quick, limits=limits, unsafe=self.unsafe)
        for cell in nb.cells:
            verdict = verdicts.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
            if cell.cell_type == "code" and verdict is not None:
                cell.outputs = [_output(verdict)]
        return nb, resources


def _output(verdict):
    if verdict.passed:
        return nbformat.v4.new_output("stream", name="stdout",
                                      text=verdict.message or "✔ passed\n")
    return nbformat.v4.new_output("error", ename="CheckFailed", evalue=verdict.message,
                                  traceback=[f"CheckFailed: {verdict.message}"])


class StripHiddenTests(NbGraderPreprocessor):
    """Remove the hidden tests' source from a notebook shown to the student (enabled by
    default, as nbgrader's own steps: nbconvert's would be off)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and authoring.HIDDEN_BEGIN in cell.source:
            cell.source = authoring.strip_hidden_tests(cell.source, f"cell {index}")
        return cell, resources


def configure(c) -> None:
    """Set nbgrader's configuration ``c`` for this course (called by nbgrader_config.py)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearSolutions,
        GetGrades,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    from course_utils.instructor.grading.course import ClearSolutionsWithHints

    default = GenerateAssignment.class_traits()["preprocessors"].default()
    c.GenerateAssignment.preprocessors = [ClearSolutionsWithHints if p is ClearSolutions else p
                                          for p in default]
    c.Autograde.autograde_preprocessors = [GradeInSandbox, IgnorePattern,
                                           ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties,
                                           CheckCellMetadata]
    c.GenerateFeedback.preprocessors = [StripHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
    c.HTMLExporter.sanitize_html = True  # a student's markdown or output carries no script
