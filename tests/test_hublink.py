"""The nbgitpuller link: exact URLs for good input, a clear error for bad input."""

import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from course_utils.__main__ import main
from course_utils.instructor import hublink

REPO = "https://github.com/owner/seg-course.git"
EX00 = "notebooks/exercises/00-setup-and-data.ipynb"
EX07 = "notebooks/exercises/07-evaluation-thresholds.ipynb"

LINKS = [
    pytest.param(dict(hub="https://hub.example.edu", repo=REPO, lesson="00"),
                 "https://hub.example.edu/hub/user-redirect/git-pull",
                 {"repo": REPO, "targetpath": "seg-course", "urlpath": f"lab/tree/seg-course/{EX00}"},
                 id="lesson 00"),
    pytest.param(dict(hub="https://hub.example.edu/hub/", repo=REPO, lesson="7", branch="main"),
                 "https://hub.example.edu/hub/user-redirect/git-pull",
                 {"repo": REPO, "branch": "main", "targetpath": "seg-course",
                  "urlpath": f"lab/tree/seg-course/{EX07}"},
                 id="hub path, short lesson, branch"),
    pytest.param(dict(hub="http://127.0.0.1:8000/jh", repo="file:///tmp/x/course/"),
                 "http://127.0.0.1:8000/jh/hub/user-redirect/git-pull",
                 {"repo": "file:///tmp/x/course/", "targetpath": "course",
                  "urlpath": "lab/tree/course"},
                 id="hub under a prefix, local repo, no lesson"),
    pytest.param(dict(hub="https://hub.example.edu", repo="git@github.com:owner/seg.git",
                      lesson="07-evaluation-thresholds"),
                 "https://hub.example.edu/hub/user-redirect/git-pull",
                 {"repo": "git@github.com:owner/seg.git", "targetpath": "seg",
                  "urlpath": f"lab/tree/seg/{EX07}"},
                 id="ssh repo, full lesson name"),
]


@pytest.mark.parametrize(("kwargs", "base", "query"), LINKS)
def test_hub_link(kwargs, base, query):
    link = hublink.hub_link(**kwargs)
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == base
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == query


def test_hub_link_encodes_the_query():
    link = hublink.hub_link("https://hub.example.edu", REPO, lesson="00")
    assert link == ("https://hub.example.edu/hub/user-redirect/git-pull?repo=https%3A%2F%2F"
                    "github.com%2Fowner%2Fseg-course.git&targetpath=seg-course&urlpath=lab%2F"
                    "tree%2Fseg-course%2Fnotebooks%2Fexercises%2F00-setup-and-data.ipynb")


BAD = [
    pytest.param(dict(hub="hub.example.edu", repo=REPO), "--hub must be", id="hub without scheme"),
    pytest.param(dict(hub="ftp://hub.example.edu", repo=REPO), "--hub must be", id="hub ftp"),
    pytest.param(dict(hub="https://hub.example.edu/?x=1", repo=REPO), "query", id="hub query"),
    pytest.param(dict(hub="https://h.edu", repo=""), "--repo must be", id="empty repo"),
    pytest.param(dict(hub="https://h.edu", repo="my repo"), "--repo must be", id="space in repo"),
    pytest.param(dict(hub="https://h.edu", repo="owner/repo"), "is not a git URL",
                 id="repo without scheme"),
    pytest.param(dict(hub="https://h.edu", repo="https://github.com/"),
                 "names no repository", id="repo without a path"),
    pytest.param(dict(hub="https://h.edu", repo=REPO, lesson="42"), "matches 0 exercise",
                 id="unknown lesson"),
    pytest.param(dict(hub="https://h.edu", repo=REPO, lesson="0"), None, id="lesson 0 is 00"),
    pytest.param(dict(hub="https://h.edu", repo=REPO, branch="a b"), "not a branch name",
                 id="bad branch"),
    pytest.param(dict(hub="https://h.edu", repo=REPO, branch="../x"), "not a branch name",
                 id="branch with .."),
]


@pytest.mark.parametrize(("kwargs", "error"), BAD)
def test_hub_link_rejects_bad_input(kwargs, error):
    if error is None:
        hublink.hub_link(**kwargs)
        return
    with pytest.raises(ValueError, match=error):
        hublink.hub_link(**kwargs)


@pytest.mark.parametrize(("repo", "folder"), [
    ("https://github.com/o/seg-course.git", "seg-course"), ("https://github.com/o/seg/", "seg"),
    ("/srv/git/course.git", "course"), ("git@host:course", "course"), ("file:///a/b", "b")])
def test_clone_dir(repo, folder):
    assert hublink.clone_dir(repo) == folder


def test_command_prints_the_link(capsys):
    assert main(["hub-link", "--hub", "https://hub.example.edu", "--repo", REPO,
                 "--lesson", "00"]) == 0
    assert capsys.readouterr().out.strip() == hublink.hub_link("https://hub.example.edu",
                                                               REPO, lesson="00")


def test_command_reports_bad_input_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "course_utils", "hub-link", "--hub",
                           "hub.example.edu", "--repo", REPO], capture_output=True, text=True)
    assert done.returncode == 2
    assert "error: --hub must be the hub's address" in done.stderr
    assert "Traceback" not in done.stderr


def test_default_repo_without_origin_says_what_to_pass(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(ValueError, match="has no git remote 'origin'; pass"):
        hublink.default_repo(tmp_path)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", REPO], check=True)
    assert hublink.default_repo(tmp_path) == REPO
