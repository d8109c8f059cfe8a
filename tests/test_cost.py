import pytest
import torch
from torch import nn

from course_utils.cost import count_flops, count_flops_per_child
from course_utils.models import EncDec, UNet, UNet2


@pytest.mark.parametrize(
    ("module", "shape", "expected"),
    [
        # 2 operations per multiply-add, bias not counted
        (nn.Conv2d(3, 4, 3, padding=1), (1, 3, 8, 8), 2 * 9 * 3 * 4 * 64),
        (nn.Conv2d(3, 4, 3, padding=1), (2, 3, 8, 8), 2 * 2 * 9 * 3 * 4 * 64),
        # stride 2: a quarter of the output pixels
        (nn.Conv2d(2, 2, 3, stride=2, padding=1), (1, 2, 8, 8), 2 * 9 * 2 * 2 * 16),
        # a transposed convolution pastes one kernel per *input* pixel
        (nn.ConvTranspose2d(4, 4, 2, stride=2), (1, 4, 8, 8), 2 * 4 * 4 * 4 * 64),
        (nn.Linear(10, 5), (3, 10), 2 * 3 * 10 * 5),
        (nn.MaxPool2d(2), (1, 3, 8, 8), 0),
        # conv 1->2 at 8x8, bottleneck 2->2 at 4x4, head 2->1 at 8x8
        (EncDec(1, 1, width=2, depth=1, batch_norm=False), (1, 1, 8, 8), 2304 + 1152 + 2304),
        # the U-Net's head reads 4 channels
        (UNet(1, 1, width=2, depth=1, batch_norm=False), (1, 1, 8, 8), 2304 + 1152 + 4608),
        # plus a stride-2 conv 2->2 to 4x4 and a 2x2 transposed conv from 4x4
        (UNet2(1, 1, width=2, depth=1, batch_norm=False), (1, 1, 8, 8),
         2304 + 1152 + 1152 + 2 * 4 * 2 * 2 * 16 + 4608),
    ],
)
def test_count_flops_hand_computed(module, shape, expected):
    assert count_flops(module, shape) == expected


def test_count_flops_accepts_a_list_and_a_size():
    model = nn.Conv2d(1, 1, 3)
    assert count_flops(model, [1, 1, 5, 5]) == count_flops(model, torch.Size([1, 1, 5, 5])) == 162


@pytest.mark.parametrize("training", [True, False])
def test_count_flops_restores_the_mode_and_leaves_statistics(training):
    model = EncDec(3, 1, width=4, depth=2)
    model.train(training)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_flops(model, (2, 3, 16, 16))
    assert model.training is training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("shape", [(), (1, 3, 0, 8), "1x3x8x8", (1.0, 3, 8, 8), (True, 3, 8, 8),
                                   (1, -3, 8, 8), None])
def test_count_flops_bad_shape(shape):
    with pytest.raises(ValueError, match="input_shape must be a tuple of positive integers"):
        count_flops(nn.Conv2d(3, 1, 3), shape)


def test_count_flops_parameter_free_model():
    assert count_flops(nn.Upsample(scale_factor=2), (1, 1, 4, 4)) == 0


def test_count_flops_per_child_hand_computed():
    model = UNet2(1, 1, width=2, depth=1, batch_norm=False)
    assert count_flops_per_child(model, (1, 1, 8, 8)) == {
        "encoder": 2304, "down": 1152, "bottleneck": 1152, "up": 2 * 4 * 2 * 2 * 16,
        "decoder": 0, "head": 4608}


@pytest.mark.parametrize("model", [UNet(3, 1, width=4, depth=3), UNet2(3, 2, width=3, depth=2),
                                   nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Conv2d(2, 1, 1))])
def test_count_flops_per_child_sums_to_the_total(model):
    per_child = count_flops_per_child(model, (2, 3, 16, 16))
    assert list(per_child) == [name for name, _ in model.named_children()]
    assert sum(per_child.values()) == count_flops(model, (2, 3, 16, 16))


def test_count_flops_per_child_pooling_counts_zero():
    assert count_flops_per_child(UNet(3, 1, width=2, depth=2), (1, 3, 8, 8))["pool"] == 0


def test_count_flops_per_child_bad_shape():
    with pytest.raises(ValueError, match="input_shape"):
        count_flops_per_child(UNet(3, 1, width=2, depth=2), (1, 3, 0, 8))
