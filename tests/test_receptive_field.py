import pytest
import torch
from torch import nn

from course_utils.models import ASPP, DilatedNet, conv_block
from course_utils.receptive_field import (
    effective_radius,
    gradient_mass,
    gradient_support,
    measured_receptive_field,
    receptive_field,
    split_gradient_support,
)


@pytest.mark.parametrize(
    ("kernel_sizes", "strides", "dilations", "expected"),
    [
        ([1], None, None, 1),
        ([3], None, None, 3),
        ([3, 3, 3], None, None, 7),  # 1 + 2 per layer
        ([3, 3, 3], None, [1, 2, 4], 15),  # 1 + 2 (1 + 2 + 4)
        ([3] * 5, None, [1, 2, 4, 8, 16], 63),
        ([5, 3], None, [1, 3], 11),  # 1 + 4 + 2 * 3
        ([7], [2], None, 7),  # a stride does not widen its own layer
        ([3, 2, 3], [1, 2, 1], None, 8),  # conv, 2x2 pool, conv: 1 + 2 + 1 + 2 * 2
        ([3, 3, 3], [2, 2, 1], None, 15),  # 1 + 2 + 2 * 2 + 4 * 2
    ],
)
def test_receptive_field_formula(kernel_sizes, strides, dilations, expected):
    assert receptive_field(kernel_sizes, strides, dilations) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([],), "kernel_sizes is empty"),
        (([3, 3], [1]), "strides has 1 entries but kernel_sizes has 2"),
        (([3], None, [1, 2]), "dilations has 2 entries but kernel_sizes has 1"),
        (([3, 0],), "kernel_sizes must be positive integers, got 0"),
        (([3], [-1]), "strides must be positive integers, got -1"),
        (([3], None, [1.5]), "dilations must be positive integers, got 1.5"),
    ],
)
def test_receptive_field_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        receptive_field(*args)


def _conv(kernel_size, dilation=1):
    padding = tuple(dilation * (k - 1) // 2 for k in kernel_size)
    return nn.Conv2d(1, 2, kernel_size, padding=padding, dilation=dilation)


@pytest.mark.parametrize(
    ("make_model", "expected"),
    [
        (lambda: _conv((1, 1)), (1, 1)),
        (lambda: _conv((3, 3)), (3, 3)),
        (lambda: _conv((3, 5)), (3, 5)),
        (lambda: _conv((3, 3), dilation=2), (5, 5)),
        (lambda: nn.Sequential(_conv((3, 3)), nn.ReLU(), nn.Conv2d(2, 1, 3, padding=1)), (5, 5)),
        (lambda: DilatedNet(1, 1, width=4, depth=3), (15, 15)),
    ],
)
def test_measured_receptive_field(make_model, expected):
    # built per test from a fixed seed, not at collection time from whatever state the
    # global generator is in: a random 2-channel ReLU layer can be dead for a bad draw
    torch.manual_seed(0)
    assert measured_receptive_field(make_model(), 21, in_channels=1) == expected


def test_gradient_support_shows_the_holes_of_a_dilated_kernel():
    support = gradient_support(_conv((3, 3), dilation=2), 7, in_channels=1)
    expected = torch.zeros(7, 7, dtype=torch.bool)
    expected[1::2, 1::2] = True  # taps at offsets -2, 0, +2 around the centre (3, 3)
    assert torch.equal(support, expected)


def test_gradient_support_of_a_rectangular_input():
    support = gradient_support(_conv((3, 3)), (5, 8), in_channels=1)
    assert support.shape == (5, 8)
    assert support.nonzero().tolist() == [[r, c] for r in (1, 2, 3) for c in (3, 4, 5)]


def test_measurement_restores_the_mode_and_leaves_gradients_alone():
    model = nn.Sequential(conv_block(1, 2), nn.Conv2d(2, 1, 1)).train()
    assert measured_receptive_field(model, 9, in_channels=1) == (3, 3)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    measured_receptive_field(model, 9, in_channels=1)
    assert not model.training


def test_a_model_that_sees_nothing_measures_zero():
    model = nn.Conv2d(1, 1, 3, padding=1)
    nn.init.zeros_(model.weight)
    assert measured_receptive_field(model, 9, in_channels=1) == (0, 0)


@pytest.mark.parametrize(
    ("model", "input_size", "kwargs", "message"),
    [
        (_conv((5, 5)), 5, {}, "reaches the border of the 5x5 input"),
        (nn.Conv2d(1, 1, 3), 9, {}, r"output \(4, 1, 7, 7\) does not keep the input size"),
        (_conv((3, 3)), 0, {}, "input_size and samples must be positive"),
        (_conv((3, 3)), 9, {"samples": 0}, "input_size and samples must be positive"),
    ],
)
def test_measurement_bad_input(model, input_size, kwargs, message):
    with pytest.raises(ValueError, match=message):
        measured_receptive_field(model, input_size, in_channels=1, **kwargs)


def _taps(size, dilations):
    expected = torch.zeros(size, size, dtype=torch.bool)
    c = size // 2
    for d in dilations:
        expected[c - d:c + d + 1:d, c - d:c + d + 1:d] = True
    return expected


@pytest.mark.parametrize("dilations", [(1,), (1, 2, 5), (3, 4)])
def test_split_support_of_aspp_is_the_taps_plus_a_global_part(dilations):
    torch.manual_seed(0)
    model = ASPP(2, 3, dilations)
    support, everywhere = split_gradient_support(model, 25, in_channels=2)
    assert torch.equal(support, _taps(25, dilations))
    assert everywhere
    # the whole input reaches the centre, so the plain support is everything
    assert gradient_support(model, 25, in_channels=2).all()


def test_split_support_of_a_convolution_has_no_global_part():
    support, everywhere = split_gradient_support(_conv((3, 3), dilation=2), 11, in_channels=1)
    assert torch.equal(support, _taps(11, (2,)))
    assert not everywhere


def test_split_support_of_a_model_that_sees_nothing():
    model = nn.Conv2d(1, 1, 3, padding=1)
    nn.init.zeros_(model.weight)
    support, everywhere = split_gradient_support(model, 9, in_channels=1)
    assert not support.any() and not everywhere


# --- the effective receptive field ------------------------------------------------------------

def _ones_conv(kernel_size: int = 3) -> nn.Conv2d:
    conv = nn.Conv2d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    return conv


def test_gradient_mass_of_a_conv_of_ones_is_its_footprint():
    conv = _ones_conv()
    images = torch.randn(3, 1, 7, 7)
    expected = torch.zeros(7, 7)
    expected[2:5, 2:5] = 1.0  # every tap has weight 1, for every image
    assert torch.equal(gradient_mass(conv, images), expected)


def test_gradient_mass_of_two_convs_is_a_pyramid():
    model = nn.Sequential(_ones_conv(), _ones_conv())
    grad = gradient_mass(model, torch.randn(2, 1, 9, 9))
    ramp = torch.tensor([0.0, 0, 1, 2, 3, 2, 1, 0, 0])
    assert torch.equal(grad, ramp[:, None] * ramp[None, :])


def test_gradient_mass_sums_the_channels_and_restores_the_mode():
    conv = nn.Conv2d(2, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -3.0]).view(1, 2, 1, 1))
    conv.train()
    grad = gradient_mass(conv, torch.randn(1, 2, 5, 5))
    assert grad[2, 2] == 4.0 and grad.sum() == 4.0 and conv.training


@pytest.mark.parametrize(("inputs", "model", "message"), [
    (torch.randn(3, 5, 5), nn.Identity(), r"batch \(N, C, H, W\)"),
    (torch.randn(1, 1, 6, 6), nn.MaxPool2d(2), "does not keep the input size"),
])
def test_gradient_mass_rejects_bad_input(inputs, model, message):
    with pytest.raises(ValueError, match=message):
        gradient_mass(model, inputs)


def _blocks(shape, *blocks):
    grad = torch.zeros(shape)
    for r0, r1, c0, c1, value in blocks:
        grad[r0:r1, c0:c1] = value
    return grad


@pytest.mark.parametrize(("grad", "mass", "expected"), [
    (_blocks((7, 7), (2, 5, 2, 5, 1.0)), 0.9, 1),  # 1/9 at r = 0, all at r = 1
    (_blocks((7, 7), (2, 5, 2, 5, 1.0)), 1 / 9, 0),  # the centre alone holds exactly 1/9
    (_blocks((7, 7), (2, 5, 2, 5, 1.0)), 1.0, 1),  # reached exactly
    (_blocks((7, 7), (2, 5, 2, 5, -1.0), (3, 4, 3, 4, 1.0)), 0.5, 1),  # signs do not cancel
    (_blocks((9, 9), (0, 9, 0, 9, 1.0)), 0.5, 3),  # 49/81 >= 0.5 > 25/81
    (_blocks((8, 8), (4, 5, 4, 5, 1.0)), 0.9, 0),  # the centre of an even size is H // 2
    (_blocks((5, 9), (2, 3, 4, 5, 1.0), (2, 3, 8, 9, 1.0)), 0.9, 4),  # wide: cut at the rows
    (torch.zeros(5, 5), 0.9, 0),  # no gradient at all
])
def test_effective_radius(grad, mass, expected):
    assert effective_radius(grad, mass) == expected


@pytest.mark.parametrize(("grad", "mass", "message"), [
    (torch.ones(3), 0.9, r"2-D \(H, W\)"),
    (torch.ones(3, 3), 0.0, r"in \(0, 1\]"),
    (torch.ones(3, 3), 1.5, r"in \(0, 1\]"),
])
def test_effective_radius_rejects_bad_input(grad, mass, message):
    with pytest.raises(ValueError, match=message):
        effective_radius(grad, mass)
