"""Grade the course with nbgrader: a course folder made from ``notebooks/``, release, collect,
autograde with feedback, grades as CSV.

The solution notebooks are nbgrader source notebooks (``authoring`` writes their metadata),
so this module only arranges nbgrader's own commands around them and checks what nbgrader
does not: that a release equals the exercise students know, and that every submission
parses and keeps its read-only cells (a finding names the student and the file; nothing in
``submitted/`` is ever changed or overwritten).

A course folder::

    nbgrader_config.py      written once by ``init``, then yours to edit
    gradebook.db            nbgrader's database
    source/NN-slug/NN-slug.ipynb    copies of notebooks/solutions/
    release/ submitted/ autograded/ feedback/   nbgrader's folders

``autograde`` never runs a submission in the instructor's process or kernel: nbgrader's
``Execute`` step is replaced by ``nbgrader_steps.GradeInSandbox``, which runs the source
notebook's test cells against the student's answer cells in a bubblewrap sandbox
(``sandboxed``) and writes each verdict into the test cell. Without bubblewrap it refuses
to grade unless told ``unsafe=True``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearSolutions

from course_utils.instructor import authoring
from course_utils.instructor.grading import exchange as shared_exchange
from course_utils.instructor.grading import workers
from course_utils.instructor.grading.sandbox import Limits
from course_utils.instructor.paths import EXERCISES, SOLUTIONS

__all__ = ["COURSE_ID", "ClearSolutionsWithHints", "GradingError", "autograde", "check_release",
           "check_submissions", "collect", "course_folder", "export", "init_course", "lessons",
           "points_table", "release", "release_preprocessors", "summary"]

COURSE_ID = "seg-course"
NEW_IMPORT = "from course_utils.instructor import grading"
OLD_IMPORT = "from course_utils import grading"  # before the grader moved into instructor/
CONFIG = '''\
"""nbgrader's configuration for this course, written by `python -m course_utils grade init`.

Edit freely: `grade init` never overwrites this file.
"""
from course_utils.instructor import grading

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
# The course's steps: the release keeps the stubs with their hints; autograde grades each
# submission in the sandbox (never in this process, never in a kernel of the instructor's);
# feedback shows no hidden test and no script. Keep this line.
grading.configure(c)
# A deleted test cell is put back (and graded) instead of failing the whole notebook.
c.OverwriteCells.add_missing_cells = True
'''


class GradingError(ValueError):
    """Bad input to the grading commands: unknown lesson, missing folder, failed step."""


class ClearSolutionsWithHints(ClearSolutions):
    """nbgrader's ClearSolutions, but code regions get the exercise's stub, which raises
    ``NotImplementedError`` with the cell's hint (``authoring.strip_code_solutions``)."""

    def _replace_solution_region(self, cell, language):
        if cell.cell_type != "code" or authoring.BEGIN not in cell.source:
            return super()._replace_solution_region(cell, language)
        cell.source = authoring.strip_code_solutions(cell.source)
        return True


def release_preprocessors() -> list:
    """nbgrader's ``GenerateAssignment`` preprocessors with ``ClearSolutionsWithHints``."""
    from nbgrader.converters import GenerateAssignment

    default = GenerateAssignment.class_traits()["preprocessors"].default()
    return [ClearSolutionsWithHints if p is ClearSolutions else p for p in default]


def lessons(names: list[str] | None = None) -> list[str]:
    """Assignment names (``02-dice-focal-tv``) for lesson numbers or names; all without."""
    known = [p.stem for p in sorted(SOLUTIONS.glob("[0-9][0-9]-*.ipynb"))]
    if not names:
        return known
    chosen = []
    for name in names:
        match = [k for k in known if k == name or k[:2] == name]
        if not match:
            raise GradingError(f"unknown lesson {name!r}; the lessons are "
                               f"{', '.join(k[:2] for k in known)} ({known[0]}, ...)")
        chosen += match
    return chosen


def _nbgrader(course: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env)
    # nbgrader runs `alembic` (its database migrations) from PATH: this Python's scripts
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise GradingError(f"`nbgrader {' '.join(args)}` failed in {course}:\n"
                           f"{(done.stdout + done.stderr).strip()[-3000:]}")
    return done


def course_folder(course) -> Path:
    """``course`` as a path, after checking that it is a course folder with a current config."""
    course = Path(course)
    if not (course / "nbgrader_config.py").is_file():
        raise GradingError(f"{course} is not a course folder (no nbgrader_config.py); "
                           f"make one with `python -m course_utils grade init {course}`")
    if OLD_IMPORT in (course / "nbgrader_config.py").read_text():
        raise GradingError(f"{course / 'nbgrader_config.py'} imports the grader from where it "
                           f"used to live: replace `{OLD_IMPORT}` with `{NEW_IMPORT}`")
    return course


def init_course(course, exchange=None) -> Path:
    """Make (or refresh) a course folder: config once, ``source/`` from the solutions.

    Args:
        course: the folder; created if missing.
        exchange: nbgrader's exchange folder (default ``<course>/exchange``); on a hub, a
            folder every user can reach, e.g. ``/srv/nbgrader/exchange``.
    """
    course = Path(course).resolve()
    exchange = Path(exchange).resolve() if exchange else course / "exchange"
    config = course / "nbgrader_config.py"
    course.mkdir(parents=True, exist_ok=True)
    if not config.exists():
        config.write_text(CONFIG.format(course_id=COURSE_ID, exchange=str(exchange)))
    if not exchange.exists():
        exchange.mkdir(parents=True)
        exchange.chmod(0o777)  # students write their submissions into it
    for name in lessons():
        target = course / "source" / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOLUTIONS / f"{name}.ipynb", target / f"{name}.ipynb")
    return course


def check_release(course, name: str) -> None:
    """Fail unless the released notebook has the exercise's cells, source for source."""
    released = nbformat.read(Path(course) / "release" / name / f"{name}.ipynb", as_version=4)
    exercise = nbformat.read(EXERCISES / f"{name}.ipynb", as_version=4)
    got = [(c.cell_type, c.source) for c in released.cells]
    want = [(c.cell_type, c.source) for c in exercise.cells]
    if got != want:
        first = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w),
                     min(len(got), len(want)))
        raise GradingError(f"{name}: the release differs from notebooks/exercises/{name}.ipynb "
                           f"at cell {first} ({len(got)} vs {len(want)} cells); rebuild "
                           f"with `python -m course_utils build` and `grade init` again")


def release(course, names: list[str] | None = None) -> list[str]:
    """Generate each lesson's student version, check it, and release it to the exchange."""
    chosen = lessons(names)
    course = course_folder(course)
    for name in chosen:
        _nbgrader(course, "generate_assignment", name, "--force")
        check_release(course, name)
        _nbgrader(course, "release_assignment", name, "--force")
    shared_exchange.seal_inbound(_exchange_root(course), COURSE_ID)
    return chosen


def _exchange_root(course: Path) -> Path:
    """``c.Exchange.root`` as ``init`` wrote it into the config (else nbgrader's default)."""
    found = re.search(r"^c\.Exchange\.root\s*=\s*['\"](.+?)['\"]\s*$",
                      (course / "nbgrader_config.py").read_text(), re.M)
    return Path(found.group(1)) if found else Path("/srv/nbgrader/exchange")


def _graded_cells(nb) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")
            and (c.metadata["nbgrader"].get("locked") or c.metadata["nbgrader"].get("grade"))}


def check_submissions(course, name: str) -> tuple[list[str], list[str]]:
    """Look at every collected submission of a lesson, changing nothing.

    Returns:
        ``(students, findings)``: the students whose notebook parses (these can be graded)
        and one line per problem, naming the student and the file.
    """
    course = course_folder(course)
    released = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
    fixed = _graded_cells(released)
    solution_ids = {c.metadata["nbgrader"]["grade_id"] for c in released.cells
                    if c.metadata.get("nbgrader", {}).get("solution")}
    students, findings = [], []
    for folder in sorted((course / "submitted").glob(f"*/{name}")):
        student, path = folder.parent.name, folder / f"{name}.ipynb"
        where = f"student {student}, {path.relative_to(course)}"
        if not path.is_file():
            findings.append(f"{where}: missing; this student scores 0 for the lesson")
            continue
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # nbformat raises several types for a broken file
            findings.append(f"{where}: not a readable notebook ({type(exc).__name__}: "
                            f"{str(exc)[:200]}); not graded, ask for a new submission")
            continue
        students.append(student)
        got = _graded_cells(nb)
        for grade_id, source in fixed.items():
            if grade_id not in got:
                findings.append(f"{where}: the cell {grade_id!r} was deleted; the grader "
                                f"puts the released version back")
            elif got[grade_id] != source and grade_id not in solution_ids:
                findings.append(f"{where}: the read-only cell {grade_id!r} was edited; the "
                                f"grader uses the released version")
    return students, findings


def collect(course, names: list[str] | None = None) -> list[str]:
    """Copy new submissions from the exchange into ``submitted/`` (never over one already
    collected) and return the findings of ``check_submissions``."""
    chosen = lessons(names)
    course = course_folder(course)
    findings = shared_exchange.quarantine_impostors(_exchange_root(course), COURSE_ID,
                                             course / "quarantine")
    for name in chosen:
        _nbgrader(course, "collect", name)
        findings += check_submissions(course, name)[1]
    return findings


def autograde(course, names: list[str] | None = None, full: bool = False,
              unsafe: bool = False, step_seconds: float = 120.0, jobs: int = 1,
              progress: bool = False, slurm: int = 0, sbatch_options=()) -> list[str]:
    """Autograde every readable submission in the sandbox, write its feedback HTML and
    release it to the exchange.

    Args:
        full: grade with the lessons' full-mode parameters (default: quick mode, as
            ``python -m course_utils run``); the checks are the same in both.
        unsafe: grade without bubblewrap where it is missing (only the time, memory and
            process bounds hold then).
        step_seconds: the wall time one test cell may take.
        jobs: how many submissions are graded at once, each in its own sandbox; the
            gradebook is written afterwards by nbgrader alone (``workers``).
        progress: show a progress bar.
        slurm: grade as a Slurm job array of this many tasks first (``grade_on_slurm``,
            with ``sbatch_options``); the gradebook is then written here, from their
            verdicts. A task that did not finish stops it, saying which.

    Returns:
        The findings of ``check_submissions``, then one note per submission that the
        sandbox or the screen stopped (student, file, cell, reason).
    """
    from course_utils.instructor.grading.sandbox import sandbox_available

    chosen = lessons(names)
    course = course_folder(course)
    if "grading.configure(c)" not in (course / "nbgrader_config.py").read_text():
        raise GradingError(f"{course / 'nbgrader_config.py'} predates the sandboxed grader: "
                           f"add the line `grading.configure(c)` after `c = get_config()` "
                           f"(or move the file away and run `grade init` again)")
    why = sandbox_available()
    if why and not unsafe:
        raise GradingError(f"refusing to grade: {why}. Student code would run without a "
                           f"sandbox; pass --unsafe to grade anyway (only time, memory and "
                           f"process bounds then hold)")
    env = dict(os.environ)
    flags = [f"--GradeInSandbox.quick={not full}", f"--GradeInSandbox.unsafe={unsafe}",
             f"--GradeInSandbox.step_seconds={step_seconds}"]
    findings, readable = [], {}
    for name in chosen:
        readable[name], found = check_submissions(course, name)
        findings += found
    if slurm:
        from course_utils.instructor.grading.shards import grade_on_slurm

        array = grade_on_slurm(course, chosen, slurm, full=full, unsafe=unsafe,
                               options=sbatch_options)
        if array.failed:
            raise GradingError(f"the Slurm array did not finish:\n{array}\nRun the same "
                               f"command again: only the missing tasks are submitted, and "
                               f"they grade only what is missing")
    workers.grade_jobs(course, workers.jobs_of(course, chosen, readable), quick=not full,
                       workers=jobs, limits=Limits(step_seconds=step_seconds),
                       unsafe=unsafe, progress=progress)
    for name in chosen:
        students = readable[name]
        if not students:
            continue
        unreadable = sorted({p.name for p in (course / "submitted").iterdir()} - set(students))
        # one nbgrader call per lesson for all its readable submissions
        skip = [f"--CourseDirectory.student_id_exclude={','.join(unreadable)}"] if unreadable \
            else []
        _nbgrader(course, "autograde", name, "--force", *skip, *flags, env=env)
        _nbgrader(course, "generate_feedback", name, "--force", *skip, env=env)
        # to the exchange, where students fetch it (Assignment List > Fetch Feedback)
        _nbgrader(course, "release_feedback", name, *skip, env=env)
        findings += _sandbox_notes(course, name, students, quick=not full)
    return findings


def _sandbox_notes(course: Path, name: str, students: list[str], quick: bool) -> list[str]:
    from course_utils.instructor.grading.sandboxed import printable

    lines = []
    for student in students:
        verdicts = workers.cached(course, workers.Job(name, student), quick) or {}
        for test, verdict in verdicts.items():
            if verdict.note:
                lines.append(f"student {student}, submitted/{student}/{name}/{name}.ipynb, "
                             f"cell {verdict.answer or test}: {printable(verdict.note, 500)}")
    return lines


def summary(course, names: list[str] | None = None, full: bool = False) -> list[str]:
    """Per lesson: the report's table, and its figure in ``reports/`` (``report``)."""
    from course_utils.instructor.grading import report

    course = course_folder(course)
    lines = []
    for name in lessons(names):
        students = check_submissions(course, name)[0]
        lines.append(report.lesson_report(course, name, students, quick=not full))
        if (figure := report.plot_lesson(course, name, students, quick=not full)) is not None:
            lines.append(f"  figure: {figure}")
    return lines


def export(course, to) -> Path:
    """Write every student's scores per lesson to a CSV file (nbgrader's exporter)."""
    to = Path(to).resolve()
    _nbgrader(course_folder(course), "export", "--to", str(to))
    return to


def points_table() -> list[tuple[str, float, float]]:
    """``(lesson, autograded points, manually graded points)`` from the solution notebooks."""
    rows = []
    for name in lessons():
        points = authoring.lesson_points(nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4))
        rows.append((name, points["autograded"], points["manual"]))
    return rows
