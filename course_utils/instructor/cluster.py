"""Job arrays: N work items, one command template, one task per item, on Slurm or LSF.

:func:`write_array` writes a folder that holds everything about one array::

    items.txt             one work item per line; task t reads line t + 1
    NAME.slurm.sh         #SBATCH --array=0-(N-1)
    NAME.lsf.sh           #BSUB -J "NAME[1-N]", the same body (course_utils.instructor.batch)
    logs/task-T.log       the command's output, every attempt of task T appended
    logs/NAME_*.out       what the scheduler says about a task (a kill, a time limit)
    status/task-T         the exit status of task T's last finished attempt

A task that ends writes its exit status (atomically, by a rename); one that is killed
(``scancel``, a time limit) or dies with its node writes none, or, when the signal ended its
command a moment before the script, the command's status (143), which the scheduler's
state then overrules. :func:`report` needs only the status files, so it needs neither
Slurm's accounting database (``sacct`` without ``slurmdbd`` knows nothing) nor the
scheduler's memory of finished jobs, and it works the same for LSF. Running again only the
tasks it lists (:attr:`ArrayReport.rerun`) completes the array.

On Slurm :func:`run_slurm` does it all: ``sbatch --parsable``, polling ``squeue`` until no
task is left, then the report, with each unfinished task's state from ``scontrol`` while
Slurm still remembers it (``MinJobAge``, 300 s by default).
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.instructor.batch import Resources, check_name, job_script, task_ranges

__all__ = ["ArrayJob", "ArrayReport", "report", "run_slurm", "slurm_states", "submit_slurm",
           "wait_slurm", "write_array"]

PLACEHOLDERS = ("{item}", "{task}")


@dataclass(frozen=True)
class ArrayJob:
    """An array written by :func:`write_array`: its folder, name and number of tasks."""

    folder: Path
    name: str
    size: int

    def script(self, scheduler: str) -> Path:
        return self.folder / f"{self.name}.{scheduler}.sh"

    def log(self, task: int) -> Path:
        return self.folder / "logs" / f"task-{task}.log"


@dataclass
class ArrayReport:
    """Which tasks of an array finished with status 0 and why the others did not.

    ``failed`` maps a task to its reason: ``exit status 3`` (it ended, badly), or, without a
    status file, the scheduler's state (``CANCELLED``, ``TIMEOUT``...) or ``no status``.
    """

    size: int
    ok: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    script: str = "SCRIPT"  # the Slurm script, for the rerun line

    @property
    def rerun(self) -> list[int]:
        """The tasks to run again: all but the ok ones."""
        return sorted(self.failed)

    def __str__(self) -> str:
        lines = [f"{len(self.ok)}/{self.size} tasks ok"]
        lines += [f"task {t}: {why}" for t, why in sorted(self.failed.items())]
        if self.failed:
            lines.append(f"rerun: sbatch --array={task_ranges(self.rerun)} {self.script}")
        return "\n".join(lines)


def _shell_word(arg: str) -> str:
    """``arg`` as one shell word, with ``{item}`` and ``{task}`` expanded at run time."""
    out, rest = [], arg
    while rest:
        cuts = [(rest.find(p), p) for p in PLACEHOLDERS if p in rest]
        if not cuts:
            out.append(shlex.quote(rest))
            break
        at, placeholder = min(cuts)
        if at:
            out.append(shlex.quote(rest[:at]))
        out.append('"$COURSE_ITEM"' if placeholder == "{item}" else '"$COURSE_TASK"')
        rest = rest[at + len(placeholder):]
    return "".join(out) or "''"


def write_array(folder, name: str, items, command, resources: Resources | None = None, *,
                max_parallel: int | None = None) -> ArrayJob:
    """Write the Slurm and LSF scripts of an array that runs ``command`` once per item.

    Args:
        folder: where the array's files go (created). Written again with the same items, it
            keeps the status of the tasks that finished, so that :func:`report` still lists
            only the missing ones; with other items, the old status files are removed.
        items: the work items, strings without line breaks, e.g. submission ids.
        command: the command as a list of arguments; ``{item}`` and ``{task}`` in them
            become the task's item and its number (0-based). Both are also in the task's
            environment, as ``COURSE_ITEM`` and ``COURSE_TASK``.
        resources: what each task asks for (default: one core, the queue's defaults).
        max_parallel: run at most this many tasks at once.

    Raises:
        ValueError: no items, an item with a line break or empty, an empty command.
    """
    check_name(name)
    items = [str(item) for item in items]
    if not items:
        raise ValueError("an array needs at least one item")
    bad = [item for item in items if not item.strip() or "\n" in item or "\r" in item]
    if bad:
        raise ValueError(f"items must be non-empty single lines, got {bad[0]!r}")
    if isinstance(command, str) or not command or not all(isinstance(a, str) for a in command):
        raise ValueError(f"command must be a non-empty list of strings, got {command!r}")
    folder = Path(folder).resolve()
    job = ArrayJob(folder, name, len(items))
    for sub in ("logs", "status"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    listing = "".join(f"{item}\n" for item in items)
    items_file = folder / "items.txt"
    if not items_file.exists() or items_file.read_text() != listing:
        for old in (folder / "status").glob("task-*"):
            old.unlink()
        items_file.write_text(listing)
    q = shlex.quote
    status = f"{q(str(folder / 'status'))}/task-$COURSE_TASK"
    body = f"""\
COURSE_ITEM=$(sed -n "$((COURSE_TASK + 1))p" {q(str(folder / 'items.txt'))})
export COURSE_ITEM
exec >>{q(str(folder / 'logs'))}/task-"$COURSE_TASK".log 2>&1
rm -f {status}
# Stopped by the scheduler (scancel, a time limit): no status, the task did not finish.
trap 'echo "== task $COURSE_TASK: stopped by a signal"; exit 143' TERM INT
echo "== task $COURSE_TASK ($COURSE_ITEM) on $(hostname), $(date -u '+%F %T UTC')"
set +e
{" ".join(_shell_word(arg) for arg in command)}
code=$?
set -e
echo "== task $COURSE_TASK: exit status $code"
echo "$code" > {status}.tmp && mv {status}.tmp {status}
exit "$code"
"""
    about = f"Job array {name}: {len(items)} tasks, one per line of items.txt.\n  {{submit}}"
    for scheduler in ("slurm", "lsf"):
        path = job.script(scheduler)
        path.write_text(job_script(scheduler, name, body, resources, about=about,
                                   log=str(folder / "logs" / name), tasks=len(items),
                                   max_parallel=max_parallel))
        path.chmod(0o755)
    return job


_ENDED_ALONE = ("COMPLETED", "FAILED")  # Slurm's states of a task that ended by itself


def report(job: ArrayJob, states: dict[int, str] | None = None) -> ArrayReport:
    """The array's outcome from its status files.

    ``states`` (task -> scheduler state, e.g. from :func:`slurm_states`) names why a task
    did not finish: a state other than COMPLETED or FAILED (CANCELLED, TIMEOUT, NODE_FAIL,
    still RUNNING...) is the reason even where a status was written, and it names why a
    task left none.
    """
    result = ArrayReport(job.size, script=str(job.script("slurm")))
    states = states or {}
    for task in range(job.size):
        path = job.folder / "status" / f"task-{task}"
        text = path.read_text().strip() if path.exists() else ""
        state = states.get(task)
        if text == "0":
            result.ok.append(task)
        elif state and state not in _ENDED_ALONE:
            # Stopped by the scheduler; the script may still have written the status
            # of its command, which the same signal had ended a moment before.
            result.failed[task] = state
        elif text:
            result.failed[task] = f"exit status {text}"
        else:
            result.failed[task] = state or "no status (killed, lost or never ran)"
    return result


# ---- Slurm --------------------------------------------------------------------------------

def _slurm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}")
    return result


def submit_slurm(job: ArrayJob, tasks=None, options=()) -> str:
    """Submit the array (only ``tasks``, when given) with ``sbatch --parsable``, from the
    current folder; ``options`` go to sbatch before the script. Returns the job id."""
    spec = [f"--array={task_ranges(tasks)}"] if tasks is not None else []
    out = _slurm("sbatch", "--parsable", *spec, *options, str(job.script("slurm")))
    return out.stdout.strip().split(";")[0]  # "id" or "id;cluster"


def wait_slurm(job_id: str, timeout: float = 3600, poll: float = 1.0) -> None:
    """Return when Slurm lists no pending or running task of ``job_id``.

    Raises:
        TimeoutError: after ``timeout`` seconds, with what is still queued.
    """
    deadline = time.monotonic() + timeout
    while True:
        queued = _slurm("squeue", "-h", "-r", "-j", job_id, "-o", "%i %T", check=False)
        # A finished job drops out of the list; once purged, squeue calls its id invalid.
        if queued.returncode and "Invalid job id" not in queued.stderr:
            raise RuntimeError(f"squeue failed ({queued.returncode}): {queued.stderr.strip()}")
        if not queued.stdout.strip():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still queued after {timeout} s:\n{queued.stdout}")
        time.sleep(poll)


def slurm_states(job_id: str) -> dict[int, str]:
    """Task -> state (``COMPLETED``, ``FAILED``, ``CANCELLED``...) of an array that Slurm
    still remembers; empty once it has forgotten it."""
    out = _slurm("scontrol", "-o", "show", "job", job_id, check=False).stdout
    states = {}
    for line in out.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        task = fields.get("ArrayTaskId", "")
        if task.isdigit():
            states[int(task)] = fields.get("JobState", "UNKNOWN")
    return states


def run_slurm(job: ArrayJob, tasks=None, options=(), timeout: float = 3600,
              poll: float = 1.0) -> ArrayReport:
    """Submit the array (or only ``tasks``), wait until it ends, report."""
    job_id = submit_slurm(job, tasks, options)
    wait_slurm(job_id, timeout, poll)
    return report(job, slurm_states(job_id))
