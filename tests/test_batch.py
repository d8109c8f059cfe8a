"""course_utils.instructor.batch: Slurm and LSF job scripts from one template."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.instructor import batch
from course_utils.instructor.batch import Resources

ROOT = Path(__file__).resolve().parents[1]


def directives(script: str, prefix: str) -> list[str]:
    return [line.removeprefix(prefix + " ") for line in script.splitlines()
            if line.startswith(prefix + " ")]


@pytest.mark.parametrize("scheduler", batch.SCHEDULERS)
def test_committed_scripts_are_rendered_from_the_template(scheduler):
    """scripts/batch/*.sh are what `python -m course_utils.instructor.batch` writes."""
    assert (ROOT / "scripts" / "batch" / f"{scheduler}.sh").read_text() == \
        batch.solutions_script(scheduler)


@pytest.mark.parametrize("scheduler, prefix, expected", [
    ("slurm", "#SBATCH", ["--job-name=seg-course", "--gres=gpu:1", "--cpus-per-task=4",
                          "--mem=8G", "--time=02:00:00", "--output=seg-course_%j.out"]),
    ("lsf", "#BSUB", ["-J seg-course", "-q gpuv100", '-gpu "num=1:mode=exclusive_process"',
                      "-n 4", '-R "span[hosts=1]"', '-R "rusage[mem=8GB]"', "-W 2:00",
                      "-o seg-course_%J.out", "-e seg-course_%J.err"]),
])
def test_solutions_script_directives(scheduler, prefix, expected):
    assert directives(batch.solutions_script(scheduler), prefix) == expected


def test_both_schedulers_share_the_body():
    bodies = []
    for scheduler, submit_dir in [("slurm", "SLURM_SUBMIT_DIR"), ("lsf", "LS_SUBCWD")]:
        lines = batch.solutions_script(scheduler).splitlines()
        at = lines.index("set -euo pipefail")
        assert lines[at + 1] == f'cd "${{{submit_dir}:-$PWD}}"'
        bodies.append(lines[at + 2:])
    assert bodies[0] == bodies[1]
    assert bodies[0][-1] == "bash scripts/course.sh book"


@pytest.mark.parametrize("tasks, expected", [
    ([0], "0"),
    ([2, 0, 1], "0-2"),
    ([0, 1, 2, 5, 7, 8], "0-2,5,7-8"),
    ([4, 4, 9], "4,9"),
])
def test_task_ranges(tasks, expected):
    assert batch.task_ranges(tasks) == expected


@pytest.mark.parametrize("tasks", [[], [-1], [1.0], [True], ["1"]])
def test_task_ranges_rejects(tasks):
    with pytest.raises(ValueError, match="tasks must be integers"):
        batch.task_ranges(tasks)


@pytest.mark.parametrize("res, slurm, lsf", [
    (Resources(), ["--cpus-per-task=1"], ["-n 1", '-R "span[hosts=1]"']),
    (Resources(cpus=2, mem_gb=3, minutes=75, gpus=2, queue="gpu-a100"),
     ["--partition=gpu-a100", "--gres=gpu:2", "--cpus-per-task=2", "--mem=3G",
      "--time=01:15:00"],
     ["-q gpu-a100", '-gpu "num=2:mode=exclusive_process"', "-n 2", '-R "span[hosts=1]"',
      '-R "rusage[mem=3GB]"', "-W 1:15"]),
])
def test_resources_as_directives(res, slurm, lsf):
    s = directives(batch.job_script("slurm", "j", "true", res), "#SBATCH")
    assert s == ["--job-name=j", *slurm, "--output=j_%j.out"]
    b = directives(batch.job_script("lsf", "j", "true", res), "#BSUB")
    assert b == ["-J j", *lsf, "-o j_%J.out", "-e j_%J.err"]


def test_array_directives_and_task_number():
    slurm = batch.job_script("slurm", "grade", "echo $COURSE_TASK", tasks=30, max_parallel=4,
                             log="/x/logs/grade")
    lsf = batch.job_script("lsf", "grade", "echo $COURSE_TASK", tasks=30, max_parallel=4,
                           log="/x/logs/grade")
    assert "#SBATCH --array=0-29%4" in slurm.splitlines()
    assert "#SBATCH --output=/x/logs/grade_%A_%a.out" in slurm.splitlines()
    assert '#BSUB -J "grade[1-30]%4"' in lsf.splitlines()
    assert "#BSUB -o /x/logs/grade_%J_%I.out" in lsf.splitlines()
    assert "COURSE_TASK=${SLURM_ARRAY_TASK_ID:?not a Slurm array task}" in slurm
    assert "COURSE_TASK=$(( ${LSB_JOBINDEX:?not an LSF array task} - 1 ))" in lsf


@pytest.mark.parametrize("kwargs, message", [
    ({"cpus": 0}, "cpus must be an integer >= 1"),
    ({"cpus": 1.5}, "cpus must be an integer >= 1"),
    ({"cpus": True}, "cpus must be an integer >= 1"),
    ({"mem_gb": 0}, "mem_gb must be an integer >= 1"),
    ({"minutes": -5}, "minutes must be an integer >= 1"),
    ({"gpus": -1}, "gpus must be an integer >= 0"),
    ({"queue": "gpu; rm -rf /"}, "queue must be a plain name"),
])
def test_resources_reject(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Resources(**kwargs)


@pytest.mark.parametrize("args, kwargs, message", [
    (("pbs", "j", "true"), {}, "scheduler must be one of"),
    (("slurm", "my job", "true"), {}, "job name must be"),
    (("slurm", "", "true"), {}, "job name must be"),
    (("lsf", "j", "true"), {"tasks": 0}, "tasks must be an integer >= 1"),
    (("slurm", "j", "true"), {"tasks": 3, "max_parallel": 0}, "max_parallel must be"),
])
def test_job_script_rejects(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        batch.job_script(*args, **kwargs)
