import pytest
import torch
from torch import nn

from course_utils.models import (
    DilatedNet,
    EncDec,
    UNet,
    UNet2,
    check_input_size,
    conv_block,
    count_parameters,
)


@pytest.mark.parametrize("model_cls", [EncDec, UNet])
@pytest.mark.parametrize(
    ("in_channels", "out_channels", "width", "depth", "height", "width_px", "batch_norm"),
    [
        (3, 1, 4, 1, 8, 8, True),
        (1, 3, 2, 2, 8, 12, True),
        (3, 12, 4, 3, 16, 24, True),
        (3, 1, 3, 2, 4, 8, False),
        (2, 2, 2, 4, 16, 32, False),
    ],
)
def test_output_shape_equals_input_shape(model_cls, in_channels, out_channels, width, depth,
                                         height, width_px, batch_norm):
    model = model_cls(in_channels, out_channels, width=width, depth=depth, batch_norm=batch_norm)
    x = torch.rand(2, in_channels, height, width_px)
    out = model(x)
    assert out.shape == (2, out_channels, height, width_px)
    assert out.dtype == torch.float32
    model.eval()
    assert model(x[:1]).shape == (1, out_channels, height, width_px)


@pytest.mark.parametrize("model_cls", [EncDec, UNet])
def test_head_returns_logits_not_relu(model_cls):
    model = model_cls(1, 2, width=4, depth=2, batch_norm=False)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([-1.5, 2.0]))
    out = model(torch.rand(1, 1, 8, 8))
    assert torch.equal(out[0, 0], torch.full((8, 8), -1.5))
    assert torch.equal(out[0, 1], torch.full((8, 8), 2.0))


@pytest.mark.parametrize(
    ("shape", "depth", "message"),
    [
        ((1, 3, 18, 16), 2, r"input height 18 is not divisible by 2\*\*depth = 4; .* \(e.g. 16 or 20\)"),
        ((1, 3, 16, 20), 3, r"input width 20 is not divisible by 2\*\*depth = 8; .* \(e.g. 16 or 24\)"),
        ((1, 3, 16, 6), 3, r"input width 6 is not divisible by 2\*\*depth = 8; .* \(e.g. 8\)"),
        ((1, 3, 7, 8), 1, r"input height 7 is not divisible by 2\*\*depth = 2; .* \(e.g. 6 or 8\)"),
    ],
)
def test_check_input_size_names_dimension_and_suggests(shape, depth, message):
    with pytest.raises(ValueError, match=message):
        check_input_size(torch.zeros(shape), depth)


@pytest.mark.parametrize("shape", [(3, 16, 16), (16, 16), (1, 1, 3, 16, 16)])
def test_check_input_size_needs_a_batch(shape):
    with pytest.raises(ValueError, match=r"expected a batch \(N, C, H, W\), got shape"):
        check_input_size(torch.zeros(shape), 1)


def test_check_input_size_accepts_multiples():
    check_input_size(torch.zeros(1, 3, 16, 24), 3)


@pytest.mark.parametrize("model_cls", [EncDec, UNet])
def test_models_check_their_input(model_cls):
    model = model_cls(3, 1, width=2, depth=2)
    with pytest.raises(ValueError, match="input width 10 is not divisible by 2\\*\\*depth = 4"):
        model(torch.zeros(1, 3, 8, 10))


@pytest.mark.parametrize("model_cls", [EncDec, UNet])
@pytest.mark.parametrize(("width", "depth"), [(0, 2), (2, 0), (-1, 1)])
def test_bad_width_or_depth(model_cls, width, depth):
    with pytest.raises(ValueError, match="depth and width must be at least 1"):
        model_cls(width=width, depth=depth)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (conv_block(1, 2, batch_norm=False), 2 * 1 * 9 + 2),
        (conv_block(1, 2), 2 * 1 * 9 + 2 * 2),  # no conv bias; BatchNorm weight and bias
        (conv_block(3, 4, batch_norm=False, dilation=2), 4 * 3 * 9 + 4),
        # encoder 1->2 (20), bottleneck 2->2 (38), head 2->1 (19)
        (EncDec(1, 1, width=2, depth=1, batch_norm=False), 20 + 38 + 19),
        # ... and the head takes 2 * width channels: 4->1 (37)
        (UNet(1, 1, width=2, depth=1, batch_norm=False), 20 + 38 + 37),
        # encoder 3->2 (56), 2->2 (38); bottleneck (38); decoder 2->2 (38); head 2->4 (76)
        (EncDec(3, 4, width=2, depth=2, batch_norm=False), 56 + 38 + 38 + 38 + 76),
        # decoder 4->2 (74); head 4->4 (148)
        (UNet(3, 4, width=2, depth=2, batch_norm=False), 56 + 38 + 38 + 74 + 148),
    ],
)
def test_count_parameters_hand_computed(module, expected):
    assert count_parameters(module) == expected


def test_count_parameters_skips_frozen():
    model = EncDec(1, 1, width=2, depth=1, batch_norm=False)
    model.head.requires_grad_(False)
    assert count_parameters(model) == 20 + 38


def test_conv_block_preserves_size_and_structure():
    block = conv_block(3, 5, dilation=2)
    assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert block[0].padding == (2, 2) and block[0].dilation == (2, 2)
    assert block(torch.rand(2, 3, 7, 9)).shape == (2, 5, 7, 9)
    assert [type(m) for m in conv_block(3, 5, batch_norm=False)] == [nn.Conv2d, nn.ReLU]


@pytest.mark.parametrize(("width", "depth"), [(2, 1), (4, 3), (8, 4)])
def test_unet_decoder_takes_twice_the_width(width, depth):
    unet, encdec = UNet(3, 1, width, depth), EncDec(3, 1, width, depth)
    assert len(unet.decoder) == len(encdec.decoder) == depth - 1
    assert [block[0].in_channels for block in unet.decoder] == [2 * width] * (depth - 1)
    assert [block[0].in_channels for block in encdec.decoder] == [width] * (depth - 1)
    assert unet.head.in_channels == 2 * width and encdec.head.in_channels == width


# --- UNet2 (strided) and DilatedNet ------------------------------------------------------


@pytest.mark.parametrize(
    ("model_cls", "in_channels", "out_channels", "width", "depth", "size"),
    [
        (UNet2, 3, 1, 4, 1, (8, 8)),
        (UNet2, 1, 3, 2, 3, (16, 24)),
        (UNet2, 3, 12, 4, 4, (32, 16)),
        (DilatedNet, 3, 1, 4, 1, (5, 7)),
        (DilatedNet, 1, 3, 2, 3, (17, 16)),
        (DilatedNet, 3, 12, 4, 5, (9, 33)),
    ],
)
def test_strided_and_dilated_keep_the_input_size(model_cls, in_channels, out_channels, width,
                                                 depth, size):
    model = model_cls(in_channels, out_channels, width=width, depth=depth)
    assert model(torch.rand(2, in_channels, *size)).shape == (2, out_channels, *size)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # encoder 3->2 (54 + BN 4), down 2->2 stride 2 (36 + 4), bottleneck (36 + 4),
        # up: transposed 2x2 2->2 (16 + bias 2), head 4->1 (36 + 1)
        (UNet2(3, 1, width=2, depth=1), 58 + 40 + 40 + 18 + 37),
        # the same without BatchNorm: every convolution has a bias instead
        (UNet2(3, 1, width=2, depth=1, batch_norm=False), 56 + 38 + 38 + 18 + 37),
        # 3->4 dilation 1 (108 + BN 8), 4->4 dilation 2 (144 + 8), 1x1 head 4->1 (4 + 1)
        (DilatedNet(3, 1, width=4, depth=2), 116 + 152 + 5),
        (DilatedNet(3, 1, width=4, depth=2, batch_norm=False), 112 + 148 + 5),
    ],
)
def test_strided_and_dilated_parameters_hand_computed(module, expected):
    assert count_parameters(module) == expected


@pytest.mark.parametrize(("width", "depth"), [(2, 1), (4, 3)])
def test_unet2_resamples_with_strided_convolutions(width, depth):
    model = UNet2(3, 1, width, depth)
    assert not any(isinstance(m, nn.MaxPool2d | nn.Upsample) for m in model.modules())
    assert [block[0].stride for block in model.down] == [(2, 2)] * depth
    assert [(up.kernel_size, up.stride) for up in model.up] == [((2, 2), (2, 2))] * depth
    assert [block[0].in_channels for block in model.decoder] == [2 * width] * (depth - 1)
    assert model.head.in_channels == 2 * width


def test_dilated_net_doubles_its_dilation():
    model = DilatedNet(3, 1, width=4, depth=4)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.dilation for c in convs] == [(1, 1), (2, 2), (4, 4), (8, 8), (1, 1)]
    assert [c.padding for c in convs[:-1]] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    assert convs[-1].kernel_size == (1, 1)
    assert all(c.stride == (1, 1) for c in convs)


def test_unet2_checks_its_input():
    with pytest.raises(ValueError, match="input width 10 is not divisible by 2\\*\\*depth = 4"):
        UNet2(3, 1, width=2, depth=2)(torch.zeros(1, 3, 8, 10))


@pytest.mark.parametrize("shape", [(3, 16, 16), (1, 1, 3, 16, 16)])
def test_dilated_net_needs_a_batch(shape):
    with pytest.raises(ValueError, match=r"expected a batch \(N, C, H, W\), got shape"):
        DilatedNet(3, 1, width=2, depth=2)(torch.zeros(shape))


@pytest.mark.parametrize("model_cls", [UNet2, DilatedNet])
@pytest.mark.parametrize(("width", "depth"), [(0, 2), (2, 0), (-1, 1)])
def test_strided_and_dilated_bad_width_or_depth(model_cls, width, depth):
    with pytest.raises(ValueError, match="depth and width must be at least 1"):
        model_cls(width=width, depth=depth)

