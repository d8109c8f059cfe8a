"""checks.calling: the one wrapper through which every check calls a student's code."""

import pytest

from course_utils.checks import CheckFailed
from course_utils.checks.calling import call_student, call_text


def _raise(exc):
    def fn(*args, **kwargs):
        raise exc
    return fn


def _stub(*args):
    raise NotImplementedError("write your code here")


@pytest.mark.parametrize(("fn", "args", "kwargs", "expected"), [
    (lambda a, b: a + b, (2, 3), {}, 5),
    (lambda a, b=1: a * b, (2,), {"b": 4}, 8),
    (lambda: None, (), {}, None),  # what came back is the check's to judge
    (lambda x: "text", (1,), {}, "text"),
])
def test_what_the_code_returns_comes_back(fn, args, kwargs, expected):
    assert call_student("case: your code", fn, *args, **kwargs) == expected


@pytest.mark.parametrize(("exc", "hint", "message"), [
    (ValueError("bad shape"), None, "case: your code raised ValueError: bad shape."),
    (ValueError("bad shape."), None, "case: your code raised ValueError: bad shape."),
    (RuntimeError("first line\nsecond line"), None,
     "case: your code raised RuntimeError: first line."),
    (ZeroDivisionError(), None, "case: your code raised ZeroDivisionError."),
    (ValueError("  "), None, "case: your code raised ValueError."),
    (TypeError("got 3 arguments"), lambda e: "Keep the signature.",
     "case: your code raised TypeError: got 3 arguments. Keep the signature."),
    (TypeError("x"), lambda e: "", "case: your code raised TypeError: x."),
    (KeyError("k"), lambda e: "A hint." if isinstance(e, TypeError) else "",
     "case: your code raised KeyError: 'k'."),
])
def test_an_error_becomes_check_failed_naming_the_case(exc, hint, message):
    with pytest.raises(CheckFailed) as info:
        call_student("case: your code", _raise(exc), 1, hint=hint)
    assert str(info.value) == message
    assert info.value.__cause__ is exc  # the notebook still shows the student's frames


def test_the_stub_passes_through_unchanged():
    with pytest.raises(NotImplementedError, match="write your code here"):
        call_student("case: your code", _stub, 1)


def test_a_not_implemented_error_from_torch_is_reported_when_asked():
    with pytest.raises(CheckFailed, match=r"^bool masks: your function raised "
                                          r"NotImplementedError: write your code here\.$"):
        call_student("bool masks: your function", _stub, 1, stub=False)


def test_check_failed_from_inside_is_still_a_check_failure():
    with pytest.raises(CheckFailed, match="raised CheckFailed: inner"):
        call_student("case", _raise(CheckFailed("inner")))


def test_keyboard_interrupt_is_not_swallowed():
    with pytest.raises(KeyboardInterrupt):
        call_student("case", _raise(KeyboardInterrupt()))


@pytest.mark.parametrize(("fn", "type_name"), [(None, "NoneType"), (3, "int"),
                                               ("dice", "str")])
def test_something_that_is_not_a_function(fn, type_name):
    with pytest.raises(CheckFailed, match=rf"^case: expected a function to call, got {type_name}$"):
        call_student("case", fn)


@pytest.mark.parametrize(("name", "kwargs", "expected"), [
    ("UNet", {}, "UNet()"),
    ("UNet", {"depth": 2}, "UNet(depth=2)"),
    ("ASPP", {"in_channels": 3, "dilations": (1, 2)}, "ASPP(in_channels=3, dilations=(1, 2))"),
])
def test_call_text(name, kwargs, expected):
    assert call_text(name, kwargs) == expected
