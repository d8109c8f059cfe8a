"""Tests for course_utils.hints: each error kind gets its hint, others none, IPython shows both.

Errors are produced for real with the installed torch wherever a CPU can raise them; the GPU-only
messages (cross-device, CUDA out of memory, device-side assert) are written as torch words them.
"""

from __future__ import annotations

import re
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import hints


def _raised(fn) -> BaseException:
    with pytest.raises(Exception) as info:
        fn()
    return info.value


def _inplace_float_into_long():
    counts = torch.zeros(3, dtype=torch.long)
    counts += torch.rand(3)


BINARY_LOGITS = torch.randn(2, 1, 4, 4)
MASK = torch.randint(0, 2, (2, 4, 4))
LOGITS = torch.randn(2, 3, 4, 4)
LABELS = torch.randint(0, 3, (2, 4, 4))

# (case, a call that raises for real, the hint's kind, a piece of the fix it must name)
REAL_CASES = [
    ("BCE-with-logits, target without channel dim",
     lambda: F.binary_cross_entropy_with_logits(BINARY_LOGITS, MASK.float()),
     "shape", "target.unsqueeze(1).float()"),
    ("BCE, target without channel dim",
     lambda: F.binary_cross_entropy(BINARY_LOGITS.sigmoid(), MASK.float()),
     "shape", "target.unsqueeze(1).float()"),
    ("cross_entropy, target with a channel dim",
     lambda: F.cross_entropy(LOGITS, LABELS.unsqueeze(1)), "shape", "target.squeeze(1).long()"),
    ("cross_entropy on (N, C), target (N, 1)",
     lambda: F.cross_entropy(torch.randn(2, 3), torch.zeros(2, 1, dtype=torch.long)),
     "shape", "target.squeeze(1).long()"),
    ("cross_entropy, one-channel logits and long target of the same shape",
     lambda: F.cross_entropy(BINARY_LOGITS, MASK.unsqueeze(1)), "shape", "BCEWithLogitsLoss"),
    ("cross_entropy, target of another H, W",
     lambda: F.cross_entropy(LOGITS, torch.zeros(2, 2, 2, dtype=torch.long)),
     "shape", "padding and pooling"),
    ("cross_entropy on (N, C, L), target of another L",
     lambda: F.cross_entropy(torch.randn(2, 3, 8), torch.zeros(2, 4, dtype=torch.long)),
     "shape", "padding and pooling"),
    ("cross_entropy, logits flattened but target not",
     lambda: F.cross_entropy(LOGITS.permute(0, 2, 3, 1).reshape(-1, 3), LABELS),
     "shape", "target.reshape(-1)"),
    ("BCE-with-logits, long target",
     lambda: F.binary_cross_entropy_with_logits(BINARY_LOGITS, MASK.unsqueeze(1)),
     "target dtype", "target.float()"),
    ("BCE-with-logits module, uint8 target",
     lambda: nn.BCEWithLogitsLoss()(BINARY_LOGITS, MASK.unsqueeze(1).to(torch.uint8)),
     "target dtype", "target.float()"),
    ("BCE, long target",
     lambda: F.binary_cross_entropy(BINARY_LOGITS.sigmoid(), MASK.unsqueeze(1)),
     "target dtype", "target.float()"),
    ("cross_entropy, float index target",
     lambda: F.cross_entropy(LOGITS, LABELS.float()), "target dtype", "target.long()"),
    ("float added in place to a long tensor", _inplace_float_into_long,
     "target dtype", "integer tensor"),
    ("BCE given logits", lambda: F.binary_cross_entropy(BINARY_LOGITS * 10, MASK.unsqueeze(1).float()),
     "logits vs probabilities", "BCEWithLogitsLoss"),
    ("BCE given a 0/255 mask",
     lambda: F.binary_cross_entropy(BINARY_LOGITS.sigmoid(), 255.0 * MASK.unsqueeze(1)),
     "target values", "(mask > 0).float()"),
    ("cross_entropy, 255 in the target",
     lambda: F.cross_entropy(LOGITS, torch.full((2, 4, 4), 255)), "target values", "ignore_index"),
    ("conv given float64 input",
     lambda: nn.Conv2d(1, 2, 3)(torch.randn(1, 1, 5, 5, dtype=torch.float64)), "dtype", "x.float()"),
    ("conv without bias given float64 input",
     lambda: nn.Conv2d(1, 2, 3, bias=False)(torch.randn(1, 1, 5, 5, dtype=torch.float64)),
     "dtype", "x.float()"),
    ("linear given int64 input",
     lambda: nn.Linear(3, 2)(torch.ones(2, 3, dtype=torch.long)), "dtype", "x.float()"),
    ("mean of a comparison", lambda: (MASK == MASK).mean(), "dtype", ".float().mean()"),
    ("tensors on two devices (meta and cpu)",
     lambda: torch.zeros(3, device="meta") + torch.zeros(3), "device mismatch", "model.to(DEVICE)"),
]

# Messages that need a GPU to raise, as torch words them.
GPU_CASES = [
    ("cross-device op", RuntimeError("Expected all tensors to be on the same device, but found at "
                                     "least two devices, cuda:0 and cpu!"), "device mismatch"),
    ("cross-device mm", RuntimeError(
        "Expected all tensors to be on the same device, but got mat2 is on cpu, different from "
        "other tensors on cuda:0 (when checking argument in method wrapper_CUDA_mm)"),
     "device mismatch"),
    ("cuda input, cpu conv", RuntimeError(
        "Input type (torch.cuda.FloatTensor) and weight type (torch.FloatTensor) should be the "
        "same or input should be a MKLDNN tensor and weight is a dense tensor"), "device mismatch"),
    ("cpu input, cuda conv", RuntimeError(
        "Input type (torch.FloatTensor) and weight type (torch.cuda.FloatTensor) should be the "
        "same"), "device mismatch"),
    ("mps input, cpu conv", RuntimeError(
        "Input type (MPSFloatType) and weight type (torch.FloatTensor) should be the same"),
     "device mismatch"),
    ("cuda half input, cuda float conv", RuntimeError(
        "Input type (torch.cuda.HalfTensor) and weight type (torch.cuda.FloatTensor) should be "
        "the same"), "dtype"),
    ("CUDA out of memory", torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 14.74 GiB "
        "of which 1.06 GiB is free. Including non-PyTorch memory, this process has 13.68 GiB "
        "memory in use."), "out of memory"),
    ("CPU out of memory", RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 40000000000000 bytes. Error code 12 (Cannot allocate memory)"),
     "out of memory"),
    ("device-side assert", RuntimeError(
        "CUDA error: device-side assert triggered\nCUDA kernel errors might be asynchronously "
        "reported at some other API call, so the stacktrace below might be incorrect."),
     "GPU assert"),
    ("expected Long, found Float", RuntimeError("expected scalar type Long but found Float"),
     "target dtype"),
]

UNRELATED = [
    ("division by zero", lambda: 1 / 0),
    ("missing key", lambda: {}["out of memory"]),
    ("matmul of incompatible shapes", lambda: torch.randn(2, 3) @ torch.randn(2, 3)),
    ("a check's failure quoting a torch message",
     lambda: (_ for _ in ()).throw(AssertionError("Target size (2) must be the same as input size"))),
    ("a plain RuntimeError", lambda: (_ for _ in ()).throw(RuntimeError("something else"))),
]


def _assert_hint(hint, kind, fix=None):
    assert hint is not None and hint.startswith(f"Hint, {kind}: "), hint
    lines = hint.split("\n")
    assert 1 <= len(lines) <= 3 and max(map(len, lines)) <= 100, hint
    assert all("`" not in line or line.count("`") % 2 == 0 for line in lines), "code split"
    if fix is not None:
        assert fix in hint


@pytest.mark.parametrize("case, fn, kind, fix", REAL_CASES, ids=[c[0] for c in REAL_CASES])
def test_real_torch_errors_get_their_hint(case, fn, kind, fix):
    _assert_hint(hints.explain(_raised(fn)), kind, fix)


@pytest.mark.parametrize("case, exc, kind", GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_gpu_messages_get_their_hint(case, exc, kind):
    _assert_hint(hints.explain(exc), kind)


@pytest.mark.parametrize("case, fn", UNRELATED, ids=[c[0] for c in UNRELATED])
def test_other_errors_get_no_hint(case, fn):
    assert hints.explain(_raised(fn)) is None


def test_install_outside_ipython_is_a_no_op():
    from IPython import get_ipython

    assert get_ipython() is None
    hook = sys.excepthook
    assert hints.install() is False
    assert hints.uninstall() is False
    assert sys.excepthook is hook


ANSI = re.compile(r"\x1b\[[0-9;]*m")
BCE_SHAPE_CELL = ("import torch, torch.nn.functional as F\n"
                  "F.binary_cross_entropy_with_logits(torch.zeros(2, 1, 4, 4), torch.zeros(2, 4, 4))\n")


def _run(ip, capsys, cell):
    capsys.readouterr()
    ip.run_cell(cell, store_history=False)
    return ANSI.sub("", capsys.readouterr().out)


def test_hint_follows_the_unchanged_traceback(shell, capsys):
    plain = _run(shell, capsys, BCE_SHAPE_CELL)
    assert "Traceback" in plain and "binary_cross_entropy_with_logits(" in plain
    assert "ValueError: Target size (torch.Size([2, 4, 4])) must be the same" in plain
    assert "Hint" not in plain

    assert hints.install() is True  # finds the running shell
    hinted = _run(shell, capsys, BCE_SHAPE_CELL)
    exc = _raised(lambda: F.binary_cross_entropy_with_logits(torch.zeros(2, 1, 4, 4),
                                                              torch.zeros(2, 4, 4)))
    assert hinted == plain + "\n" + hints.explain(exc) + "\n"
    assert hinted.index("ValueError: Target size") < hinted.index("Hint, shape:")


def test_other_errors_are_shown_unchanged(shell, capsys):
    plain = _run(shell, capsys, "1 / 0\n")
    hints.install(shell)
    assert _run(shell, capsys, "1 / 0\n") == plain
    assert "ZeroDivisionError" in plain


def test_install_twice_hints_once_and_uninstall_restores(shell, capsys):
    plain = _run(shell, capsys, BCE_SHAPE_CELL)
    assert hints.install(shell) is True
    assert hints.install(shell) is True
    assert _run(shell, capsys, BCE_SHAPE_CELL).count("Hint, ") == 1

    assert hints.uninstall(shell) is True
    assert "showtraceback" not in vars(shell)
    assert _run(shell, capsys, BCE_SHAPE_CELL) == plain
    assert hints.uninstall(shell) is False


def test_a_failing_hint_never_hides_the_traceback(shell, capsys, monkeypatch):
    plain = _run(shell, capsys, BCE_SHAPE_CELL)
    hints.install(shell)

    def broken(exc):
        raise RuntimeError("bug in the hints")

    monkeypatch.setattr(hints, "explain", broken)
    assert _run(shell, capsys, BCE_SHAPE_CELL) == plain
