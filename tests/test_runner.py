"""course_utils.instructor.runner without a kernel: the lesson filter, one run with a fake client, the table."""

import json
import os
import re
from contextlib import contextmanager

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from course_utils.instructor import runner


@pytest.fixture
def notebooks(tmp_path, monkeypatch):
    """A notebooks/ folder with three (empty) solution notebooks and a non-lesson file."""
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    for name in ("00-setup", "01-first", "02-second", "scratch"):
        nbformat.write(nbformat.v4.new_notebook(), solutions / f"{name}.ipynb")
    monkeypatch.setattr(runner, "NOTEBOOKS", tmp_path)
    return tmp_path


@pytest.fixture
def ran(monkeypatch):
    """Replace the execution of one lesson by a record of which lessons would run."""
    calls = []

    def fake_run_one(path, quick, out_dir, timeout, overrides=None):
        calls.append((path.name, quick, out_dir, timeout))
        return {"lesson": path.stem}

    monkeypatch.setattr(runner, "_run_one", fake_run_one)
    return calls


@pytest.mark.parametrize(
    ("lessons", "expected"),
    [
        (None, ["00-setup", "01-first", "02-second"]),
        ([], ["00-setup", "01-first", "02-second"]),
        (["01"], ["01-first"]),
        (["02", "00"], ["00-setup", "02-second"]),
        (["01-first"], ["01-first"]),
        (["0"], ["00-setup", "01-first", "02-second"]),
    ],
)
def test_run_lessons_filter(notebooks, ran, tmp_path, lessons, expected):
    rows = runner.run_lessons(lessons, out_dir=tmp_path / "out", timeout=5)
    assert [r["lesson"] for r in rows] == expected
    assert [c[0] for c in ran] == [f"{name}.ipynb" for name in expected]
    assert all(c[1:] == (True, tmp_path / "out", 5) for c in ran)
    assert (tmp_path / "out").is_dir()


def test_run_lessons_full_mode(notebooks, ran, tmp_path):
    runner.run_lessons(["00"], quick=False, out_dir=tmp_path / "out")
    assert ran[0][1] is False


@pytest.mark.parametrize("lessons", [["42"], ["setup"], ["scratch"]])
def test_run_lessons_bad_name(notebooks, ran, tmp_path, lessons):
    message = re.escape(f"no solution notebook matches {lessons}; try a number such as 00")
    with pytest.raises(ValueError, match=message):
        runner.run_lessons(lessons, out_dir=tmp_path / "out")
    assert ran == []
    assert not (tmp_path / "out").exists()


class _FakeClient:
    """Stands in for nbclient: records the environment and writes the lesson's results."""

    results = {"data": "synthetic", "test Dice": 0.81, "epochs": 3}
    error = None
    seen = {}

    def __init__(self, nb, timeout, kernel_name, extra_arguments, resources):
        self.nb = nb
        _FakeClient.seen = {"timeout": timeout, "kernel": kernel_name,
                            "kernel arguments": extra_arguments,
                            "cwd": resources["metadata"]["path"]}

    @contextmanager
    def setup_kernel(self):
        _FakeClient.seen["kernel up"] = True
        yield
        _FakeClient.seen["kernel up"] = False

    def execute(self, cleanup_kc=True):
        _FakeClient.seen["quick"] = os.environ["COURSE_QUICK"]
        _FakeClient.seen["cleanup"] = cleanup_kc
        with open(os.environ["COURSE_RESULTS_FILE"], "w") as f:
            json.dump(self.results, f)
        self.nb.cells.append(nbformat.v4.new_markdown_cell("executed"))
        if self.error:
            raise self.error


@pytest.mark.parametrize("quick", [True, False])
def test_run_one_collects_results(notebooks, tmp_path, monkeypatch, quick):
    monkeypatch.setattr(runner, "NotebookClient", _FakeClient)
    monkeypatch.setattr(runner, "kernel_memory",
                        lambda client: {"peak_rss": 1200 * 2**20, "peak_gpu": None}
                        if _FakeClient.seen["kernel up"] else {})
    monkeypatch.setenv("COURSE_QUICK", "maybe")
    monkeypatch.delenv("COURSE_RESULTS_FILE", raising=False)
    path = notebooks / "solutions" / "01-first.ipynb"
    row = runner._run_one(path, quick, tmp_path, timeout=9)
    assert row["lesson"] == "01-first" and row["status"] == "ok"
    assert row["data"] == "synthetic" and row["headline"] == "test Dice 0.81, epochs 3"
    assert row["seconds"] >= 0
    assert row["memory"] == "RSS 1,200 MiB"
    assert _FakeClient.seen == {"timeout": 9, "kernel": "python3",
                                "kernel arguments": ["--IPKernelApp.log_level=ERROR"],
                                "cwd": str(notebooks / "solutions"),
                                "quick": "1" if quick else "0", "cleanup": False,
                                "kernel up": False}
    assert os.environ["COURSE_QUICK"] == "maybe" and "COURSE_RESULTS_FILE" not in os.environ
    executed = nbformat.read(tmp_path / "01-first.ipynb", as_version=4)
    assert executed.cells[-1].source == "executed"


def test_run_one_reports_failure_and_missing_results(notebooks, tmp_path, monkeypatch):
    class Failing(_FakeClient):
        results = {}
        error = CellExecutionError("Traceback (most recent call last):\n...\n"
                                   "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero\n",
                                   "ZeroDivisionError", "division by zero")

    monkeypatch.setattr(runner, "NotebookClient", Failing)
    monkeypatch.setattr(runner, "kernel_memory", lambda client: {"peak_rss": 3 * 2**30})
    row = runner._run_one(notebooks / "solutions" / "00-setup.ipynb", True, tmp_path, 9)
    assert row["status"] == "FAILED: ZeroDivisionError: division by zero"
    assert row["memory"] == "RSS 3,072 MiB"  # measured after the failing cell too
    assert row["data"] == "-" and row["headline"] == "-"
    assert (tmp_path / "00-setup.ipynb").is_file()


def test_print_summary(capsys):
    rows = [
        {"lesson": "00-setup", "status": "ok", "seconds": 12.34, "memory": "RSS 1,175 MiB",
         "data": "synthetic", "headline": "cells 120/31/500"},
        {"lesson": "01-first-network", "status": "FAILED: boom", "seconds": 3.0, "memory": "-",
         "data": "-", "headline": "-"},
    ]
    runner.print_summary(rows)
    assert capsys.readouterr().out == (
        "lesson            status        seconds  peak memory    data       headline\n"
        "----------------  ------------  -------  -------------  ---------  ----------------\n"
        "00-setup          ok            12.3     RSS 1,175 MiB  synthetic  cells 120/31/500\n"
        "01-first-network  FAILED: boom  3.0      -              -          -\n"
        "total 15.3 s, 1/2 ok\n"
    )


def test_print_summary_no_rows(capsys):
    runner.print_summary([])
    assert capsys.readouterr().out == (
        "lesson  status  seconds  peak memory  data  headline\n"
        "------  ------  -------  -----------  ----  --------\n"
        "total 0.0 s, 0/0 ok\n"
    )


@pytest.mark.parametrize(("memory", "text"), [
    ({"peak_rss": 1175 * 2**20, "peak_gpu": None}, "RSS 1,175 MiB"),
    ({"peak_rss": 1175 * 2**20, "peak_gpu": 3 * 2**30}, "RSS 1,175 MiB, GPU 3,072 MiB"),
    ({"peak_rss": None}, "-"),
    ({}, "-"),
])
def test_describe_memory(memory, text):
    assert runner.describe_memory(memory) == text


class _FakeKernelClient:
    def __init__(self, reply):
        self.reply, self.asked = reply, None

    async def execute_interactive(self, code, user_expressions, **kwargs):
        self.asked = user_expressions
        if isinstance(self.reply, Exception):
            raise self.reply
        return {"content": {"user_expressions": {"memory": self.reply}}}


@pytest.mark.parametrize(("reply", "memory"), [
    ({"status": "ok", "data": {"text/plain": "{'peak_rss': 5, 'peak_gpu': None}"}},
     {"peak_rss": 5, "peak_gpu": None}),
    ({"status": "error", "ename": "ModuleNotFoundError"}, {}),
    (TimeoutError("kernel died"), {}),
], ids=["ok", "kernel without course_utils", "dead kernel"])
def test_kernel_memory_asks_the_kernel(reply, memory):
    client = type("Client", (), {"kc": _FakeKernelClient(reply)})()
    assert runner.kernel_memory(client) == memory
    assert client.kc.asked == {"memory": runner._MEMORY_EXPRESSION}


def test_run_one_measures_the_kernel_not_the_runner(tmp_path):
    """A real kernel that holds 400 MiB more than the runner ever did reports it."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import numpy as np\nblock = np.ones(400 * 2**20, dtype=np.uint8)")])
    path = tmp_path / "00-memory.ipynb"
    nbformat.write(nb, path)
    row = runner._run_one(path, True, tmp_path, timeout=120)
    assert row["status"] == "ok"
    rss = float(re.fullmatch(r"RSS ([\d,]+) MiB", row["memory"])[1].replace(",", ""))
    assert rss > 400


def test_run_one_records_mode_device_date_and_status(notebooks, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "NotebookClient", _FakeClient)
    monkeypatch.setattr(runner, "kernel_device", lambda client: "cuda (NVIDIA H100, 79 GiB)")
    runner._run_one(notebooks / "solutions" / "01-first.ipynb", False, tmp_path, timeout=9)
    run = nbformat.read(tmp_path / "01-first.ipynb", as_version=4).metadata[runner.RUN_KEY]
    assert run["mode"] == "full" and run["status"] == "ok"
    assert run["device"] == "cuda (NVIDIA H100, 79 GiB)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", run["date"])


def test_run_metadata_without_a_device_says_unknown():
    assert runner.run_metadata(True, None, "FAILED: x")["device"] == "unknown"


def _timed_cell(source, begin, end):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["execution"] = {"iopub.execute_input": f"2026-12-03T10:00:{begin}Z",
                                  "shell.execute_reply": f"2026-12-03T10:00:{end}Z"}
    return cell


def test_cell_times_reads_the_timing_and_names_the_phase():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# title"),
        _timed_cell("import torch\nfrom course_utils import config", "00.000", "02.500"),
        _timed_cell("cells = data.PhCDataset('train')", "02.500", "03.000"),
        _timed_cell("# train it\nmodel, history = training.train_model(build)", "03.000", "13.000"),
        _timed_cell("scores = training.test_scores(model, loader)", "13.000", "15.000"),
        _timed_cell("print(1)", "15.000", "15.250"),
        _timed_cell("from course_utils import resources\n\nresources.print_memory_use(DEVICE);",
                    "15.250", "16.000"),
        nbformat.v4.new_code_cell("never ran"),
    ])
    assert runner.cell_times(nb) == [
        {"index": 1, "seconds": 2.5, "phase": "imports", "first": "import torch"},
        {"index": 2, "seconds": 0.5, "phase": "data", "first": "cells = data.PhCDataset('train')"},
        {"index": 3, "seconds": 10.0, "phase": "training",
         "first": "model, history = training.train_model(build)"},
        {"index": 4, "seconds": 2.0, "phase": "evaluation",
         "first": "scores = training.test_scores(model, loader)"},
        {"index": 5, "seconds": 0.25, "phase": "other", "first": "print(1)"},
        {"index": 6, "seconds": 0.75, "phase": "device start",
         "first": "resources.print_memory_use(DEVICE);"},
    ]


def test_print_profile(capsys):
    cells = [{"index": 3, "seconds": 15.0, "phase": "training", "first": "fit(model)"},
             {"index": 1, "seconds": 3.0, "phase": "imports", "first": "import torch"}]
    runner.print_profile([{"lesson": "01-first", "seconds": 20.0, "cells": cells},
                          {"lesson": "02-failed", "seconds": 1.0, "cells": []}], top=1)
    assert capsys.readouterr().out == (
        "01-first: 20.0 s = kernel start + overhead 2.0 s (10%), training 15.0 s (75%), "
        "imports 3.0 s (15%)\n"
        "    cell   3    15.0 s   75%  training    fit(model)\n"
    )
