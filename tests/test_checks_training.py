"""The training-loop checks of lesson 01: they pass correct loops and name each usual slip."""

from __future__ import annotations

import pytest
import torch

from course_utils import metrics
from course_utils.checks import CheckFailed
from course_utils.checks import training as checks


def good_epoch(model, criterion, optimizer, loader):
    model.train()
    total = 0.0
    for images, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def epoch_without_zero_grad(model, criterion, optimizer, loader):
    model.train()
    total = 0.0
    for images, targets in loader:
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def epoch_in_eval_mode(model, criterion, optimizer, loader):
    total = 0.0
    for images, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def epoch_summed(model, criterion, optimizer, loader):
    return good_epoch(model, criterion, optimizer, loader) * len(loader)


def epoch_keeping_graphs(model, criterion, optimizer, loader):
    model.train()
    total = 0.0
    for images, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()
        total = total + loss
    return total / len(loader)


def epoch_without_step(model, criterion, optimizer, loader):
    model.train()
    for images, targets in loader:
        optimizer.zero_grad()
        criterion(model(images), targets).backward()
    return 0.5


def epoch_without_backward(model, criterion, optimizer, loader):
    model.train()
    for images, targets in loader:
        optimizer.zero_grad()
        criterion(model(images), targets)
        optimizer.step()
    return 0.5


def epoch_last_loss(model, criterion, optimizer, loader):
    model.train()
    for images, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()
    return loss.item()


def epoch_twice_per_batch(model, criterion, optimizer, loader):
    model.train()
    for images, targets in loader:
        for _ in range(2):
            optimizer.zero_grad()
            loss = criterion(model(images), targets)
            loss.backward()
            optimizer.step()
    return 0.5


def epoch_first_batch_only(model, criterion, optimizer, loader):
    model.train()
    for images, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()
        return loss.item()


def epoch_on_probabilities(model, criterion, optimizer, loader):
    model.train()
    total = 0.0
    for images, targets in loader:
        optimizer.zero_grad()
        loss = criterion(torch.sigmoid(model(images)), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def epoch_one_step(model, criterion, optimizer, loader):
    model.train()
    optimizer.zero_grad()
    total = 0.0
    for images, targets in loader:
        loss = criterion(model(images), targets)
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total / len(loader)


def epoch_with_double_lr(model, criterion, optimizer, loader):
    for group in optimizer.param_groups:
        group["lr"] *= 2
    return good_epoch(model, criterion, optimizer, loader)


def stub(*args):
    raise NotImplementedError("write the loop")


def test_a_correct_epoch_passes(capsys):
    checks.check_train_one_epoch(good_epoch)
    assert "train_one_epoch: all" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "message"), [
    (epoch_without_zero_grad, "without optimizer.zero_grad"),
    (epoch_in_eval_mode, "still in eval mode"),
    (epoch_summed, "sum of the 3 batch losses"),
    (epoch_keeping_graphs, "still attached to the autograd graph"),
    (epoch_without_step, "call optimizer.step"),
    (epoch_without_backward, "no gradient was computed"),
    (epoch_last_loss, "last batch's loss"),
    (epoch_twice_per_batch, "two optimiser steps per batch"),
    (epoch_first_batch_only, "stops after the first batch"),
    (epoch_on_probabilities, "sigmoid probabilities to the criterion"),
    (epoch_one_step, "one optimiser step for the whole epoch"),
    (epoch_with_double_lr, "match none of the usual slips"),
    (lambda *args: None, "got NoneType"),
    (lambda *args: 1 / 0, "raised ZeroDivisionError"),
])
def test_epoch_slips_are_named(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_train_one_epoch(answer)


def test_a_stub_is_not_swallowed():
    with pytest.raises(NotImplementedError):
        checks.check_train_one_epoch(stub)
    with pytest.raises(NotImplementedError):
        checks.check_evaluate(stub)


def make_evaluate(eval_mode=True, no_grad=True, summed=False, threshold_logits=False,
                  per_batch_mean=False, last_only=False):
    """An evaluation pass; by default right (means over images), else with one slip."""
    def evaluate(model, criterion, loader):
        if eval_mode:
            model.eval()
        losses, dices, sizes = [], [], []
        with torch.set_grad_enabled(not no_grad):
            for images, targets in loader:
                logits = model(images)
                losses.append(criterion(logits, targets).item())
                scores = logits if threshold_logits else torch.sigmoid(logits)
                dices.append(metrics.dice_score(scores >= 0.5, targets))
                sizes.append(len(images))
        if last_only:
            return {"loss": losses[-1], "dice": dices[-1]}
        if per_batch_mean:
            return {"loss": sum(losses) / len(losses), "dice": sum(dices) / len(dices)}
        weighted = [sum(v * n for v, n in zip(values, sizes, strict=True))
                    for values in (losses, dices)]
        loss = weighted[0] if summed else weighted[0] / sum(sizes)
        return {"loss": loss, "dice": weighted[1] / sum(sizes)}
    return evaluate


def evaluate_by_pooling(model, criterion, loader):
    """Also right: every prediction at once, each image's Dice averaged."""
    model.eval()
    with torch.no_grad():
        pairs = [(model(images), targets) for images, targets in loader]
    logits = torch.cat([lg for lg, _ in pairs])
    targets = torch.cat([t for _, t in pairs])
    return {"loss": criterion(logits, targets).item(),
            "dice": metrics.dice_score(torch.sigmoid(logits) >= 0.5, targets)}


@pytest.mark.parametrize("answer", [make_evaluate(), evaluate_by_pooling])
def test_a_correct_evaluation_passes(capsys, answer):
    checks.check_evaluate(answer)
    assert "evaluate: all" in capsys.readouterr().out


def evaluate_with_a_step(model, criterion, loader):
    model.eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for images, targets in loader:
        optimizer.zero_grad()
        criterion(model(images), targets).backward()
        optimizer.step()
    return make_evaluate()(model, criterion, loader)


@pytest.mark.parametrize(("answer", "message"), [
    (make_evaluate(eval_mode=False), "Call model.eval"),
    (make_evaluate(no_grad=False), "torch.no_grad"),
    (make_evaluate(summed=True), "'loss' is .*That is the weighted sum"),
    (make_evaluate(per_batch_mean=True), "'loss' is .*plain mean of the 3 per-batch values"),
    (make_evaluate(last_only=True), "last batch's value alone"),
    (make_evaluate(threshold_logits=True), "'dice' is .*That is the Dice of logits >= 0.5"),
    (evaluate_with_a_step, "weights changed"),
    (lambda model, criterion, loader: (0.5, 0.5), "return a dict"),
])
def test_evaluation_slips_are_named(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_evaluate(answer)


def test_checks_run_on_the_lesson_device(capsys):
    checks.check_train_one_epoch(good_epoch, torch.device("cpu"))
    checks.check_evaluate(make_evaluate(), "cpu")
    assert capsys.readouterr().out.count("checks passed") == 2
