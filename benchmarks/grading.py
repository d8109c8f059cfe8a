"""How fast the sandboxed grader is: its overhead, and submissions graded per minute.

    flock /tmp/cpu.lock python benchmarks/grading.py                     # both sections
    python benchmarks/grading.py --sections overhead --repeats 3
    flock /tmp/cpu.lock python benchmarks/grading.py --sections throughput --keep /tmp/b
    python benchmarks/grading.py --smoke                                 # a small class

- ``overhead``: one submission (the solutions) of each lesson graded in the bubblewrap
  sandbox and bare (the same checker process with the same bounds, ``unsafe=True``),
  alternating, median of the repeats: what the isolation costs per graded notebook.
- ``throughput``: the class of ``tests/test_grading_cluster.py`` (``--class-size``
  students handing in lessons 00 and 01: solutions, untouched releases and slips, mixed),
  graded three times from the same submissions into fresh course folders, each by one
  ``autograde`` call as ``grade autograde`` makes it: ``--jobs 1``, ``--jobs 2`` and
  ``--slurm TASKS`` on a one-node local Slurm (``local_slurm.LocalSlurm``; needs root,
  else that row is left out). Prints the graded notebooks per minute of the grading alone
  and of the whole command (with nbgrader's merge into the gradebook), the ratios to
  ``--jobs 1``, and whether all three gradebooks hold the same grades (exit status 1 if
  not). ``--keep DIR`` keeps the course folders (e.g. to look at ``reports/*.png``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import nbformat

from course_utils.instructor import grading
from course_utils.instructor.grading import workers
from course_utils.instructor.grading.sandbox import sandbox_available
from course_utils.instructor.grading.sandboxed import grade_notebook
from course_utils.instructor.paths import SOLUTIONS

SECTIONS = ("overhead", "throughput")
ROOT = Path(__file__).resolve().parents[1]
CLASS_LESSONS = ["00-setup-and-data", "01-encoder-decoder-bce"]


def _lessons(prefixes) -> list[str]:
    return [p.stem for p in sorted(SOLUTIONS.glob("[0-9][0-9]-*.ipynb")) if p.stem[:2] in prefixes]


def bench_overhead(args) -> None:
    print(f"{'lesson':28s} {'tests':>5s} {'sandboxed s':>12s} {'bare s':>8s} {'overhead':>9s}")
    for lesson in _lessons(args.lessons):
        nb = nbformat.read(SOLUTIONS / f"{lesson}.ipynb", as_version=4)
        times = {True: [], False: []}
        for _ in range(args.repeats):
            for unsafe in (False, True):
                started = time.perf_counter()
                verdicts = grade_notebook(nb, nb, quick=True, unsafe=unsafe)
                times[unsafe].append(time.perf_counter() - started)
                assert all(v.passed for v in verdicts.values()), lesson
        boxed, bare = statistics.median(times[False]), statistics.median(times[True])
        print(f"{lesson:28s} {len(verdicts):5d} {boxed:12.2f} {bare:8.2f} "
              f"{boxed - bare:+8.2f}s")


def _handed_in():
    """The cluster test's submissions: student i hands in the solutions, the untouched
    release or the typical slips of ``tests/grading_slips.py`` (i % 3)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_grading_cluster import _handed_in as handed_in

    return handed_in


def make_class(root: Path, students: list[str]) -> Path:
    """A course folder under ``root`` with lessons 00 and 01 released and every student's
    submissions collected, as ``tests/test_grading_cluster.py`` builds its class."""
    handed_in = _handed_in()
    course = grading.init_course(root / "class", exchange=root / "exchange")
    grading.release(course, CLASS_LESSONS)
    for lesson in CLASS_LESSONS:
        for i, student in enumerate(students):
            folder = course / "submitted" / student / lesson
            folder.mkdir(parents=True)
            nbformat.write(handed_in(course, lesson, i), folder / f"{lesson}.ipynb")
            (folder / "timestamp.txt").write_text("2026-12-07 10:00:00.000000 UTC")
            (folder / "submission_secret.txt").write_text(f"secret-{student}-{lesson}")
    return course


def grades(course: Path, students: list[str]) -> dict:
    """(student, lesson) -> {test: autograded score}, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=grading.COURSE_ID) as gb:
        return {(s, lesson): {g.name: g.auto_score for g in
                              gb.find_submission_notebook(lesson, lesson, s).grades
                              if g.auto_score is not None}
                for s in students for lesson in CLASS_LESSONS}


def autograde_timed(course: Path, **how) -> dict:
    """One ``autograde`` call, as ``grade autograde --jobs N`` or ``--slurm N`` makes it:
    the seconds until the workers' verdicts are all there (grading) and after (nbgrader's
    autograde, feedback and release of feedback from those verdicts: the merge)."""
    marks = {}
    grade_jobs = workers.grade_jobs

    def timed(*args, **kwargs):
        done = grade_jobs(*args, **kwargs)
        marks["graded"] = time.perf_counter()
        return done

    started = time.perf_counter()
    with mock.patch.object(workers, "grade_jobs", timed):
        findings = grading.autograde(course, CLASS_LESSONS, **how)
    ended = time.perf_counter()
    return {"grading": marks["graded"] - started, "merge": ended - marks["graded"],
            "total": ended - started, "findings": findings}


def table(rows: list[tuple[str, int, float, float]]) -> list[str]:
    """Rows ``(mode, submissions, grading s, total s)``, the first of them the reference:
    graded notebooks per minute, of the grading alone and of the whole command with the
    merge, and each as a ratio to the first row's."""
    lines = [f"{'mode':10s} {'submissions':>11s} {'grading s':>9s} {'total s':>8s} "
             f"{'grading /min':>12s} {'total /min':>10s} {'ratio grading':>13s} "
             f"{'ratio total':>11s}"]
    first = None
    for mode, count, graded, total in rows:
        rates = (60 * count / graded, 60 * count / total)
        first = first or rates
        lines.append(f"{mode:10s} {count:11d} {graded:9.1f} {total:8.1f} {rates[0]:12.1f} "
                     f"{rates[1]:10.1f} {rates[0] / first[0]:12.2f}x {rates[1] / first[1]:10.2f}x")
    return lines


def bench_throughput(args) -> bool:
    from course_utils.instructor.local_slurm import LocalSlurm, unavailable

    students = [f"s{i:02d}" for i in range(args.class_size)]
    modes = ["jobs 1", "jobs 2", f"slurm {args.tasks}"]
    why_not_slurm = unavailable()
    if why_not_slurm:
        print(f"no local Slurm ({why_not_slurm}): the Slurm row is left out")
        modes = modes[:2]
    root = Path(args.keep or tempfile.mkdtemp(prefix="grading-bench-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        template = make_class(root, students)
        print(f"class: {len(students)} students x {len(CLASS_LESSONS)} lessons "
              f"({', '.join(CLASS_LESSONS)}) = {len(students) * len(CLASS_LESSONS)} "
              f"submissions (solutions, releases, slips), released and collected in "
              f"{time.perf_counter() - started:.1f} s; quick mode")
        rows, seen = [], {}
        for mode in modes:
            course = root / mode.replace(" ", "-")
            shutil.copytree(template, course)  # fresh verdicts/, gradebook, feedback
            if mode.startswith("slurm"):
                with LocalSlurm(root / "slurm-cluster", cpus=min(2, os.cpu_count() or 1)) as cl:
                    print(f"local Slurm: one node, {cl.cpus} CPUs, started in "
                          f"{cl.start_seconds:.1f} s (not counted)")
                    with mock.patch.dict(os.environ, {"SLURM_CONF": str(cl.conf)}):
                        run = autograde_timed(course, slurm=args.tasks)
            else:
                run = autograde_timed(course, jobs=int(mode.split()[1]))
            count = len(list((course / "verdicts").rglob("*.json")))
            rows.append((mode, count, run["grading"], run["total"]))
            seen[mode] = grades(course, students)
            print(f"{mode}: {count} graded, grading {run['grading']:.1f} s, merge "
                  f"{run['merge']:.1f} s, {len(run['findings'])} note(s)")
        print()
        print("\n".join(table(rows)))
        reference = seen[modes[0]]
        same = True
        for mode in modes[1:]:
            same &= seen[mode] == reference
            print(f"grades of {mode} {'equal' if same else 'DIFFER FROM'} those of {modes[0]} "
                  f"({len(reference)} submissions, "
                  f"{sum(len(g) for g in reference.values())} graded tests)")
        totals = sorted({sum(v for g in (reference[s, lesson] for lesson in CLASS_LESSONS)
                             for v in g.values()) for s in students})
        print(f"per-student totals over both lessons: {totals}")
        if len(students) >= 3 and len(totals) < 3:  # else equal grades prove nothing
            print("the solutions, releases and slips should score 3 different totals")
            same = False
        first = root / modes[0].replace(" ", "-")
        print("\n".join(grading.summary(first, CLASS_LESSONS)))
        return same
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _at_least(least: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--repeats", type=_at_least(1), default=3)
    parser.add_argument("--lessons", nargs="+", default=["00", "01", "03", "06"])
    parser.add_argument("--class-size", type=_at_least(1), default=12,
                        help="students in the throughput class (each hands in 2 lessons)")
    parser.add_argument("--tasks", type=_at_least(1), default=2,
                        help="tasks of the Slurm array")
    parser.add_argument("--smoke", action="store_true",
                        help="a smoke run: 1 repeat of lesson 00, a class of 3")
    parser.add_argument("--keep", metavar="DIR", help="keep the throughput's course folders here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.lessons, args.class_size = 1, ["00"], 3
    if why := sandbox_available():
        print(f"no sandbox here: {why}", file=sys.stderr)
        return 1
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    same = True
    for section in args.sections:
        print(f"\n== {section}", flush=True)
        if section == "overhead":
            bench_overhead(args)
        else:
            same = bench_throughput(args)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
