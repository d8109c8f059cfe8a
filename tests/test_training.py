import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from course_utils import metrics, training
from course_utils.training import NonFiniteLossError


class Logits(nn.Module):
    """A "model" whose logits are its input, so a test writes the logits by hand."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x * self.scale


def _toy_problem(n_batches=4, batch_size=4, seed=0):
    """Pixels brighter than 0.5 are foreground: a 1x1 convolution can learn it."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n_batches * batch_size, 1, 4, 4, generator=g)
    targets = (images > 0.5).float()
    return list(zip(images.split(batch_size), targets.split(batch_size), strict=True))


def test_fit_reduces_loss_and_returns_history():
    torch.manual_seed(0)
    model = nn.Conv2d(1, 1, 1)
    loader = _toy_problem(n_batches=2)
    history = training.fit(model, nn.BCEWithLogitsLoss(), loader, loader[:1], epochs=4, lr=0.5,
                           progress=False)
    assert list(history) == ["epoch", "train_loss", "seconds", "val_loss", "val_dice",
                             "val_iou", "val_accuracy", "val_sensitivity", "val_specificity"]
    assert history["epoch"] == [1, 2, 3, 4]
    assert all(len(v) == 4 for v in history.values())
    assert history["train_loss"][-1] < 0.7 * history["train_loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert all(s > 0 for s in history["seconds"])


def test_fit_without_validation_and_with_own_optimizer():
    model = nn.Conv2d(1, 1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    before = [p.clone() for p in model.parameters()]
    history = training.fit(model, nn.BCEWithLogitsLoss(), _toy_problem(), epochs=2,
                           optimizer=optimizer, progress=False)
    assert list(history) == ["epoch", "train_loss", "seconds"]
    assert history["train_loss"][0] == pytest.approx(history["train_loss"][1])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("epochs", [0, -1])
def test_fit_bad_epochs(epochs):
    with pytest.raises(ValueError, match=f"epochs must be at least 1, got {epochs}"):
        training.fit(nn.Conv2d(1, 1, 1), nn.BCEWithLogitsLoss(), _toy_problem(), epochs=epochs)


def _nan_at(call):
    """BCE that returns nan on its ``call``-th call (1-based)."""
    calls = []

    def criterion(logits, targets):
        calls.append(None)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, targets)
        return loss * float("nan") if len(calls) == call else loss

    return criterion


@pytest.mark.parametrize(("call", "epoch", "step"), [(3, 1, 3), (1, 1, 1), (6, 2, 2)])
def test_non_finite_loss_names_epoch_and_step(call, epoch, step):
    with pytest.raises(NonFiniteLossError, match=f"loss became nan at epoch {epoch}, step {step} of 4"):
        training.fit(nn.Conv2d(1, 1, 1), _nan_at(call), _toy_problem(), epochs=3, progress=False)


def test_train_one_epoch_inf_loss():
    def criterion(logits, targets):
        return logits.sum() * float("inf")

    model = nn.Conv2d(1, 1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with pytest.raises(NonFiniteLossError, match="at epoch 7, step 1 of 4"):
        training.train_one_epoch(model, criterion, optimizer, _toy_problem(), "cpu", epoch=7)


def test_train_one_epoch_returns_mean_loss():
    model = Logits()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loader = [(torch.full((1, 1, 1, 1), v), torch.zeros(1, 1, 1, 1)) for v in (1.0, 2.0, 6.0)]
    loss = training.train_one_epoch(model, lambda lg, t: lg.mean(), optimizer, loader, "cpu")
    assert loss == pytest.approx(3.0)
    assert model.training


def test_train_one_epoch_empty_loader():
    model = nn.Conv2d(1, 1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="the training loader yielded no batches"):
        training.train_one_epoch(model, nn.BCEWithLogitsLoss(), optimizer, [], "cpu")


def _binary_batch():
    # image 0: predicted [1, 0; 1, 0] vs target [1, 1; 0, 0] -> TP 1, FP 1, FN 1, TN 1
    # image 1: predicted [0, 0; 0, 0] vs target [0, 0; 0, 0] -> empty: every metric 1.0
    logits = torch.tensor([[[[2.0, -1.0], [0.0, -3.0]]], [[[-1.0, -1.0], [-2.0, -5.0]]]])
    targets = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    return logits, targets


def test_evaluate_binary_hand_computed():
    logits, targets = _binary_batch()
    loader = [(logits[:1], targets[:1]), (logits[1:], targets[1:])]
    results = training.evaluate(Logits(), loader, "cpu", criterion=lambda lg, t: lg.mean())
    assert results == pytest.approx({
        "loss": (-0.5 + -2.25) / 2,
        "dice": (0.5 + 1) / 2, "iou": (1 / 3 + 1) / 2, "accuracy": (0.5 + 1) / 2,
        "sensitivity": (0.5 + 1) / 2, "specificity": (0.5 + 1) / 2,
    })


def test_evaluate_empty_loader():
    with pytest.raises(ValueError, match="the loader yielded no batches; nothing to evaluate"):
        training.evaluate(Logits(), [], "cpu")


def test_evaluate_binary_matches_the_metrics_on_all_masks_at_once():
    """evaluate counts per batch; its numbers are binary_metrics' on every mask at once."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(10, 1, 8, 8, generator=g) * 3
    targets = (torch.rand(10, 1, 8, 8, generator=g) < 0.3).float()
    targets[2] = 0  # an empty target: the empty-mask policy must hold across batches
    loader = [(logits[i:i + 3], targets[i:i + 3]) for i in range(0, 10, 3)]
    got = training.evaluate(Logits(), loader, "cpu")
    assert got == metrics.binary_metrics(torch.sigmoid(logits) >= 0.5, targets.bool())


def test_evaluate_weights_loss_by_batch_size():
    loader = [(torch.zeros(3, 1, 1, 1), torch.zeros(3, 1, 1, 1)),
              (torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1))]
    results = training.evaluate(Logits(), loader, "cpu", criterion=lambda lg, t: lg.mean())
    assert results["loss"] == pytest.approx(1 / 4)


def test_evaluate_threshold_and_no_criterion():
    logits = torch.tensor([[[[1.0, -1.0]]]])  # sigmoid 0.73 and 0.27
    targets = torch.tensor([[[[1.0, 0.0]]]])
    model = Logits()
    assert training.evaluate(model, [(logits, targets)], "cpu")["dice"] == 1.0
    high = training.evaluate(model, [(logits, targets)], "cpu", threshold=0.9)
    assert "loss" not in high
    assert high["dice"] == 0.0 and high["specificity"] == 1.0
    assert not model.training


def test_evaluate_multi_class_hand_computed():
    # pixels: argmax 0 (true 0), argmax 2 (true 1), argmax 1 (ignored)
    logits = torch.tensor([[[[5.0, 0.0, 0.0]], [[0.0, 1.0, 9.0]], [[0.0, 2.0, 0.0]]]])
    targets = torch.tensor([[[0, 1, 255]]])
    results = training.evaluate(Logits(), [(logits, targets)], "cpu")
    # IoU: class 0 1/1, class 1 0/1, class 2 0/1
    assert results == pytest.approx({"miou": 1 / 3, "pixel_accuracy": 1 / 2})


def test_predict_sigmoid_from_tensor_in_batches():
    images = torch.tensor([0.0, 2.0, -1.0]).reshape(3, 1, 1, 1)
    probs = training.predict(Logits(), images, batch_size=2)
    assert probs.shape == (3, 1, 1, 1) and probs.device.type == "cpu"
    assert probs.flatten().tolist() == pytest.approx([0.5, 1 / (1 + math.exp(-2)),
                                                      1 / (1 + math.exp(1))])


def test_predict_softmax_from_loader():
    logits = torch.tensor([[[[0.0]], [[math.log(3.0)]]]])  # softmax 1/4, 3/4
    loader = [(logits, torch.zeros(1, 1, 1)), (logits, torch.zeros(1, 1, 1))]
    probs = training.predict(Logits(), loader)
    assert probs.shape == (2, 2, 1, 1)
    assert probs.flatten().tolist() == pytest.approx([0.25, 0.75, 0.25, 0.75])


def test_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    saved = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    saved[1].running_mean.fill_(0.5)
    path = training.save_checkpoint(tmp_path / "sub" / "model.pt", saved, epoch=3, dice=0.81,
                                    note="x", sizes=[64, 64])
    assert path == tmp_path / "sub" / "model.pt"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temp files
    loaded = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    metadata = training.load_checkpoint(path, loaded)
    assert metadata == {"epoch": 3, "dice": 0.81, "note": "x", "sizes": [64, 64]}
    for key, value in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_checkpoint_overwrite_keeps_one_file(tmp_path):
    model = nn.Linear(2, 1)
    training.save_checkpoint(tmp_path / "m.pt", model, epoch=1)
    training.save_checkpoint(tmp_path / "m.pt", model, epoch=2)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert training.load_checkpoint(tmp_path / "m.pt", model) == {"epoch": 2}


def test_checkpoint_failed_write_keeps_previous(tmp_path, monkeypatch):
    model = nn.Linear(2, 1)
    path = training.save_checkpoint(tmp_path / "m.pt", model, epoch=1)
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        training.save_checkpoint(path, model, epoch=2)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert path.read_bytes() == before


def test_load_checkpoint_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.pt; train and save"):
        training.load_checkpoint(tmp_path / "nothing.pt", nn.Linear(2, 1))


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (nn.Linear(3, 1), "size mismatch"),
        (nn.Sequential(nn.Linear(2, 1)), r"does not fit this Sequential: missing \['0.weight'"),
    ],
    ids=["other shape", "other names"],
)
def test_load_checkpoint_wrong_model(tmp_path, other, message):
    path = training.save_checkpoint(tmp_path / "m.pt", nn.Linear(2, 1))
    with pytest.raises((ValueError, RuntimeError), match=message):
        training.load_checkpoint(path, other)


def test_load_checkpoint_wrong_architecture_is_value_error(tmp_path):
    path = training.save_checkpoint(tmp_path / "m.pt", nn.Linear(2, 1))
    with pytest.raises(ValueError, match="build the model with the settings it was saved with"):
        training.load_checkpoint(path, nn.Sequential(nn.Linear(2, 1)))


@pytest.mark.parametrize(
    "content",
    [lambda p: p.write_bytes(b"not a checkpoint"), lambda p: torch.save(torch.zeros(2), p),
     lambda p: torch.save({"weights": torch.zeros(2)}, p)],
    ids=["garbage", "a tensor", "a dict without model_state"],
)
def test_load_checkpoint_garbage(tmp_path, content):
    path = tmp_path / "m.pt"
    content(path)
    with pytest.raises(ValueError, match="is not a checkpoint written by save_checkpoint"):
        training.load_checkpoint(path, nn.Linear(2, 1))


@pytest.mark.parametrize(
    "masks",
    [torch.tensor([[[[1, 0], [0, 1]]], [[[0, 0], [0, 0]]]]),
     torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]),
     torch.tensor([[[True, False], [False, True]], [[False, False], [False, False]]])],
    ids=["long (N,1,H,W)", "float (N,H,W)", "bool"],
)
def test_save_masks_writes_0_255_pngs(tmp_path, masks):
    paths = training.save_masks(masks, ["img_00007", "dir/img_00008.jpg"], tmp_path / "out")
    assert paths == [tmp_path / "out" / "img_00007.png", tmp_path / "out" / "img_00008.png"]
    first, second = (Image.open(p) for p in paths)
    assert first.mode == "L"
    assert np.asarray(first).tolist() == [[255, 0], [0, 255]]
    assert np.asarray(second).tolist() == [[0, 0], [0, 0]]


@pytest.mark.parametrize(
    ("masks", "names", "message"),
    [
        (torch.zeros(2, 2), ["a", "b"], r"expected masks \(N, 1, H, W\) or \(N, H, W\), got \(2, 2\)"),
        (torch.zeros(1, 2, 2, 2), ["a"], r"got \(1, 2, 2, 2\)"),
        (torch.zeros(2, 2, 2), ["a"], "2 masks but 1 names"),
        (torch.full((1, 2, 2), 0.5), ["a"], r"masks must hold 0/1 only, found \[0.5\]"),
        (torch.full((1, 2, 2), 255), ["a"], r"found \[255\]; threshold probabilities first"),
    ],
    ids=["2-d", "two channels", "len mismatch", "probabilities", "0/255"],
)
def test_save_masks_bad_input(tmp_path, masks, names, message):
    with pytest.raises(ValueError, match=message):
        training.save_masks(masks, names, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_test_scores_per_image_and_means():
    # two batches of unequal size; image 0 right, image 1 half right, image 2 all missed
    logits = torch.full((3, 1, 2, 2), -5.0)
    logits[0, 0, 0] = 5.0  # predicts the top row
    logits[1, 0, :, 0] = 5.0  # predicts the left column
    targets = torch.zeros(3, 1, 2, 2)
    targets[0, 0, 0] = targets[1, 0, 0] = targets[2, 0, 0] = 1.0  # the top row, every image
    loader = [(logits[:2], targets[:2]), (logits[2:], targets[2:])]
    per_image = training.test_scores(Logits(), loader, "cpu", per_image=True)
    assert per_image["Dice"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert per_image["IoU"].tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    means = training.test_scores(Logits(), loader, "cpu")
    assert means == pytest.approx({k: v.mean().item() for k, v in per_image.items()})
