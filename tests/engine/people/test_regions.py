"""Division codes by level (省市县乡村五级): levels, canonical spellings, ancestors, and the table of
township and village codes (统计用区划代码)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.people.regions import (
    STATISTICAL_PATH,
    Level,
    ancestor_at,
    canonical_region,
    level_of,
    load_statistical_table,
    region_full_name,
    region_name,
    region_prefix,
    statistical_table,
)


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


# --- the township and village table (统计用区划代码) ------------------------------------------


def test_the_table_covers_the_served_districts_with_their_townships_and_communities() -> None:
    table = statistical_table()
    assert table.counties == {"430102", "430104", "430405"}
    assert table.names["430102001"] == "文艺路街道"
    assert table.names["430102001001"] == "识字里社区居委会"
    assert table.names["430104102"] == "莲花镇"
    assert table.names["430405007006"] == "王江社区居委会"
    assert all(len(code) in (9, 12) and code[:6] in table.counties for code in table.names)
    assert all(code[:9] in table.names for code in table.names if len(code) == 12)


def test_long_codes_have_names_at_their_own_level() -> None:
    assert region_name("430102001") == region_name("430102001000") == "文艺路街道"
    assert region_name("430102000000") == "芙蓉区"
    assert region_full_name("430102001001") == "湖南省长沙市芙蓉区文艺路街道识字里社区居委会"
    assert region_name("430102999") is None


def test_the_header_names_the_source_year_and_licence() -> None:
    header = STATISTICAL_PATH.read_text(encoding="utf-8").split("\ncode,name\n")[0]
    for needed in ("国家统计局", "2023", "modood/Administrative-divisions-of-China", "WTFPL"):
        assert needed in header


@pytest.mark.parametrize(("rows", "problem"), [
    ("430102001,文艺路街道\n430102001,文艺路街道\n", r"t\.csv:4: duplicate code 430102001"),
    ("430102001001,识字里社区居委会\n", r"t\.csv:3: village 430102001001 comes before its township"),
    ("430106001,某街道\n", r"t\.csv:3: 430106001 is in no known county"),
    ("4301020010,某街道\n", r"t\.csv:3: '4301020010' is not a 9-digit township"),
    ("430102001000,文艺路街道\n", r"is not a 9-digit township"),  # padded: not the canonical spelling
    ("430102001,\n", r"t\.csv:3: expected 'code,name'"),
])
def test_a_bad_table_is_refused_with_its_line(tmp_path: Path, rows: str, problem: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("# a comment\ncode,name\n" + rows, encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        load_statistical_table(path)
