"""Administrative division codes (行政区划代码, GB/T 2260).

Every province-level division is known by its two-digit code.  Provinces
listed under ``detailed_provinces`` in ``regions_data/regions.yaml`` (at
present Hunan, 43) additionally have a complete table of their prefecture-
and county-level codes, so a six-digit code inside such a province can be
checked for existence and given a name.

The data file is loaded lazily, once, by :func:`region_table`.

Township (乡级, 9 digits) and village (村级, 12 digits) codes are the National Bureau of
Statistics' 统计用区划代码; ``regions_data/statistical_codes.csv`` lists them for the districts
this deployment serves (its header names the source, year and licence), loaded once by
:func:`statistical_table`. A 9- or 12-digit code outside it is not accepted.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

import yaml

__all__ = [
    "DATA_PATH",
    "PROVINCES",
    "STATISTICAL_PATH",
    "FormerRegion",
    "Level",
    "RegionTable",
    "StatisticalTable",
    "ancestor_at",
    "canonical_region",
    "former_region",
    "has_detailed_table",
    "is_valid_province",
    "level_of",
    "load_region_table",
    "load_statistical_table",
    "province_name",
    "region_full_name",
    "region_name",
    "region_prefix",
    "region_table",
    "statistical_table",
]

DATA_PATH: Path = Path(__file__).resolve().parent / "regions_data" / "regions.yaml"
"""Location of the bundled region table."""

STATISTICAL_PATH: Path = DATA_PATH.parent / "statistical_codes.csv"
"""Location of the bundled township and village table (统计用区划代码)."""

PROVINCES: Mapping[str, str] = MappingProxyType(
    {
        "11": "北京市",
        "12": "天津市",
        "13": "河北省",
        "14": "山西省",
        "15": "内蒙古自治区",
        "21": "辽宁省",
        "22": "吉林省",
        "23": "黑龙江省",
        "31": "上海市",
        "32": "江苏省",
        "33": "浙江省",
        "34": "安徽省",
        "35": "福建省",
        "36": "江西省",
        "37": "山东省",
        "41": "河南省",
        "42": "湖北省",
        "43": "湖南省",
        "44": "广东省",
        "45": "广西壮族自治区",
        "46": "海南省",
        "50": "重庆市",
        "51": "四川省",
        "52": "贵州省",
        "53": "云南省",
        "54": "西藏自治区",
        "61": "陕西省",
        "62": "甘肃省",
        "63": "青海省",
        "64": "宁夏回族自治区",
        "65": "新疆维吾尔自治区",
        "71": "台湾省",
        "81": "香港特别行政区",
        "82": "澳门特别行政区",
    }
)
"""Two-digit province-level codes (省级行政区划代码) mapped to their names."""


class Level(StrEnum):
    """The five levels of government (省市县乡村五级), each with the length of its significant
    prefix: province 43, city 4301, county 430102, township 430102001, village 430102001001."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"

    @property
    def digits(self) -> int:
        """Length of a code's significant prefix at this level (2, 4, 6, 9, 12)."""
        return _DIGITS[self]

    @property
    def rank(self) -> int:
        """0 for the province down to 4 for a village: a higher rank is a lower level."""
        return _LEVELS.index(self)


_LEVELS: tuple[Level, ...] = tuple(Level)
_DIGITS: Mapping[Level, int] = MappingProxyType(
    {Level.PROVINCE: 2, Level.CITY: 4, Level.COUNTY: 6, Level.TOWNSHIP: 9, Level.VILLAGE: 12})
_BY_DIGITS: Mapping[int, Level] = MappingProxyType({n: level for level, n in _DIGITS.items()})


def region_prefix(code: str) -> str:
    """Significant prefix of a division code: 430000 → 43, 430100 → 4301, 430102001000 → 430102001.

    A code covers another when the other starts with its prefix (a county covers its townships)."""
    while len(code) > 6 and code.endswith("000"):
        code = code[:-3]
    if len(code) > 6:
        return code
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def canonical_region(code: str) -> str:
    """The one stored spelling of a division code: six digits down to the county (430000, 430100,
    430102), nine for a township (430102001), twelve for a village (430102001001).

    Accepts any padded or significant form (43, 4301, 430100, 430102001000)."""
    prefix = region_prefix(code)
    return prefix.ljust(6, "0") if len(prefix) <= 6 else prefix


def level_of(code: str) -> Level:
    """The level of a division code, padded or not (430000 and 43 are the province).

    Raises ``ValueError`` for a prefix of no level's length (an odd-length code)."""
    prefix = region_prefix(code)
    level = _BY_DIGITS.get(len(prefix))
    if level is None or not prefix.isdigit():
        raise ValueError(f"{code!r} is not a division code of any level")
    return level


def ancestor_at(code: str, level: Level) -> str:
    """The division at ``level`` that contains ``code``, in canonical form (itself at its own level):
    ``ancestor_at("430102001", Level.CITY) == "430100"``.

    Raises ``ValueError`` when ``level`` is below the code's own level (a county has no township
    ancestor); callers that route downwards decide what a missing level means."""
    own = level_of(code)
    if level.rank > own.rank:
        raise ValueError(f"{code} is a {own.value}; it has no {level.value} above it")
    return canonical_region(region_prefix(code)[: level.digits])


@dataclass(frozen=True)
class FormerRegion:
    """A division code that has been abolished or renamed.

    ``successor`` is the code that replaced it, if there is one.
    """

    code: str
    name: str
    successor: str | None


@dataclass(frozen=True)
class RegionTable:
    """The contents of a region data file.

    ``names`` maps current six-digit codes to names, ``abolished`` maps former
    six-digit codes to :class:`FormerRegion`, and ``detailed_provinces`` holds
    the two-digit codes of provinces whose table is complete.
    """

    names: Mapping[str, str]
    abolished: Mapping[str, FormerRegion]
    detailed_provinces: frozenset[str]


def _is_six_digit_code(code: object) -> bool:
    return (
        isinstance(code, str)
        and len(code) == 6
        and all("0" <= c <= "9" for c in code)
        and code[:2] in PROVINCES
    )


def load_region_table(path: Path | None = None) -> RegionTable:
    """Load and check a region table from ``path`` (default :data:`DATA_PATH`).

    Raises ``ValueError`` if the file is not shaped as expected: every code
    must be a quoted six-digit string in a known province and every name a
    non-empty string.
    """
    source = DATA_PATH if path is None else path
    with source.open(encoding="utf-8") as fh:
        raw: object = yaml.safe_load(fh)
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: expected a mapping at the top level")

    detailed_raw = raw.get("detailed_provinces", [])
    if not isinstance(detailed_raw, list) or not all(
        isinstance(p, str) and p in PROVINCES for p in detailed_raw
    ):
        raise ValueError(f"{source}: detailed_provinces must list two-digit province codes")
    detailed = frozenset(str(p) for p in detailed_raw)

    names_raw = raw.get("regions") or {}
    if not isinstance(names_raw, dict):
        raise ValueError(f"{source}: regions must be a mapping")
    names: dict[str, str] = {}
    for code, name in names_raw.items():
        if not _is_six_digit_code(code):
            raise ValueError(f"{source}: bad region code {code!r} (codes must be quoted)")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{source}: region {code} has no name")
        names[code] = name.strip()

    abolished_raw = raw.get("abolished") or {}
    if not isinstance(abolished_raw, dict):
        raise ValueError(f"{source}: abolished must be a mapping")
    abolished: dict[str, FormerRegion] = {}
    for code, entry in abolished_raw.items():
        if not _is_six_digit_code(code):
            raise ValueError(f"{source}: bad abolished code {code!r} (codes must be quoted)")
        if code in names:
            raise ValueError(f"{source}: {code} is listed as both current and abolished")
        if not isinstance(entry, dict):
            raise ValueError(f"{source}: abolished entry {code} must be a mapping")
        name = entry.get("name")
        successor = entry.get("successor")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{source}: abolished region {code} has no name")
        if successor is not None and successor not in names:
            raise ValueError(f"{source}: successor of {code} ({successor!r}) is not a current code")
        abolished[code] = FormerRegion(code=code, name=name.strip(), successor=successor)

    return RegionTable(
        names=MappingProxyType(names),
        abolished=MappingProxyType(abolished),
        detailed_provinces=detailed,
    )


@functools.cache
def region_table() -> RegionTable:
    """Return the bundled region table, loading it on first use."""
    return load_region_table()


def is_valid_province(code: str) -> bool:
    """Return whether the first two characters of ``code`` are a province-level code."""
    return code[:2] in PROVINCES


def province_name(code: str) -> str | None:
    """Return the name of the province that ``code`` (of any length >= 2) belongs to."""
    return PROVINCES.get(code[:2])


def has_detailed_table(code: str) -> bool:
    """Return whether the province of ``code`` has a complete county-level table."""
    return code[:2] in region_table().detailed_provinces


def region_name(code: str) -> str | None:
    """Return the name of a current division code, or ``None`` if unknown.

    Accepts a two-digit province code or a six-digit code.  Province-level
    six-digit codes (``xx0000``) are known for every province; lower levels
    only for provinces with a detailed table.  Abolished codes give ``None``
    (see :func:`former_region`).
    """
    if len(code) == 2:
        return PROVINCES.get(code)
    if len(code) in (9, 12) and code.isdigit():
        canonical = canonical_region(code)
        if len(canonical) > 6:
            return statistical_table().names.get(canonical)
        code = canonical
    if len(code) != 6:
        return None
    name = region_table().names.get(code)
    if name is not None:
        return name
    if code[2:] == "0000":
        return PROVINCES.get(code[:2])
    return None


def former_region(code: str) -> FormerRegion | None:
    """Return the record of an abolished six-digit code, or ``None``."""
    return region_table().abolished.get(code)


def region_full_name(code: str) -> str | None:
    """Return the full name of a code, e.g. ``湖南省长沙市芙蓉区`` (a township or village code
    adds its township and village: ``湖南省长沙市芙蓉区文艺路街道``).

    Returns ``None`` when the code itself is unknown.
    """
    name = region_name(code)
    if name is None or len(code) == 2:
        return name
    code = canonical_region(code)
    parts: list[str] = []
    for prefix_code in (code[:2] + "0000", code[:4] + "00", code[:6], code[:9]):
        if prefix_code == code:
            break
        part = region_name(prefix_code)
        if part is not None:
            parts.append(part)
    parts.append(name)
    return "".join(parts)


@dataclass(frozen=True)
class StatisticalTable:
    """The township and village codes (统计用区划代码) of the served districts.

    ``names`` maps canonical 9- and 12-digit codes to names; ``counties`` holds the six-digit
    districts the table covers (a code of another district cannot be checked, so is refused)."""

    names: Mapping[str, str]
    counties: frozenset[str]


def load_statistical_table(path: Path | None = None) -> StatisticalTable:
    """Load and check a township and village table from ``path`` (default :data:`STATISTICAL_PATH`).

    A CSV with ``code,name`` columns after ``#`` comment lines. Raises ``ValueError`` naming the
    file and line of a row that is not a 9- or 12-digit code of a known county, a duplicate, or a
    village listed before (or without) its township.
    """
    source = STATISTICAL_PATH if path is None else path
    names: dict[str, str] = {}
    with source.open(encoding="utf-8", newline="") as fh:
        lines = [(n, line) for n, line in enumerate(fh, start=1) if line.strip() and not line.startswith("#")]
    reader = csv.reader(line for _, line in lines)
    header = next(reader, None)
    if header != ["code", "name"]:
        raise ValueError(f"{source}: expected a header line 'code,name'")
    counties = region_table().names
    for (number, _), row in zip(lines[1:], reader, strict=True):
        where = f"{source}:{number}"
        if len(row) != 2 or not row[1].strip():
            raise ValueError(f"{where}: expected 'code,name'")
        code, name = row[0].strip(), row[1].strip()
        if not code.isdigit() or len(code) not in (9, 12) or canonical_region(code) != code:
            raise ValueError(f"{where}: {code!r} is not a 9-digit township or 12-digit village code")
        if code[:6] not in counties:
            raise ValueError(f"{where}: {code} is in no known county ({code[:6]})")
        if code in names:
            raise ValueError(f"{where}: duplicate code {code}")
        if len(code) == 12 and code[:9] not in names:
            raise ValueError(f"{where}: village {code} comes before its township {code[:9]} (or it is missing)")
        names[code] = name
    return StatisticalTable(names=MappingProxyType(names), counties=frozenset(code[:6] for code in names))


@functools.cache
def statistical_table() -> StatisticalTable:
    """Return the bundled township and village table, loading it on first use."""
    return load_statistical_table()
