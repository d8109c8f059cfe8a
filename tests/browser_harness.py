"""A throwaway JupyterLab server and Debian's Chromium for the browser tests.

``jupyter_lab`` starts the server with every Jupyter directory in a temporary folder and
always stops it and its kernels by PID; ``launch_chromium`` opens ``/usr/bin/chromium``
(``apt-get install chromium``) through Playwright, so ``playwright install`` is never needed.
What happens inside the page is in ``lab_page.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in a container has no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# JupyterLab's news and update checks would reach the internet and pop up toasts that can
# cover the widgets; the throwaway settings directory switches them off.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab: its URL with the token, its process and its log file."""

    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def notebook_url(self, relative: str) -> str:
        return f"{self.url}/lab/tree/{relative}?token={self.token}&reset"

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@contextmanager
def jupyter_lab(root_dir: Path, work_dir: Path, env: dict[str, str | None] | None = None,
                start_timeout: float = 90):
    """Start ``jupyter lab`` on 127.0.0.1 serving ``root_dir``; stop it and its kernels on exit.

    ``env`` adds to the caller's environment (the kernels inherit it); ``None`` removes a name.

    Every Jupyter directory (runtime, settings, workspaces, config, data) is a fresh folder
    under ``work_dir``, so neither the caller's configuration nor their kernelspecs leak in
    and nothing is left behind. The server runs in its own process group; on exit that group
    and every process the server started (kernels run in sessions of their own) are killed
    by PID, also when the body raised.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    dirs = {name: work_dir / name for name in ("runtime", "settings", "workspaces", "config",
                                               "data")}
    for d in dirs.values():
        d.mkdir(exist_ok=True)
    for rel, settings in LAB_SETTINGS.items():
        path = dirs["settings"] / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    token, port = uuid.uuid4().hex, free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    full_env.update(
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--ip=127.0.0.1", f"--port={port}", "--no-browser", "--allow-root",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        "--ServerApp.port_retries=0",
        "--LabApp.news_url=",
    ]
    log = work_dir / "jupyter-lab.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, cwd=root_dir, env=full_env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = LabServer(f"http://127.0.0.1:{port}", token, process, log)
    try:
        _wait_for_server(server, start_timeout)
        yield server
    finally:
        stop_process_tree(process)


def _wait_for_server(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status = f"{server.url}/api/status?token={server.token}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.process.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            with urllib.request.urlopen(status, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def stop_process_tree(process: subprocess.Popen, grace: float = 10) -> None:
    """Kill ``process``, its process group and every descendant (by PID), politely first.

    Kernels are started by jupyter_client in new sessions, so killing the server's group
    alone would orphan them; the descendants are listed before anything is signalled.
    """
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    groups = {process.pid}
    for child in children:
        try:
            groups.add(os.getpgid(child.pid))
        except ProcessLookupError:
            pass
    groups.discard(os.getpgrp())  # never our own group (pytest)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
        for child in children:
            try:
                child.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        _, alive = psutil.wait_procs(children, timeout=grace)
        if not alive:
            return
        children = alive
    process.wait(timeout=grace)


def shutdown_sessions(server: LabServer) -> None:
    """Shut down every kernel session through the REST API (frees the lesson's memory
    before the next notebook starts; the process-tree kill on exit is the backstop)."""
    api = f"{server.url}/api/sessions"
    headers = {"Authorization": f"token {server.token}"}
    with urllib.request.urlopen(urllib.request.Request(api, headers=headers), timeout=10) as r:
        sessions = json.load(r)
    for session in sessions:
        request = urllib.request.Request(f"{api}/{session['id']}", headers=headers,
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


def copy_notebooks(source: Path, target: Path, names: list[str]) -> None:
    """Copy the notebooks ``names`` (relative to ``source``) into ``target``, keeping their
    folders, so that running them in the browser never autosaves outputs into the repo."""
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)


def launch_chromium(playwright, user_data_dir: Path):
    """A persistent Chromium context on a fresh profile, 1400 x 1000 CSS pixels."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1400, "height": 1000},
    )
