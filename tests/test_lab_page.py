"""lab_page without a browser: the before/after comparison that decides whether a slider's
figure and printed metrics followed it (the browser side is tests/integration/test_hub.py)."""

import re

import lab_page as lp
import pytest

# The comparison itself, without a browser: a table of what a cell showed before and after.
MOVES = [
    pytest.param(lp.Shown("0.50", "a", "threshold 0.50 Dice 0.800"),
                 lp.Shown("0.55", "b", "threshold 0.55 Dice 0.750"), None, id="follows"),
    pytest.param(lp.Shown("0.50", "a", "Dice 0.800"), lp.Shown("0.50", "a", "Dice 0.800"),
                 "did not move", id="not moved"),
    pytest.param(lp.Shown("0.50", "a", "Dice 0.800"), lp.Shown("0.55", "", "Dice 0.750"),
                 "no figure", id="figure gone"),
    pytest.param(lp.Shown("0.50", "a", "Dice 0.800"), lp.Shown("0.55", "a", "Dice 0.750"),
                 "figure did not change", id="stale figure"),
    pytest.param(lp.Shown("0.50", "a", "threshold 0.50 Dice 0.800"),
                 lp.Shown("0.55", "b", "threshold 0.55 Dice 0.800"),
                 "metrics did not change", id="stale metrics"),
    pytest.param(lp.Shown("0.50", "a", "threshold 0.50 Dice 0.800"),
                 lp.Shown("0.55", "b", "threshold 0.50 Dice 0.750"),
                 "printed 0.5 before but not 0.55", id="stale echo"),
    pytest.param(lp.Shown("0.50", "a", "threshold 0.50 Dice 0.800"),
                 lp.Shown("0.55", "b", "threshold 0.50 Dice 0.800"),
                 "metrics did not change", id="stale text"),
]


@pytest.mark.parametrize(("before", "after", "error"), MOVES)
def test_assert_follows(before, after, error):
    if error is None:
        lp.assert_follows(before, after)
    else:
        with pytest.raises(AssertionError, match=re.escape(error)):
            lp.assert_follows(before, after)
