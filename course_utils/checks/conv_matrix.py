"""Check for ``conv_matrix`` (lesson 04): the matrix of a 1-D convolution."""

from __future__ import annotations

import torch

from course_utils.checks import CheckFailed, passed
from course_utils.checks.calling import call_student

__all__ = ["check_conv_matrix"]


_CONV_MATRIX_CASES = (((1.0, 2.0, 3.0), 5, 1, 0), ((1.0, 2.0, 3.0), 6, 2, 1),
                      ((1.0, -2.0, 0.5, 3.0), 7, 2, 1), ((2.0, 1.0), 6, 2, 0),
                      ((1.0, 2.0, 3.0), 8, 3, 2))


def _conv_matrix_variant(weight: torch.Tensor, size: int, stride: int, padding: int,
                         slip: str | None = None) -> torch.Tensor:
    """The matrix C with ``C @ x == conv1d(x, weight, stride, padding)``, or a usual slip."""
    k = len(weight)
    if slip == "flipped":
        weight = weight.flip(0)
    step = 1 if slip == "stride ignored" else stride
    shift = 0 if slip == "padding ignored" else padding
    n_out = (size + 2 * padding - k) // stride + 1
    matrix = torch.zeros(n_out, size, dtype=torch.float64)
    for i in range(n_out):
        for j in range(k):
            col = i * step - shift + j
            if 0 <= col < size:
                matrix[i, col] = weight[j]
    return matrix


_CONV_MATRIX_SLIPS = {
    "flipped": "the kernel is flipped. PyTorch's convolution is a cross-correlation: tap "
               "weight[j] multiplies x[i * stride - padding + j], no flip",
    "padding ignored": "every row is shifted by the padding. Output i starts at input "
                       "i * stride - padding; the padded positions hold zeros, so they "
                       "get no column",
    "stride ignored": "the stride is missing. Output i starts at input i * stride - padding, "
                      "so consecutive rows move stride columns to the right",
}


def check_conv_matrix(fn) -> None:
    """Check ``fn(weight, size, stride=1, padding=0)``, the (n_out, size) matrix of a 1-D
    convolution, against ``F.conv1d`` on every basis vector, naming the usual slips."""
    import torch.nn.functional as F

    cases = 0
    for taps, size, stride, padding in _CONV_MATRIX_CASES:
        weight = torch.tensor(taps)
        call = f"{fn.__name__}(torch.tensor({list(taps)}), size={size}, stride={stride}, " \
               f"padding={padding})"
        got = call_student(call, fn, weight.clone(), size, stride=stride, padding=padding)
        # the referee: column c of C is the convolution of the c-th basis vector
        basis = torch.eye(size, dtype=torch.float64).unsqueeze(1)
        expected = F.conv1d(basis, weight.double().view(1, 1, -1), stride=stride,
                            padding=padding)[:, 0].T
        n_out = expected.shape[0]
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{call} returned {type(got).__name__}, expected a tensor of "
                              f"shape ({n_out}, {size})")
        if tuple(got.shape) != (n_out, size):
            if tuple(got.shape) == (size, n_out):
                why = "rows and columns are swapped: one row per output, one column per input"
            elif got.ndim == 2 and got.shape[1] == size + 2 * padding:
                why = ("it has a column for every padded position; the padding holds zeros, "
                       "so C only needs the size real inputs")
            elif got.ndim == 2 and got.shape[0] == size + 2 * padding - len(taps) + 1:
                why = "its number of rows ignores the stride (the size formula above)"
            else:
                why = "one row per output (the size formula above), one column per input"
            raise CheckFailed(f"{call} returned shape {tuple(got.shape)}, expected "
                              f"({n_out}, {size}): {why}")
        got_d = got.detach().double().cpu()
        if not torch.allclose(got_d, expected, atol=1e-6):
            slips = [why for slip, why in _CONV_MATRIX_SLIPS.items()
                     if _conv_matrix_variant(weight, size, stride, padding, slip).shape
                     == got_d.shape
                     and torch.allclose(got_d, _conv_matrix_variant(weight, size, stride,
                                                                    padding, slip))]
            row = int((got_d - expected).abs().sum(1).argmax())
            why = f" It looks as if {slips[0]}." if slips else ""
            raise CheckFailed(
                f"{call}: row {row} is {_row(got_d[row])}, expected {_row(expected[row])} "
                f"(C @ x must equal F.conv1d(x, weight, stride={stride}, padding={padding})).{why}"
            )
        cases += 1
    passed("conv_matrix", cases)


def _row(values: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values.tolist()) + "]"
