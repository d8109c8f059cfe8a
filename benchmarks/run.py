"""Performance figures for the course, printed as one table (never timed tests).

    flock /tmp/torch.lock python benchmarks/run.py            # every section
    python benchmarks/run.py --sections data loop             # some of them
    python benchmarks/run.py --smoke                          # fewer repeats, a smoke run

Sections:

- data: images/s delivered to the training step by ``PhCDataset`` + ``InMemoryLoader`` vs a
  loader in the exercise sheet's style (PIL open + torchvision transforms in ``__getitem__``,
  ``DataLoader``), on the same files, in epoch 1 (a new kernel: the decoded copy is loaded)
  and epoch 5.
- decode: decoding each dataset's files vs loading the decoded copy kept on disk.
- loop: time per step of ``training.fit`` vs a bare PyTorch loop, same model, batches and
  optimiser.
- layout: training step and prediction of the lessons' models at quick and full sizes on
  this CPU, contiguous vs channels-last (what ``training`` uses on a CPU).
- series: every solution notebook in quick mode: wall time and peak memory of its kernel,
  then where each lesson's time went (``runner.print_profile``).
- cuda: U-Net training step fp32 vs mixed precision + channels_last, and every lesson in full
  mode; only where a CUDA device is present.

Figures and the machine they came from are recorded in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import torch
from PIL import Image
from torch import nn
from torchvision import transforms

from course_utils import data, training
from course_utils.data import decoded, readers
from course_utils.instructor import runner
from course_utils.models import DilatedNet, EncDec, UNet

BATCH_SIZE = 16
SECTIONS = ("data", "decode", "loop", "layout", "series", "cuda")


class SheetPhC(torch.utils.data.Dataset):
    """The exercise sheet's dataset: every item opens and transforms its files again."""

    def __init__(self, root: Path, split: str, transform):
        self.image_paths = sorted((root / split / "images").glob("*.jpg"))
        self.label_paths = sorted((root / split / "labels").glob("*.png"))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index):
        image, label = Image.open(self.image_paths[index]), Image.open(self.label_paths[index])
        return self.transform(image), self.transform(label)


def deliver(loader) -> int:
    """Iterate one epoch, touching every batch as a training step would; returns images seen."""
    seen, checksum = 0, 0.0
    for images, targets in loader:
        checksum += images.sum().item() + targets.sum().item()  # read every value once
        seen += len(images)
    return seen


def epoch_rates(make_loader, epochs: int) -> list[float]:
    """Images/s of each epoch; ``make_loader`` is timed as part of epoch 1 (it decodes)."""
    rates, start = [], time.perf_counter()
    loader = make_loader()
    for _ in range(epochs):
        seen = deliver(loader)
        rates.append(seen / (time.perf_counter() - start))
        start = time.perf_counter()
    return rates


def bench_data(args) -> list[tuple]:
    source = data.locate("phc")
    files = len(SheetPhC(source.path, "test", None))
    rows = [("data", "files; values below are epoch 1 / epoch 5",
             f"{files} PhC test images ({source.kind}), batch {BATCH_SIZE}", "", "")]
    return rows + [row for size in args.sizes for row in _bench_data_at(size, args.smoke)]


def _bench_data_at(size: int, smoke: bool) -> list[tuple]:
    root = data.locate("phc").path

    def course_loader():
        decoded.forget()  # epoch 1 pays for loading, as in a new kernel (decoded copy on disk)
        return data.InMemoryLoader(data.PhCDataset("test", size=size), BATCH_SIZE, shuffle=True)

    sheet = SheetPhC(root, "test", transforms.Compose([transforms.Resize((size, size)),
                                                       transforms.ToTensor()]))
    loaders = {"course_utils PhCDataset + InMemoryLoader": course_loader}
    for workers in (0, 2):
        loaders[f"sheet-style Dataset + DataLoader, {workers} workers"] = (
            lambda w=workers: torch.utils.data.DataLoader(sheet, BATCH_SIZE, shuffle=True,
                                                          num_workers=w))
    runs = {name: [epoch_rates(make, 5) for _ in range(1 if smoke else 3)]
            for name, make in loaders.items()}
    rates = {name: [statistics.median(epoch) for epoch in zip(*r, strict=True)]
             for name, r in runs.items()}
    where = f"{size}x{size}"
    rows = [("data", f"{where}: {name}", f"{r[0]:,.0f} / {r[4]:,.0f} img/s", "", "")
            for name, r in rates.items()]
    ours = rates.pop("course_utils PhCDataset + InMemoryLoader")
    for epoch in (1, 5):
        best = max(r[epoch - 1] for r in rates.values())
        ratio = ours[epoch - 1] / best
        if epoch == 1:
            rows.append(("data", f"{where}: speed-up vs best sheet-style, epoch 1 (decoding)",
                         f"{ratio:,.1f}x", "", ""))
        else:
            rows.append(("data", f"{where}: speed-up vs best sheet-style, epoch 5",
                         f"{ratio:,.1f}x", ">= 20x", _verdict(ratio >= 20)))
    return rows


def bench_decode(args) -> list[tuple]:
    """Decoding a dataset's files (what every lesson's kernel paid) against loading the
    decoded copy that ``data.decoded`` keeps on disk (what a new kernel pays now)."""
    phc, facade = data.locate("phc").path, data.locate("facade").path
    cases = [("cells, train + test", "phc", size, readers.PHC_PATTERNS,
              [(phc / split, readers.read_phc_folder) for split in ("train", "test")])
             for size in ((64, 64), (128, 128))]
    cases += [("facades", "facade", size, readers.FACADE_PATTERNS,
               [(facade, readers.read_facade_folder)]) for size in ((96, 64), (256, 192))]
    repeats = 1 if args.smoke else 3
    rows = []
    for name, kind, size, patterns, folders in cases:
        def decode(folders=folders, size=size):
            for folder, read in folders:
                read(folder, size)

        def load(folders=folders, kind=kind, size=size, patterns=patterns):
            decoded.forget()
            for folder, read in folders:
                decoded.load(kind, folder, size, patterns,
                             lambda folder=folder, read=read: read(folder, size))

        load()  # the first kernel decodes and keeps the copy
        times = [min(_seconds(fn) for _ in range(repeats)) for fn in (decode, load)]
        rows.append(("decode", f"{name} at {size[0]}x{size[1]}: decode -> decoded copy",
                     f"{times[0]:.2f} -> {times[1]:.2f} s", "faster",
                     f"{times[0] / times[1]:.0f}x"))
    return rows


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def conv_speed() -> float:
    """GFLOP/s of a 3x3 convolution (32 -> 32 channels, 8 images of 64 x 64, channels-last,
    forward only): one number to compare the machines that the tables were measured on."""
    conv = nn.Conv2d(32, 32, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.rand(8, 32, 64, 64).contiguous(memory_format=torch.channels_last)
    flops = 2 * 9 * 32 * 32 * 64 * 64 * 8
    with torch.no_grad():
        conv(x)
        best = min(_seconds(lambda: conv(x)) for _ in range(20))
    return flops / best / 1e9


def bare_epoch(model, criterion, optimizer, batches) -> float:
    """The loop a student writes by hand."""
    model.train()
    total = 0.0
    for images, targets in batches:
        loss = criterion(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(batches)


def bench_loop(args) -> list[tuple]:
    torch.manual_seed(0)
    steps, repeats = (10, 3) if args.smoke else (20, 7)
    batches = [(torch.rand(BATCH_SIZE, 3, 64, 64),
                (torch.rand(BATCH_SIZE, 1, 64, 64) > 0.5).float()) for _ in range(steps)]
    model = UNet(width=16, depth=3)
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def with_fit():
        training.fit(model, criterion, batches, epochs=1, optimizer=optimizer, progress=False)

    def bare():
        bare_epoch(model, criterion, optimizer, batches)

    with_fit()  # warm-up: allocator, kernels, Adam state
    bare()
    ratios, per_step = [], {"fit": [], "bare": []}
    for i in range(repeats):
        times = {}
        order = (("fit", with_fit), ("bare", bare))
        for name, run in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            run()
            times[name] = (time.perf_counter() - start) / steps
            per_step[name].append(times[name])
        ratios.append(times["fit"] / times["bare"])
    ratio = statistics.median(ratios)
    return [
        ("loop", "bare PyTorch loop, per step", f"{statistics.median(per_step['bare']) * 1e3:.1f} ms",
         "", ""),
        ("loop", "training.fit, per step", f"{statistics.median(per_step['fit']) * 1e3:.1f} ms",
         "", ""),
        ("loop", f"fit / bare (median of {repeats} x {steps} steps)", f"{ratio:.3f}x", "<= 1.05x",
         _verdict(ratio <= 1.05)),
        ("loop", "model", f"UNet width 16 depth 3, 64x64, batch {BATCH_SIZE}, Adam, CPU", "", ""),
    ]


@contextlib.contextmanager
def peak_child_rss(interval: float = 0.2):
    """Track the peak summed RSS of this process's descendants (the kernel and its workers)."""
    peak = {"bytes": 0}
    stop = threading.Event()
    me = psutil.Process()

    def poll():
        while not stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            peak["bytes"] = max(peak["bytes"], total)
            stop.wait(interval)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def run_series(quick: bool, section: str, limit_s: float | None,
               series_limit_s: float | None = None) -> list[tuple]:
    lessons = sorted(p.stem for p in (runner.NOTEBOOKS / "solutions").glob("[0-9][0-9]-*.ipynb"))
    rows, total, results = [], 0.0, {}
    with tempfile.TemporaryDirectory() as out:
        for lesson in lessons:
            with peak_child_rss() as peak:
                row = runner.run_lessons([lesson], quick=quick, out_dir=Path(out))[0]
            total += row["seconds"]
            results[lesson] = row
            ok = row["status"] == "ok" and (limit_s is None or row["seconds"] <= limit_s)
            rows.append((section, f"{lesson} ({row['data']})",
                         f"{row['seconds']:.0f} s, peak {peak['bytes'] / 2**20:,.0f} MiB",
                         f"<= {limit_s:.0f} s" if limit_s else "",
                         _verdict(ok) + ("" if row["status"] == "ok" else f" {row['status']}")))
    rows.append((section, f"whole series ({len(lessons)} lessons)", f"{total:.0f} s",
                 f"<= {series_limit_s:.0f} s" if series_limit_s else "",
                 _verdict(total <= series_limit_s) if series_limit_s else ""))
    if quick:
        rows.append(_unet_dice_row(results))
    print(f"\nwhere the time went ({section}, {'quick' if quick else 'full'} mode):", flush=True)
    runner.print_profile(list(results.values()))
    return rows


def _unet_dice_row(results: dict) -> tuple:
    if data.locate("phc").kind == "synthetic":
        return ("series", "U-Net test Dice on the real cell data", "not measured", ">= 0.9",
                "n/a: no real cell data here (synthetic twin)")
    unet = next((r for k, r in results.items() if k.startswith("03")), None)
    headline = unet["headline"] if unet else "lesson 03 missing"
    return ("series", "U-Net lesson headline (real cell data)", headline, ">= 0.9", "see value")


def bench_series(args) -> list[tuple]:
    # Issue 18's targets: quick mode at most 60 s a lesson and 300 s in all on a 2-core CPU.
    return run_series(quick=True, section="series", limit_s=60, series_limit_s=300)


def step_rate(model, batch, device, mixed: bool, steps: int) -> float:
    """Images/s of the U-Net training step on random data already on ``device``."""
    images = torch.rand(batch, 3, 256, 256, device=device)
    targets = (torch.rand(batch, 1, 256, 256, device=device) > 0.5).float()
    if mixed:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=mixed and dtype == torch.float16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.BCEWithLogitsLoss()

    def step():
        with torch.autocast("cuda", dtype=dtype, enabled=mixed):
            loss = criterion(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def bench_cuda(args) -> list[tuple]:
    if not torch.cuda.is_available():
        return [("cuda", "U-Net step fp32 vs mixed precision; lessons in full mode",
                 "no CUDA device: skipped", "", "")]
    name = torch.cuda.get_device_name()
    steps = 10 if args.smoke else 50
    rates = {mixed: step_rate(UNet(width=64, depth=4).cuda(), 16, "cuda", mixed, steps)
             for mixed in (False, True)}
    dtype = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    rows = [("cuda", f"U-Net step fp32 ({name})", f"{rates[False]:,.0f} img/s", "", ""),
            ("cuda", f"U-Net step {dtype} autocast + channels_last", f"{rates[True]:,.0f} img/s",
             "", f"{rates[True] / rates[False]:.2f}x fp32")]
    # Issue 18, on a data-centre GPU: each lesson at most 20 s, the series at most 3 minutes.
    return rows + run_series(quick=False, section="cuda full", limit_s=20, series_limit_s=180)


# The lessons' models at their quick and full sizes: (name, build, batch, height, width).
LAYOUT_CASES = [
    ("02 EncDec, quick", lambda: EncDec(width=32, depth=3), 16, 64, 64),
    ("02 EncDec, full", lambda: EncDec(width=64, depth=4), 16, 128, 128),
    ("05 UNet, quick", lambda: UNet(width=32, depth=4), 8, 64, 64),
    ("05 UNet, full", lambda: UNet(width=64, depth=4), 8, 128, 128),
    ("05 DilatedNet, quick", lambda: DilatedNet(width=32, depth=5), 8, 64, 64),
    ("05 DilatedNet, full", lambda: DilatedNet(width=64, depth=6), 8, 128, 128),
    ("06 UNet, quick", lambda: UNet(width=16, depth=4, out_channels=12), 16, 96, 64),
]


def layout_times(build, batch: int, height: int, width: int, layout, steps: int):
    """Seconds per training step (batch) and per prediction of 64 images, in ``layout``."""
    torch.manual_seed(0)
    model = build().to(memory_format=layout)
    images = torch.rand(batch, 3, height, width).contiguous(memory_format=layout)
    many = torch.rand(64, 3, height, width).contiguous(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = model(images).float().square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def timed(fn, repeats):
        fn()  # warm-up: oneDNN builds its primitives for the shapes
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - start) / repeats

    model.train()
    train = timed(step, steps)
    model.eval()
    with torch.no_grad():
        predict = timed(lambda: model(many), max(1, steps // 4))
    return train, predict


def bench_layout(args) -> list[tuple]:
    """What ``training``'s channels-last layout on a CPU buys, per model and size."""
    steps = 2 if args.smoke else 8
    rows = []
    for name, build, batch, height, width in LAYOUT_CASES:
        if args.smoke and "full" in name:
            continue
        plain = layout_times(build, batch, height, width, torch.contiguous_format, steps)
        last = layout_times(build, batch, height, width, torch.channels_last, steps)
        rows.append(("layout", f"{name}: step (batch {batch}), predict 64",
                     f"{plain[0] * 1e3:.0f} -> {last[0] * 1e3:.0f} ms, "
                     f"{plain[1] * 1e3:.0f} -> {last[1] * 1e3:.0f} ms",
                     "faster", f"{plain[0] / last[0]:.2f}x, {plain[1] / last[1]:.2f}x"))
    return rows


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores, {psutil.virtual_memory().total / 2**30:.0f} "
            f"GiB RAM, Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads)")


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_table(rows: list[tuple]) -> None:
    header = ("section", "measure", "value", "target", "verdict")
    table = [header, *rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--smoke", action="store_true", help="fewer repeats: a smoke run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 64],
                        help="image sizes for the data section (128: the sheet's; 64: quick mode)")
    args = parser.parse_args(argv)
    bench = {"data": bench_data, "decode": bench_decode, "loop": bench_loop, "layout": bench_layout,
             "series": bench_series, "cuda": bench_cuda}
    start, rows = time.perf_counter(), []
    print(f"machine: {machine()}", flush=True)
    print(f"speed: {conv_speed():.0f} GFLOP/s (3x3 convolution, 32 channels, 8 x 64 x 64, "
          f"channels-last)", flush=True)
    for section in args.sections:
        print(f"running {section} ...", file=sys.stderr, flush=True)
        rows += bench[section](args)
    print()
    print_table(rows)
    print(f"\n{time.perf_counter() - start:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
