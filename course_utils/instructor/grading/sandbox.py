"""Run untrusted code in a bubblewrap sandbox with bounded time, memory, processes and output.

What the sandboxed process sees: the operating system's folders and the Python environment
(read-only), the course package's source (read-only), its own working folder (writable) and
a private ``/tmp``. It does not see the course folder (gradebook, ``source/``, ``release/``,
``submitted/``, ``feedback/``, the exchange), the repository's notebooks and tests, or
anyone's home. It has no network, its own process tree and no capabilities.

Bounds: wall time (the caller's per-step deadline), CPU seconds, data memory
(``RLIMIT_DATA``: the heap and anonymous mappings, which is what a tensor allocation
takes; CUDA's virtual reservations are not data), processes (a pids cgroup when the grader
runs as root, who is exempt from ``RLIMIT_NPROC``; ``RLIMIT_NPROC`` otherwise), the size of a
written file, and what it prints (the process is killed past ``output_bytes``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Limits", "Outcome", "SandboxError", "bwrap_command", "run_sandboxed",
           "sandbox_available"]

PACKAGE = Path(__file__).resolve().parents[2]  # course_utils/ (the whole package), bound read-only
GIB = 1024**3
RESULT_FD_ENV = "COURSE_RESULT_FD"


class SandboxError(RuntimeError):
    """The sandbox cannot run here (no bubblewrap, no user namespaces)."""


@dataclass(frozen=True)
class Limits:
    """Bounds for one sandboxed process (the defaults suit one lesson's checks)."""

    step_seconds: float = 120.0  # wall time of one graded test (or of the whole run)
    cpu_seconds: int = 1800
    memory_bytes: int = 4 * GIB
    processes: int = 64
    output_bytes: int = 1024**2
    file_bytes: int = 64 * 1024**2


DEFAULT_LIMITS = Limits()


@dataclass
class Outcome:
    """What came back: the exit status, the result lines, and why it was stopped if it was."""

    returncode: int | None
    lines: list[str] = field(default_factory=list)  # written to the result channel
    output: str = ""  # stdout and stderr, cut at Limits.output_bytes
    stopped: str | None = None  # "time", "output" or None
    running: str | None = None  # the step that was running when it was stopped


def sandbox_available() -> str | None:
    """None when bubblewrap can make a sandbox here, else a sentence saying why not."""
    if shutil.which("bwrap") is None:
        return ("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap; "
                "`bash scripts/course.sh setup` does it as root)")
    probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True)
    if probe.returncode:
        return f"bubblewrap cannot make a sandbox here: {probe.stderr.strip()[:300]}"
    return None


def _python_roots() -> list[str]:
    """The folders this Python needs: its installation, the venv, and site-packages."""
    roots = {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.realpath(sys.executable)}
    roots |= {p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p}
    return sorted(roots)


def gpu_devices() -> list[str]:
    """The NVIDIA device nodes to pass through (none on a machine without a GPU)."""
    return sorted(glob.glob("/dev/nvidia*"))


def bwrap_command(workdir, argv: list[str], env: dict[str, str],
                  devices: list[str] | None = None) -> list[str]:
    """The bubblewrap command line that runs ``argv`` in ``workdir``, isolated as above."""
    workdir = str(Path(workdir).resolve())
    # /tmp first: an empty one of its own, under the binds (a checkout or venv may live in /tmp)
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
           "--cap-drop", "ALL", "--clearenv", "--tmpfs", "/tmp"]
    for system in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"):
        cmd += ["--ro-bind-try", system, system]
    for root in _python_roots():
        cmd += ["--ro-bind", root, root]
    cmd += ["--ro-bind", str(PACKAGE), str(PACKAGE),
            "--proc", "/proc", "--dev", "/dev",
            "--bind", workdir, workdir, "--chdir", workdir]
    for device in gpu_devices() if devices is None else devices:
        cmd += ["--dev-bind", device, device]
    for key, value in {"PATH": "/usr/bin:/bin", "HOME": workdir, **env}.items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *argv]


@contextlib.contextmanager
def _pids_cgroup(limit: int):
    """A pids cgroup capped at ``limit`` when we are root (root ignores RLIMIT_NPROC)."""
    path = None
    if os.geteuid() == 0:
        for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
            candidate = Path(base) / f"course-grader-{os.getpid()}-{time.monotonic_ns()}"
            try:
                candidate.mkdir()
                (candidate / "pids.max").write_text(str(limit))
                path = candidate
                break
            except OSError:
                with contextlib.suppress(OSError):
                    candidate.rmdir()
    try:
        yield path
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                for pid in (path / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def _limit_child(limits: Limits, cgroup: Path | None):
    def apply():  # runs in the child between fork and exec
        if cgroup is not None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        else:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def run_sandboxed(argv: list[str], workdir, *, stdin: bytes = b"", env: dict | None = None,
                  limits: Limits = DEFAULT_LIMITS, unsafe: bool = False,
                  step_of=None) -> Outcome:
    """Run ``argv`` in the sandbox and collect the lines it writes to its result channel,
    the file descriptor named by ``$COURSE_RESULT_FD``.

    Args:
        stdin: bytes written to the process's standard input, which is then closed.
        unsafe: run without bubblewrap (only the limits hold); for machines without it,
            when the instructor says so.
        step_of: called with each result line; returns the name of the step that starts
            with it (the per-step wall clock restarts) or None.
    """
    read_fd, write_fd = os.pipe()
    env = {"OMP_NUM_THREADS": "1", **(env or {}), RESULT_FD_ENV: str(write_fd)}
    with _pids_cgroup(limits.processes) as cgroup:
        cmd = argv if unsafe else bwrap_command(workdir, argv, env)
        child_env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), **env}
        proc = subprocess.Popen(cmd, cwd=workdir, env=child_env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=(write_fd,), start_new_session=True,
                                preexec_fn=_limit_child(limits, cgroup))
        os.close(write_fd)
        outcome = Outcome(returncode=None)
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        _collect(proc, read_fd, outcome, limits, step_of)
        os.close(read_fd)
    return outcome


def _collect(proc, read_fd: int, outcome: Outcome, limits: Limits, step_of) -> None:
    out_fd = proc.stdout.fileno()
    buffers, output = {read_fd: b""}, bytearray()
    open_fds, deadline = {read_fd, out_fd}, time.monotonic() + limits.step_seconds
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 0.5)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
                continue
            if fd == out_fd:
                output += chunk[: max(0, limits.output_bytes - len(output))]
                if len(output) >= limits.output_bytes:
                    outcome.stopped = "output"
            else:
                buffers[fd] += chunk
                *lines, buffers[fd] = buffers[fd].split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", "replace")
                    outcome.lines.append(line)
                    if step_of is not None and (step := step_of(line)) is not None:
                        outcome.running = step
                        deadline = time.monotonic() + limits.step_seconds
                    elif step_of is not None:
                        outcome.running = None
                if len(buffers[fd]) > limits.output_bytes:
                    outcome.stopped = "output"
        if outcome.stopped is None and time.monotonic() > deadline:
            outcome.stopped = "time"
        if outcome.stopped:
            _kill(proc)
            break
    outcome.returncode = proc.wait()
    proc.stdout.close()
    outcome.output = output.decode("utf-8", "replace")


def _kill(proc) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()
