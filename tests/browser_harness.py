"""A throwaway JupyterLab server or JupyterHub, and Debian's Chromium for the browser tests.

``jupyter_lab`` starts the server with every Jupyter directory in a temporary folder and
always stops it and its kernels by PID; ``jupyter_hub`` does the same for a JupyterHub (dummy
authenticator, one local-process server per user, ``configurable-http-proxy`` from npm);
``hub.user(name)`` is then that user's server at ``/user/NAME``. ``launch_chromium`` opens
``/usr/bin/chromium``
(``apt-get install chromium``) through Playwright, so ``playwright install`` is never needed.
What happens inside the page is in ``lab_page.py``.
"""

from __future__ import annotations

import json
import os
import re
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
    # Every cell in the page: with the default windowing, cells scrolled out of view leave
    # the DOM, and with them the error output a test looks for.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab: its base URL (``http://127.0.0.1:PORT`` or, behind a hub,
    ``.../user/NAME``), its API token, its process and its log file."""

    url: str
    token: str
    process: subprocess.Popen
    log: Path
    # A plain server takes its token in the page's URL; behind a hub the browser logs in
    # and holds a cookie, and the token (a hub service's) is for REST calls only.
    token_in_urls: bool = True

    def notebook_url(self, relative: str) -> str:
        token = f"token={self.token}&" if self.token_in_urls else ""
        return f"{self.url}/lab/tree/{relative}?{token}reset"

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


def _wait_for_server(server, timeout: float, status: str | None = None,
                     what: str = "jupyter lab") -> None:
    deadline = time.monotonic() + timeout
    status = status or f"{server.url}/api/status?token={server.token}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{what} exited with {server.process.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            with urllib.request.urlopen(status, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not answer within {timeout:.0f} s:\n{server.log_tail()}")


ROOT = Path(__file__).resolve().parents[1]
# Where 'scripts/course.sh test' installs configurable-http-proxy (npm install --prefix .tools).
PROXY = ROOT / ".tools" / "node_modules" / ".bin" / "configurable-http-proxy"
VENV_BIN = Path(sys.executable).parent
HUB_CONFIG = """\
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.pid_file = str({work}/"proxy.pid")
c.JupyterHub.db_url = "sqlite:///" + str({work}/"hub.sqlite")
c.JupyterHub.cookie_secret_file = str({work}/"cookie_secret")
c.JupyterHub.pid_file = str({work}/"hub.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r} + "/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = {args!r}
c.Spawner.default_url = "/lab"
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.services = [{{"name": "course-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "course-test", "services": ["course-test"],
                            "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
"""


@dataclass
class Hub:
    """A running JupyterHub: its public URL (the proxy's), a service token that may use
    every user's server, each user's home folder, its process and its log file."""

    url: str
    token: str
    homes: Path
    process: subprocess.Popen
    log: Path

    def user(self, name: str) -> LabServer:
        """``name``'s single-user server as seen through the hub's proxy."""
        return LabServer(f"{self.url}/user/{name}", self.token, self.process, self.log,
                         token_in_urls=False)

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@contextmanager
def jupyter_hub(work_dir: Path, users: list[str], password: str,
                env: dict[str, str] | None = None, proxy: Path = PROXY,
                start_timeout: float = 90):
    """Start JupyterHub on 127.0.0.1; stop it, the proxy, the servers and kernels on exit.

    Users log in through the hub's form with ``password`` (the dummy authenticator); each
    gets ``jupyterhub-singleuser`` from this virtual environment, started by the simple
    local-process spawner in ``work_dir/home/NAME`` with ``HOME`` pointing there, so the
    user's Jupyter configuration, kernelspecs and settings live there. The server's
    environment is ``env`` plus PATH (this venv first) and LANG: nothing else of the
    caller's leaks in. As root, the servers get ``--allow-root``.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    homes = work_dir / "home"
    homes.mkdir(exist_ok=True)
    port, hub_port, api_port = free_port(), free_port(), free_port()
    token = uuid.uuid4().hex
    environment = {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                   "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", **(env or {})}
    args = ["--LabApp.news_url="] + (["--allow-root"] if os.geteuid() == 0 else [])
    config = work_dir / "jupyterhub_config.py"
    config.write_text(HUB_CONFIG.format(
        port=port, hub_port=hub_port, proxy_api_port=api_port, proxy=str(proxy),
        work=f"__import__('pathlib').Path({str(work_dir)!r})", password=password,
        users=set(users), homes=str(homes), singleuser=str(VENV_BIN / "jupyterhub-singleuser"),
        args=args, environment=environment, token=token))
    hub_env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "COURSE"))}
    hub_env["PATH"] = environment["PATH"]  # the proxy's "#!/usr/bin/env node" needs node
    log = work_dir / "jupyterhub.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)],
                                   cwd=work_dir, env=hub_env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    hub = Hub(f"http://127.0.0.1:{port}", token, homes, process, log)
    try:
        _wait_for_server(hub, start_timeout, f"{hub.url}/hub/api/", "jupyterhub")
        yield hub
    finally:
        stop_process_tree(process)


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


def log_in(page, hub: Hub, user: str, password: str) -> str:
    """Log ``user`` in through the hub's form (dummy authenticator); wait for their
    JupyterLab and return the URL the browser landed on."""
    page.goto(f"{hub.url}/hub/login", timeout=60_000)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(re.compile(rf"/user/{re.escape(user)}/lab"), timeout=120_000)
    page.locator(".jp-LabShell").wait_for(timeout=60_000)
    return page.url
