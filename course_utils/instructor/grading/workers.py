"""Grade many submissions: parallel sandboxed workers, shards for a cluster's job array,
resumable, with a progress bar.

Each readable submission (lesson, student) is one job. A worker grades it in the sandbox
(``sandboxed.grade_notebook``) and writes its verdicts to
``verdicts/<lesson>/<student>.json`` by an atomic rename, keyed by a hash of the source
notebook, the submission and the mode. nbgrader's ``autograde`` then only reads these files
(``nbgrader_steps.GradeInSandbox``): the gradebook has one writer, nbgrader, in one process,
so SQLite never sees two writers or a shared-file-system lock. A job whose file exists with
the right key is done; killing a worker, the grader or a cluster task loses at most the
jobs that were running, and the same command grades only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.instructor.grading.sandbox import DEFAULT_LIMITS, Limits
from course_utils.instructor.grading.sandboxed import Verdict, grade_notebook

__all__ = ["Job", "cached", "cores", "grade_jobs", "jobs_of", "shard", "verdict_file"]

# What a cluster task was given, in the order asked: Slurm's --cpus-per-task, the task's
# CPUs on its node, LSF's slots. (The node's CPU count is not the task's share.)
SCHEDULER_CPUS = ("SLURM_CPUS_PER_TASK", "SLURM_CPUS_ON_NODE", "LSB_DJOB_NUMPROC")


@dataclass(frozen=True, order=True)
class Job:
    lesson: str
    student: str

    def submission(self, course: Path) -> Path:
        return course / "submitted" / self.student / self.lesson / f"{self.lesson}.ipynb"

    def source(self, course: Path) -> Path:
        return course / "source" / self.lesson / f"{self.lesson}.ipynb"


def verdict_file(course, job: Job) -> Path:
    return Path(course) / "verdicts" / job.lesson / f"{job.student}.json"


def _key(course: Path, job: Job, quick: bool) -> str:
    digest = hashlib.sha256(b"quick" if quick else b"full")
    for path in (job.source(course), job.submission(course)):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached(course, job: Job, quick: bool) -> dict[str, Verdict] | None:
    """The job's verdicts if a worker already graded this very submission, else None."""
    course = Path(course)
    try:
        record = json.loads(verdict_file(course, job).read_text())
    except (OSError, ValueError):
        return None
    if record.get("key") != _key(course, job, quick):
        return None
    return {test: Verdict(**v) for test, v in record["verdicts"].items()}


def cores(environ=None) -> int:
    """The cores this process may use: its cluster task's share where the scheduler says,
    else the CPUs it may run on."""
    environ = os.environ if environ is None else environ
    for name in SCHEDULER_CPUS:
        value = environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def grade_job(course, job: Job, *, quick: bool, limits: Limits = DEFAULT_LIMITS,
              unsafe: bool = False, threads: int = 1) -> dict[str, Verdict]:
    """Grade one submission (or take its verdicts from a finished worker) and keep them."""
    course = Path(course)
    done = cached(course, job, quick)
    if done is not None:
        return done
    key = _key(course, job, quick)
    started = time.monotonic()
    verdicts = grade_notebook(nbformat.read(job.source(course), as_version=4),
                              nbformat.read(job.submission(course), as_version=4),
                              quick=quick, limits=limits, unsafe=unsafe, threads=threads)
    path = verdict_file(course, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(json.dumps({"key": key, "seconds": round(time.monotonic() - started, 2),
                                   "verdicts": {t: v.__dict__ for t, v in verdicts.items()}}))
    partial.replace(path)  # atomic: a file is either complete or absent
    return verdicts


def jobs_of(course, lessons: list[str], students: dict[str, list[str]]) -> list[Job]:
    """Every job, in a fixed order (the shards of a job array rely on it)."""
    return sorted(Job(lesson, s) for lesson in lessons for s in students[lesson])


def shard(jobs: list[Job], index: int, count: int) -> list[Job]:
    """The jobs of task ``index`` of ``count``: every ``count``-th, from ``index``."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: the index must be in 0..{count - 1}")
    return jobs[index::count]


def grade_jobs(course, jobs: list[Job], *, quick: bool, workers: int = 1,
               limits: Limits = DEFAULT_LIMITS, unsafe: bool = False, progress: bool = True) -> dict:
    """Grade ``jobs`` with ``workers`` sandboxes at a time, with a progress bar.

    The CPU threads are split among the workers (each gets ``cores() // workers``), so that
    they do not oversubscribe the machine, or a cluster task's share of its node.

    Returns:
        ``{"done": n, "stopped": [(job, test, note)], "seconds": s}``.
    """
    from tqdm.auto import tqdm

    course = Path(course)
    if workers < 1:
        raise ValueError(f"workers={workers}: grade with at least 1 worker")
    threads = max(1, cores() // workers)
    todo = [j for j in jobs if cached(course, j, quick) is None]
    stopped, started = [], time.monotonic()
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="notebook",
               desc="grading", disable=not progress)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(grade_job, course, job, quick=quick, limits=limits,
                               unsafe=unsafe, threads=threads): job for job in todo}
        for future in as_completed(futures):
            job = futures[future]
            for test, verdict in future.result().items():
                if verdict.note:
                    stopped.append((job, test, verdict.note))
            bar.update(1)
            bar.set_postfix(stopped=len({j for j, _, _ in stopped}), left=bar.total - bar.n)
    bar.close()
    return {"done": len(todo), "stopped": stopped, "seconds": time.monotonic() - started}
