"""The sandbox and the grading process, on tiny programs (skipped without bubblewrap)."""

from __future__ import annotations

import socket
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor.grading import sandbox
from course_utils.instructor.grading.sandbox import (
    GIB,
    Limits,
    bwrap_command,
    run_sandboxed,
    sandbox_available,
)
from course_utils.instructor.grading.sandboxed import build_program, grade_notebook, printable

needs_sandbox = pytest.mark.skipif(sandbox_available() is not None,
                                   reason=f"no sandbox: {sandbox_available()}")
QUICK = Limits(step_seconds=20, memory_bytes=2 * GIB, processes=32, output_bytes=100_000)


def test_the_command_isolates_and_passes_gpus_through(tmp_path):
    cmd = bwrap_command(tmp_path, ["python", "x.py"], {"A": "1"},
                        devices=["/dev/nvidia0", "/dev/nvidiactl"])
    assert cmd[:3] == ["bwrap", "--unshare-all", "--die-with-parent"]
    assert "--clearenv" in cmd and "--share-net" not in cmd
    # the private /tmp comes before every bind, so a checkout or venv in /tmp stays visible
    assert cmd.index("--tmpfs") < cmd.index("--ro-bind") and cmd[cmd.index("--tmpfs") + 1] == "/tmp"
    assert ["--bind", str(tmp_path), str(tmp_path)] == cmd[cmd.index("--bind"):][:3]
    pairs = [cmd[i:i + 3] for i, a in enumerate(cmd) if a == "--dev-bind"]
    assert pairs == [["--dev-bind", "/dev/nvidia0", "/dev/nvidia0"],
                     ["--dev-bind", "/dev/nvidiactl", "/dev/nvidiactl"]]
    assert cmd[cmd.index("--setenv", cmd.index("--setenv") + 1):][:3] == \
        ["--setenv", "HOME", str(tmp_path)]
    assert cmd[-3:] == ["--", "python", "x.py"]


def _run(tmp_path, code: str, limits: Limits = QUICK):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    script = "import os\nch = os.fdopen(int(os.environ['COURSE_RESULT_FD']), 'w', 1)\n" + \
        textwrap.dedent(code)
    return run_sandboxed([sys.executable, "-I", "-c", script], work, limits=limits)


@needs_sandbox
def test_it_sees_only_its_folder_and_writes_nowhere_else(tmp_path):
    # outside /tmp, which the sandbox replaces with its own empty one
    secret = Path(__file__).resolve().parents[1] / "test-output" / "sandbox" / "gradebook.db"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("grades")
    outcome = _run(tmp_path, f"""
        ch.write(str(os.path.exists({str(secret)!r})) + "\\n")
        ch.write(str(os.path.exists("/root/.bash_history")) + "\\n")
        for path in ({str(secret)!r}, "/usr/evil", "/etc/evil"):
            try:
                open(path, "w").write("x")
                ch.write("wrote " + path + "\\n")
            except OSError as e:
                ch.write("refused\\n")
        open("mine.txt", "w").write("ok")
        ch.write("own folder\\n")
    """)
    assert outcome.lines == ["False", "False", "refused", "refused", "refused", "own folder"]
    assert secret.read_text() == "grades"
    assert (tmp_path / "work" / "mine.txt").read_text() == "ok"


@needs_sandbox
def test_it_has_no_network(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    outcome = _run(tmp_path, f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2)
            ch.write("connected\\n")
        except OSError:
            ch.write("no network\\n")
    """)
    server.close()
    assert outcome.lines == ["no network"]


@needs_sandbox
@pytest.mark.parametrize(("code", "stopped", "line"), [
    ("while True:\n    pass\n", "time", None),
    ("print('x' * 10**7)\n", "output", None),
    ("try:\n    b = bytearray(8 * 1024**3)\n    ch.write('allocated\\n')\n"
     "except MemoryError:\n    ch.write('memory bound\\n')\n", None, "memory bound"),
    ("n = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n    except OSError:\n"
     "        break\n    if pid == 0:\n        import time; time.sleep(30); os._exit(0)\n"
     "    n += 1\nch.write(str(n < 40) + '\\n')\n", None, "True"),
])
def test_bounds_hold(tmp_path, code, stopped, line):
    limits = Limits(step_seconds=3, memory_bytes=2 * GIB, processes=32, output_bytes=100_000)
    outcome = _run(tmp_path, code, limits)
    assert outcome.stopped == stopped
    if line is not None:
        assert outcome.lines == [line]


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, grade_id, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        meta = {"grade_id": grade_id}
        meta |= {"answer": {"solution": True}, "test": {"grade": True, "points": 1},
                 "params": {"locked": True}}.get(kind, {})
        if kind != "plain":
            cell.metadata["nbgrader"] = meta
        nb.cells.append(cell)
    return nb


SOURCE = _notebook(
    ("params", "00-params", "import math\nSCALE = 2\nprint('parameters ran')"),
    ("plain", "a", "TRAINED = expensive_training()\n\ndef helper(x):\n    return SCALE * x"),
    ("answer", "00-double", "def double(x):\n    return 2 * x"),
    ("test", "00-test-double", "assert double(3) == 6\nassert helper(1) == 2\n"
                               "### BEGIN HIDDEN TESTS\nassert double(-4) == -8\n"
                               "### END HIDDEN TESTS"),
    ("answer", "00-foreground_fraction", "def foreground_fraction(m):\n    return m"),
    ("test", "00-test-foreground_fraction", "assert foreground_fraction(1) == 1"),
)


def _submission(double: str, ff: str = "def foreground_fraction(m):\n    return m",
                extra: str = ""):
    nb = _notebook(("params", "00-params", "SCALE = 1000  # the student edited it"),
                   ("answer", "00-double", double), ("plain", "mine", extra),
                   ("answer", "00-foreground_fraction", ff))
    return nb


def test_the_program_comes_from_the_source_but_for_the_answers():
    program = build_program(SOURCE, _submission("def double(x):\n    return x + x",
                                                extra="def helper(x):\n    return 0"))
    assert [(s["kind"], s["id"]) for s in program.steps] == [
        ("run", "00-params"), ("defs", SOURCE.cells[1].id), ("defs-given", "00-double"),
        ("test", "00-test-double"), ("defs-given", "00-foreground_fraction"),
        ("test", "00-test-foreground_fraction")]
    assert program.steps[0]["source"].startswith("import math\nSCALE = 2")
    assert "x + x" in program.steps[2]["source"]
    assert program.answers == {"00-test-double": ["00-double"],
                               "00-test-foreground_fraction": ["00-foreground_fraction"]}


@needs_sandbox
@pytest.mark.parametrize(("double", "passed", "words"), [
    ("def double(x):\n    return x + x", True, "",),
    ("def double(x):\n    return 6 if x == 3 else 0", False, "AssertionError"),  # hidden test
    ("def double(x):\n    return 2 * x\n\nraise SystemExit  # not run", True, ""),
    ("def double(x):\n    raise SystemExit(1)", False, "SystemExit"),
    ("def double(x):\n    while True:\n        pass", False, "did not finish within 3 s"),
    ("def double(x):\n    return (", False, "SyntaxError"),
    ("import os\ndef double(x):\n    os._exit(1)", False, "imports 'os'"),
])
def test_verdicts(double, passed, words):
    verdicts = grade_notebook(SOURCE, _submission(double), quick=True,
                              limits=Limits(step_seconds=3, memory_bytes=2 * GIB))
    assert verdicts["00-test-double"].passed is passed, verdicts["00-test-double"].message
    assert words in verdicts["00-test-double"].message
    # an attack costs exactly its task: the next test still ran, in a new process
    assert verdicts["00-test-foreground_fraction"].passed


@needs_sandbox
def test_a_process_that_dies_during_a_test_costs_that_test_only():
    source = _notebook(("test", "t1", "import os\nos._exit(3)"), ("test", "t2", "print('ok')"))
    verdicts = grade_notebook(source, _notebook(), quick=True, limits=QUICK)
    assert not verdicts["t1"].passed
    assert "ended (exit code 3)" in verdicts["t1"].message and verdicts["t1"].note
    assert verdicts["t2"].passed and verdicts["t2"].message == "ok\n"


@needs_sandbox
def test_the_checks_come_from_the_package_the_sandbox_binds():
    """Not from another copy an editable install may point at (a second checkout's)."""
    source = _notebook(("test", "t1", "import course_utils\nprint(course_utils.__file__)"))
    verdicts = grade_notebook(source, _notebook(), quick=True, limits=QUICK)
    assert verdicts["t1"].passed, verdicts["t1"].message
    assert verdicts["t1"].message == f"{sandbox.PACKAGE / '__init__.py'}\n"


def test_printable_drops_terminal_escapes():
    assert printable("\x1b[31mred\x1b[0m\x07 ok\n") == "[31mred[0m ok\n"
    assert printable("x" * 10, limit=6) == "xxx..."


@needs_sandbox
def test_a_package_or_venv_under_tmp_stays_visible(tmp_path, monkeypatch):
    """A clean clone in /tmp (as CI may make) keeps its package inside the sandbox."""
    from course_utils.instructor.grading import sandbox

    package = tmp_path / "checkout" / "course_utils"
    package.mkdir(parents=True)
    (package / "marker.txt").write_text("visible")
    monkeypatch.setattr(sandbox, "PACKAGE", package)
    outcome = _run(tmp_path, f"ch.write(open({str(package / 'marker.txt')!r}).read() + '\\n')")
    assert outcome.lines == ["visible"], outcome.output


@needs_sandbox
def test_the_checker_imports_its_own_package(tmp_path, monkeypatch):
    """Not another checkout's editable install, nor nothing where the grader's own package
    is found through PYTHONPATH (which the checker's ``python -I`` ignores)."""
    from course_utils.instructor.grading import checker, sandbox, sandboxed

    package = tmp_path / "checkout" / "course_utils"
    grading = package / "instructor" / "grading"
    grading.mkdir(parents=True)
    for folder in (package, package / "instructor", grading):
        (folder / "__init__.py").write_text("")
    (grading / "checker.py").write_text(Path(checker.__file__).read_text())
    (package / "marker.py").write_text("WHERE = 'the copy'\n")
    monkeypatch.setattr(sandbox, "PACKAGE", package)
    monkeypatch.setattr(sandboxed, "CHECKER", grading / "checker.py")
    source = _notebook(("test", "t1", "import course_utils\n"
                                      f"assert course_utils.__file__ == {str(package / '__init__.py')!r}"),
                       ("test", "t2", "from course_utils.marker import WHERE\nprint(WHERE)"))
    verdicts = grade_notebook(source, _notebook(), quick=True, limits=QUICK)
    assert verdicts["t1"].passed, verdicts["t1"].message
    assert verdicts["t2"].passed and verdicts["t2"].message == "the copy\n", verdicts["t2"].message
