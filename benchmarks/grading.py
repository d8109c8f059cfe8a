"""How fast the sandboxed grader is: its overhead, and submissions graded per minute.

    flock /tmp/torch.lock python benchmarks/grading.py                  # both sections
    python benchmarks/grading.py --sections overhead --repeats 3

- ``overhead``: one submission (the solutions) of each lesson graded in the bubblewrap
  sandbox and bare (the same checker process with the same bounds, ``unsafe=True``),
  alternating, median of the repeats: what the isolation costs per graded notebook.
- ``throughput``: a class of ``--class-size`` submissions of lessons 00 and 01 (solutions,
  untouched releases and slips, mixed), graded by ``workers.grade_jobs`` with 1 and with 2
  workers from a cold start: graded notebooks per minute. (A Slurm array's time is printed
  by ``tests/test_grading_cluster.py``, against a ``--jobs 1`` run of the same class.)
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

import nbformat

from course_utils.instructor import authoring
from course_utils.instructor.grading import workers
from course_utils.instructor.grading.sandbox import sandbox_available
from course_utils.instructor.grading.sandboxed import grade_notebook
from course_utils.instructor.paths import SOLUTIONS

SECTIONS = ("overhead", "throughput")


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


def make_class(course: Path, size: int) -> list[workers.Job]:
    """``size`` students handing in lessons 00 and 01: a third solutions, a third the
    untouched exercise, a third with a wrong answer in every task."""
    jobs = []
    for lesson in _lessons(("00", "01")):
        source = nbformat.read(SOLUTIONS / f"{lesson}.ipynb", as_version=4)
        (course / "source" / lesson).mkdir(parents=True, exist_ok=True)
        nbformat.write(source, course / "source" / lesson / f"{lesson}.ipynb")
        for i in range(size):
            student = f"student{i:03d}"
            nb = nbformat.read(SOLUTIONS / f"{lesson}.ipynb", as_version=4)
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if cell.cell_type == "code" and meta.get("solution"):
                    if i % 3 == 1:
                        cell.source = authoring.strip_code_solutions(cell.source)
                    elif i % 3 == 2:
                        cell.source = cell.source.replace("return", "return 0 *", 1)
            folder = course / "submitted" / student / lesson
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / f"{lesson}.ipynb")
            jobs.append(workers.Job(lesson, student))
    return sorted(jobs)


def bench_throughput(args) -> None:
    print(f"{'how':28s} {'notebooks':>9s} {'seconds':>8s} {'per minute':>11s}")
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        course = Path(tmp) / "course"
        jobs = make_class(course, args.class_size)
        for count in args.jobs:
            shutil.rmtree(course / "verdicts", ignore_errors=True)
            done = workers.grade_jobs(course, jobs, quick=True, workers=count, progress=False)
            rate = 60 * done["done"] / done["seconds"]
            print(f"{f'--jobs {count}':28s} {done['done']:9d} {done['seconds']:8.1f} {rate:11.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lessons", nargs="+", default=["00", "01", "03", "06"])
    parser.add_argument("--class-size", type=int, default=15)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    if why := sandbox_available():
        print(f"no sandbox here: {why}", file=sys.stderr)
        return 1
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    for section in args.sections:
        print(f"\n== {section}")
        {"overhead": bench_overhead, "throughput": bench_throughput}[section](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
