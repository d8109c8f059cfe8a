"""The given encoder-decoder and reference versions of the models the lessons teach.

Each lesson has the student write its model in the notebook; once taught, the model's
reference version lives here so that later lessons can build on it. Every model maps
``(N, in_channels, H, W)`` to logits ``(N, out_channels, H, W)``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EncDec", "UNet", "check_input_size", "conv_block", "count_parameters"]


def conv_block(in_channels: int, out_channels: int, batch_norm: bool = True,
               dilation: int = 1) -> nn.Sequential:
    """3x3 convolution (size-preserving padding), optional BatchNorm, ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation,
                  bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def check_input_size(x: torch.Tensor, depth: int) -> None:
    """Raise a clear error when ``x`` cannot be halved ``depth`` times and restored."""
    if x.ndim != 4:
        raise ValueError(f"expected a batch (N, C, H, W), got shape {tuple(x.shape)}")
    factor = 2**depth
    for dim, n in zip(("height", "width"), x.shape[-2:], strict=True):
        if n % factor:
            lower, upper = n // factor * factor, (n // factor + 1) * factor
            raise ValueError(
                f"input {dim} {n} is not divisible by 2**depth = {factor}; resize or pad "
                f"the input to a multiple of {factor} (e.g. {lower or factor} or {upper})"
            )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class EncDec(nn.Module):
    """The exercise's encoder-decoder: ``depth`` times conv + max-pool down, a bottleneck
    conv, ``depth`` times nearest upsampling + conv up; no skip connections.

    The first ``depth - 1`` decoder convolutions are followed by ReLU; the last one is the
    head and returns logits. BatchNorm (on by default) is an addition to the exercise's
    plain version: it makes short training runs reliable.

    Args:
        in_channels: channels of the input image (3 for RGB).
        out_channels: 1 for binary segmentation, ``num_classes`` for multi-class.
        width: channels of every hidden layer.
        depth: number of 2x down-sampling steps; inputs must be divisible by 2**depth.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 depth: int = 4, batch_norm: bool = True):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be at least 1, got {depth} and {width}")
        self.depth = depth
        self.encoder = nn.ModuleList(
            conv_block(in_channels if i == 0 else width, width, batch_norm) for i in range(depth)
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = conv_block(width, width, batch_norm)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.decoder = nn.ModuleList(conv_block(width, width, batch_norm) for _ in range(depth - 1))
        self.head = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.depth)
        for conv in self.encoder:
            x = self.pool(conv(x))
        x = self.bottleneck(x)
        for conv in self.decoder:
            x = conv(self.up(x))
        return self.head(self.up(x))


class UNet(EncDec):
    """``EncDec`` with U-Net skip connections (Ronneberger et al., 2015).

    Each encoder level's features, taken before pooling, are concatenated along the
    channels with the upsampled decoder features of the same size, so every decoder
    convolution (and the head) takes ``2 * width`` input channels instead of ``width``.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 depth: int = 4, batch_norm: bool = True):
        super().__init__(in_channels, out_channels, width, depth, batch_norm)
        self.decoder = nn.ModuleList(
            conv_block(2 * width, width, batch_norm) for _ in range(depth - 1)
        )
        self.head = nn.Conv2d(2 * width, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.depth)
        skips = []
        for conv in self.encoder:
            x = conv(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for conv in self.decoder:
            x = conv(torch.cat([self.up(x), skips.pop()], dim=1))
        return self.head(torch.cat([self.up(x), skips.pop()], dim=1))
