"""Division codes by level (省市县乡村五级): levels, canonical spellings and ancestors."""

from __future__ import annotations

import pytest

from engine.people.regions import Level, ancestor_at, canonical_region, level_of, region_prefix


@pytest.mark.parametrize(("code", "level"), [
    ("43", Level.PROVINCE), ("430000", Level.PROVINCE), ("4301", Level.CITY), ("430100", Level.CITY),
    ("430102", Level.COUNTY), ("430102001", Level.TOWNSHIP), ("430102001000", Level.TOWNSHIP),
    ("430102001001", Level.VILLAGE),
])
def test_every_spelling_of_a_code_has_its_level(code: str, level: Level) -> None:
    assert level_of(code) == level
    assert len(region_prefix(code)) == level.digits


@pytest.mark.parametrize("code", ["4", "430", "43010", "4301020", "43010200101", "43x102"])
def test_a_code_of_no_level_is_refused(code: str) -> None:
    with pytest.raises(ValueError, match="not a division code"):
        level_of(code)


def test_canonical_spelling_pads_to_six_digits_down_to_the_county() -> None:
    assert [canonical_region(c) for c in ("43", "4301", "430102", "430102001000", "430102001001")] == [
        "430000", "430100", "430102", "430102001", "430102001001"]


def test_ancestors_at_every_level_above_a_village() -> None:
    village = "430102001001"
    assert [ancestor_at(village, level) for level in Level] == [
        "430000", "430100", "430102", "430102001", "430102001001"]
    assert ancestor_at("430100", Level.CITY) == "430100"


def test_a_level_below_the_code_has_no_ancestor() -> None:
    with pytest.raises(ValueError, match="430102 is a county; it has no township above it"):
        ancestor_at("430102", Level.TOWNSHIP)


def test_levels_rank_from_the_province_down() -> None:
    assert [level.rank for level in Level] == [0, 1, 2, 3, 4]
    assert [level.value for level in Level] == ["province", "city", "county", "township", "village"]
