"""Checks for the receptive field (lesson 05): the formula a student writes, the radius of
the effective receptive field, and the ASPP block, whose local branches must reach exactly
the taps of their dilations."""

from __future__ import annotations

import torch
from torch import nn

from course_utils.checks import CheckFailed, passed
from course_utils.checks.calling import call_student, call_text

__all__ = ["check_aspp", "check_effective_radius", "check_receptive_field"]

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
        got = call_student(call, fn, *[list(a) if isinstance(a, list) else a for a in args],
                           hint=_defaults_hint)
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


def _pyramid_map() -> torch.Tensor:
    """|gradient| of the centre output of two 3x3 convolutions of ones on a 9x9 input: the
    outer product of (1, 2, 3, 2, 1), 81 in all, 49 of it in the central 3x3."""
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.zeros(1, 1, 9, 9, requires_grad=True)
    (grad,) = torch.autograd.grad(conv(conv(x))[0, 0, 4, 4], x)
    return grad[0, 0]


def _map(shape, *values) -> torch.Tensor:
    """A zero map with ``(row, col, value)`` entries, or ``(r0, r1, c0, c1, value)`` blocks."""
    grad = torch.zeros(shape)
    for entry in values:
        if len(entry) == 3:
            grad[entry[0], entry[1]] = entry[2]
        else:
            grad[entry[0]:entry[1], entry[2]:entry[3]] = entry[4]
    return grad


def _signed_map() -> torch.Tensor:
    grad = _map((7, 7), (2, 5, 2, 5, -1.0))
    grad[3, 3] = 1.0
    return grad


# (case, map, mass, expected radius, the slip a wrong radius there suggests)
_ERF_CASES = (
    ("a 3 x 3 block of ones in a 7 x 7 map, mass 0.9", lambda: _map((7, 7), (2, 5, 2, 5, 1.0)),
     0.9, 1, None),
    ("two stacked 3x3 convolutions of ones (a 5 x 5 pyramid), mass 0.5", _pyramid_map, 0.5, 1,
     None),
    ("two stacked 3x3 convolutions of ones (a 5 x 5 pyramid), mass 0.9", _pyramid_map, 0.9, 2,
     None),
    ("a 3 x 3 block of ones in a 7 x 7 map, mass 1.0 (reached exactly)",
     lambda: _map((7, 7), (2, 5, 2, 5, 1.0)), 1.0, 1,
     "a square that holds exactly the share is enough: compare with >=, not >"),
    ("a centre of +1 in a 3 x 3 ring of -1", _signed_map, 0.9, 1,
     "a negative gradient moves the output as much as a positive one: sum the absolute "
     "values (grad.abs())"),
    ("an 8 x 8 map with all its mass at pixel (4, 4)", lambda: _map((8, 8), (4, 4, 1.0)), 0.5, 0,
     "the centre output pixel of an even size is (H // 2, W // 2), the pixel whose gradient "
     "the map holds"),
    ("a 5 x 9 map with mass at the centre and at the right edge",
     lambda: _map((5, 9), (2, 4, 1.0), (2, 8, 1.0)), 0.9, 4,
     "the map need not be square: the square grows until it reaches the farthest edge, "
     "height and width alike, cut off at the border"),
    ("a map that is zero everywhere", lambda: torch.zeros(5, 5), 0.9, 0,
     "a map without gradient has radius 0 (nothing to hold); guard the division"),
)


def check_effective_radius(fn) -> None:
    """Check ``fn(grad_map, mass=0.9) -> int`` on maps with known radii, one of them the
    gradient of a tiny network of ones: blocks, a pyramid, signs, an even size, a wide map,
    a share reached exactly, and a map of zeros."""
    for case, make, mass, want, slip in _ERF_CASES:
        grad = make()
        try:
            got = fn(grad.clone(), mass=mass)
        except NotImplementedError:
            raise
        except Exception as exc:
            raise CheckFailed(f"{case}: your function raised {type(exc).__name__}: {exc}"
                              + (f". Perhaps {slip}" if slip else "")) from exc
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, int | float) or got != want:
            if slip:
                why = f"{slip}. "
            elif isinstance(got, int | float) and got == 2 * want + 1:
                why = "return the radius r, not the width 2r + 1. "
            else:
                why = ""
            raise CheckFailed(f"{why}{case}: expected radius {want}, got {got!r}")
    passed("effective_radius", len(_ERF_CASES))


_ASPP_CONFIGS = ({"in_channels": 3, "out_channels": 4, "dilations": (1, 2, 5)},
                 {"in_channels": 2, "out_channels": 3, "dilations": (2, 3)})


def check_aspp(model_cls) -> None:
    """Check an ASPP class ``(in_channels, out_channels, dilations)``: output shapes on odd
    sizes, a training batch of one, the local receptive field (the taps of every dilation,
    nothing else) and the image pooling branch (every pixel reaches every output)."""
    from course_utils.receptive_field import split_gradient_support

    cases = 0
    for config in _ASPP_CONFIGS:
        name = call_text(model_cls.__name__, config)
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


def _defaults_hint(exc: Exception) -> str:
    return ("strides=None and dilations=None mean a 1 for every layer."
            if isinstance(exc, TypeError) else "")


def _aspp_hint(exc: Exception) -> str:
    text = str(exc)
    if "more than 1 value per channel" in text:
        return ("On the pooled 1x1 map a batch of one leaves BatchNorm a single value per "
                "channel; leave BatchNorm out of the image pooling branch.")
    if "Sizes of tensors must match" in text:
        return ("torch.cat needs every branch at the input's height and width: padding "
                "equal to the dilation for the 3x3 branches, and the pooled 1x1 map "
                "broadcast back to H x W (expand or F.interpolate).")
    if isinstance(exc, RuntimeError):
        return ("A channel mismatch usually means the 1x1 projection does not read all "
                "the concatenated channels: (number of dilations + 1) * out_channels.")
    return ""


def _check_aspp_output(model: nn.Module, config: dict, batch: int, size, name: str) -> None:
    model.train()
    x = torch.rand(batch, config["in_channels"], *size)
    out = call_student(f"{name} in training mode on an input of shape {tuple(x.shape)}", model,
                       x, hint=_aspp_hint)
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
