"""course_utils.checks: the shared comparisons and how a failed check looks to a student."""

import re

import pytest
import torch

from course_utils.checks import CheckFailed, expect_close, passed

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _shown(shell, capsys, cell):
    capsys.readouterr()
    shell.run_cell(cell, store_history=False)
    return ANSI.sub("", capsys.readouterr().out)


@pytest.mark.parametrize(("got", "expected", "message"), [
    (1.5, 1.0, "case: expected 1, got 1.5"),
    (float("nan"), 1.0, "case: got nan, expected 1"),
    (torch.zeros(2), torch.zeros(3), r"case: expected shape \(3,\), got \(2,\)"),
    (1.0, torch.zeros(1), "case: expected a tensor, got float"),
    (torch.tensor([0.0, 2.0]), torch.tensor([0.0, 1.0]),
     "case: values differ; e.g. at flat index 1 expected 1, got 2"),
], ids=["number", "nan", "shape", "not a tensor", "values"])
def test_expect_close_names_the_difference(got, expected, message):
    with pytest.raises(CheckFailed, match=message):
        expect_close("case", got, expected)


def test_expect_close_accepts_close_values():
    expect_close("case", torch.tensor([1.0, 2.0 + 1e-7]), torch.tensor([1.0, 2.0]))
    expect_close("case", 3.0, 3.0 + 1e-8)


def test_passed_prints_one_line(capsys):
    passed("DiceLoss", 7)
    assert capsys.readouterr().out == "✔ DiceLoss: all 7 checks passed.\n"


def test_a_failed_check_shows_its_message_alone(shell, capsys):
    shown = _shown(shell, capsys, "from course_utils.checks import expect_close\n"
                                  "expect_close('Dice of an empty mask', 0.5, 1.0)\n")
    assert shown.strip() == "CheckFailed: Dice of an empty mask: expected 1, got 0.5"


def test_the_students_own_error_keeps_its_frames(shell, capsys):
    cell = ("from course_utils.checks import CheckFailed\n"
            "def student(x):\n"
            "    return x / undefined_name\n"
            "try:\n"
            "    student(1)\n"
            "except NameError as exc:\n"
            "    raise CheckFailed('DiceLoss: your code raised NameError') from exc\n")
    shown = _shown(shell, capsys, cell)
    assert shown.startswith("Your code raised this error:")
    assert "return x / undefined_name" in shown and "NameError: name 'undefined_name'" in shown
    assert shown.strip().endswith("CheckFailed: DiceLoss: your code raised NameError")
