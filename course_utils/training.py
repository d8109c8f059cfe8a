"""The training loop as plain functions, prediction, checkpoints and saving masks.

A model returns logits: ``(N, 1, H, W)`` for binary segmentation (targets float
``(N, 1, H, W)``), ``(N, C, H, W)`` for multi-class (targets long ``(N, H, W)``, 255 ignored).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from course_utils import data, metrics

__all__ = [
    "NonFiniteLossError",
    "evaluate",
    "fit",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
    "save_masks",
    "test_scores",
    "train_model",
    "train_one_epoch",
]


class NonFiniteLossError(RuntimeError):
    """The loss became nan or inf during training."""


def _autocast(device: torch.device, amp: bool):
    if not amp or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type == "cpu":  # cpu:0 is the device audit's accelerator, cpu the CPU
        return a.index == b.index
    return (a.index or 0) == (b.index or 0)


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _check_model_on(model: nn.Module, device: torch.device, what: str) -> None:
    """Fail early, saying which is where, when ``model`` is not on ``device``."""
    param = next(model.parameters(), None)
    if param is not None and not _same_device(param.device, device):
        raise ValueError(
            f"{what}: the model's parameters are on {param.device} but device={device}; move "
            f"the model first with model.to(DEVICE), then build its optimizer")


def _cpu_layout(model: nn.Module, device: torch.device) -> None:
    """On a CPU, put the model's 4-d weights in channels-last order (in place: the
    parameters, and so an optimizer that holds them, stay the same objects). oneDNN's
    convolutions run 1.04-1.71x faster per training step and 1.3-3.4x faster in prediction
    that way on the course's models (benchmarks/README.md, layout); the results match up to
    float rounding. On CUDA nothing changes (not measured there)."""
    if device.type == "cpu":
        model.to(memory_format=torch.channels_last)


def _as_layout(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Images in the layout ``_cpu_layout`` gives the weights (a batch ``(N, C, H, W)``)."""
    if device.type == "cpu" and images.dim() == 4:
        return images.contiguous(memory_format=torch.channels_last)
    return images


def train_one_epoch(model: nn.Module, criterion, optimizer: torch.optim.Optimizer, loader,
                    device, epoch: int = 1, amp: bool = False, scaler=None) -> float:
    """One pass over ``loader``; returns the mean training loss.

    Losses stay on the device during the epoch (no per-step host sync); they are checked
    for nan/inf once at the end, which still names the first bad step.

    Raises:
        NonFiniteLossError: naming the epoch and step where the loss stopped being finite.
    """
    device = torch.device(device)
    # The optimizer holds the parameters (and their state) where they are: moving the model
    # here would leave them behind, so a model on another device is an error, not a move.
    _check_model_on(model, device, "train_one_epoch")
    model.train()
    _cpu_layout(model, device)
    losses = []
    for images, targets in loader:
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        images = _as_layout(images, device)
        with _autocast(device, amp):
            loss = criterion(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        losses.append(loss.detach().float())
    if not losses:
        raise ValueError("the training loader yielded no batches; check batch_size and drop_last")
    losses = torch.stack(losses)
    finite = torch.isfinite(losses)
    if not finite.all():
        step = int((~finite).nonzero()[0]) + 1
        raise NonFiniteLossError(
            f"loss became {losses[step - 1].item()} at epoch {epoch}, step {step} of "
            f"{len(losses)}; check the loss for log(0) or exp overflow, or lower the learning rate"
        )
    return losses.mean().item()


@torch.no_grad()
def evaluate(model: nn.Module, loader, device, criterion=None, threshold: float = 0.5,
             amp: bool = False) -> dict[str, float]:
    """Loss (if ``criterion``) and metrics over ``loader``.

    Binary models: Dice, IoU, accuracy, sensitivity, specificity of ``sigmoid >= threshold``
    (see ``course_utils.metrics`` for the per-image mean and empty-mask policy).
    Multi-class models: mIoU and pixel accuracy of the argmax, padding ignored.
    The model is moved to ``device``; batches are moved there whatever device they come on.
    """
    device = torch.device(device)
    model.eval().to(device)
    _cpu_layout(model, device)
    loss_sum, count = torch.zeros((), device=device), 0
    scores = None
    for images, targets in loader:
        images, targets = _as_layout(images.to(device), device), targets.to(device)
        with _autocast(device, amp):
            logits = model(images)
        if criterion is not None:
            loss_sum += criterion(logits.float(), targets) * len(images)
        count += len(images)
        if scores is None:  # counts per image (binary) or per class pair, never masks
            scores = (metrics.BinaryMetrics() if logits.shape[1] == 1
                      else metrics.ConfusionMatrix(logits.shape[1]))
        if logits.shape[1] == 1:
            scores.update(torch.sigmoid(logits.float()) >= threshold, targets.bool())
        else:
            scores.update(logits.argmax(1), targets)
    if scores is None:
        raise ValueError("the loader yielded no batches; nothing to evaluate")
    results = {"loss": loss_sum.item() / count} if criterion is not None else {}
    if isinstance(scores, metrics.ConfusionMatrix):
        return results | {"miou": scores.miou(), "pixel_accuracy": scores.pixel_accuracy()}
    return results | scores.compute()


def fit(model: nn.Module, criterion, train_loader, val_loader=None, epochs: int = 10,
        lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None, device="cpu",
        amp: bool = False, progress: bool = True) -> dict[str, list[float]]:
    """Train ``model`` for ``epochs`` and return the history as a dict of lists.

    Args:
        criterion: ``loss = criterion(logits, targets)``.
        val_loader: evaluated after every epoch (its metrics join the history as
            ``val_<name>``) when given.
        optimizer: defaults to Adam with learning rate ``lr``.
        amp: mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling);
            ignored on other devices.
        progress: show a tqdm bar over epochs.

    Returns:
        ``{"epoch": [...], "train_loss": [...], "seconds": [...], "val_loss": [...], ...}``
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = torch.device(device)
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    use_scaler = amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "seconds": []}
    bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        train_loss = train_one_epoch(model, criterion, optimizer, train_loader, device,
                                     epoch=epoch, amp=amp, scaler=scaler)
        history["epoch"].append(epoch)
        history["train_loss"].append(train_loss)
        if val_loader is not None:
            for key, value in evaluate(model, val_loader, device, criterion, amp=amp).items():
                history.setdefault(f"val_{key}", []).append(value)
        history["seconds"].append(time.perf_counter() - start)
        bar.set_postfix({k: f"{v[-1]:.3f}" for k, v in history.items() if k.endswith("loss")})
    return history


def train_model(build, criterion, train_set, val_loader=None, *, epochs: int, batch_size: int,
                seed: int, device="cpu", **fit_kwargs) -> tuple[nn.Module, dict[str, list[float]]]:
    """Train a fresh model on the same budget as its rivals: same seed, batches and epochs.

    Seeding happens before ``build()`` runs, so two calls with the same ``build`` start from
    the same weights and see the same shuffled batches.

    Args:
        build: a callable returning a new model, e.g. ``models.UNet`` or a ``lambda``.
        train_set: a dataset with ``images``/``targets`` (``data.PhCDataset``); it is
            shuffled with ``seed`` and sliced into ``batch_size`` batches on ``device``.
        fit_kwargs: passed on to ``fit`` (``lr``, ``amp``, ``progress``, ...).

    Returns:
        ``(model, history)``; the model is on ``device``.
    """
    torch.manual_seed(seed)
    model = build()
    if not isinstance(model, nn.Module):
        raise ValueError(f"build() must return an nn.Module, got {type(model).__name__}")
    loader = data.InMemoryLoader(train_set, batch_size, shuffle=True, device=device,
                                 drop_last=True, seed=seed)
    history = fit(model, criterion, loader, val_loader, epochs=epochs, device=device,
                  **fit_kwargs)
    return model, history


def test_scores(model: nn.Module, loader, device=None, tolerance: int = 1,
                threshold: float = 0.5, per_image: bool = False) -> dict[str, float]:
    """Dice, IoU and boundary F1 of a binary model's thresholded predictions on ``loader``.

    Args:
        loader: yields ``(images, targets)`` with binary targets ``(N, 1, H, W)``.
        tolerance: pixels of slack for ``metrics.boundary_f1``.
        per_image: return each image's scores (float64 tensors ``(N,)``, in the loader's
            order) instead of their means: what ``verdicts.compare`` needs for its interval.
    """
    pred = predict(model, loader, device) >= threshold
    target = torch.cat([targets.cpu() for _, targets in loader]).bool()
    scores = metrics.per_image_scores(pred, target, tolerance=tolerance)
    return scores if per_image else {k: v.mean().item() for k, v in scores.items()}


@torch.no_grad()
def predict(model: nn.Module, data, device=None, batch_size: int = 32) -> torch.Tensor:
    """Probabilities on the CPU: sigmoid ``(N, 1, H, W)`` or softmax ``(N, C, H, W)``.

    Args:
        data: a loader yielding ``(images, targets)``, or a float tensor of images, on any
            device: each batch is moved to ``device``.
        device: where to run; default: where the model's parameters are. The model is moved
            there (on a CPU its weights also take the faster channels-last layout).
    """
    device = _model_device(model) if device is None else torch.device(device)
    model.eval().to(device)
    _cpu_layout(model, device)
    if isinstance(data, torch.Tensor):
        data = [(batch, None) for batch in data.split(batch_size)]
    out = []
    for images, _ in data:
        logits = model(_as_layout(images.to(device), device)).float()
        probs = torch.sigmoid(logits) if logits.shape[1] == 1 else logits.softmax(1)
        out.append(probs.cpu().contiguous())
    return torch.cat(out)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **metadata) -> Path:
    """Save the model's weights and plain ``metadata`` atomically (temp file, then rename).

    A crash mid-write leaves the previous checkpoint intact, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model_state": model.state_dict(), "metadata": metadata}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module, map_location="cpu") -> dict:
    """Load weights saved by ``save_checkpoint`` into ``model``; returns the metadata.

    Loads with ``weights_only=True``: a checkpoint cannot run code when it is opened.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train and save the model first")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint: {exc}") from exc
    if not isinstance(state, dict) or "model_state" not in state:
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint")
    missing, unexpected = model.load_state_dict(state["model_state"], strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit this {type(model).__name__}: missing {missing[:4]}, "
            f"unexpected {unexpected[:4]}; build the model with the settings it was saved with"
        )
    return state.get("metadata", {})


def save_masks(masks: torch.Tensor, names: list[str], out_dir: str | os.PathLike) -> list[Path]:
    """Write each binary mask as an 8-bit PNG with values {0, 255}, named ``<name>.png``.

    Args:
        masks: hard masks ``(N, 1, H, W)`` or ``(N, H, W)`` with values 0/1 (or bool).
        names: one file stem per mask, e.g. the dataset's ``names``.
    """
    if masks.ndim == 4:
        masks = masks.squeeze(1)
    if masks.ndim != 3:
        raise ValueError(f"expected masks (N, 1, H, W) or (N, H, W), got {tuple(masks.shape)}")
    if len(names) != len(masks):
        raise ValueError(f"{len(masks)} masks but {len(names)} names")
    values = torch.unique(masks.byte() if masks.dtype == torch.bool else masks)
    if not torch.isin(values, values.new_tensor([0, 1])).all():
        raise ValueError(f"masks must hold 0/1 only, found {values[:6].tolist()}; "
                         f"threshold probabilities first")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for mask, name in zip(masks.cpu().numpy().astype(np.uint8), names, strict=True):
        path = out_dir / f"{Path(name).stem}.png"
        Image.fromarray(mask * 255).save(path)
        paths.append(path)
    return paths
