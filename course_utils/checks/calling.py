"""Calling a student's code from a check: the one wrapper every check uses.

A check calls what the student wrote (a function, a model's forward) on its own cases. When
that code raises, the student should read which case broke it and why, not a traceback
through the check. ``call_student`` does this once for all checks:

- ``NotImplementedError`` passes through unchanged: it is the exercise's stub saying "not
  done yet", which the notebook shows as it is;
- any other exception becomes ``CheckFailed("<who> raised <Type>: <first line>. <hint>")``,
  chained to it, so that the notebook still shows the student's own frames
  (``CheckFailed._render_traceback_``);
- what the code returned is returned as it is: judging it is the check's job.
"""

from __future__ import annotations

from collections.abc import Callable

from course_utils.checks import CheckFailed

__all__ = ["call_student", "call_text"]


def call_text(name: str, kwargs: dict) -> str:
    """How a call reads in a message: ``call_text("UNet", {"depth": 2})`` is ``UNet(depth=2)``."""
    return f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def call_student(who: str, fn, *args, hint: Callable[[Exception], str] | None = None,
                 stub: bool = True, **kwargs):
    """``fn(*args, **kwargs)``, with the student's errors turned into ``CheckFailed``.

    Args:
        who: the subject of the message, naming the case: ``"2x2 mask: your code"``,
            ``"receptive_field([3])"``, ``"UNet(depth=2) on an input of shape (2, 3, 8, 8)"``.
        fn: the student's function (or model).
        hint: ``hint(exc)``, a sentence for a slip the check recognises in the error, or ""
            for none.
        stub: let ``NotImplementedError`` through (the exercise's stub). False where torch
            itself raises it for the check's input (``1 - mask`` on a bool mask), so that
            the student learns which input broke the code.

    Returns:
        What ``fn`` returned.

    Raises:
        CheckFailed: ``fn`` raised, or is not callable.
    """
    if not callable(fn):
        raise CheckFailed(f"{who}: expected a function to call, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        if stub and isinstance(exc, NotImplementedError):
            raise
        lines = str(exc).strip().splitlines()
        text = f": {lines[0].rstrip('.')}." if lines else "."
        extra = hint(exc) if hint is not None else ""
        raise CheckFailed(f"{who} raised {type(exc).__name__}{text}" +
                          (f" {extra}" if extra else "")) from exc
