"""A throwaway one-node Slurm cluster on 127.0.0.1, for tests and benchmarks.

::

    with LocalSlurm(tmp_folder) as cluster:   # munged, slurmctld, slurmd; node idle
        subprocess.run(["sbatch", ...], env=cluster.env)

Everything lives in the folder: its own munge key and socket, ``slurm.conf``, the state and
spool folders, the logs. The daemons listen on free ports and run in the foreground as this
process's children (no systemd), so that several clusters can run side by side and none
outlives :meth:`LocalSlurm.stop`. The node has ``cpus`` CPUs, ``proctrack/linuxproc`` and
``task/none`` (no cgroups), and the memory ``slurmd -C`` finds; jobs run as root.

Needs root and Debian's ``slurm-wlm`` and ``munge`` (``apt-get install slurm-wlm munge``);
:func:`unavailable` says what is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["LocalSlurm", "SlurmUnavailable", "unavailable"]

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo", "scancel")
NODE = "course-node"
_SBIN = "/usr/sbin:/sbin"


class SlurmUnavailable(RuntimeError):
    """Slurm cannot start here; the message says why."""


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=_SBIN)


def unavailable() -> str | None:
    """Why a local Slurm cannot start here, or None when it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "a local Slurm needs root (slurmd runs jobs as their owner)"
    missing = [name for name in DAEMONS + CLIENTS if not _which(name)]
    if missing:
        return (f"no {', '.join(missing)} (install: apt-get install slurm-wlm munge; "
                f"`bash scripts/course.sh test` does it as root)")
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _real_memory_mb() -> int:
    out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True).stdout
    found = re.search(r"RealMemory=(\d+)", out)
    return int(found.group(1)) if found else 1


class LocalSlurm:
    """One controller and one node on 127.0.0.1, configured and kept under ``folder``."""

    def __init__(self, folder, cpus: int = 2):
        if not isinstance(cpus, int) or cpus < 1:
            raise ValueError(f"cpus must be an integer >= 1, got {cpus!r}")
        self.folder = Path(folder).resolve()
        self.cpus = cpus
        self.conf = self.folder / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._procs: dict[str, subprocess.Popen] = {}
        self.start_seconds: float | None = None  # how long start() took

    def __enter__(self) -> LocalSlurm:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.folder / "log" / f"{name}.stderr", "w")
        self._procs[name] = subprocess.Popen(
            [_which(name), *args], stdout=log, stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True)  # a Ctrl-C reaches pytest, which stops them in order
        log.close()

    def _config(self, socket_path: Path) -> str:
        f = self.folder
        return f"""\
ClusterName=course
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={socket_path}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
# Start a batch job at once, not up to 3 s later (the default, for high throughput).
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
StateSaveLocation={f / 'state'}
SlurmdSpoolDir={f / 'spool'}
SlurmctldPidFile={f / 'slurmctld.pid'}
SlurmdPidFile={f / 'slurmd.pid'}
SlurmctldLogFile={f / 'log' / 'slurmctld.log'}
SlurmdLogFile={f / 'log' / 'slurmd.log'}
NodeName={NODE} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_real_memory_mb()} State=UNKNOWN
PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""

    def start(self, timeout: float = 30) -> None:
        """Start munged, slurmctld and slurmd; return once the node is idle.

        Raises:
            SlurmUnavailable: when :func:`unavailable` says so, or the node is not idle
                within ``timeout`` seconds (the message ends with the daemons' logs).
        """
        why = unavailable()
        if why:
            raise SlurmUnavailable(why)
        key_dir, sock_dir = self.folder / "munge-key", self.folder / "munge"
        for sub in ("state", "spool", "log", "munge-key", "munge"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        key_dir.chmod(0o700)
        sock_dir.chmod(0o755)  # clients of every user reach the socket
        key = key_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        sock = sock_dir / "munge.socket"
        self.conf.write_text(self._config(sock))
        started = time.monotonic()
        deadline = started + timeout
        try:
            self._spawn("munged", "--foreground", "--force", f"--key-file={key}",
                        f"--socket={sock}", f"--pid-file={sock_dir / 'munged.pid'}",
                        f"--seed-file={key_dir / 'seed'}",
                        f"--log-file={self.folder / 'log' / 'munged.log'}")
            self._wait(lambda: sock.exists(), deadline, "munged's socket")
            self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
            self._spawn("slurmd", "-D", "-N", NODE, "-f", str(self.conf))
            self._wait(self._idle, deadline, f"node {NODE} idle in sinfo")
            self.start_seconds = time.monotonic() - started
        except SlurmUnavailable:
            self.stop()
            raise

    def _idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-N", "-n", NODE, "-o", "%t"], env=self.env,
                             capture_output=True, text=True).stdout
        return out.strip() == "idle"

    def _wait(self, ready, deadline: float, what: str) -> None:
        while not ready():
            dead = [n for n, p in self._procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else "timed out"
                raise SlurmUnavailable(f"no {what} ({why}):\n{self.logs()}")
            time.sleep(0.1)

    def logs(self, lines: int = 15) -> str:
        """The last lines of each daemon's log (its stderr where it wrote no log)."""
        parts = []
        for path in sorted((self.folder / "log").glob("*")):
            log = path.with_suffix(".log")
            if path.suffix == ".stderr" and log.exists() and log.stat().st_size:
                continue  # slurmctld -D and slurmd -D write both
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            if tail:
                parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self, timeout: float = 20) -> None:
        """Cancel every job, shut the daemons down, wait for them (kill after ``timeout``)."""
        if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--quiet", "--user=root"], env=self.env,
                           capture_output=True)
            deadline = time.monotonic() + timeout / 2
            while time.monotonic() < deadline and subprocess.run(
                    ["squeue", "-h", "-o", "%i"], env=self.env, capture_output=True,
                    text=True).stdout.strip():
                time.sleep(0.2)
            subprocess.run(["scontrol", "shutdown"], env=self.env, capture_output=True)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            if name == "munged" or proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout / 2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
