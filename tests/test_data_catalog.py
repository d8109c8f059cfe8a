"""The registry and the repository paths of course_utils.data.catalog."""

from pathlib import Path

import pytest

from course_utils import data
from course_utils.data import catalog

REPO = Path(__file__).resolve().parents[1]


def test_registry_lists_both_datasets():
    reg = data.registry()
    assert sorted(reg) == ["facade", "phc"]
    assert reg["phc"]["folder"] == "phc_data"
    assert reg["facade"]["folder"] == "CMP_facade_DB_base"
    assert reg["facade"]["label_values"] == list(range(1, 13))


def test_data_links_is_the_repository_folder():
    assert data.DATA_LINKS == catalog.DATA_LINKS == REPO / "data_links"
    assert (data.DATA_LINKS / "README.md").is_file()


@pytest.mark.parametrize("name", ["phc", "facade"])
def test_entry(name):
    assert catalog.entry(name) is data.registry()[name]


def test_entry_unknown_dataset():
    with pytest.raises(ValueError, match=r"unknown dataset 'cells'; expected one of \['facade', "
                                         r"'phc'\]"):
        catalog.entry("cells")
