"""Student-facing check functions, one module per topic.

A check prints one line when everything passes and raises ``CheckFailed`` with a message
that names the failing case, what was expected and what came back, so that "Run all" stops
at the first wrong answer.
"""

from __future__ import annotations

import math
import traceback

import torch

__all__ = ["CheckFailed", "expect_close", "passed"]


class CheckFailed(AssertionError):
    """A student's answer does not match the reference; the message says how.

    In IPython (a notebook, and nbgrader's feedback) it shows as its message alone: the
    frames inside the check would bury it. When the student's own code raised, the frames of
    that code stay, without the check's.
    """

    def _render_traceback_(self) -> list[str]:
        lines = []
        cause = self.__cause__
        if cause is not None:
            own = [frame for frame in traceback.extract_tb(cause.__traceback__)
                   if "course_utils" not in frame.filename]
            lines += ["Your code raised this error:", *traceback.format_list(own),
                      *traceback.format_exception_only(cause), ""]
        return [*lines, f"\x1b[0;31mCheckFailed\x1b[0m: {self}"]


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.numel() == 1:
            return f"{value.item():.6g}"
        return f"tensor of shape {tuple(value.shape)}"
    return repr(value)


def expect_close(case: str, got, expected, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Raise ``CheckFailed`` unless ``got`` matches ``expected`` (numbers or tensors)."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{case}: expected a tensor, got {type(got).__name__}")
        if got.shape != expected.shape:
            raise CheckFailed(f"{case}: expected shape {tuple(expected.shape)}, "
                              f"got {tuple(got.shape)}")
        got_t, exp_t = got.detach().double().cpu(), expected.detach().double().cpu()
        if torch.isnan(got_t).any() and not torch.isnan(exp_t).any():
            raise CheckFailed(f"{case}: your result contains nan, expected {_describe(expected)}")
        if not torch.allclose(got_t, exp_t, atol=atol, rtol=rtol, equal_nan=True):
            worst = (got_t - exp_t).abs().nan_to_num(float("inf")).argmax()
            raise CheckFailed(
                f"{case}: values differ; e.g. at flat index {worst.item()} expected "
                f"{exp_t.flatten()[worst].item():.6g}, got {got_t.flatten()[worst].item():.6g}"
            )
        return
    got_f = float(got.item() if isinstance(got, torch.Tensor) else got)
    if math.isnan(got_f) and not math.isnan(expected):
        raise CheckFailed(f"{case}: got nan, expected {expected:.6g}")
    if not math.isclose(got_f, expected, abs_tol=atol, rel_tol=rtol):
        raise CheckFailed(f"{case}: expected {expected:.6g}, got {got_f:.6g}")


def passed(what: str, cases: int) -> None:
    """Print the one-line success message."""
    print(f"✔ {what}: all {cases} checks passed.")
