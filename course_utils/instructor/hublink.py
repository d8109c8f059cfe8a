"""nbgitpuller links: one URL that clones (or updates) the course in a student's hub home
and opens a lesson.

``python -m course_utils hub-link --hub https://hub.example.edu --lesson 00`` prints

    https://hub.example.edu/hub/user-redirect/git-pull?repo=...&targetpath=seg-course
    &urlpath=lab/tree/seg-course/notebooks/exercises/00-setup-and-data.ipynb

Following it a second time pulls the instructor's new commits and keeps the student's
edits: nbgitpuller commits them locally and merges with ``-Xours``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from course_utils.instructor.paths import NOTEBOOKS

__all__ = ["clone_dir", "hub_link", "lesson_notebook"]

_SCHEMES = ("http", "https", "ssh", "git", "file")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:\S+$")  # git@github.com:owner/repo.git


def lesson_notebook(lesson: str, notebooks_dir: Path = NOTEBOOKS) -> str:
    """The exercise notebook of ``lesson`` ("00", "7" or "07-evaluation-thresholds"),
    relative to the repository root, e.g. ``notebooks/exercises/00-setup-and-data.ipynb``.

    Raises:
        ValueError: if no exercise notebook matches.
    """
    exercises = Path(notebooks_dir) / "exercises"
    names = sorted(p.name for p in exercises.glob("[0-9][0-9]-*.ipynb"))
    key = lesson.strip()
    if key.isdigit():
        key = f"{int(key):02d}-"
    found = [n for n in names if n.startswith(key)]
    if len(found) != 1:
        raise ValueError(f"lesson {lesson!r} matches {len(found)} exercise notebooks; "
                         f"use one of {[n[:2] for n in names]}")
    return f"notebooks/exercises/{found[0]}"


def clone_dir(repo: str) -> str:
    """The folder nbgitpuller clones ``repo`` into: its last path part without ``.git``."""
    name = repo.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    name = name.removesuffix(".git")
    if not name or name in (".", ".."):
        raise ValueError(f"cannot name a folder after the repository {repo!r}")
    return name


def _check_repo(repo: str) -> str:
    repo = repo.strip()
    if not repo or any(c.isspace() for c in repo):
        raise ValueError(f"--repo must be a git URL without spaces, got {repo!r}")
    parts = urlsplit(repo)
    if parts.scheme in _SCHEMES:
        if not parts.path.strip("/"):
            raise ValueError(f"--repo {repo!r} names no repository after the host")
        return repo
    if _SCP_LIKE.match(repo) or repo.startswith("/"):
        return repo
    raise ValueError(f"--repo {repo!r} is not a git URL; expected e.g. "
                     f"https://github.com/OWNER/REPO.git ({', '.join(_SCHEMES)} or a local path)")


def _check_hub(hub: str) -> str:
    parts = urlsplit(hub.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--hub must be the hub's address, e.g. https://hub.example.edu, "
                         f"got {hub!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"--hub must not carry a query or fragment, got {hub!r}")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/hub")  # an address copied from the hub's own pages
    return f"{parts.scheme}://{parts.netloc}{path}"


def default_repo(cwd: Path = NOTEBOOKS.parent) -> str:
    """The ``origin`` remote of the course checkout (what ``--repo`` defaults to).

    Raises:
        ValueError: if there is no such remote.
    """
    try:
        return subprocess.run(["git", "remote", "get-url", "origin"], cwd=cwd, check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise ValueError(f"no --repo given and {cwd} has no git remote 'origin'; pass the "
                         f"repository students should clone, e.g. --repo "
                         f"https://github.com/OWNER/REPO.git") from None


def hub_link(hub: str, repo: str, branch: str | None = None, lesson: str | None = None,
             notebooks_dir: Path = NOTEBOOKS) -> str:
    """An nbgitpuller link that clones ``repo`` into the student's home and opens a lesson.

    Args:
        hub: the hub's address, e.g. ``https://hub.example.edu`` (a trailing ``/hub`` is
            dropped).
        repo: the git URL students clone (https for a public repository).
        branch: the branch to pull; ``None`` lets nbgitpuller take the default branch.
        lesson: open this lesson's exercise notebook ("00", "07"); ``None`` opens the
            course folder in JupyterLab's file browser.

    Returns:
        The link. Following it again later pulls new commits and keeps the student's edits.

    Raises:
        ValueError: on a malformed hub address, repository, branch or an unknown lesson.
    """
    hub, repo = _check_hub(hub), _check_repo(repo)
    folder = clone_dir(repo)
    target = f"{folder}/{lesson_notebook(lesson, notebooks_dir)}" if lesson else folder
    query = {"repo": repo}
    if branch is not None:
        if not re.fullmatch(r"[\w./-]+", branch) or ".." in branch:
            raise ValueError(f"--branch {branch!r} is not a branch name")
        query["branch"] = branch
    query |= {"targetpath": folder, "urlpath": f"lab/tree/{target}"}
    return f"{hub}/hub/user-redirect/git-pull?{urlencode(query)}"
