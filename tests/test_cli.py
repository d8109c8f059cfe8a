"""python -m course_utils: each command's arguments reach its handler as the README shows."""

import pytest

from course_utils.__main__ import main
from course_utils.instructor import runner


@pytest.fixture
def calls(monkeypatch):
    """The runner's calls, without running a lesson."""
    seen = []

    def run_lessons(lessons, quick, **kwargs):
        seen.append((lessons, quick, kwargs))
        return [{"status": "ok"}]

    monkeypatch.setattr(runner, "run_lessons", run_lessons)
    monkeypatch.setattr(runner, "print_summary", lambda rows: None)
    return seen


@pytest.mark.parametrize(("argv", "lessons", "quick", "kwargs"), [
    (["run"], None, True, {}),
    (["run", "02", "05"], ["02", "05"], True, {}),
    (["run", "--full"], None, False, {}),
    (["run", "--mode", "full"], None, False, {}),
    (["run", "--mode", "quick"], None, True, {}),
    (["run", "03", "--full", "--set", "SEED=1", "--cell-timeout", "9"], ["03"], False,
     {"overrides": {"SEED": "1"}, "timeout": 9}),
])
def test_run_mode_and_options(calls, argv, lessons, quick, kwargs):
    assert main(argv) == 0
    assert calls == [(lessons, quick, kwargs)]


@pytest.mark.parametrize(("argv", "error"), [
    (["run", "--mode", "fast"], "argument --mode: invalid choice: 'fast'"),
    (["run", "--set", "SEED"], "--set 'SEED': write NAME=VALUE"),
    (["nonsense"], "invalid choice: 'nonsense'"),
])
def test_bad_arguments_exit_2_naming_them(calls, capsys, argv, error):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert error in capsys.readouterr().err
    assert calls == []


def test_a_failed_lesson_exits_1(monkeypatch):
    monkeypatch.setattr(runner, "run_lessons", lambda lessons, quick, **kw: [{"status": "FAILED"}])
    monkeypatch.setattr(runner, "print_summary", lambda rows: None)
    assert main(["run"]) == 1
