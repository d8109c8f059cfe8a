"""The lesson-05 checks: ``check_receptive_field`` and ``check_aspp``, with right and wrong
answers; every wrong answer must be named."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import CheckFailed
from course_utils.checks.receptive import (
    check_aspp,
    check_effective_radius,
    check_receptive_field,
)
from course_utils.models import ASPP, conv_block
from course_utils.receptive_field import effective_radius, receptive_field


def test_the_reference_receptive_field_passes(capsys):
    check_receptive_field(receptive_field)
    assert capsys.readouterr().out.strip() == "✔ receptive_field: all 8 checks passed."


def _rf(kernel_sizes, strides=None, dilations=None, *, slip=None):
    n = len(kernel_sizes)
    strides = strides if strides is not None and slip != "no strides" else [1] * n
    dilations = dilations if dilations is not None and slip != "no dilations" else [1] * n
    width, jump = (0 if slip == "no 1" else 1), 1
    for k, s, d in zip(kernel_sizes, strides, dilations, strict=True):
        if slip == "own stride":
            jump *= s
        width += (d * k if slip == "d * k" else d * (k - 1) + (slip == "full width")) * jump
        if slip != "own stride":
            jump *= s
    return width


def _named(slip):
    def fn(kernel_sizes, strides=None, dilations=None):
        return _rf(kernel_sizes, strides, dilations, slip=slip)
    fn.__name__ = "receptive_field"
    return fn


def _no_defaults(kernel_sizes, strides, dilations):
    return receptive_field(kernel_sizes, strides, dilations)


def _returns_a_float(kernel_sizes, strides=None, dilations=None):
    return receptive_field(kernel_sizes, strides, dilations) + 0.5


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_named("no 1"), r"returned 2, expected 3\. It looks as if it misses the 1"),
        (_named("own stride"), r"\[7\], \[2\], None\) returned 13, expected 7\. It looks as if "
                               r"a layer's own stride"),
        (_named("no strides"), r"returned 6, expected 8\. It looks as if the strides are ignored"),
        (_named("no dilations"), r"returned 7, expected 15\. It looks as if the dilations are "
                                 r"ignored"),
        (_named("d * k"), r"returned 4, expected 3\. It looks as if each layer adds d \* k"),
        (_named("full width"), r"returned 4, expected 3\. It looks as if each layer adds its whole"),
        (_no_defaults, r"receptive_field\(\[3\]\) raised TypeError: .*None mean a 1 for every"),
        (_returns_a_float, r"returned 3\.5, expected 3\.$"),
    ],
)
def test_check_receptive_field_names_the_slip(fn, message):
    fn.__name__ = "receptive_field"
    with pytest.raises(CheckFailed, match=message):
        check_receptive_field(fn)


def test_check_receptive_field_lets_the_stub_through():
    def stub(kernel_sizes, strides=None, dilations=None):
        raise NotImplementedError("write it")
    with pytest.raises(NotImplementedError):
        check_receptive_field(stub)


# --- ASPP --------------------------------------------------------------------------------------

def test_the_reference_aspp_passes(capsys):
    torch.manual_seed(0)
    check_aspp(ASPP)
    assert capsys.readouterr().out.strip() == "✔ ASPP: all 10 checks passed."


class _Pooling(nn.Sequential):
    def __init__(self, in_channels, out_channels, batch_norm=False):
        layers = [nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1)]
        super().__init__(*layers, *([nn.BatchNorm2d(out_channels)] if batch_norm else []),
                         nn.ReLU())


class _Broken(nn.Module):
    """An ASPP with one thing wrong, chosen by the subclass."""

    pool_batch_norm = False
    chained = False
    padding = None  # None: equal to the dilation
    hard_coded = None
    broadcast = True
    project = True
    pooling = True

    def __init__(self, in_channels, out_channels, dilations):
        super().__init__()
        dilations = self.hard_coded or dilations
        self.branches = nn.ModuleList()
        for i, d in enumerate(dilations):
            c_in = out_channels if self.chained and i else in_channels
            pad = d if self.padding is None else self.padding
            self.branches.append(nn.Sequential(
                nn.Conv2d(c_in, out_channels, 3, padding=pad, dilation=d), nn.ReLU()))
        self.pool = _Pooling(in_channels, out_channels, self.pool_batch_norm)
        n = len(dilations) + self.pooling
        self.proj = nn.Conv2d(n * out_channels, out_channels, 1)

    def forward(self, x):
        outs, h = [], x
        for branch in self.branches:
            h = branch(h if self.chained else x)
            outs.append(h)
        if self.pooling:
            pooled = self.pool(x)
            outs.append(F.interpolate(pooled, size=x.shape[-2:]) if self.broadcast else pooled)
        cat = torch.cat(outs, dim=1)
        return self.proj(cat) if self.project else cat


class _Correct(_Broken):
    pass


class _NoPooling(_Broken):
    pooling = False


class _Chained(_Broken):
    chained = True


class _HardCoded(_Broken):
    hard_coded = (1, 6, 12, 18)


class _PaddingOne(_Broken):
    padding = 1


class _NotBroadcast(_Broken):
    broadcast = False


class _NoProjection(_Broken):
    project = False


class _PoolBatchNorm(_Broken):
    pool_batch_norm = True


class _OldSignature(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()


class _Dilated3x3Only(nn.Module):
    """One dilated 3x3 convolution with the largest dilation, and the pooling branch."""

    def __init__(self, in_channels, out_channels, dilations):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=max(dilations),
                              dilation=max(dilations))
        self.pool = _Pooling(in_channels, out_channels)

    def forward(self, x):
        return self.conv(x) + self.pool(x)


class _ChainedBlock(nn.Module):
    """Branches fine, but a 3x3 block after the projection widens the field."""

    def __init__(self, in_channels, out_channels, dilations):
        super().__init__()
        self.aspp = ASPP(in_channels, out_channels, dilations)
        self.after = conv_block(out_channels, out_channels)

    def forward(self, x):
        return self.after(self.aspp(x))


def test_a_correct_student_aspp_passes(capsys):
    torch.manual_seed(0)
    check_aspp(_Correct)
    assert "all 10 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("model_cls", "message"),
    [
        (_NoPooling, r"a pixel far from the centre does not change the centre output\. The image "
                     r"pooling branch"),
        (_Chained, r"at offset \(-3, 0\) from the centre reaches .* not one after another"),
        (_HardCoded, r"the taps of dilation 2 .* do not reach the centre output"),
        (_Dilated3x3Only, r"the taps of dilation 1 "),
        (_ChainedBlock, r"at offset \(-3, 0\) from the centre reaches"),
        (_PaddingOne, r"raised RuntimeError: Sizes of tensors must match.*padding equal to the "
                      r"dilation"),
        (_NotBroadcast, r"raised RuntimeError: Sizes of tensors must match.*broadcast back"),
        (_NoProjection, r"returned \(2, 16, 17, 17\), expected \(2, 4, 17, 17\)\. A 1x1 "
                        r"convolution projects"),
        (_PoolBatchNorm, r"shape \(1, 3, 16, 16\) raised ValueError: .*leave BatchNorm out of "
                         r"the image pooling branch"),
        (_OldSignature, r"ASPP\(in_channels=3, out_channels=4, dilations=\(1, 2, 5\)\) failed: "
                        r".*Keep the constructor arguments"),
    ],
)
def test_check_aspp_names_the_mistake(model_cls, message):
    model_cls.__name__ = "ASPP"
    torch.manual_seed(0)
    with pytest.raises(CheckFailed, match=message):
        check_aspp(model_cls)


def test_check_aspp_lets_the_stub_through():
    class Stub(nn.Module):
        def __init__(self, in_channels, out_channels, dilations):
            raise NotImplementedError("write it")
    with pytest.raises(NotImplementedError):
        check_aspp(Stub)


def test_the_reference_aspp_keeps_the_size_and_rejects_no_dilations():
    model = ASPP(3, 5, (1, 2)).train()
    assert model(torch.rand(1, 3, 9, 14)).shape == (1, 5, 9, 14)  # a batch of one trains
    with pytest.raises(ValueError, match="dilations is empty"):
        ASPP(3, 5, ())


# --- effective_radius --------------------------------------------------------------------------

def _radius(grad_map, mass=0.9, *, signed=False, strict=False, width=False, centre=None,
            square=False):
    """A student's effective_radius, right by default, or with one slip switched on."""
    weights = grad_map.double() if signed else grad_map.abs().double()
    total = weights.sum().item()
    h, w = weights.shape
    if square:
        w = h
    cy, cx = (h // 2, w // 2) if centre is None else centre(h, w)
    for r in range(max(h, w)):
        inside = weights[max(cy - r, 0):cy + r + 1, max(cx - r, 0):cx + r + 1].sum().item()
        if (inside > mass * total) if strict else (inside >= mass * total):
            return 2 * r + 1 if width else r
    return max(h, w) // 2


def test_the_reference_effective_radius_passes(capsys):
    check_effective_radius(effective_radius)
    check_effective_radius(_radius)
    assert capsys.readouterr().out.count("✔ effective_radius: all 8 checks passed.") == 2


@pytest.mark.parametrize(("fn", "message"), [
    (lambda g, mass=0.9: _radius(g, mass, strict=True), r"compare with >=, not >"),
    (lambda g, mass=0.9: _radius(g, mass, signed=True), r"sum the absolute values"),
    (lambda g, mass=0.9: _radius(g, mass, width=True),
     r"^return the radius r, not the width 2r \+ 1\. a 3 x 3 block"),
    (lambda g, mass=0.9: _radius(g, mass, centre=lambda h, w: ((h - 1) // 2, (w - 1) // 2)),
     r"^the centre output pixel of an even size is \(H // 2, W // 2\).*expected radius 0, got 1"),
    (lambda g, mass=0.9: _radius(g, mass, square=True), r"the map need not be square"),
    (lambda g, mass=0.9: int(torch.tensor(g.shape).max()) // 2, r"expected radius 1, got 3"),
    (lambda g, mass=0.9: "1", r"expected radius 1, got '1'"),
])
def test_check_effective_radius_names_the_slip(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_effective_radius(fn)


def test_check_effective_radius_reports_a_crash_on_an_empty_map():
    def divides(grad_map, mass=0.9):
        shares = grad_map.abs() / grad_map.abs().sum()
        if torch.isnan(shares).any():
            raise ZeroDivisionError("0 / 0")
        return _radius(grad_map, mass)
    with pytest.raises(CheckFailed, match=r"a map that is zero everywhere: your function raised "
                                          r"ZeroDivisionError.*guard the division"):
        check_effective_radius(divides)


def test_check_effective_radius_lets_the_stub_through():
    def stub(grad_map, mass=0.9):
        raise NotImplementedError("write it")
    with pytest.raises(NotImplementedError):
        check_effective_radius(stub)
