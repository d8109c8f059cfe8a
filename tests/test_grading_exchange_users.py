"""Students as real Unix users on nbgrader's exchange: one cannot list, read, change or
remove another's submission or feedback.

The test's set-up (as root) creates two system users with their own homes; each fetches
lesson 00 and submits it with the real nbgrader, as itself (``setpriv``). The instructor
(root here) collects, autogrades and releases the feedback; then each student tries to
reach the other's work in the exchange with plain shell commands. The owners and modes
that make this hold are in README's "Students on a shared exchange".
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import authoring, grading
from course_utils.instructor.grading.sandbox import sandbox_available

pytestmark = [
    pytest.mark.notebooks,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None,
                       reason="needs root and useradd to create the students' Unix users"),
    pytest.mark.skipif(sandbox_available() is not None, reason="no sandbox to grade in"),
]
LESSON = "00-setup-and-data"
SUFFIX = uuid.uuid4().hex[:6]
ALICE, BOB = f"alice{SUFFIX}", f"bob{SUFFIX}"


def _as(user: str, *cmd: str, cwd=None) -> subprocess.CompletedProcess:
    home = pwd.getpwnam(user).pw_dir
    env = {"HOME": home, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
           "LANG": "C.UTF-8"}
    return subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                           *cmd], cwd=cwd or home, env=env, capture_output=True, text=True)


STUDENT_CONFIG = """\
c = get_config()  # noqa: F821
c.ExchangeFactory.submit = "course_utils.instructor.grading.exchange.PrivateSubmit"
"""


def _nbgrader_as(user: str, exchange: Path, *args: str):
    done = _as(user, sys.executable, "-m", "nbgrader", *args, "--course", grading.COURSE_ID,
               f"--Exchange.root={exchange}")
    assert done.returncode == 0, f"{user}: nbgrader {args[0]}: {done.stderr[-1500:]}"
    return done


@pytest.fixture(scope="module")
def exchange_after_grading():
    root = Path(tempfile.mkdtemp(prefix="exchange-users-"))
    root.chmod(0o755)  # the students reach the exchange inside it
    users = []
    try:
        exchange = root / "exchange"
        course = grading.init_course(root / "course", exchange=exchange)
        grading.release(course, ["00"])
        solution = nbformat.read(authoring.NOTEBOOKS / "solutions" / f"{LESSON}.ipynb", 4)
        answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
                   if c.metadata.get("nbgrader", {}).get("solution")}
        for user in (ALICE, BOB):
            subprocess.run(["useradd", "--create-home", "--home-dir", str(root / user),
                            "--shell", "/bin/sh", user], check=True)
            users.append(user)
            (root / user / ".jupyter").mkdir()
            (root / user / ".jupyter" / "nbgrader_config.py").write_text(STUDENT_CONFIG)
            _nbgrader_as(user, exchange, "fetch_assignment", LESSON)
            path = root / user / LESSON / f"{LESSON}.ipynb"
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id in answers:
                    cell.source = answers[grade_id].replace(authoring.BEGIN, "").replace(
                        authoring.END, "")
            nbformat.write(nb, path)
            _nbgrader_as(user, exchange, "submit", LESSON)
        # alice also hands in something under bob's name, dated later than bob's work
        inbound = exchange / grading.COURSE_ID / "inbound"
        fake = inbound / f"{BOB}+{LESSON}+2099-01-01 00:00:00.000000 UTC+forged"
        assert _as(ALICE, "mkdir", str(fake)).returncode == 0
        findings = grading.collect(course, ["00"])
        grading.autograde(course, ["00"])
        for user in (ALICE, BOB):
            _nbgrader_as(user, exchange, "fetch_feedback", LESSON)
        yield {"root": root, "exchange": exchange / grading.COURSE_ID, "course": course,
               "findings": findings}
    finally:
        for user in users:
            subprocess.run(["userdel", user], check=False)
        shutil.rmtree(root, ignore_errors=True)


def _entries(folder: Path, user: str) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(f"{user}+")]


def test_a_submission_in_anothers_name_is_quarantined(exchange_after_grading):
    course = exchange_after_grading["course"]
    (line,) = exchange_after_grading["findings"]
    assert f"under {BOB}'s name by the Unix user {ALICE}; moved to" in line
    assert (course / "quarantine").is_dir() and len(list((course / "quarantine").iterdir())) == 1
    timestamp = (course / "submitted" / BOB / LESSON / "timestamp.txt").read_text()
    assert not timestamp.startswith("2099")


def test_both_were_graded_and_got_their_feedback(exchange_after_grading):
    root = exchange_after_grading["root"]
    for user in (ALICE, BOB):
        assert list((root / user / LESSON / "feedback").rglob("*.html")), user


def test_a_student_cannot_list_the_submissions(exchange_after_grading):
    inbound = exchange_after_grading["exchange"] / "inbound"
    done = _as(ALICE, "ls", str(inbound))
    assert done.returncode != 0 and "Permission denied" in done.stderr
    mode = stat.S_IMODE(inbound.stat().st_mode)
    assert mode & 0o004 == 0 and mode & stat.S_ISVTX, oct(mode)  # no listing; sticky


def test_a_student_cannot_change_or_remove_anothers_submission(exchange_after_grading):
    inbound = exchange_after_grading["exchange"] / "inbound"
    (theirs,) = [e for e in _entries(inbound, BOB)  # a name alice would have to guess
                 if e.stat().st_uid != pwd.getpwnam(ALICE).pw_uid]
    notebook = theirs / f"{LESSON}.ipynb"
    before = notebook.read_bytes()
    for cmd in (["rm", "-rf", str(theirs)], ["mv", str(theirs), str(inbound / "stolen")],
                ["sh", "-c", f"echo x > {shlex.quote(str(notebook))}"],
                ["sh", "-c", f"echo x > {shlex.quote(str(theirs / 'planted.txt'))}"]):
        assert _as(ALICE, *cmd).returncode != 0, cmd
    assert notebook.read_bytes() == before
    assert not (theirs / "planted.txt").exists()


def test_a_student_cannot_list_or_change_anothers_feedback(exchange_after_grading):
    feedback = exchange_after_grading["exchange"] / "feedback"
    done = _as(ALICE, "ls", str(feedback))
    assert done.returncode != 0 and "Permission denied" in done.stderr
    for page in feedback.iterdir():
        assert _as(ALICE, "sh", "-c", f"echo x >> {shlex.quote(str(page))}").returncode != 0
        assert _as(ALICE, "rm", "-f", str(page)).returncode != 0 or page.exists()
        assert page.exists()
