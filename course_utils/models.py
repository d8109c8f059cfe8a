"""The given encoder-decoder and reference versions of the models the lessons teach.

Each lesson has the student write its model in the notebook; once taught, the model's
reference version lives here so that later lessons can build on it. Every model maps
``(N, in_channels, H, W)`` to logits ``(N, out_channels, H, W)``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ASPP", "DilatedNet", "EncDec", "UNet", "UNet2", "VGG16UNet", "center_crop",
           "check_input_size", "conv_block", "count_parameters", "vgg16_weights_file"]


# Lessons train for a few hundred steps while the weights move fast; with torch's default
# momentum 0.1 the running statistics lag so far behind that eval-mode predictions stay all
# background for the first epochs (measured: val Dice 0 for 6 of 10 epochs on cells).
BN_MOMENTUM = 0.3


def conv_block(in_channels: int, out_channels: int, batch_norm: bool = True,
               dilation: int = 1) -> nn.Sequential:
    """3x3 convolution (size-preserving padding), optional BatchNorm, ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation,
                  bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM))
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
                f"the input to a multiple of {factor} "
                f"(e.g. {f'{lower} or ' if lower else ''}{upper})"
            )


def center_crop(skip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The centre ``size = (height, width)`` of a batch ``(N, C, H, W)``: the *copy and crop*
    of a U-Net with unpadded convolutions (Ronneberger et al., 2015), whose skips are larger
    than the decoder's maps. The crop starts at ``(H - height) // 2`` (an odd difference
    leaves the extra pixel at the bottom or right)."""
    if skip.ndim != 4:
        raise ValueError(f"expected a batch (N, C, H, W), got shape {tuple(skip.shape)}")
    height, width = size
    if height > skip.shape[-2] or width > skip.shape[-1]:
        raise ValueError(f"cannot crop {tuple(skip.shape[-2:])} to the larger {tuple(size)}")
    top, left = (skip.shape[-2] - height) // 2, (skip.shape[-1] - width) // 2
    return skip[..., top:top + height, left:left + width]


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


class UNet2(nn.Module):
    """``UNet`` with learned re-sampling: a 3x3 stride-2 convolution (+ BatchNorm, ReLU)
    replaces each max-pooling and a 2x2 stride-2 transposed convolution replaces each
    nearest upsampling.

    The transposed kernel size equals the stride, so every output pixel receives exactly
    one contribution: no checkerboard pattern from uneven overlap. Same arguments as
    ``UNet``; inputs must be divisible by 2**depth.
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
        self.down = nn.ModuleList(_strided_block(width, batch_norm) for _ in range(depth))
        self.bottleneck = conv_block(width, width, batch_norm)
        self.up = nn.ModuleList(nn.ConvTranspose2d(width, width, 2, stride=2)
                                for _ in range(depth))
        self.decoder = nn.ModuleList(
            conv_block(2 * width, width, batch_norm) for _ in range(depth - 1)
        )
        self.head = nn.Conv2d(2 * width, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.depth)
        skips = []
        for conv, down in zip(self.encoder, self.down, strict=True):
            x = conv(x)
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        ups = iter(self.up)
        for conv in self.decoder:
            x = conv(torch.cat([next(ups)(x), skips.pop()], dim=1))
        return self.head(torch.cat([next(ups)(x), skips.pop()], dim=1))


def _strided_block(channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(channels, channels, 3, stride=2, padding=1,
                                         bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(channels, momentum=BN_MOMENTUM))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DilatedNet(nn.Module):
    """A stack of ``depth`` 3x3 convolutions with dilation 1, 2, 4, ..., 2**(depth-1), all at
    full resolution (no down-sampling), and a 1x1 head (Yu and Koltun, 2016).

    The receptive field grows to 2**(depth+1) - 1 pixels while the parameters grow only
    linearly with ``depth``; any input size works.

    Args:
        in_channels: channels of the input image (3 for RGB).
        out_channels: 1 for binary segmentation, ``num_classes`` for multi-class.
        width: channels of every hidden layer.
        depth: number of dilated convolutions.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 depth: int = 5, batch_norm: bool = True):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be at least 1, got {depth} and {width}")
        self.depth = depth
        self.features = nn.Sequential(*(
            conv_block(in_channels if i == 0 else width, width, batch_norm, dilation=2**i)
            for i in range(depth)
        ))
        self.head = nn.Conv2d(width, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected a batch (N, C, H, W), got shape {tuple(x.shape)}")
        return self.head(self.features(x))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (Chen et al., DeepLabv3, 2017), keeping height and width.

    Parallel 3x3 convolutions, one per dilation, and an image pooling branch (global average,
    1x1 convolution, ReLU, broadcast back to H x W), concatenated and projected to
    ``out_channels`` by a 1x1 convolution. The pooling branch has no BatchNorm: on a 1x1 map
    a training batch of one leaves it a single value per channel, and it fails.

    Args:
        in_channels, out_channels: channels of the input and of the output.
        dilations: one 3x3 branch per dilation (DeepLabv3 uses 1x1 and 6, 12, 18 on
            features 16 times smaller than the image).
    """

    def __init__(self, in_channels: int, out_channels: int,
                 dilations: tuple[int, ...] = (1, 6, 12, 18), batch_norm: bool = True):
        super().__init__()
        if not dilations:
            raise ValueError("dilations is empty; give at least one dilation")
        self.branches = nn.ModuleList(conv_block(in_channels, out_channels, batch_norm, dilation=d)
                                      for d in dilations)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1),
                                  nn.ReLU(inplace=True))
        project: list[nn.Module] = [nn.Conv2d((len(dilations) + 1) * out_channels, out_channels,
                                              1, bias=not batch_norm)]
        if batch_norm:
            project.append(nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM))
        self.project = nn.Sequential(*project, nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x).expand(-1, -1, *x.shape[-2:])
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], dim=1))


def vgg16_weights_file():
    """The local torch-hub file of torchvision's ImageNet VGG16 weights, or None if absent.

    Looks only in ``torch.hub.get_dir()/checkpoints``; it never downloads anything.
    """
    from pathlib import Path

    from torchvision.models import VGG16_Weights

    name = VGG16_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    return path if path.is_file() else None


class VGG16UNet(nn.Module):
    """A U-Net whose encoder is the convolutional part (``features``) of torchvision's VGG16.

    VGG16's features are five blocks of 3x3 convolutions (64, 128, 256, 512, 512 channels),
    each followed by max-pooling. The first ``depth`` blocks form the encoder: the outputs of
    blocks 1..depth-1 are the skips, block ``depth`` is the bottleneck. Each decoder level
    upsamples (nearest), concatenates the skip and applies ``conv_block``; a 1x1 head gives
    logits. Inputs are normalised with ImageNet's mean and std inside the model, as the
    pretrained weights expect. Inputs must be divisible by ``2**(depth - 1)``.

    Args:
        out_channels: 1 for binary segmentation, ``num_classes`` for multi-class.
        depth: VGG16 blocks to use, 1..5 (fewer blocks: smaller and faster).
        pretrained: load ImageNet weights, from the local torch-hub cache only
            (see ``vgg16_weights_file``); raises ``FileNotFoundError`` when absent.
        freeze_encoder: keep the encoder's weights fixed (no gradients).
    """

    _BLOCK_ENDS = (4, 9, 16, 23, 30)  # index of each block's max-pool in vgg16().features
    _CHANNELS = (64, 128, 256, 512, 512)

    def __init__(self, out_channels: int = 1, depth: int = 5, pretrained: bool = False,
                 freeze_encoder: bool = False):
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        if not 1 <= depth <= 5:
            raise ValueError(f"depth must be 1..5 (VGG16 has five blocks), got {depth!r}")
        # VGG16's features alone: building vgg16() would also allocate its 120M-parameter head
        features = make_layers(cfgs["D"])
        for m in features.modules():
            if isinstance(m, nn.Conv2d):  # torchvision's own VGG initialisation
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        if pretrained:
            path = vgg16_weights_file()
            if path is None:
                raise FileNotFoundError(
                    "the VGG16 ImageNet weights are not in the local torch hub cache "
                    f"({torch.hub.get_dir()}/checkpoints); download them once with network "
                    "access, or use pretrained=False")
            state = torch.load(path, map_location="cpu", weights_only=True)
            features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                                      if k.startswith("features.")})
        self.depth = depth
        starts = (0,) + tuple(end + 1 for end in self._BLOCK_ENDS)
        # each block without its pool; pooling is applied in forward between blocks
        self.encoder = nn.ModuleList(features[starts[i] : self._BLOCK_ENDS[i]]
                                     for i in range(depth))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        channels = self._CHANNELS[:depth]
        width = channels[-1]
        decoder = []
        for skip in reversed(channels[:-1]):
            decoder.append(conv_block(width + skip, skip // 2))
            width = skip // 2
        self.decoder = nn.ModuleList(decoder)
        self.head = nn.Conv2d(width, out_channels, 1)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.freeze_encoder(freeze_encoder)

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Switch the encoder's gradients off (``frozen``) or back on."""
        for p in self.encoder.parameters():
            p.requires_grad_(not frozen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.depth - 1)
        if x.shape[1] != 3:
            raise ValueError(f"VGG16 expects RGB input (N, 3, H, W), got {tuple(x.shape)}")
        x = (x - self.mean) / self.std
        skips = []
        for i, block in enumerate(self.encoder):
            if i:
                skips.append(x)
                x = self.pool(x)
            x = block(x)
        for conv in self.decoder:
            x = conv(torch.cat([self.up(x), skips.pop()], dim=1))
        return self.head(x)
