"""course_utils.instructor.local_slurm: when a one-node Slurm can start, and what happens when it
cannot. (It starting and running jobs: tests/test_cluster_slurm.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_utils.instructor import local_slurm
from course_utils.instructor.local_slurm import LocalSlurm, SlurmUnavailable


@pytest.mark.parametrize("euid, missing, reason", [
    (0, set(), None),
    (1000, set(), "needs root"),
    (0, {"munged"}, "no munged (install: apt-get install slurm-wlm munge"),
    (0, {"slurmd", "sbatch"}, "no slurmd, sbatch (install"),
    (1000, {"munged"}, "needs root"),
])
def test_unavailable(monkeypatch, euid, missing, reason):
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    monkeypatch.setattr(local_slurm, "_which",
                        lambda name: None if name in missing else f"/usr/bin/{name}")
    why = local_slurm.unavailable()
    assert why is None if reason is None else reason in why


def test_start_says_why_it_cannot(monkeypatch, tmp_path):
    monkeypatch.setattr(local_slurm, "unavailable", lambda: "no slurmd (install: ...)")
    with pytest.raises(SlurmUnavailable, match=r"^no slurmd \(install"):
        LocalSlurm(tmp_path).start()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cpus", [0, -1, 1.5, "2"])
def test_rejects_cpus(tmp_path, cpus):
    with pytest.raises(ValueError, match="cpus must be an integer >= 1"):
        LocalSlurm(tmp_path, cpus=cpus)


def processes_under(folder: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in text:
            found.append(text)
    return found


@pytest.mark.slurm
def test_a_node_that_never_gets_idle_stops_everything(tmp_path):
    """More CPUs than the machine has: slurmctld drains the node (Low CPUs), start()
    gives up after its timeout, says why with the daemons' logs, and leaves nothing."""
    if local_slurm.unavailable():
        pytest.skip(f"no local Slurm: {local_slurm.unavailable()}")
    cluster = LocalSlurm(tmp_path, cpus=(os.cpu_count() or 1) + 1)
    with pytest.raises(SlurmUnavailable, match="no node course-node idle in sinfo") as info:
        cluster.start(timeout=4)
    assert "Low CPUs" in str(info.value)
    assert "--- slurmctld.log" in str(info.value) and "slurmctld.stderr" not in str(info.value)
    assert processes_under(tmp_path) == []
