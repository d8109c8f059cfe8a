"""The results channel: headline figures and outcomes into the file the runner names."""

import json

import numpy as np
import pytest

from course_utils import reporting


def test_record_result_writes_json_and_rounds(monkeypatch, tmp_path, capsys):
    path = tmp_path / "results.json"
    monkeypatch.setenv("COURSE_RESULTS_FILE", str(path))
    reporting.record_result("test Dice", 0.123456789)
    reporting.record_result("epochs", 3, echo=False)
    reporting.record_result("np", np.float32(0.5))
    assert json.loads(path.read_text()) == {"test Dice": 0.1235, "epochs": 3, "np": 0.5}
    assert capsys.readouterr().out == "test Dice: 0.1235\nnp: 0.5\n"


def test_record_result_overwrites_same_key(monkeypatch, tmp_path):
    path = tmp_path / "results.json"
    monkeypatch.setenv("COURSE_RESULTS_FILE", str(path))
    reporting.record_result("x", 1, echo=False)
    reporting.record_result("x", 2, echo=False)
    assert json.loads(path.read_text()) == {"x": 2}


def test_record_result_without_runner_only_prints(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reporting.record_result("loss", 1.0)
    assert capsys.readouterr().out == "loss: 1.0\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("value", "stored"), [
    (True, True), (np.bool_(False), False), (3, 3.0), (np.float32(0.25), 0.25),
])
def test_record_outcome_goes_to_the_outcomes_section_silently(monkeypatch, tmp_path, capsys,
                                                               value, stored):
    path = tmp_path / "results.json"
    monkeypatch.setenv(reporting.RESULTS_ENV, str(path))
    reporting.record_result("headline", 1, echo=False)
    reporting.record_outcome("gap", value)
    assert json.loads(path.read_text()) == {"headline": 1, "outcomes": {"gap": stored}}
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(("value", "error"), [
    (float("nan"), "outcome 'gap' must be finite, got nan"),
    ("0.5", "outcome 'gap' must be a number or a bool, got str"),
])
def test_record_outcome_rejects_bad_values(value, error):
    with pytest.raises(ValueError, match=error):
        reporting.record_outcome("gap", value)
