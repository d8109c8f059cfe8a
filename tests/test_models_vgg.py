"""course_utils.models.VGG16UNet and vgg16_weights_file: shapes, freezing, and loading
pretrained weights only from the local torch hub cache (never a download)."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from course_utils import models


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub directory: no test sees the caller's cache or the network."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(old)


@pytest.mark.parametrize(("depth", "size", "params"), [
    (1, (8, 8), 1_792 + 36_928 + 65),  # block 1's two convolutions and the 1x1 head 64 -> 1
    (2, (16, 8), None),
    (3, (32, 16), 1_993_761),
    (5, (32, 32), 17_849_121),
])
def test_shapes_and_parameters(depth, size, params):
    net = models.VGG16UNet(out_channels=3, depth=depth)
    assert net(torch.rand(2, 3, *size)).shape == (2, 3, *size)
    if params is not None:
        assert models.count_parameters(models.VGG16UNet(out_channels=1, depth=depth)) == params


def test_freezing_switches_off_the_encoder_only():
    net = models.VGG16UNet(depth=3, freeze_encoder=True)
    assert not any(p.requires_grad for p in net.encoder.parameters())
    assert all(p.requires_grad for p in net.decoder.parameters())
    net(torch.rand(1, 3, 16, 16)).sum().backward()
    assert all(p.grad is None for p in net.encoder.parameters())
    net.freeze_encoder(False)
    assert all(p.requires_grad for p in net.encoder.parameters())


@pytest.mark.parametrize(("x", "match"), [
    (torch.rand(1, 3, 14, 16), "not divisible by 2\\*\\*depth = 4"),
    (torch.rand(1, 1, 16, 16), "expects RGB"),
    (torch.rand(3, 16, 16), r"expected a batch \(N, C, H, W\)"),
])
def test_bad_inputs_are_named(x, match):
    with pytest.raises(ValueError, match=match):
        models.VGG16UNet(depth=3)(x)


@pytest.mark.parametrize("depth", [0, 6])
def test_depth_must_be_one_to_five(depth):
    with pytest.raises(ValueError, match="depth must be 1..5"):
        models.VGG16UNet(depth=depth)


def test_without_cached_weights_pretrained_fails_fast(hub_dir):
    assert models.vgg16_weights_file() is None
    with pytest.raises(FileNotFoundError, match="not in the local torch hub cache"):
        models.VGG16UNet(pretrained=True)


def test_cached_weights_are_loaded(hub_dir):
    torch.manual_seed(0)
    features = make_layers(cfgs["D"])
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # the file holds the head too
    (hub_dir / "checkpoints").mkdir(parents=True)
    path = hub_dir / "checkpoints" / "vgg16-397923af.pth"
    torch.save(state, path)
    assert models.vgg16_weights_file() == path
    net = models.VGG16UNet(depth=2, pretrained=True)
    torch.testing.assert_close(net.encoder[0][0].weight, features[0].weight)
    torch.testing.assert_close(net.encoder[1][2].weight, features[7].weight)  # block 2, conv 2
