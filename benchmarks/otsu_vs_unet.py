"""Otsu's threshold vs a small U-Net on the synthetic phase-contrast twin.

The synthetic cells must behave like the real ones: a global threshold fails (the cell is
not brighter than its surroundings) while a small U-Net, trained 10 epochs at 64x64 on the
121 training images (the train folder less its validation fifth; Adam, lr 1e-3, batch 16),
succeeds. Run it (CPU heavy, so under the shared lock on shared machines):

    flock /tmp/torch.lock python benchmarks/otsu_vs_unet.py [--preview /tmp/synth_preview]

The U-Net is ``course_utils.models.UNet`` (width 32, depth 3) trained by
``course_utils.training.fit`` on ``PhCDataset(size=64)``: the pieces the lessons use. Exits
with status 1 unless the U-Net reaches Dice >= 0.9 and Otsu stays below 0.7.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from course_utils import config, data, models, training
from course_utils.baselines import otsu_dice
from course_utils.synthetic import make_synthetic_facade, make_synthetic_phc


def train_unet(root, side=64, epochs=10, seed=0):
    """course_utils' U-Net (width 32, depth 3) trained with the package's own loop;
    returns (test Dice at ``side``, train seconds)."""
    config.seed_everything(seed)
    train = data.PhCDataset("train", root, size=side)
    test = data.PhCDataset("test", root, size=side)
    model = models.UNet(width=32, depth=3)
    start = time.perf_counter()
    training.fit(model, nn.BCEWithLogitsLoss(), data.InMemoryLoader(train, 16, shuffle=True,
                                                                      seed=seed),
                 epochs=epochs, lr=1e-3, progress=False)
    seconds = time.perf_counter() - start
    return training.evaluate(model, data.InMemoryLoader(test, 64), "cpu")["dice"], seconds


def save_previews(folder, cells_root, seed=0):
    """Write ``cells.png`` (8 cells with mask outlines) and ``facades.png`` (4 facades + labels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.facade_classes import FACADE_PALETTE

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    test = data.PhCDataset("test", cells_root)
    images, masks = test.images.permute(0, 2, 3, 1).numpy(), test.targets[:, 0].numpy()
    fig, axes = plt.subplots(2, 8, figsize=(16, 4.4))
    for i in range(8):
        axes[0, i].imshow(images[i])
        axes[1, i].imshow(images[i])
        axes[1, i].contour(masks[i], levels=[0.5], colors="red", linewidths=0.8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(folder / "cells.png", dpi=90)
    plt.close(fig)

    with tempfile.TemporaryDirectory() as tmp:
        base = make_synthetic_facade(Path(tmp) / "facade", n_images=4, seed=seed) / "base"
        palette = np.array([(0, 0, 0), *FACADE_PALETTE], dtype=np.uint8)
        fig, axes = plt.subplots(2, 4, figsize=(14, 9))
        for i in range(4):
            axes[0, i].imshow(Image.open(base / f"cmp_b{i + 1:04d}.jpg"))
            axes[1, i].imshow(palette[np.asarray(Image.open(base / f"cmp_b{i + 1:04d}.png"))])
        for ax in axes.ravel():
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(folder / "facades.png", dpi=80)
        plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preview", type=Path, help="folder for preview PNG grids")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = make_synthetic_phc(Path(tmp) / "phc", seed=args.seed)
        gen_seconds = time.perf_counter() - start
        test = data.PhCDataset("test", root)
        otsu = otsu_dice(test.images, test.targets.bool())
        unet, seconds = train_unet(root, seed=args.seed)
        if args.preview:
            save_previews(args.preview, root, seed=args.seed)
    print(f"synthetic PhC twin generated in {gen_seconds:.1f} s; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'method':<34}{'test Dice':>10}{'train s':>9}")
    print(f"{'Otsu (better polarity per image)':<34}{otsu:>10.3f}{'-':>9}")
    print(f"{'U-Net, 10 epochs at 64x64':<34}{unet:>10.3f}{seconds:>9.1f}")
    ok = unet >= 0.9 and otsu < 0.7
    print("OK" if ok else "FAIL: expected U-Net Dice >= 0.9 and Otsu Dice < 0.7")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
