"""Batch job scripts for Slurm and LSF from one template.

A job script is the same shell body under either scheduler; only the directive lines
(``#SBATCH`` or ``#BSUB``), the variable naming the submit folder and, for a job array, the
variable naming the task differ. :func:`job_script` renders one from a :class:`Resources`
request, so that the Slurm and the LSF script of a job never drift apart.
``scripts/batch/slurm.sh`` and ``scripts/batch/lsf.sh`` are rendered this way
(:func:`solutions_script`); ``python -m course_utils.instructor.batch`` writes them again.

Array tasks are numbered from 0 under both schedulers: Slurm's ``SLURM_ARRAY_TASK_ID`` runs
``0..N-1`` (``--array=0-N``), LSF's ``LSB_JOBINDEX`` runs ``1..N`` (``-J "name[1-N]"``, LSF
has no index 0) and the script subtracts one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from course_utils.instructor.paths import REPO

__all__ = ["SCHEDULERS", "Resources", "check_name", "job_script", "solutions_script", "task_ranges"]

SCHEDULERS = ("slurm", "lsf")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SUBMIT_DIR = {"slurm": "SLURM_SUBMIT_DIR", "lsf": "LS_SUBCWD"}
# The 0-based task number, in the script's shell.
_TASK = {"slurm": '${SLURM_ARRAY_TASK_ID:?not a Slurm array task}',
         "lsf": '$(( ${LSB_JOBINDEX:?not an LSF array task} - 1 ))'}
_SUBMIT = {"slurm": "sbatch {script}", "lsf": "bsub < {script}"}


@dataclass(frozen=True)
class Resources:
    """What one job (or one array task) asks for.

    Args:
        cpus: CPU cores on one node.
        mem_gb: memory in GB (none: the scheduler's default).
        minutes: wall-clock limit (none: the queue's default).
        gpus: GPUs (Slurm ``--gres=gpu:N``, LSF ``-gpu "num=N:mode=exclusive_process"``).
        queue: Slurm partition or LSF queue (none: the default one).
    """

    cpus: int = 1
    mem_gb: int | None = None
    minutes: int | None = None
    gpus: int = 0
    queue: str | None = None

    def __post_init__(self):
        for name in ("cpus", "mem_gb", "minutes", "gpus"):
            value = getattr(self, name)
            least = 0 if name == "gpus" else 1
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < least):
                raise ValueError(f"Resources.{name} must be an integer >= {least}, "
                                 f"got {value!r}")
        if self.queue is not None and not _NAME.match(self.queue):
            raise ValueError(f"Resources.queue must be a plain name, got {self.queue!r}")


def check_name(name: str) -> str:
    """``name`` if it can name a job (letters, digits, ``_.-``); else ValueError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"job name must be letters, digits and _.-, got {name!r}")
    return name


def task_ranges(tasks) -> str:
    """Task numbers as a scheduler's index list: ``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"``."""
    numbers = sorted(set(tasks))
    if not numbers or any(not isinstance(t, int) or isinstance(t, bool) or t < 0
                          for t in numbers):
        raise ValueError(f"tasks must be integers >= 0, at least one, got {tasks!r}")
    parts, start = [], numbers[0]
    for prev, cur in zip(numbers, numbers[1:] + [None], strict=True):
        if cur != prev + 1:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = cur
    return ",".join(parts)


def _directives(scheduler: str, name: str, res: Resources, log: str,
                tasks: int | None, max_parallel: int | None) -> list[str]:
    limit = f"%{max_parallel}" if max_parallel else ""
    if scheduler == "slurm":
        lines = [f"--job-name={name}"]
        if tasks is not None:
            lines.append(f"--array=0-{tasks - 1}{limit}")
        if res.queue:
            lines.append(f"--partition={res.queue}")
        if res.gpus:
            lines.append(f"--gres=gpu:{res.gpus}")
        lines.append(f"--cpus-per-task={res.cpus}")
        if res.mem_gb:
            lines.append(f"--mem={res.mem_gb}G")
        if res.minutes:
            lines.append(f"--time={res.minutes // 60:02d}:{res.minutes % 60:02d}:00")
        lines.append(f"--output={log}_%A_%a.out" if tasks is not None else f"--output={log}_%j.out")
        return [f"#SBATCH {line}" for line in lines]
    job = f'"{name}[1-{tasks}]{limit}"' if tasks is not None else name
    lines = [f"-J {job}"]
    if res.queue:
        lines.append(f"-q {res.queue}")
    if res.gpus:
        lines.append(f'-gpu "num={res.gpus}:mode=exclusive_process"')
    lines += [f"-n {res.cpus}", '-R "span[hosts=1]"']
    if res.mem_gb:
        lines.append(f'-R "rusage[mem={res.mem_gb}GB]"')
    if res.minutes:
        lines.append(f"-W {res.minutes // 60}:{res.minutes % 60:02d}")
    index = "_%I" if tasks is not None else ""
    lines += [f"-o {log}_%J{index}.out", f"-e {log}_%J{index}.err"]
    return [f"#BSUB {line}" for line in lines]


def job_script(scheduler: str, name: str, body: str, resources: Resources | None = None, *,
               about: str = "", log: str | None = None, tasks: int | None = None,
               max_parallel: int | None = None) -> str:
    """A bash job script for ``scheduler`` ("slurm" or "lsf").

    Args:
        name: the job's name (letters, digits, ``_.-``).
        body: shell lines run in the submit folder, under ``set -euo pipefail``. In an array
            the 0-based task number is in ``$COURSE_TASK``.
        about: comment lines for the top of the script (without ``#``); ``{submit}`` in them
            becomes the submit command.
        log: scheduler log files' prefix (default: ``name``); the job id, the task's index
            and ``.out`` are appended.
        tasks: make it an array of this many tasks.
        max_parallel: run at most this many tasks of the array at once.

    Raises:
        ValueError: on an unknown scheduler, a bad name or a bad number of tasks.
    """
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
    check_name(name)
    resources = resources or Resources()
    for label, value in (("tasks", tasks), ("max_parallel", max_parallel)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{label} must be an integer >= 1, got {value!r}")
    script_name = f"scripts/batch/{scheduler}.sh" if tasks is None else f"{name}.{scheduler}.sh"
    submit = _SUBMIT[scheduler].format(script=script_name)
    comment = [f"# {line}".rstrip() for line in about.replace("{submit}", submit).splitlines()]
    lines = ["#!/usr/bin/env bash", *comment,
             *_directives(scheduler, name, resources, log or name, tasks, max_parallel),
             "set -euo pipefail",
             f'cd "${{{_SUBMIT_DIR[scheduler]}:-$PWD}}"']
    if tasks is not None:
        lines.append(f"COURSE_TASK={_TASK[scheduler]}")
        lines.append("export COURSE_TASK")
    return "\n".join(lines + body.strip("\n").splitlines()) + "\n"


# ---- the solutions series: scripts/batch/{slurm,lsf}.sh ---------------------------------

SOLUTIONS_ABOUT = """\
Run every solution notebook in full mode on a GPU node, then build the book:
  {submit}
Executed notebooks land in notebooks/executed/, the summary table in the job's output file.
Generated by `python -m course_utils.instructor.batch` from course_utils/instructor/batch.py: edit there."""

SOLUTIONS_SLURM_ABOUT = """
Arguments go to `course.sh run` instead (lessons, --full, --out; no book), e.g. lesson 00 in
quick mode on a node without GPUs, overriding this script's GPU, cores and memory:
  sbatch --gres=none --cpus-per-task=2 --mem=2G scripts/batch/slurm.sh 00"""

SOLUTIONS_BODY = """\
if command -v nvidia-smi >/dev/null; then
    nvidia-smi
else
    echo "no nvidia-smi on $(hostname): the lessons run on the CPU"
fi
if [ $# -gt 0 ]; then
    bash scripts/course.sh run "$@"
    exit
fi
bash scripts/course.sh run --full
# The book of this run (notebooks/book/): only when every lesson ran, as set -e ensures.
bash scripts/course.sh book
"""

SOLUTIONS_RESOURCES = {
    "slurm": Resources(cpus=4, mem_gb=8, minutes=120, gpus=1),
    "lsf": Resources(cpus=4, mem_gb=8, minutes=120, gpus=1, queue="gpuv100"),
}


def solutions_script(scheduler: str) -> str:
    """``scripts/batch/<scheduler>.sh``: the solutions series on one GPU node."""
    about = SOLUTIONS_ABOUT
    if scheduler == "slurm":  # `bsub < script` passes no arguments
        about += SOLUTIONS_SLURM_ABOUT
    elif scheduler == "lsf":
        about += "\nAdjust the queue (-q) to your site's GPU queue."
    return job_script(scheduler, "seg-course", SOLUTIONS_BODY,
                      SOLUTIONS_RESOURCES.get(scheduler, Resources()), about=about)


def main() -> int:
    """Write ``scripts/batch/slurm.sh`` and ``lsf.sh`` of this checkout."""
    folder = REPO / "scripts" / "batch"
    for scheduler in SCHEDULERS:
        path = folder / f"{scheduler}.sh"
        path.write_text(solutions_script(scheduler))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
