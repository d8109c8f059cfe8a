"""Integration tests: a real kernel, hub, browser or the lessons' own runs.

Every test here carries the ``integration`` marker, so that the fast lane
(``bash scripts/course.sh test --fast``) leaves them out; CI runs them all.
"""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
