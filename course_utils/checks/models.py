"""Checks for the models the student writes: ``UNet``, ``UNet2`` and ``DilatedNet``, and
for ``conv_matrix``, the matrix of a 1-D convolution (lesson 04).

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
from course_utils.receptive_field import measured_receptive_field

__all__ = ["check_conv_matrix", "check_dilated_net", "check_unet", "check_unet2"]

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
                f"{_call(model_cls.__name__, config)} has {got} parameters, the reference has {expected}. "
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
            raise CheckFailed(f"{_call(model_cls.__name__, config)} still calls {', '.join(resampling)}; "
                              f"replace pooling by stride-2 convolutions and upsampling by "
                              f"stride-2 transposed convolutions")
        down = sum(1 for name, stride in calls if name == "conv2d" and stride == (2, 2))
        up = sum(1 for name, stride in calls if name == "conv_transpose2d" and stride == (2, 2))
        depth = config["depth"]
        if down != depth or up != depth:
            raise CheckFailed(
                f"{_call(model_cls.__name__, config)} ran {down} stride-2 convolutions and {up} stride-2 "
                f"transposed convolutions; expected {depth} of each (one per level)"
            )
        uneven = sorted({(m.kernel_size, m.stride) for m in model.modules()
                         if isinstance(m, nn.ConvTranspose2d)
                         and any(k % s for k, s in zip(m.kernel_size, m.stride, strict=True))})
        if uneven:
            kernel, stride = uneven[0]
            raise CheckFailed(
                f"{_call(model_cls.__name__, config)} up-samples with a transposed convolution "
                f"of kernel {kernel} and stride {stride}: the kernel is not a multiple of the "
                f"stride, so neighbouring outputs get unequal numbers of contributions and "
                f"the output shows the checkerboard of the section above; use kernel_size=2, "
                f"stride=2")
        _check_batch_norm_momentum(model, _call(model_cls.__name__, config))
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
            raise CheckFailed(f"{_call(name, config)} changes the resolution "
                              f"({strided[0]}); every layer must work at full resolution")
        expected = 2 ** (depth + 1) - 1
        got = measured_receptive_field(model, expected + 10)
        if got != (expected, expected):
            raise CheckFailed(
                f"{_call(name, config)} has a receptive field of {got[0]}x{got[1]} "
                f"pixels, expected {expected}x{expected}: {depth} 3x3 convolutions with "
                f"dilation 1, 2, ..., {2 ** (depth - 1)} and padding equal to the dilation"
            )
        cases += 2
    passed("DilatedNet", cases)


_RESAMPLING = {"max_pool2d", "avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool2d",
               "interpolate", "upsample", "upsample_nearest", "upsample_bilinear"}


def _call(name: str, config: dict) -> str:
    return f"{name}({', '.join(f'{k}={v}' for k, v in config.items())})"


def _build(model_cls, config: dict) -> nn.Module:
    try:
        model = model_cls(**config)
    except NotImplementedError:
        raise
    except TypeError as exc:
        raise CheckFailed(f"{_call(model_cls.__name__, config)} failed: {exc}. Keep the "
                          f"constructor arguments of EncDec.") from exc
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"{model_cls.__name__} must be an nn.Module subclass")
    return model


def _forward(model: nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    try:
        return model(x)
    except NotImplementedError:
        raise
    except Exception as exc:
        hint = (" A channel mismatch means a convolution's in_channels does not count what is "
                "concatenated into it; a size mismatch means a skip meets features of another "
                "size." if isinstance(exc, RuntimeError) else "")
        raise CheckFailed(f"{what} on an input of shape {tuple(x.shape)} raised "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0]}.{hint}") from exc


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
    out = _forward(model, x, _call(name, config))
    expected = (2, config["out_channels"], *size)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckFailed(f"{_call(name, config)} on an input of shape {tuple(x.shape)} "
                          f"returned {got}, expected {expected}: logits of the input's size")


def _check_gradients(model: nn.Module, config: dict, size, name: str) -> None:
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise CheckFailed(f"{_call(name, config)} has no nn.Conv2d layer")
    model.train()
    model.zero_grad(set_to_none=True)
    out = _forward(model, torch.rand(2, config["in_channels"], *size), _call(name, config))
    out.square().mean().backward()
    grad = first.weight.grad
    model.zero_grad(set_to_none=True)
    if grad is None or not grad.abs().sum() > 0:
        raise CheckFailed(f"{_call(name, config)}: no gradient reaches the first convolution; "
                          f"is something detached or run under torch.no_grad()?")


def _check_skips(model: nn.Module, config: dict, size) -> None:
    """Perturb one level's encoder output while the next level and the bottleneck get
    their unperturbed inputs: only a skip can carry the change to the output."""
    name = _call(type(model).__name__, config)
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
    name = _call(type(model).__name__, config)
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

__all__ += ["check_aspp", "check_receptive_field"]

# (kernel_sizes, strides, dilations): defaults first, then dilations, then strides
_RF_CASES = (([3], None, None), ([3, 3, 3], None, None), ([3, 3, 3], None, [1, 2, 4]),
             ([5, 3], None, [1, 3]), ([7], [2], None), ([3, 2, 3], [1, 2, 1], None),
             ([3, 3, 3], [2, 2, 1], None), ([3, 3, 3], [2, 2, 1], [1, 1, 2]))


def _rf_variant(kernels, strides, dilations, slip: str | None = None) -> int:
    """The receptive field by the formula, or with one of the usual slips."""
    n = len(kernels)
    strides = [1] * n if strides is None or slip == "strides ignored" else strides
    dilations = [1] * n if dilations is None or slip == "dilations ignored" else dilations
    width, jump = 0 if slip == "no 1" else 1, 1
    for k, s, d in zip(kernels, strides, dilations, strict=True):
        if slip == "own stride":
            jump *= s
        reach = {"d * k": d * k, "full width": d * (k - 1) + 1}.get(slip, d * (k - 1))
        width += reach * jump
        if slip != "own stride":
            jump *= s
    return width


_RF_SLIPS = {
    "no 1": "it misses the 1 the sum starts from: a single 1x1 layer sees 1 pixel",
    "own stride": "a layer's own stride counts for its own kernel; a stride only spreads "
                  "out the steps of the layers after it",
    "strides ignored": "the strides are ignored; after a stride s, one step of every later "
                       "layer spans s input pixels (multiply the strides so far)",
    "dilations ignored": "the dilations are ignored; a kernel with dilation d reaches "
                         "d * (k - 1) pixels further, not k - 1",
    "d * k": "each layer adds d * k; a kernel of size k widens the field by k - 1 steps "
             "(d * (k - 1) with dilation d)",
    "full width": "each layer adds its whole dilated width d * (k - 1) + 1; the centre tap "
                  "is already counted, so it widens the field by d * (k - 1)",
}


def check_receptive_field(fn) -> None:
    """Check ``fn(kernel_sizes, strides=None, dilations=None)`` against the formula on a table
    of chains, naming the usual slips (the 1, a stride counted for its own layer, ...)."""
    results = []
    for kernels, strides, dilations in _RF_CASES:
        args = (kernels,) if strides is None and dilations is None else (kernels, strides,
                                                                         dilations)
        call = f"{fn.__name__}({', '.join(repr(a) for a in args)})"
        try:
            got = fn(*[list(a) if isinstance(a, list) else a for a in args])
        except NotImplementedError:
            raise
        except Exception as exc:
            hint = (" strides=None and dilations=None mean a 1 for every layer."
                    if isinstance(exc, TypeError) else "")
            raise CheckFailed(f"{call} raised {type(exc).__name__}: {exc}.{hint}") from exc
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        results.append((call, got, (kernels, strides, dilations)))
    for call, got, case in results:
        expected = _rf_variant(*case)
        if not isinstance(got, int | float) or got != expected:
            # name a slip only if it explains every answer, not just this one
            slips = [why for slip, why in _RF_SLIPS.items()
                     if all(g == _rf_variant(*c, slip) for _, g, c in results)]
            why = f" It looks as if {slips[0]}." if slips else ""
            raise CheckFailed(f"{call} returned {got!r}, expected {expected}.{why}")
    passed("receptive_field", len(results))


_ASPP_CONFIGS = ({"in_channels": 3, "out_channels": 4, "dilations": (1, 2, 5)},
                 {"in_channels": 2, "out_channels": 3, "dilations": (2, 3)})


def check_aspp(model_cls) -> None:
    """Check an ASPP class ``(in_channels, out_channels, dilations)``: output shapes on odd
    sizes, a training batch of one, the local receptive field (the taps of every dilation,
    nothing else) and the image pooling branch (every pixel reaches every output)."""
    from course_utils.receptive_field import split_gradient_support

    cases = 0
    for config in _ASPP_CONFIGS:
        name = _call(model_cls.__name__, config)
        try:
            model = model_cls(**config)
        except NotImplementedError:
            raise
        except TypeError as exc:
            raise CheckFailed(f"{name} failed: {exc}. Keep the constructor arguments "
                              f"(in_channels, out_channels, dilations).") from exc
        if not isinstance(model, nn.Module):
            raise CheckFailed(f"{model_cls.__name__} must be an nn.Module subclass")
        for batch, size in ((2, (17, 17)), (2, (24, 31)), (1, (16, 16))):
            _check_aspp_output(model, config, batch, size, name)
            cases += 1
        size = 6 * max(config["dilations"]) + 1
        support, everywhere = split_gradient_support(model, size, config["in_channels"],
                                                     samples=8)
        offsets = {(r - size // 2, c - size // 2) for r, c in support.nonzero().tolist()}
        expected = {(a * d, b * d) for d in config["dilations"] for a in (-1, 0, 1)
                    for b in (-1, 0, 1)}
        missing = [d for d in config["dilations"] if (0, d) not in offsets or (d, d) not in offsets]
        if missing:
            raise CheckFailed(
                f"{name}: the taps of dilation {missing[0]} (input pixels at offsets such as "
                f"(0, {missing[0]}) and ({missing[0]}, {missing[0]}) from the centre) do not "
                f"reach the centre output. Each dilation needs its own "
                f"3x3 branch with that dilation (and padding), applied to the block's input."
            )
        extra = sorted(offsets - expected, key=lambda o: (abs(o[0]) + abs(o[1]), o))
        if extra:
            raise CheckFailed(
                f"{name}: the input pixel at offset {extra[0]} from the centre reaches the centre "
                f"output, but no 3x3 branch with dilations {config['dilations']} taps there. The "
                f"branches must run side by side on the same input, not one after another, each "
                f"with exactly its own dilation."
            )
        if not everywhere:
            raise CheckFailed(
                f"{name}: a pixel far from the centre does not change the centre output. The "
                f"image pooling branch (global average, 1x1 convolution, ReLU, broadcast back "
                f"to H x W) is missing, or its output is not concatenated with the others."
            )
        cases += 2
    passed("ASPP", cases)


def _check_aspp_output(model: nn.Module, config: dict, batch: int, size, name: str) -> None:
    model.train()
    x = torch.rand(batch, config["in_channels"], *size)
    try:
        out = model(x)
    except NotImplementedError:
        raise
    except Exception as exc:
        text = str(exc).splitlines()[0]
        if "more than 1 value per channel" in text:
            hint = (" On the pooled 1x1 map a batch of one leaves BatchNorm a single value per "
                    "channel; leave BatchNorm out of the image pooling branch.")
        elif "Sizes of tensors must match" in text:
            hint = (" torch.cat needs every branch at the input's height and width: padding "
                    "equal to the dilation for the 3x3 branches, and the pooled 1x1 map "
                    "broadcast back to H x W (expand or F.interpolate).")
        elif isinstance(exc, RuntimeError):
            hint = (" A channel mismatch usually means the 1x1 projection does not read all "
                    "the concatenated channels: (number of dilations + 1) * out_channels.")
        else:
            hint = ""
        raise CheckFailed(f"{name} in training mode on an input of shape {tuple(x.shape)} raised "
                          f"{type(exc).__name__}: {text}.{hint}") from exc
    expected = (batch, config["out_channels"], *size)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        hint = (" A 1x1 convolution projects the concatenated branches to out_channels."
                if isinstance(out, torch.Tensor) and tuple(out.shape[-2:]) == size else
                " Every branch must keep the height and width.")
        raise CheckFailed(f"{name} on an input of shape {tuple(x.shape)} returned {got}, "
                          f"expected {expected}.{hint}")


# ---- lesson 04: the matrix of a convolution --------------------------------------------------

# (weights, input size, stride, padding): asymmetric kernels, so that a flip shows
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
        try:
            got = fn(weight.clone(), size, stride=stride, padding=padding)
        except NotImplementedError:
            raise
        except Exception as exc:
            raise CheckFailed(f"{call} raised {type(exc).__name__}: {exc}") from exc
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
