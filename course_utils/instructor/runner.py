"""Execute the solution notebooks headlessly, one after another, and summarise them.

``python -m course_utils run`` executes every ``notebooks/solutions/NN-*.ipynb`` in quick
mode (``--full`` for full mode), keeps the executed copies under ``notebooks/executed/``
and prints one row per lesson: status, wall time, the kernel's peak memory, data source and
headline figure, which each lesson reports with ``reporting.record_result``.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm.auto import tqdm

from course_utils.config import QUICK_ENV, env_overrides
from course_utils.instructor.paths import NOTEBOOKS
from course_utils.reporting import OUTCOMES_KEY, RESULTS_ENV

__all__ = ["run_lessons"]


CELL_TIMEOUT = 600  # seconds; no lesson cell needs that long, a stalled one fails in time
RUN_KEY = "course_run"  # executed notebook metadata: mode, device, date, status of the run


def run_lessons(lessons: list[str] | None = None, quick: bool = True,
                out_dir: Path = NOTEBOOKS / "executed", timeout: int = CELL_TIMEOUT,
                overrides: dict[str, str] | None = None) -> list[dict]:
    """Execute solution notebooks (all, or those whose name starts with one of ``lessons``).

    Args:
        timeout: seconds one cell may run before the lesson fails, naming that cell.
        overrides: parameters to set instead of the parameters cell's values, e.g.
            ``{"SEED": "1"}`` (values are Python expressions).

    Returns:
        One dict per lesson: lesson, status, seconds, memory, data, headline.
    """
    paths = sorted((NOTEBOOKS / "solutions").glob("[0-9][0-9]-*.ipynb"))
    if lessons:
        paths = [p for p in paths if any(p.stem.startswith(x) for x in lessons)]
        if not paths:
            raise ValueError(f"no solution notebook matches {lessons}; "
                             f"try a number such as 00 or 01")
    for path in paths:  # a bad override fails now, not after an hour of other lessons
        set_parameters(nbformat.read(path, as_version=4), overrides or {}, path.stem)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    bar = tqdm(paths, desc="lessons", unit="lesson")
    for path in bar:
        bar.set_postfix_str(path.stem)
        rows.append(_run_one(path, quick, out_dir, timeout, overrides))
    return rows


def _run_one(path: Path, quick: bool, out_dir: Path, timeout: int,
             overrides: dict[str, str] | None = None) -> dict:
    nb = nbformat.read(path, as_version=4)
    set_parameters(nb, overrides or {}, path.stem)
    with tempfile.TemporaryDirectory() as tmp:
        results_file = Path(tmp) / "results.json"
        start = time.perf_counter()
        status = "ok"
        memory, device = {}, None
        # The kernel listens on 127.0.0.1 only; its start-up warning about unencrypted TCP
        # would print once per lesson. (IPC sockets avoid it, but then nbclient's cell
        # timeout never fires.) Its errors still show.
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                resources={"metadata": {"path": str(path.parent)}})
        current = {"index": None}
        client.on_cell_start = lambda cell, cell_index: current.update(index=cell_index)
        try:
            with env_overrides({QUICK_ENV: "1" if quick else "0",
                                RESULTS_ENV: str(results_file)}), client.setup_kernel():
                try:
                    client.execute(cleanup_kc=False)  # keep the kernel to measure it
                finally:  # a kernel stuck in a cell or dead cannot answer
                    if not isinstance(sys.exc_info()[1], CellTimeoutError | DeadKernelError):
                        memory = kernel_memory(client)
                        device = kernel_device(client)
        except CellExecutionError as exc:
            last = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]
            status = f"FAILED: {last[:120]}"
        except (CellTimeoutError, DeadKernelError) as exc:
            what = (f"timed out after {timeout} s" if isinstance(exc, CellTimeoutError)
                    else "killed the kernel")
            status = f"FAILED: {_describe_cell(nb, current['index'])} {what}"
            print(f"{path.stem}: {status}", file=sys.stderr)
        finally:
            seconds = time.perf_counter() - start
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
    nb.metadata[RUN_KEY] = run_metadata(quick, device, status)
    nbformat.write(nb, out_dir / path.name)
    results.pop(OUTCOMES_KEY, None)  # for the CI's outcome tests, not the summary
    data = results.pop("data", "-")
    headline = ", ".join(f"{k} {v}" for k, v in results.items()) or "-"
    return {"lesson": path.stem, "status": status, "seconds": seconds,
            "memory": describe_memory(memory), "data": data, "headline": headline,
            "cells": cell_times(nb)}


def _describe_cell(nb, index: int | None) -> str:
    if index is None:
        return "the kernel start"
    first = next((line for line in nb.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index} ({first.strip()[:60]!r})"


_ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*) = ")


def set_parameters(nb, overrides: dict[str, str], lesson: str = "the notebook") -> None:
    """Replace ``NAME = ...`` lines of the parameters cell (the code cell that sets ``SEED``)
    with ``NAME = <value>  # set by the runner``.

    Raises:
        ValueError: if the notebook has no parameters cell, a name is not assigned on a line
            of its own there, or a value is not a Python expression.
    """
    if not overrides:
        return
    cell = next((c for c in nb.cells if c.cell_type == "code"
                 and any(line.startswith("SEED = ") for line in c.source.splitlines())), None)
    if cell is None:
        raise ValueError(f"{lesson} has no parameters cell (a code cell with 'SEED = ...')")
    lines = cell.source.splitlines()
    for name, value in overrides.items():
        try:
            ast.parse(value, mode="eval")
        except SyntaxError:
            raise ValueError(f"--set {name}={value}: {value!r} is not a Python expression; "
                             f"quote strings, e.g. --set DATA_ROOT='\"/data\"'") from None
        found = [i for i, line in enumerate(lines)
                 if (m := _ASSIGNMENT.match(line)) and m.group(1) == name]
        if not found:
            names = [m.group(1) for line in lines if (m := _ASSIGNMENT.match(line))]
            raise ValueError(f"{lesson}'s parameters cell does not set {name}; it sets "
                             f"{', '.join(names)}")
        lines[found[0]] = f"{name} = {value}  # set by the runner"
    cell.source = "\n".join(lines)


# Evaluated in the lesson's kernel after its last cell: the kernel's own high-water marks.
_MEMORY_EXPRESSION = "__import__('course_utils.resources').resources.peak_memory()"


def kernel_memory(client) -> dict:
    """The executing kernel's peak memory (``resources.peak_memory``), or ``{}`` when the
    kernel cannot say (it died, or cannot import course_utils)."""
    try:
        reply = run_sync(client.kc.execute_interactive)(
            "", user_expressions={"memory": _MEMORY_EXPRESSION}, store_history=False,
            timeout=60)
        value = reply["content"]["user_expressions"]["memory"]
        return ast.literal_eval(value["data"]["text/plain"]) if value["status"] == "ok" else {}
    except Exception:  # a measurement must never turn a lesson's result into an error
        return {}


def run_metadata(quick: bool, device: str | None, status: str) -> dict:
    """What an executed notebook records of its run (``RUN_KEY``), for the book's note."""
    return {"mode": "quick" if quick else "full", "device": device or "unknown",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "status": status}


# The lesson's own DEVICE (its parameters cell), in the words of the environment table.
_DEVICE_EXPRESSION = ("__import__('course_utils.config').config"
                      ".environment_report(globals().get('DEVICE'))['device']")


def kernel_device(client) -> str | None:
    """The device the executed lesson ran on, e.g. ``cuda (NVIDIA H100, 79 GiB)``, or
    ``None`` when the kernel cannot say."""
    try:
        reply = run_sync(client.kc.execute_interactive)(
            "", user_expressions={"device": _DEVICE_EXPRESSION}, store_history=False,
            timeout=60)
        value = reply["content"]["user_expressions"]["device"]
        return ast.literal_eval(value["data"]["text/plain"]) if value["status"] == "ok" else None
    except Exception:  # as for the memory: never an error of the lesson's
        return None


def describe_memory(memory: dict) -> str:
    """``RSS 1,175 MiB`` or ``RSS 1,175 MiB, GPU 3,072 MiB``; ``-`` when unknown."""
    parts = [f"{name} {memory[key] / 2**20:,.0f} MiB"
             for name, key in (("RSS", "peak_rss"), ("GPU", "peak_gpu")) if memory.get(key)]
    return ", ".join(parts) or "-"


# What a cell mostly does, from the first of these calls in its code (in this order).
PHASES = (
    ("training", re.compile(r"\b(train_model|fit|train_one|train_epoch|train_all|"
                            r"compare_losses|train)\(")),
    ("evaluation", re.compile(r"\b(test_scores|predict|evaluate|scores_of|"
                              r"threshold_curves|best_threshold)\w*\(")),
    ("data", re.compile(r"\b(load|make_loaders?|\w*Dataset|InMemoryLoader|loaders?|splits)\w*\(")),
    # The memory report after the parameters cell is a lesson's first CUDA call: on a GPU
    # its time is the CUDA context's start-up (next to nothing on a CPU).
    ("device start", re.compile(r"\bprint_memory_use\(")),
    ("imports", re.compile(r"^(import |from \S+ import )", re.M)),
)


def cell_times(nb) -> list[dict]:
    """Seconds of each executed code cell (nbclient's timing metadata), with the phase its
    code suggests and its first line."""
    cells = []
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if cell.cell_type != "code" or not begin or not end:
            continue
        seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                   - datetime.fromisoformat(begin.replace("Z", "+00:00"))).total_seconds()
        code = "\n".join(line for line in cell.source.splitlines()
                         if not line.lstrip().startswith("#"))
        phase = next((name for name, pattern in PHASES if pattern.search(code)), "other")
        lines = [line.strip() for line in code.splitlines() if line.strip()]
        first = next((line for line in lines if not PHASES[-1][1].match(line)),
                     lines[0] if lines else "")
        cells.append({"index": index, "seconds": seconds, "phase": phase, "first": first})
    return cells


def print_profile(rows: list[dict], top: int = 5) -> None:
    """Per lesson: where the time went (kernel start, then each phase's share) and the
    slowest cells with their share of the lesson's wall time."""
    for row in rows:
        total, cells = row["seconds"], row.get("cells", [])
        if not cells or not total:
            continue
        phases = {"kernel start + overhead": total - sum(c["seconds"] for c in cells)}
        for cell in cells:
            phases[cell["phase"]] = phases.get(cell["phase"], 0.0) + cell["seconds"]
        split = ", ".join(f"{name} {sec:.1f} s ({sec / total:.0%})"
                          for name, sec in phases.items())
        print(f"{row['lesson']}: {total:.1f} s = {split}")
        for cell in sorted(cells, key=lambda c: -c["seconds"])[:top]:
            print(f"    cell {cell['index']:>3}  {cell['seconds']:6.1f} s  "
                  f"{cell['seconds'] / total:4.0%}  {cell['phase']:<10}  {cell['first'][:60]}")


def print_summary(rows: list[dict]) -> None:
    """The per-lesson table, then the total wall time."""
    header = ("lesson", "status", "seconds", "peak memory", "data", "headline")
    table = [header] + [(r["lesson"], r["status"], f"{r['seconds']:.1f}", r.get("memory", "-"),
                         str(r["data"]), r["headline"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"total {sum(r['seconds'] for r in rows):.1f} s, "
          f"{sum(r['status'] == 'ok' for r in rows)}/{len(rows)} ok")
