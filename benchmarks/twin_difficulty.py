"""How hard are the synthetic twins? Train the lessons' reference models on them and print.

For the facades (lesson 06's settings): the U-Net trained unweighted and with square-root
inverse-frequency class weights; test mIoU, IoU per class, and what the weights do to the
recall and IoU of the three rarest classes. For the cells (lesson 03's settings): the
encoder-decoder and the U-Net; test Dice and boundary F1; beside them, how the cells look:
their fingerprint against the real crops' (``course_utils.synthetic.fingerprint``: summary
statistics of the train split, each with its band; issue 28). For both: Otsu's threshold per
image, the better polarity, as the baseline a twin must defeat.

    python benchmarks/twin_difficulty.py                     # quick mode, both twins
    python benchmarks/twin_difficulty.py --mode full          # the students' setting
    python benchmarks/twin_difficulty.py --mode full --epochs 8 --twin facade

The data comes from where the lessons find it (``COURSE_DATA_DIR``, ``data_links/``, else the
cached twin, generated on first use), so the same command measures the real data where it is
present. ``--epochs`` shortens full mode on a CPU; the header says how many were run.
Targets (issue 11, full mode): facade mIoU 0.40-0.65, no class but background and facade
above IoU 0.90, weights raise the rare classes' recall; cell U-Net Dice 0.96-0.985 with the
encoder-decoder clearly behind on boundary F1; Otsu Dice below 0.7 on both twins.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_utils import config, data, metrics, models, synthetic, training
from course_utils.baselines import otsu_dice
from course_utils.synthetic import fingerprint

# The parameters cells of lessons 06 and 03 (tests/test_benchmarks.py keeps them in step).
FACADE = {"quick": {"size": (96, 64), "epochs": 6, "width": 16},
          "full": {"size": (256, 192), "epochs": 40, "width": 32}}
FACADE_BATCH, FACADE_LR = 16, 3e-3
CELLS = {"quick": {"size": 64, "epochs": 10, "width": 32},
         "full": {"size": 128, "epochs": 30, "width": 64}}
CELLS_DEPTH, CELLS_BATCH = 4, 8
OPENINGS = ("window", "door", "shop")  # the dark holes in a wall that a threshold could find


def facade_rows(mode: str, epochs: int, device, seed: int) -> list[str]:
    cfg = FACADE[mode]
    sets = {s: data.FacadeDataset(s, size=cfg["size"]) for s in ("train", "val", "test")}
    counts = torch.bincount(sets["train"].targets[sets["train"].targets != data.IGNORE_INDEX]
                            .long(), minlength=data.NUM_FACADE_CLASSES)
    freq = counts.double() / counts.sum()
    runs, seconds = {}, 0.0
    for name, power in (("unweighted", 0.0), ("sqrt weights", 0.5)):
        weight = freq.pow(-power)
        criterion = nn.CrossEntropyLoss(weight=(weight / weight.mean()).float().to(device),
                                        ignore_index=data.IGNORE_INDEX)
        start = time.perf_counter()
        model, _ = training.train_model(
            lambda: models.UNet(out_channels=data.NUM_FACADE_CLASSES, width=cfg["width"]),
            criterion, sets["train"], epochs=epochs, batch_size=FACADE_BATCH, seed=seed,
            device=device, lr=FACADE_LR, progress=False)
        seconds += time.perf_counter() - start
        test = sets["test"]
        pred = training.predict(model, test.images.float() / 255, device=device).argmax(1)
        runs[name] = metrics.confusion_matrix(pred, test.targets.long(), data.NUM_FACADE_CLASSES)
    iou = {n: metrics.iou_from_confusion(cm) for n, cm in runs.items()}
    recall = {n: cm.diag() / cm.sum(1).clamp(min=1) for n, cm in runs.items()}
    rare = freq.argsort()[:3].tolist()
    names = data.FACADE_CLASSES
    openings = torch.isin(sets["test"].targets.long(),
                          torch.tensor([names.index(c) for c in OPENINGS]))
    otsu = otsu_dice(sets["test"].images, openings, sets["test"].targets != data.IGNORE_INDEX)
    h, w = cfg["size"]
    rows = [f"### Facades, {mode} mode: U-Net width {cfg['width']}, {h} x {w}, {epochs} epochs, "
            f"seed {seed}, {len(sets['train'])} training images ({sets['train'].source.kind}); "
            f"{seconds:.0f} s of training for both runs", "",
            "| class | share | IoU unweighted | IoU sqrt weights | recall unweighted "
            "| recall sqrt weights |",
            "|---|---|---|---|---|---|"]
    for c in freq.argsort(descending=True).tolist():
        rows.append(f"| {names[c]} | {freq[c]:.1%} | {iou['unweighted'][c]:.3f} | "
                    f"{iou['sqrt weights'][c]:.3f} | {recall['unweighted'][c]:.3f} | "
                    f"{recall['sqrt weights'][c]:.3f} |")
    miou = {n: torch.nanmean(v).item() for n, v in iou.items()}
    rows.append(f"| **mIoU** | | **{miou['unweighted']:.3f}** | "
                f"**{miou['sqrt weights']:.3f}** | | |")
    high = [names[c] for c in range(len(names)) if c > 1 and iou["unweighted"][c] > 0.90]
    gain_r = (recall["sqrt weights"][rare] - recall["unweighted"][rare]).tolist()
    gain_i = (iou["sqrt weights"][rare] - iou["unweighted"][rare]).tolist()
    rows += ["", f"- Three rarest classes ({', '.join(names[c] for c in rare)}): recall change "
             f"with sqrt weights {', '.join(f'{g:+.3f}' for g in gain_r)}; IoU change "
             f"{', '.join(f'{g:+.3f}' for g in gain_i)}.",
             f"- Classes other than background and facade above IoU 0.90 (unweighted): "
             f"{', '.join(high) if high else 'none'}.",
             f"- Otsu per image, better polarity, on the openings ({', '.join(OPENINGS)}): "
             f"Dice {otsu:.3f}.",
             f"- Targets{_scope(mode)}: mIoU 0.40-0.65 -> "
             f"{_mark(0.40 <= miou['unweighted'] <= 0.65)}; "
             f"no other class above 0.90 -> {_mark(not high)}; weights raise the rare recall -> "
             f"{_mark(np.mean(gain_r) > 0)}; Otsu below 0.7 -> {_mark(otsu < 0.7)}.", ""]
    return rows


def cell_rows(mode: str, epochs: int, device, seed: int) -> list[str]:
    cfg = CELLS[mode]
    sets = {s: data.PhCDataset(s, size=cfg["size"]) for s in ("train", "test")}
    test_loader = data.InMemoryLoader(sets["test"], 32, device=device)
    scores, seconds = {}, 0.0
    for name, build in (("EncDec", models.EncDec), ("U-Net", models.UNet)):
        start = time.perf_counter()
        model, _ = training.train_model(
            lambda build=build: build(width=cfg["width"], depth=CELLS_DEPTH),
            nn.BCEWithLogitsLoss(), sets["train"], epochs=epochs, batch_size=CELLS_BATCH,
            seed=seed, device=device, progress=False)
        seconds += time.perf_counter() - start
        scores[name] = training.test_scores(model, test_loader, tolerance=cfg["size"] // 64)
    test = sets["test"]
    otsu = otsu_dice(test.images, test.targets.bool())
    gap = scores["U-Net"]["boundary F1"] - scores["EncDec"]["boundary F1"]
    dice = scores["U-Net"]["Dice"]
    return [f"### Cells, {mode} mode: width {cfg['width']}, depth {CELLS_DEPTH}, "
            f"{cfg['size']} x {cfg['size']}, {epochs} epochs, seed {seed}, "
            f"{len(sets['train'])} training images ({sets['train'].source.kind}); "
            f"{seconds:.0f} s of training for both", "",
            "| model | test Dice | test boundary F1 |", "|---|---|---|",
            *(f"| {n} | {s['Dice']:.3f} | {s['boundary F1']:.3f} |" for n, s in scores.items()),
            f"| Otsu, better polarity per image | {otsu:.3f} | |", "",
            f"- Targets{_scope(mode)}: U-Net Dice 0.96-0.985 -> {_mark(0.96 <= dice <= 0.985)}; "
            f"encoder-decoder behind on boundary F1 ({gap:+.3f}) -> {_mark(gap >= 0.02)}; "
            f"Otsu below 0.7 -> {_mark(otsu < 0.7)}.", "",
            *fingerprint_rows(sets["train"].source.path)]


def fingerprint_rows(root) -> list[str]:
    """The cells' fingerprint (train split, at the files' own size) against the real one."""
    twin = fingerprint.fingerprint(*fingerprint.load_phc(root))
    rows = fingerprint.compare(fingerprint.REAL_PHC, twin)
    outside = [row.split(" | ")[0][2:] for row in rows[2:] if row.endswith("| NO |")]
    return [f"#### How the cells look: fingerprint of {root} (train, {twin['n']} crops) "
            "against the real train split's", "", *rows, "",
            f"- Statistics outside their band (15 % of the real value, 0.02 per edge-profile "
            f"point, one mask for the two-part share): {', '.join(outside) or 'none'}.", ""]


def generation_rows() -> list[str]:
    """Seconds to write each twin at its real size, into a scratch folder."""
    rows = [f"### Generation (twin version {synthetic.TWIN_VERSION})", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("cells (651 crops)", synthetic.make_synthetic_phc),
                           ("facades (378 photos)", synthetic.make_synthetic_facade)):
            start = time.perf_counter()
            make(Path(tmp) / name.split()[0])
            rows.append(f"- {name}: {time.perf_counter() - start:.1f} s")
    return rows + [""]


def _scope(mode: str) -> str:
    return "" if mode == "full" else " (set for full mode; shown for comparison)"


def _mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("quick", "full", "both"), default="quick")
    parser.add_argument("--twin", choices=("facade", "cells", "both"), default="both")
    parser.add_argument("--epochs", type=int,
                        help="override the lessons' epochs (e.g. full mode on a CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generation", action="store_true",
                        help="also time writing both twins from scratch")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    device = config.get_device()
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.generation:
        print("\n".join(generation_rows()), flush=True)
    for mode in ("quick", "full") if args.mode == "both" else (args.mode,):
        if args.twin in ("facade", "both"):
            epochs = args.epochs or FACADE[mode]["epochs"]
            print("\n".join(facade_rows(mode, epochs, device, args.seed)), flush=True)
        if args.twin in ("cells", "both"):
            epochs = args.epochs or CELLS[mode]["epochs"]
            print("\n".join(cell_rows(mode, epochs, device, args.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
