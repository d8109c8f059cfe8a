"""Execute the solution notebooks headlessly, one after another, and summarise them.

``python -m course_utils run`` executes every ``notebooks/solutions/NN-*.ipynb`` in quick
mode (``--full`` for full mode), keeps the executed copies under ``notebooks/executed/``
and prints one row per lesson: status, wall time, data source and headline figure, which
each lesson reports with ``config.record_result``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from tqdm.auto import tqdm

from course_utils.authoring import NOTEBOOKS
from course_utils.config import OUTCOMES_KEY, QUICK_ENV, RESULTS_ENV

__all__ = ["run_lessons"]


def run_lessons(lessons: list[str] | None = None, quick: bool = True,
                out_dir: Path = NOTEBOOKS / "executed", timeout: int = 1800) -> list[dict]:
    """Execute solution notebooks (all, or those whose name starts with one of ``lessons``).

    Returns:
        One dict per lesson: lesson, status, seconds, data, headline.
    """
    paths = sorted((NOTEBOOKS / "solutions").glob("[0-9][0-9]-*.ipynb"))
    if lessons:
        paths = [p for p in paths if any(p.stem.startswith(x) for x in lessons)]
        if not paths:
            raise ValueError(f"no solution notebook matches {lessons}; "
                             f"try a number such as 00 or 01")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    bar = tqdm(paths, desc="lessons", unit="lesson")
    for path in bar:
        bar.set_postfix_str(path.stem)
        rows.append(_run_one(path, quick, out_dir, timeout))
    return rows


def _run_one(path: Path, quick: bool, out_dir: Path, timeout: int) -> dict:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        results_file = Path(tmp) / "results.json"
        saved = {k: os.environ.get(k) for k in (QUICK_ENV, RESULTS_ENV)}
        os.environ[QUICK_ENV] = "1" if quick else "0"
        os.environ[RESULTS_ENV] = str(results_file)
        start = time.perf_counter()
        status = "ok"
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except CellExecutionError as exc:
            last = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]
            status = f"FAILED: {last[:120]}"
        finally:
            seconds = time.perf_counter() - start
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
    nbformat.write(nb, out_dir / path.name)
    results.pop(OUTCOMES_KEY, None)  # for the CI's outcome tests, not the summary
    data = results.pop("data", "-")
    headline = ", ".join(f"{k} {v}" for k, v in results.items()) or "-"
    return {"lesson": path.stem, "status": status, "seconds": seconds, "data": data,
            "headline": headline}


def print_summary(rows: list[dict]) -> None:
    """The per-lesson table, then the total wall time."""
    header = ("lesson", "status", "seconds", "data", "headline")
    table = [header] + [(r["lesson"], r["status"], f"{r['seconds']:.1f}", str(r["data"]),
                         r["headline"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"total {sum(r['seconds'] for r in rows):.1f} s, "
          f"{sum(r['status'] == 'ok' for r in rows)}/{len(rows)} ok")
