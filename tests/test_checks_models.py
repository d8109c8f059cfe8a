"""The model checks pass the reference models and catch each typical mistake by name."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import CheckFailed
from course_utils.checks.conv_matrix import check_conv_matrix
from course_utils.checks.models import check_dilated_net, check_unet, check_unet2
from course_utils.models import DilatedNet, EncDec, UNet, UNet2, check_input_size, conv_block


@pytest.mark.parametrize(
    ("check", "model_cls", "printed"),
    [
        (check_unet, UNet, "✔ UNet: all 14 checks passed."),
        (check_unet2, UNet2, "✔ UNet2: all 18 checks passed."),
        (check_dilated_net, DilatedNet, "✔ DilatedNet: all 15 checks passed."),
    ],
)
def test_reference_models_pass(check, model_cls, printed, capsys):
    check(model_cls)
    assert capsys.readouterr().out.strip() == printed


# --- broken U-Nets, one mistake each ------------------------------------------------------

class HeadWithoutSkip(UNet):
    """Decoder steps use their skips, the head does not (and its channels were adjusted)."""

    def __init__(self, in_channels=3, out_channels=1, width=64, depth=4, batch_norm=True):
        super().__init__(in_channels, out_channels, width, depth, batch_norm)
        self.head = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, x):
        skips = []
        for conv in self.encoder:
            x = conv(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for conv in self.decoder:
            x = conv(torch.cat([self.up(x), skips.pop()], dim=1))
        return self.head(self.up(x))


class NoSizeCheck(UNet):
    def forward(self, x):
        skips = []
        for conv in self.encoder:
            x = conv(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for conv in self.decoder:
            x = conv(torch.cat([self.up(x), skips.pop()], dim=1))
        return self.head(torch.cat([self.up(x), skips.pop()], dim=1))


class VagueSizeError(UNet):
    def forward(self, x):
        if x.shape[-1] % 2**self.depth:
            raise ValueError("bad input")
        return super().forward(x)


class AcceptsAnySize(UNet):
    def forward(self, x):
        if x.shape[-1] % 2**self.depth or x.shape[-2] % 2**self.depth:
            return x.new_zeros(x.shape[0], self.head.out_channels, *x.shape[-2:])
        return super().forward(x)


class HalfSize(UNet):
    def forward(self, x):
        return F.avg_pool2d(super().forward(x), 2)


class Detached(UNet):
    def forward(self, x):
        out = super().forward(x)
        return out.detach() + 0 * out


class RenamedEncoder(UNet):
    def __init__(self, in_channels=3, out_channels=1, width=64, depth=4, batch_norm=True):
        super().__init__(in_channels, out_channels, width, depth, batch_norm)
        self.down_path = self.encoder
        del self.encoder

    def forward(self, x):
        self.encoder = self.down_path
        try:
            return super().forward(x)
        finally:
            del self.encoder


class WrongChannels(UNet):
    def __init__(self, in_channels=3, out_channels=1, width=64, depth=4, batch_norm=True):
        super().__init__(in_channels, out_channels, width, depth, batch_norm)
        self.head = nn.Conv2d(width, out_channels, 3, padding=1)


class OtherArguments(nn.Module):
    def __init__(self, channels):
        super().__init__()


def not_a_module(**kwargs):
    return lambda x: x


class Unfinished(nn.Module):
    def __init__(self, **kwargs):
        raise NotImplementedError("fill me in")


@pytest.mark.parametrize(
    ("model_cls", "message"),
    [
        (EncDec, r"the skip from encoder level 0 \(12x20 features\) never reaches the output"),
        (HeadWithoutSkip, "the skip from encoder level 0"),
        (UNet2, r"UNet2\(in_channels=3, out_channels=1, width=8, depth=2\) has 4441 parameters, "
                r"the reference has 2729"),
        (NoSizeCheck, r"on a 12x14 input \(width not divisible by 4\) raised RuntimeError"),
        (VagueSizeError, "does not name the bad width 14"),
        (AcceptsAnySize, "accepted a 12x14 input although 14 is not divisible"),
        (HalfSize, r"returned \(2, 1, 2, 2\), expected \(2, 1, 4, 4\)"),
        (Detached, "no gradient reaches the first convolution"),
        (RenamedEncoder, "keep EncDec's attribute names"),
        (WrongChannels, "raised RuntimeError: .* A channel mismatch means"),
        (OtherArguments, "unexpected keyword argument 'in_channels'. Keep the constructor"),
        (not_a_module, "must be an nn.Module subclass"),
    ],
)
def test_check_unet_names_the_mistake(model_cls, message):
    with pytest.raises(CheckFailed, match=message):
        check_unet(model_cls)


def test_a_stub_stops_the_check_with_its_own_error():
    with pytest.raises(NotImplementedError, match="fill me in"):
        check_unet(Unfinished)


# --- broken strided U-Nets ----------------------------------------------------------------

class PooledDown(UNet2):
    """Transposed convolutions up, but still max-pooling down."""

    def forward(self, x):
        check_input_size(x, self.depth)
        skips = []
        for conv in self.encoder:
            x = conv(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        ups = iter(self.up)
        for conv in self.decoder:
            x = conv(torch.cat([next(ups)(x), skips.pop()], dim=1))
        return self.head(torch.cat([next(ups)(x), skips.pop()], dim=1))


class SlicedDown(UNet2):
    """Down-samples by dropping every other pixel: no stride-2 convolution at all."""

    def forward(self, x):
        check_input_size(x, self.depth)
        skips = []
        for conv in self.encoder:
            x = conv(x)
            skips.append(x)
            x = x[..., ::2, ::2]
        x = self.bottleneck(x)
        ups = iter(self.up)
        for conv in self.decoder:
            x = conv(torch.cat([next(ups)(x), skips.pop()], dim=1))
        return self.head(torch.cat([next(ups)(x), skips.pop()], dim=1))


class DefaultMomentumDown(UNet2):
    """The confound of lesson 04: torch's default momentum 0.1 in the down-sampling blocks."""

    def __init__(self, in_channels=3, out_channels=1, width=64, depth=4, batch_norm=True):
        super().__init__(in_channels, out_channels, width, depth, batch_norm)
        for block in self.down:
            block[1] = nn.BatchNorm2d(width)


class CheckerboardUp(UNet2):
    """Lesson 04's warning: kernel 3, stride 2 (output_padding 1 keeps the size)."""

    def __init__(self, in_channels=3, out_channels=1, width=64, depth=4, batch_norm=True):
        super().__init__(in_channels, out_channels, width, depth, batch_norm)
        self.up = nn.ModuleList(nn.ConvTranspose2d(width, width, 3, stride=2, padding=1,
                                                   output_padding=1) for _ in range(depth))


@pytest.mark.parametrize(
    ("model_cls", "message"),
    [
        (CheckerboardUp, r"transposed convolution of kernel \(3, 3\) and stride \(2, 2\): "
                         r"the kernel is not a multiple of the stride"),
        (DefaultMomentumDown, r"the BatchNorm at down\.0\.1 has momentum 0\.1, every conv_block "
                              r"uses models\.BN_MOMENTUM = 0\.3"),
        (UNet, r"UNet\(.*\) still calls interpolate, max_pool2d"),
        (PooledDown, r"still calls max_pool2d;"),
        (SlicedDown, r"ran 0 stride-2 convolutions and 2 stride-2 transposed convolutions; "
                     r"expected 2 of each"),
        (EncDec, "the skip from encoder level 0"),
    ],
)
def test_check_unet2_names_the_mistake(model_cls, message):
    with pytest.raises(CheckFailed, match=message):
        check_unet2(model_cls)


# --- broken dilated networks --------------------------------------------------------------

class PlainStack(nn.Module):
    def __init__(self, in_channels=3, out_channels=1, width=64, depth=5, batch_norm=True):
        super().__init__()
        self.features = nn.Sequential(*(conv_block(in_channels if i == 0 else width, width)
                                        for i in range(depth)))
        self.head = nn.Conv2d(width, out_channels, 1)

    def forward(self, x):
        return self.head(self.features(x))


class LinearDilations(PlainStack):
    """Dilation i + 1 instead of 2**i: receptive field 1 + depth (depth + 1)."""

    def __init__(self, in_channels=3, out_channels=1, width=64, depth=5, batch_norm=True):
        super().__init__(in_channels, out_channels, width, depth, batch_norm)
        self.features = nn.Sequential(*(
            conv_block(in_channels if i == 0 else width, width, dilation=i + 1)
            for i in range(depth)))


class GriddedDilations(PlainStack):
    """Dilations that add up to 2**depth - 1 but leave holes: at depth 3, 2, 2, 3 reach
    offsets -7..7 except +-6, so 15**2 - 13**2 = 56 pixels of the 15x15 square are blind."""

    SCHEDULES = {2: (1, 2), 3: (2, 2, 3), 4: (2, 2, 3, 8)}

    def __init__(self, in_channels=3, out_channels=1, width=64, depth=5, batch_norm=True):
        super().__init__(in_channels, out_channels, width, depth, batch_norm)
        self.features = nn.Sequential(*(
            conv_block(in_channels if i == 0 else width, width, dilation=d)
            for i, d in enumerate(self.SCHEDULES[depth])))


class StridedThenUpsampled(PlainStack):
    def forward(self, x):
        size = x.shape[-2:]
        y = F.avg_pool2d(self.features(x), 2, ceil_mode=True)
        return self.head(F.interpolate(y, size=size))


@pytest.mark.parametrize(
    ("model_cls", "message"),
    [
        (PlainStack, r"has a receptive field of 5x5 pixels, expected 7x7"),
        (LinearDilations, r"depth=3\) has a receptive field of 13x13 pixels, expected 15x15"),
        (StridedThenUpsampled, r"changes the resolution \(avg_pool2d\)"),
        (GriddedDilations, r"depth=3\): 56 pixels inside its 15x15 receptive field never "
                           r"reach the centre output \(gridding\)"),
        (UNet, r"on an input of shape \(2, 3, 17, 17\) raised ValueError"),
    ],
)
def test_check_dilated_net_names_the_mistake(model_cls, message):
    with pytest.raises(CheckFailed, match=message):
        check_dilated_net(model_cls)


# --- conv_matrix, right and wrong -------------------------------------------------------------

def conv_matrix(weight, size, stride=1, padding=0):
    k = len(weight)
    n_out = (size + 2 * padding - k) // stride + 1
    matrix = torch.zeros(n_out, size)
    for i in range(n_out):
        for j in range(k):
            if 0 <= i * stride - padding + j < size:
                matrix[i, i * stride - padding + j] = weight[j]
    return matrix


def conv_matrix_vectorised(weight, size, stride=1, padding=0):
    """Another right answer: convolve the identity."""
    eye = torch.eye(size).unsqueeze(1)
    return F.conv1d(eye, weight.view(1, 1, -1), stride=stride, padding=padding)[:, 0].T


def flipped(weight, size, stride=1, padding=0):
    return conv_matrix(weight.flip(0), size, stride, padding)


def padding_ignored(weight, size, stride=1, padding=0):
    full = conv_matrix(weight, size + 2 * padding, stride, 0)
    return full[:, :size]


def stride_ignored(weight, size, stride=1, padding=0):
    n_out = (size + 2 * padding - len(weight)) // stride + 1
    return conv_matrix(weight, size, 1, padding)[:n_out]


def stride_ignored_in_shape(weight, size, stride=1, padding=0):
    return conv_matrix(weight, size, 1, padding)


def transposed(weight, size, stride=1, padding=0):
    return conv_matrix(weight, size, stride, padding).T


def padded_columns(weight, size, stride=1, padding=0):
    return conv_matrix(weight, size + 2 * padding, stride, 0)


def scaled(weight, size, stride=1, padding=0):
    return 2 * conv_matrix(weight, size, stride, padding)


def as_list(weight, size, stride=1, padding=0):
    return conv_matrix(weight, size, stride, padding).tolist()


def crashes(weight, size, stride=1, padding=0):
    return torch.zeros(2)[size]


def unfinished(weight, size, stride=1, padding=0):
    raise NotImplementedError("fill me in")


@pytest.mark.parametrize("fn", [conv_matrix, conv_matrix_vectorised])
def test_check_conv_matrix_passes_right_answers(fn, capsys):
    check_conv_matrix(fn)
    assert capsys.readouterr().out.strip() == "✔ conv_matrix: all 5 checks passed."


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (flipped, r"flipped\(torch.tensor\(\[1.0, 2.0, 3.0\]\), size=5, stride=1, padding=0\): "
                  r"row 0 is \[3, 2, 1, 0, 0\], expected \[1, 2, 3, 0, 0\].*the kernel is flipped"),
        (padding_ignored, r"size=6, stride=2, padding=1\): .* every row is shifted by the padding"),
        (stride_ignored, r"size=6, stride=2, padding=1\): .* the stride is missing"),
        (stride_ignored_in_shape, r"returned shape \(6, 6\), expected \(3, 6\): its number of "
                                  r"rows ignores the stride"),
        (transposed, r"returned shape \(5, 3\), expected \(3, 5\): rows and columns are swapped"),
        (padded_columns, r"returned shape \(3, 8\), expected \(3, 6\): it has a column for every "
                         r"padded position"),
        (scaled, r"row 0 is \[2, 4, 6, 0, 0\], expected \[1, 2, 3, 0, 0\] \(C @ x must equal "
                 r"F.conv1d\(x, weight, stride=1, padding=0\)\)\.$"),
        (as_list, r"returned list, expected a tensor of shape \(3, 5\)"),
        (crashes, r"raised IndexError"),
    ],
)
def test_check_conv_matrix_names_the_mistake(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_conv_matrix(fn)


def test_check_conv_matrix_lets_a_stub_through():
    with pytest.raises(NotImplementedError, match="fill me in"):
        check_conv_matrix(unfinished)
