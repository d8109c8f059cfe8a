"""course_utils.instructor.cluster without a scheduler: the array folder, its scripts run by bash as
Slurm and LSF would run a task, and the report read from the status files.

On the real one-node Slurm: tests/test_cluster_slurm.py."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from course_utils.instructor import cluster
from course_utils.instructor.batch import Resources

# Writes "<task> <item>" to out/<item>; exits 3 for the item "bad".
COMMAND = ["sh", "-c", 'echo "$2 $1" > "$3/$1"; [ "$1" != bad ] || exit 3', "sh",
           "{item}", "{task}", "{out}"]


def make(tmp_path, items, **kwargs):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    command = [str(out) if arg == "{out}" else arg for arg in COMMAND]
    return cluster.write_array(tmp_path / "array", "demo", items, command, **kwargs), out


def run_task(job, scheduler: str, task: int, cwd) -> int:
    """Run one task's script with bash, in the environment its scheduler gives it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "LSB_", "LS_SUBCWD"))}
    if scheduler == "slurm":
        env.update(SLURM_ARRAY_TASK_ID=str(task), SLURM_SUBMIT_DIR=str(cwd))
    else:
        env.update(LSB_JOBINDEX=str(task + 1), LS_SUBCWD=str(cwd))
    return subprocess.run(["bash", str(job.script(scheduler))], env=env).returncode


def test_write_array_files(tmp_path):
    job, _ = make(tmp_path, ["s01", "s 02", "s03"], resources=Resources(cpus=2),
                  max_parallel=2)
    assert job == cluster.ArrayJob(tmp_path / "array", "demo", 3)
    assert (job.folder / "items.txt").read_text() == "s01\ns 02\ns03\n"
    slurm = job.script("slurm").read_text().splitlines()
    assert "#SBATCH --array=0-2%2" in slurm and "#SBATCH --cpus-per-task=2" in slurm
    assert '#BSUB -J "demo[1-3]%2"' in job.script("lsf").read_text().splitlines()
    assert (job.folder / "logs").is_dir() and (job.folder / "status").is_dir()
    assert os.access(job.script("slurm"), os.X_OK)


@pytest.mark.parametrize("scheduler", ["slurm", "lsf"])
def test_each_task_runs_its_item(tmp_path, scheduler):
    job, out = make(tmp_path, ["s01", "s 02", "bad"])
    codes = [run_task(job, scheduler, task, tmp_path) for task in range(3)]
    assert codes == [0, 0, 3]
    assert (out / "s01").read_text() == "0 s01\n"
    assert (out / "s 02").read_text() == "1 s 02\n"
    result = cluster.report(job)
    assert result.ok == [0, 1]
    assert result.failed == {2: "exit status 3"}
    assert result.rerun == [2]
    log = job.log(1).read_text()
    assert "== task 1 (s 02)" in log and "== task 1: exit status 0" in log


def write_status(job, statuses):
    for task, text in statuses.items():
        (job.folder / "status" / f"task-{task}").write_text(f"{text}\n")


@pytest.mark.parametrize("status, state, reason", [
    (None, None, "no status (killed, lost or never ran)"),
    (None, "CANCELLED", "CANCELLED"),
    (None, "RUNNING", "RUNNING"),
    ("3", None, "exit status 3"),
    ("3", "FAILED", "exit status 3"),
    ("143", "CANCELLED", "CANCELLED"),  # the command died of scancel's SIGTERM first
    ("137", "TIMEOUT", "TIMEOUT"),
    ("0", None, None),
    ("0", "COMPLETED", None),
])
def test_report_reasons(tmp_path, status, state, reason):
    job, _ = make(tmp_path, ["a"])
    if status is not None:
        write_status(job, {0: status})
    result = cluster.report(job, {0: state} if state else None)
    assert result.ok == ([0] if reason is None else [])
    assert result.failed == ({} if reason is None else {0: reason})


def test_report_text(tmp_path):
    job, _ = make(tmp_path, ["a", "b", "c", "d"])
    write_status(job, {1: 0, 2: 1})
    result = cluster.report(job, {0: "CANCELLED", 1: "COMPLETED", 2: "FAILED"})
    assert result.ok == [1]
    assert result.rerun == [0, 2, 3]
    assert str(result).splitlines() == [
        "1/4 tasks ok", "task 0: CANCELLED", "task 2: exit status 1",
        "task 3: no status (killed, lost or never ran)",
        f"rerun: sbatch --array=0,2-3 {job.script('slurm')}"]
    write_status(job, {0: 0, 2: 0, 3: 0})
    assert str(cluster.report(job)) == "4/4 tasks ok"


def test_rewriting_keeps_status_only_for_the_same_items(tmp_path):
    job, _ = make(tmp_path, ["a", "b"])
    assert run_task(job, "lsf", 0, tmp_path) == 0
    job, _ = make(tmp_path, ["a", "b"])  # the same array again: task 0 stays done
    assert cluster.report(job).ok == [0]
    job, _ = make(tmp_path, ["a", "c"])  # other items: nothing is done
    assert cluster.report(job).ok == []


def test_a_task_rerun_replaces_its_status_and_appends_to_its_log(tmp_path):
    job, out = make(tmp_path, ["bad"])
    assert run_task(job, "slurm", 0, tmp_path) == 3
    (job.folder / "items.txt").write_text("fixed\n")  # as if the input were repaired
    assert run_task(job, "slurm", 0, tmp_path) == 0
    assert cluster.report(job).ok == [0]
    assert job.log(0).read_text().count("== task 0:") == 2


@pytest.mark.parametrize("arg, word", [
    ("plain", "plain"),
    ("{item}", '"$COURSE_ITEM"'),
    ("out/{item}-{task}.txt", 'out/"$COURSE_ITEM"-"$COURSE_TASK".txt'),
    ("a b {item}", "'a b '\"$COURSE_ITEM\""),
    ("it's", "'it'\"'\"'s'"),
    ("", "''"),
])
def test_shell_word(arg, word):
    assert cluster._shell_word(arg) == word


@pytest.mark.parametrize("items, command, message", [
    ([], ["true"], "at least one item"),
    (["a", ""], ["true"], "non-empty single lines"),
    (["a\nb"], ["true"], "non-empty single lines"),
    (["a"], "echo {item}", "non-empty list of strings"),
    (["a"], [], "non-empty list of strings"),
    (["a"], ["echo", 3], "non-empty list of strings"),
])
def test_write_array_rejects(tmp_path, items, command, message):
    with pytest.raises(ValueError, match=message):
        cluster.write_array(tmp_path, "demo", items, command)
    assert not (tmp_path / "items.txt").exists()


def test_write_array_rejects_a_bad_name(tmp_path):
    with pytest.raises(ValueError, match="job name must be"):
        cluster.write_array(tmp_path, "my array", ["a"], ["true"])
    assert not (tmp_path / "items.txt").exists()


def test_a_task_stopped_by_a_signal_leaves_no_status(tmp_path):
    """As scancel or a time limit stops it: SIGTERM to the script and its command."""
    job = cluster.write_array(tmp_path / "array", "demo", ["a"], ["sleep", "30"])
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "0", "SLURM_SUBMIT_DIR": str(tmp_path)}
    task = subprocess.Popen(["bash", str(job.script("slurm"))], env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 10
    while "== task 0 (a)" not in (job.log(0).read_text() if job.log(0).exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(task.pid, signal.SIGTERM)
    assert task.wait(10) == 143
    assert cluster.report(job).failed == {0: "no status (killed, lost or never ran)"}
    assert job.log(0).read_text().endswith("== task 0: stopped by a signal\n")
