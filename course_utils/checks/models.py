"""Checks for the networks the student writes: ``UNet``, ``UNet2`` and ``DilatedNet``.

(``checks.conv_matrix`` checks the matrix of a 1-D convolution; ``checks.receptive`` the
receptive-field formula and the ASPP block.)

Each check builds small instances of the student's class (``width`` 4 to 8) with the
constructor arguments of ``course_utils.models.EncDec`` and runs them on a few input sizes.
The U-Net checks hook into the attributes ``encoder`` (one module per level, whose outputs
are the skips) and ``bottleneck``, as named in ``EncDec``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from course_utils import models
from course_utils.checks import CheckFailed, passed
from course_utils.checks.calling import call_student, call_text
from course_utils.receptive_field import gradient_support, measured_receptive_field

__all__ = ["check_dilated_net", "check_unet", "check_unet2"]

_CONFIGS = ({"in_channels": 3, "out_channels": 1, "width": 8, "depth": 2},
            {"in_channels": 1, "out_channels": 3, "width": 4, "depth": 3})


def check_unet(model_cls) -> None:
    """Check a U-Net class with ``EncDec``'s constructor: output size, gradients, skips used
    at every level, parameter count of the reference ``UNet``, a clear size error."""
    cases = 0
    for config in _CONFIGS:
        model = _build(model_cls, config)
        cases += _check_unet_common(model, config)
        expected = models.count_parameters(models.UNet(**config))
        got = models.count_parameters(model)
        if got != expected:
            raise CheckFailed(
                f"{call_text(model_cls.__name__, config)} has {got} parameters, the reference has {expected}. "
                f"Each decoder convolution and the head receive the upsampled features and the "
                f"skip: 2 * width input channels, not width."
            )
        cases += 1
    passed("UNet", cases)


def check_unet2(model_cls) -> None:
    """Check a strided U-Net class: as ``check_unet``, and down-sampling only by stride-2
    convolutions, up-sampling only by stride-2 transposed convolutions."""
    cases = 0
    for config in _CONFIGS:
        model = _build(model_cls, config)
        cases += _check_unet_common(model, config)
        size = 2 ** config["depth"] * 2
        calls = _record_calls(model, torch.rand(1, config["in_channels"], size, size))
        resampling = sorted({name for name, _ in calls if name in _RESAMPLING})
        if resampling:
            raise CheckFailed(f"{call_text(model_cls.__name__, config)} still calls {', '.join(resampling)}; "
                              f"replace pooling by stride-2 convolutions and upsampling by "
                              f"stride-2 transposed convolutions")
        down = sum(1 for name, stride in calls if name == "conv2d" and stride == (2, 2))
        up = sum(1 for name, stride in calls if name == "conv_transpose2d" and stride == (2, 2))
        depth = config["depth"]
        if down != depth or up != depth:
            raise CheckFailed(
                f"{call_text(model_cls.__name__, config)} ran {down} stride-2 convolutions and {up} stride-2 "
                f"transposed convolutions; expected {depth} of each (one per level)"
            )
        uneven = sorted({(m.kernel_size, m.stride) for m in model.modules()
                         if isinstance(m, nn.ConvTranspose2d)
                         and any(k % s for k, s in zip(m.kernel_size, m.stride, strict=True))})
        if uneven:
            kernel, stride = uneven[0]
            raise CheckFailed(
                f"{call_text(model_cls.__name__, config)} up-samples with a transposed convolution "
                f"of kernel {kernel} and stride {stride}: the kernel is not a multiple of the "
                f"stride, so neighbouring outputs get unequal numbers of contributions and "
                f"the output shows the checkerboard of the section above; use kernel_size=2, "
                f"stride=2")
        _check_batch_norm_momentum(model, call_text(model_cls.__name__, config))
        cases += 3
    passed("UNet2", cases)


def _check_batch_norm_momentum(model: nn.Module, name: str) -> None:
    """Every BatchNorm must share conv_block's momentum, or the comparison with the pooled
    U-Net changes two things at once (the re-sampling and the normalisation)."""
    odd = sorted({(n, m.momentum) for n, m in model.named_modules()
                  if isinstance(m, nn.modules.batchnorm._BatchNorm)
                  and m.momentum != models.BN_MOMENTUM}, key=lambda t: t[0])
    if odd:
        where, momentum = odd[0]
        raise CheckFailed(
            f"{name}: the BatchNorm at {where} has momentum {momentum}, every conv_block uses "
            f"models.BN_MOMENTUM = {models.BN_MOMENTUM}. Pass momentum=BN_MOMENTUM to it, so "
            f"that UNet2 differs from the pooled UNet in its re-sampling only"
        )


def check_dilated_net(model_cls) -> None:
    """Check a dilated network class: output size for any input size, gradients, no
    down-sampling, and a receptive field of 2**(depth+1) - 1 (dilations 1, 2, 4, ...)."""
    cases = 0
    for depth in (2, 3, 4):
        config = {"in_channels": 3, "out_channels": 1, "width": 4, "depth": depth}
        model, name = _build(model_cls, config), model_cls.__name__
        for size in ((17, 17), (24, 31)):
            _check_output_size(model, config, size, name)
            cases += 1
        _check_gradients(model, config, (16, 16), name)
        calls = _record_calls(model, torch.rand(1, 3, 16, 16))
        strided = [fn for fn, stride in calls
                   if fn in _RESAMPLING or stride not in (None, (1, 1))]
        if strided:
            raise CheckFailed(f"{call_text(name, config)} changes the resolution "
                              f"({strided[0]}); every layer must work at full resolution")
        expected = 2 ** (depth + 1) - 1
        got = measured_receptive_field(model, expected + 10)
        if got != (expected, expected):
            raise CheckFailed(
                f"{call_text(name, config)} has a receptive field of {got[0]}x{got[1]} "
                f"pixels, expected {expected}x{expected}: by the formula, the dilations of "
                f"the {depth} 3x3 convolutions must add up to {2 ** depth - 1}, and each "
                f"block needs padding equal to its dilation"
            )
        support = gradient_support(model, expected + 10, samples=32)
        blind = expected * expected - int(support.sum())  # the box is expected x expected
        if blind:
            raise CheckFailed(
                f"{call_text(name, config)}: {blind} pixels inside its {expected}x{expected} "
                f"receptive field never reach the centre output (gridding). Start at "
                f"dilation 1 and never let a dilation exceed the field built before it"
            )
        cases += 3
    passed("DilatedNet", cases)


_RESAMPLING = {"max_pool2d", "avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool2d",
               "interpolate", "upsample", "upsample_nearest", "upsample_bilinear"}


def _build(model_cls, config: dict) -> nn.Module:
    try:
        model = model_cls(**config)
    except NotImplementedError:
        raise
    except TypeError as exc:
        raise CheckFailed(f"{call_text(model_cls.__name__, config)} failed: {exc}. Keep the "
                          f"constructor arguments of EncDec.") from exc
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"{model_cls.__name__} must be an nn.Module subclass")
    return model


def _forward(model: nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    return call_student(f"{what} on an input of shape {tuple(x.shape)}", model, x,
                        hint=_skip_hint)


def _skip_hint(exc: Exception) -> str:
    return ("A channel mismatch means a convolution's in_channels does not count what is "
            "concatenated into it; a size mismatch means a skip meets features of another "
            "size." if isinstance(exc, RuntimeError) else "")


def _check_unet_common(model: nn.Module, config: dict) -> int:
    depth = config["depth"]
    sizes = [(2**depth * a, 2**depth * b) for a, b in ((1, 1), (2, 2), (3, 5))]
    for size in sizes:
        _check_output_size(model, config, size, type(model).__name__)
    _check_gradients(model, config, sizes[1], type(model).__name__)
    _check_skips(model, config, sizes[2])
    _check_size_error(model, config)
    return len(sizes) + 3


def _check_output_size(model: nn.Module, config: dict, size, name: str) -> None:
    model.train()
    x = torch.rand(2, config["in_channels"], *size)
    out = _forward(model, x, call_text(name, config))
    expected = (2, config["out_channels"], *size)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckFailed(f"{call_text(name, config)} on an input of shape {tuple(x.shape)} "
                          f"returned {got}, expected {expected}: logits of the input's size")


def _check_gradients(model: nn.Module, config: dict, size, name: str) -> None:
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise CheckFailed(f"{call_text(name, config)} has no nn.Conv2d layer")
    model.train()
    model.zero_grad(set_to_none=True)
    out = _forward(model, torch.rand(2, config["in_channels"], *size), call_text(name, config))
    out.square().mean().backward()
    grad = first.weight.grad
    model.zero_grad(set_to_none=True)
    if grad is None or not grad.abs().sum() > 0:
        raise CheckFailed(f"{call_text(name, config)}: no gradient reaches the first convolution; "
                          f"is something detached or run under torch.no_grad()?")


def _check_skips(model: nn.Module, config: dict, size) -> None:
    """Perturb one level's encoder output while the next level and the bottleneck get
    their unperturbed inputs: only a skip can carry the change to the output."""
    name = call_text(type(model).__name__, config)
    encoder, bottleneck = getattr(model, "encoder", None), getattr(model, "bottleneck", None)
    if not isinstance(encoder, nn.ModuleList | nn.Sequential) or not isinstance(
            bottleneck, nn.Module):
        raise CheckFailed(f"{name}: keep EncDec's attribute names, self.encoder (a ModuleList, "
                          f"one block per level) and self.bottleneck; the check hooks into them")
    if len(encoder) != config["depth"]:
        raise CheckFailed(f"{name}: self.encoder has {len(encoder)} blocks, expected "
                          f"depth = {config['depth']}")
    model.eval()
    x = torch.rand(1, config["in_channels"], *size, generator=torch.Generator().manual_seed(0))
    nexts = list(encoder)[1:] + [bottleneck]
    clean_inputs = {}
    handles = [m.register_forward_pre_hook(
        lambda m, args, i=i: clean_inputs.__setitem__(i, args[0].detach().clone()))
        for i, m in enumerate(nexts)]
    with torch.no_grad():
        clean = _forward(model, x, name)
    for h in handles:
        h.remove()
    for level, block in enumerate(encoder):
        handles = [
            block.register_forward_hook(lambda m, args, out: out + torch.randn_like(out)),
            nexts[level].register_forward_pre_hook(lambda m, args, i=level: (clean_inputs[i],)),
        ]
        try:
            with torch.no_grad():
                perturbed = _forward(model, x, name)
        finally:
            for h in handles:
                h.remove()
        if torch.allclose(perturbed, clean, atol=1e-6, rtol=0):
            h_, w_ = size[0] // 2**level, size[1] // 2**level
            raise CheckFailed(
                f"{name}: the skip from encoder level {level} ({h_}x{w_} features) never reaches "
                f"the output; concatenate it, torch.cat([upsampled, skip], dim=1), into the "
                f"decoder step of the same size"
            )


def _check_size_error(model: nn.Module, config: dict) -> None:
    factor = 2 ** config["depth"]
    bad = (factor * 3, factor * 3 + 2)
    name = call_text(type(model).__name__, config)
    model.eval()
    try:
        with torch.no_grad():
            model(torch.rand(1, config["in_channels"], *bad))
    except NotImplementedError:
        raise
    except ValueError as exc:
        if str(bad[1]) not in str(exc):
            raise CheckFailed(f"{name} on a {bad[0]}x{bad[1]} input raised ValueError({exc}), "
                              f"which does not name the bad width {bad[1]}") from exc
        return
    except Exception as exc:
        raise CheckFailed(
            f"{name} on a {bad[0]}x{bad[1]} input (width not divisible by {factor}) raised "
            f"{type(exc).__name__} deep inside; start forward with "
            f"check_input_size(x, self.depth) for a clear message"
        ) from exc
    raise CheckFailed(f"{name} accepted a {bad[0]}x{bad[1]} input although {bad[1]} is not "
                      f"divisible by 2**depth = {factor}; start forward with "
                      f"check_input_size(x, self.depth)")


class _CallRecorder(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, tuple | None]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        stride = None
        if name in ("conv2d", "conv_transpose2d"):
            stride = kwargs.get("stride", args[3] if len(args) > 3 else 1)
            stride = tuple(stride) if isinstance(stride, tuple | list) else (stride, stride)
        self.calls.append((name, stride))
        return func(*args, **kwargs)


def _record_calls(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple | None]]:
    """The torch functions a forward pass calls, with the stride of every convolution."""
    model.eval()
    recorder = _CallRecorder()
    with torch.no_grad(), recorder:
        _forward(model, x, type(model).__name__)
    return recorder.calls


# ---- lesson 05: the receptive-field formula and the ASPP block ------------------------------
