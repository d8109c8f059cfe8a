"""Job arrays and the solutions batch script on a real Slurm: the one-node cluster of the
``slurm_cluster`` fixture (tests/conftest.py, course_utils.instructor.local_slurm), 2 CPUs, no GPU.

Skipped, saying why, where Slurm cannot start: ``bash scripts/course.sh test`` installs
Debian's ``slurm-wlm`` and ``munge`` when run as root.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_utils.instructor import cluster

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slurm

# Task t writes its item's name into out/<item>, after ``sleep`` seconds.
WRITE = 'touch "$1.started"; sleep "$3"; echo "$2" > "$1"'


def write_files(tmp_path, items, sleep: float = 0):
    out = tmp_path / "out"
    out.mkdir()
    command = ["sh", "-c", WRITE, "sh", f"{out}/{{item}}", "{task}", str(sleep)]
    return cluster.write_array(tmp_path / "array", "files", items, command), out


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.1)


def scontrol_field(job_id: str, name: str) -> str:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True,
                         text=True, check=True).stdout
    return re.search(rf"\b{name}=(\S+)", out).group(1)


def test_array_runs_one_task_per_item(slurm_cluster, tmp_path):
    job, out = write_files(tmp_path, ["a", "b", "c"])
    job_id = cluster.submit_slurm(job)
    cluster.wait_slurm(job_id, timeout=120, poll=0.2)
    assert cluster.slurm_states(job_id) == {0: "COMPLETED", 1: "COMPLETED", 2: "COMPLETED"}
    result = cluster.report(job)
    assert (result.ok, result.failed) == ([0, 1, 2], {})
    assert [(out / item).read_text() for item in "abc"] == ["0\n", "1\n", "2\n"]
    for task, item in enumerate("abc"):
        assert f"== task {task} ({item}) on " in job.log(task).read_text()
    scheduler_logs = sorted(p.name for p in (job.folder / "logs").glob("files_*.out"))
    assert scheduler_logs == [f"files_{job_id}_{task}.out" for task in range(3)]


def test_array_task_killed_halfway_is_reported_and_rerun(slurm_cluster, tmp_path):
    """scancel one task while it runs: the report names it, and running only the tasks
    it lists completes the array."""
    job, out = write_files(tmp_path, ["a", "b", "c"], sleep=2)
    job_id = cluster.submit_slurm(job)
    wait_for(out / "b.started")
    subprocess.run(["scancel", f"{job_id}_1"], check=True)
    cluster.wait_slurm(job_id, timeout=120, poll=0.2)
    result = cluster.report(job, cluster.slurm_states(job_id))
    assert result.ok == [0, 2]
    assert result.failed == {1: "CANCELLED"}
    assert sorted(p.name for p in out.iterdir() if ".started" not in p.name) == ["a", "c"]
    assert result.rerun == [1]
    assert str(result).splitlines()[-1] == f"rerun: sbatch --array=1 {job.script('slurm')}"

    again = cluster.run_slurm(job, tasks=result.rerun, timeout=120, poll=0.2)
    assert (again.ok, again.failed) == ([0, 1, 2], {})
    assert (out / "b").read_text() == "1\n"
    assert job.log(1).read_text().count("== task 1 (b) on ") == 2


@pytest.mark.parametrize("options, env, refusal", [
    ([], {}, "Invalid generic resource"),  # --gres=gpu:1, and this node has no GPU
    (["--gres=none"], {}, "Requested node configuration is not available"),  # 4 cores of 2
    (["--gres=none", "--cpus-per-task=1", "--mem=1G"], {}, None),
    (["--cpus-per-task=1", "--mem=1G"], {"SBATCH_GRES": "none"}, None),
])
def test_solutions_script_needs_the_gpu_override_here(slurm_cluster, options, env, refusal):
    test = subprocess.run(["sbatch", "--test-only", *options, "scripts/batch/slurm.sh"],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    assert (test.returncode == 0) == (refusal is None), test.stderr
    assert refusal is None or refusal in test.stderr


@pytest.mark.notebooks  # the caller's environment and cache, as for the other lesson runs
def test_solutions_script_runs_lesson_00(slurm_cluster, tmp_path):
    """scripts/batch/slurm.sh for lesson 00 in quick mode, its GPU request overridden as
    README says, on this machine's virtual environment as it is (COURSE_SETUP=0)."""
    log, executed = tmp_path / "job.out", tmp_path / "executed"
    env = {**os.environ, "COURSE_VENV": sys.prefix, "COURSE_SETUP": "0"}
    submit = subprocess.run(
        ["sbatch", "--parsable", "--gres=none", f"--cpus-per-task={slurm_cluster.cpus}",
         "--mem=2G",
         f"--output={log}", "scripts/batch/slurm.sh", "00", "--out", str(executed)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    job_id = submit.stdout.strip().split(";")[0]
    cluster.wait_slurm(job_id, timeout=600, poll=1)
    text = log.read_text()
    assert scontrol_field(job_id, "JobState") == "COMPLETED", text
    assert re.search(r"^00-setup-and-data\s+ok\s", text, re.M), text
    assert "1/1 ok" in text, text
    assert [p.name for p in executed.glob("*.ipynb")] == ["00-setup-and-data.ipynb"]
