"""Support resources: France by default, another country from a documented JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mp_core.support import FRANCE, SupportResourcesError, check_links, load_support_resources

EXAMPLE = Path(__file__).parents[1] / "examples" / "support_resources.uk.json"


def test_france_is_the_default_with_the_national_lines() -> None:
    resources = load_support_resources(None)
    assert resources is FRANCE
    phones = {r.name: r.phone for r in resources.resources}
    assert phones["3114"] == "3114"
    assert phones["SOS Amitié"] == "09 72 39 40 50"
    assert phones["Fil Santé Jeunes"] == "0 800 235 236"
    assert "Nightline" in phones


def test_the_shipped_example_for_another_country_loads() -> None:
    resources = load_support_resources(EXAMPLE)
    assert resources.country == "United Kingdom"
    assert resources.resources[0].phone == "116 123"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SupportResourcesError, match="cannot read it"):
        load_support_resources(tmp_path / "nope.json")


def test_a_bad_entry_is_named_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"country": "X", "resources": [{"name": "", "description": "d"}]}))
    with pytest.raises(SupportResourcesError, match=r"resources\[0\]\.name"):
        load_support_resources(path)


def test_an_empty_list_and_broken_json_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"country": "X", "resources": []}))
    with pytest.raises(SupportResourcesError, match="resources"):
        load_support_resources(path)
    path.write_text("{not json")
    with pytest.raises(SupportResourcesError, match="not valid JSON"):
        load_support_resources(path)


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,hi", "http://x.example", "//x"],
)
def test_a_link_outside_https_tel_mailto_is_refused_naming_the_entry(
    tmp_path: Path, url: str
) -> None:
    path = tmp_path / "support.json"
    entries = [
        {"name": "Fine", "description": "d", "url": "https://ok.example"},
        {"name": "Sneaky", "description": "d", "url": url},
    ]
    path.write_text(json.dumps({"country": "Nowhere", "resources": entries}))
    with pytest.raises(
        SupportResourcesError, match=r"resources\[1\] \('Sneaky'\): url .* https://"
    ):
        load_support_resources(path)


@pytest.mark.parametrize("url", ["https://ok.example", "tel:+33123", "mailto:help@ok.example"])
def test_https_tel_and_mailto_links_load(tmp_path: Path, url: str) -> None:
    path = tmp_path / "support.json"
    entries = [{"name": "Fine", "description": "d", "url": url}]
    path.write_text(json.dumps({"country": "Nowhere", "resources": entries}))
    assert load_support_resources(path).resources[0].url == url
    check_links(FRANCE)
