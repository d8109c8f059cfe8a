"""Checks for the training loop the student writes in lesson 01: one training epoch and one
evaluation pass.

Each check runs the student's function and the package's reference
(``training.train_one_epoch``, ``training.evaluate``) on a tiny network with BatchNorm, from
the same weights and on the same batches, and compares the losses, the weights and the
BatchNorm statistics. Where the difference matches a usual slip (no ``zero_grad``, eval mode
forgotten, gradients kept during evaluation, losses summed instead of averaged), the message
names it.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from course_utils import metrics, training
from course_utils.checks import CheckFailed, passed
from course_utils.checks.calling import call_student

__all__ = ["check_evaluate", "check_train_one_epoch"]

NUM_BATCHES, BATCH, SIZE = 3, 4, 8
EVAL_BATCHES = (4, 4, 1)  # a smaller last batch, as a loader without drop_last gives


def _tiny_model(device) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 1, 3, padding=1)).to(device)


def _batches(device, seed: int = 1,
             sizes: tuple[int, ...] = (BATCH,) * NUM_BATCHES) -> list[tuple[torch.Tensor,
                                                                         torch.Tensor]]:
    """Batches of the given sizes (training: equal sizes, as with ``drop_last=True``)."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, 3, SIZE, SIZE, generator=g).mul(2).add(1).to(device),
             (torch.rand(n, 1, SIZE, SIZE, generator=g) > 0.6).float().to(device))
            for n in sizes]


def _criterion(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


def _number(case: str, value) -> float:
    """The returned loss as a float, or a message naming what came back instead."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise CheckFailed(f"{case}: return one number, got a tensor of shape "
                              f"{tuple(value.shape)}")
        if value.requires_grad:
            raise CheckFailed(f"{case}: you returned a tensor that is still attached to the "
                              f"autograd graph; add up loss.item() (a plain float) instead of "
                              f"the loss tensors, or every batch's graph stays in memory")
        value = value.item()
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise CheckFailed(f"{case}: return the mean loss as a number, got "
                          f"{type(value).__name__}")
    return float(value)


def _max_difference(a: nn.Module, b: nn.Module) -> float:
    return max((pa - pb).abs().max().item()
               for pa, pb in zip(a.parameters(), b.parameters(), strict=True))


def _train_without_zero_grad(model, optimizer, batches) -> None:
    model.train()
    for images, targets in batches:
        _criterion(model(images), targets).backward()
        optimizer.step()


def _train_twice_per_batch(model, optimizer, batches) -> None:
    model.train()
    for images, targets in batches:
        for _ in range(2):
            optimizer.zero_grad()
            _criterion(model(images), targets).backward()
            optimizer.step()


def _train_first_batch_only(model, optimizer, batches) -> None:
    model.train()
    images, targets = batches[0]
    optimizer.zero_grad()
    _criterion(model(images), targets).backward()
    optimizer.step()


def _train_on_probabilities(model, optimizer, batches) -> None:
    model.train()
    for images, targets in batches:
        optimizer.zero_grad()
        _criterion(torch.sigmoid(model(images)), targets).backward()
        optimizer.step()


def _train_one_step_per_epoch(model, optimizer, batches) -> None:
    model.train()
    optimizer.zero_grad()
    for images, targets in batches:
        _criterion(model(images), targets).backward()
    optimizer.step()


# (a loop with one usual slip, what the message says first)
_TRAINING_SLIPS = [
    (_train_without_zero_grad,
     "the weights match a loop without optimizer.zero_grad(): gradients accumulate, so "
     "every step also repeats all earlier batches' gradients. Call optimizer.zero_grad() "
     "before each loss.backward()"),
    (_train_twice_per_batch,
     "the weights match a loop that takes two optimiser steps per batch. Take exactly one "
     "step per batch"),
    (_train_first_batch_only,
     "the weights match a loop that stops after the first batch (a return or break inside "
     "the loop?). Return after the loop, once every batch has had its step"),
    (_train_one_step_per_epoch,
     "the weights match one optimiser step for the whole epoch, after summing all batches' "
     "gradients. Step once per batch, inside the loop"),
    (_train_on_probabilities,
     "the weights match a loop that hands sigmoid probabilities to the criterion. The "
     "criterion takes the model's logits as they are; it applies the sigmoid itself (the "
     "stable form of this lesson)"),
]


def check_train_one_epoch(train_one_epoch, device="cpu") -> None:
    """Check ``train_one_epoch(model, criterion, optimizer, loader) -> float``.

    It must put the model in training mode, and for every batch clear the gradients, compute
    the loss, backpropagate and take an optimiser step; it returns the mean of the batch
    losses. Compared with ``training.train_one_epoch`` on a tiny network with BatchNorm
    (plain SGD, so that every slip shows in the weights). The network and the batches live
    on ``device``, as in the lesson.
    """
    case = "one epoch of 3 batches on a tiny network (SGD, lr 0.1)"
    device = torch.device(device)
    batches = _batches(device)
    reference = _tiny_model(device).eval()
    ref_loss = training.train_one_epoch(reference, _criterion,
                                        torch.optim.SGD(reference.parameters(), lr=0.1),
                                        batches, device)
    start = _tiny_model(device).eval()  # as a model is after an evaluation pass
    model = copy.deepcopy(start)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    got = _number(case, call_student(f"{case}: your code", train_one_epoch, model, _criterion,
                                     optimizer, batches))
    if not model.training:
        raise CheckFailed(f"{case}: the model is still in eval mode after your epoch. Call "
                          f"model.train() first: in eval mode BatchNorm normalises with its "
                          f"running averages instead of the batch's own statistics, and "
                          f"dropout would stay off")
    if _max_difference(model, start) == 0:
        if all(p.grad is None for p in model.parameters()):
            raise CheckFailed(f"{case}: the weights did not change and no gradient was "
                              f"computed; call loss.backward() and then optimizer.step() for "
                              f"every batch")
        raise CheckFailed(f"{case}: the weights did not change; call optimizer.step() after "
                          f"loss.backward() for every batch")
    tolerance = 1e-5 if device.type == "cpu" else 1e-3  # GPU kernels may round differently
    difference = _max_difference(model, reference)
    if difference > tolerance:
        for slip, message in _TRAINING_SLIPS:
            imitation = copy.deepcopy(start)
            slip(imitation, torch.optim.SGD(imitation.parameters(), lr=0.1), batches)
            if _max_difference(model, imitation) < tolerance:
                raise CheckFailed(f"{case}: {message}")
        raise CheckFailed(f"{case}: after the epoch your weights differ from the reference "
                          f"loop's by up to {difference:.3g}, and they match none of the "
                          f"usual slips (no zero_grad, two steps per batch, stopping after "
                          f"one batch, one step per epoch, probabilities into the "
                          f"criterion). Look for a second forward pass, a changed "
                          f"learning rate or a loss computed differently")
    batch_losses = _batch_losses(start, batches)
    if not math.isclose(got, ref_loss, rel_tol=1e-4, abs_tol=1e-6):
        hint = ""
        if math.isclose(got, sum(batch_losses), rel_tol=1e-4):
            hint = (f" That is the sum of the {NUM_BATCHES} batch losses: divide by the number "
                    f"of batches, so that the value does not grow with the size of the "
                    f"data set.")
        elif math.isclose(got, batch_losses[-1], rel_tol=1e-4):
            hint = " That is the last batch's loss: average over all batches."
        raise CheckFailed(f"{case}: you returned {got:.6g}, expected the mean batch loss "
                          f"{ref_loss:.6g}.{hint}")
    passed("train_one_epoch", 4)


def _batch_losses(start: nn.Module, batches) -> list[float]:
    """The loss of each batch as the reference loop sees it (before that batch's step)."""
    model = copy.deepcopy(start).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out = []
    for images, targets in batches:
        loss = _criterion(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        out.append(loss.item())
    return out


def _per_batch_values(model: nn.Module, batches) -> dict[str, list[float]]:
    """Each batch's loss and Dice, and the two averages of per-batch Dice a slip gives."""
    out = {"loss": [], "dice": [], "dice of logits >= 0.5": []}
    sizes = [len(images) for images, _ in batches]
    with torch.no_grad():
        for images, targets in batches:
            logits = model(images)
            out["loss"].append(_criterion(logits, targets).item())
            out["dice"].append(metrics.dice_score(torch.sigmoid(logits) >= 0.5, targets))
            out["dice of logits >= 0.5"].append(
                metrics.dice_score(logits >= 0.5, targets))
    thresholded = out.pop("dice of logits >= 0.5")
    out["dice of logits >= 0.5"] = [sum(thresholded) / len(thresholded),
                                    sum(v * n for v, n in zip(thresholded, sizes,
                                                              strict=True)) / sum(sizes)]
    return out


def _averaging_slip(got: float, per_batch: list[float]) -> str:
    """The message's second sentence when ``got`` is a usual wrong average, else ''."""
    n = len(per_batch)
    if math.isclose(got, sum(per_batch) / n, rel_tol=1e-4, abs_tol=1e-6):
        return (f" That is the plain mean of the {n} per-batch values: the last batch holds "
                f"{EVAL_BATCHES[-1]} image(s) but counts as much as a batch of "
                f"{EVAL_BATCHES[0]}. Weight each batch's value by its number of images "
                f"(len(images)) and divide by the number of images.")
    if math.isclose(got, sum(per_batch), rel_tol=1e-4, abs_tol=1e-6):
        return f" That is the sum of the {n} batch values: divide by the number of images."
    if math.isclose(got, sum(v * b for v, b in zip(per_batch, EVAL_BATCHES, strict=True)),
                    rel_tol=1e-4, abs_tol=1e-6):
        return " That is the weighted sum: divide it by the number of images."
    if math.isclose(got, per_batch[-1], rel_tol=1e-4, abs_tol=1e-6):
        return " That is the last batch's value alone: add up over all batches."
    return ""


def _trained_tiny_model(device) -> nn.Module:
    """A tiny model in training mode whose BatchNorm running statistics are far from those
    of the evaluation batches (as after training on other data)."""
    model = _tiny_model(device).train()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for _ in range(5):
            model(torch.randn(8, 3, SIZE, SIZE, generator=g).mul(0.5).sub(2).to(device))
    return model


def check_evaluate(evaluate, device="cpu") -> None:
    """Check ``evaluate(model, criterion, loader) -> {"loss": ..., "dice": ...}``.

    It must switch the model to eval mode, run without building a graph
    (``torch.no_grad()``), leave weights and BatchNorm statistics alone, and return the loss
    and the Dice of ``sigmoid(logits) >= 0.5`` as means over the images: the batches here
    are 4, 4 and 1 images, so a plain mean of per-batch values, which lets the one image
    of the last batch count as much as four, is wrong. Compared with ``training.evaluate``;
    the network and the batches live on ``device``.
    """
    sizes = " + ".join(map(str, EVAL_BATCHES))
    case = (f"an evaluation pass over batches of {sizes} images with a tiny network that "
            f"was in training mode")
    device = torch.device(device)
    batches = _batches(device, seed=2, sizes=EVAL_BATCHES)
    start = _trained_tiny_model(device)
    reference = training.evaluate(copy.deepcopy(start), batches, device, _criterion)
    model = copy.deepcopy(start)
    seen = {"grad": False, "training": False}

    def spy(module, inputs, output):
        seen["grad"] |= bool(output.requires_grad)
        seen["training"] |= module.training

    model.register_forward_hook(spy)
    got = call_student(f"{case}: your code", evaluate, model, _criterion, batches)
    if not isinstance(got, dict) or not {"loss", "dice"} <= set(got):
        raise CheckFailed(f"{case}: return a dict with the keys 'loss' and 'dice', got "
                          f"{got!r:.80}")
    stats = [(name, buf) for name, buf in model.named_buffers() if "running" in name]
    start_stats = dict(start.named_buffers())
    if seen["training"] or any(not torch.equal(buf, start_stats[name]) for name, buf in stats):
        raise CheckFailed(f"{case}: the model ran in training mode, so BatchNorm normalised "
                          f"each batch with its own statistics and changed its running "
                          f"averages during evaluation. Call model.eval() before the loop")
    if _max_difference(model, start) > 0:
        raise CheckFailed(f"{case}: the weights changed during evaluation; an evaluation "
                          f"pass has no backward pass and no optimiser step")
    if seen["grad"]:
        raise CheckFailed(f"{case}: the model's outputs require grad, so autograd kept a "
                          f"graph of every batch it evaluated. Run the loop inside "
                          f"`with torch.no_grad():` (the numbers stay the same; the memory "
                          f"and time of the graph are saved)")
    per_batch = _per_batch_values(copy.deepcopy(start).eval(), batches)
    loss = _number(case + ", 'loss'", got["loss"])
    if not math.isclose(loss, reference["loss"], rel_tol=1e-4, abs_tol=1e-6):
        raise CheckFailed(f"{case}: 'loss' is {loss:.6g}, expected {reference['loss']:.6g}."
                          + _averaging_slip(loss, per_batch["loss"]))
    dice = _number(case + ", 'dice'", got["dice"])
    if not math.isclose(dice, reference["dice"], rel_tol=1e-4, abs_tol=1e-6):
        slip = _averaging_slip(dice, per_batch["dice"])
        if not slip and any(math.isclose(dice, value, rel_tol=1e-4, abs_tol=1e-6)
                            for value in per_batch["dice of logits >= 0.5"]):
            slip = (" That is the Dice of logits >= 0.5: the network returns logits, "
                    "so threshold the probabilities, torch.sigmoid(logits) >= 0.5 (or the "
                    "logits at 0).")
        raise CheckFailed(f"{case}: 'dice' is {dice:.6g}, expected the Dice of "
                          f"torch.sigmoid(logits) >= 0.5, {reference['dice']:.6g}." + slip)
    passed("evaluate", 5)
