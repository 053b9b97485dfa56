"""The directory of offices (办理机构): a department type at a region, with where and when to go.

An office is one department (民政局, 11) at one region of any of the five levels: the province
(43), a city (4301), a county (430102), a township (430102001) or a village or community
(430102001001). Its id is ``<department>@<region>`` with the region in canonical form
(:func:`engine.people.regions.canonical_region`): ``11@430102``, ``06@430000``.

The directory is data (``bundles/catalog/offices.yaml``), loaded with the catalog
(:mod:`engine.spec.loader`), which refuses an unknown department or region and a duplicate
office, naming the file and line. Routing (:mod:`engine.machine.routing`) asks it for the office
of a department at a region, or the nearest one above.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from engine.people.identifiers import InvalidValue
from engine.people.regions import Level, canonical_region, level_of, region_name, region_prefix
from engine.people.validators import validate_region_code

__all__ = ["Office", "OfficeDirectory", "Placement", "office_id", "office_problems"]


def office_id(department: str, region: str) -> str:
    """The id of the office of ``department`` at ``region``: ``11@430102``."""
    return f"{department}@{canonical_region(region)}"


class Office(BaseModel):
    """One office: a department type at a region, with its name, address, phone and hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    department: str = Field(pattern=r"^\d{2}$")
    region: str = Field(pattern=r"^\d{6}(\d{3}){0,2}$")
    """The office's region, in canonical form (430000, 430100, 430102, 430102001, 430102001001)."""
    name: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=1, max_length=60)
    hours: str = Field(min_length=1, max_length=200)
    """Working hours (办公时间), as the guide words them."""

    @property
    def id(self) -> str:
        return office_id(self.department, self.region)

    @property
    def level(self) -> Level:
        return level_of(self.region)

    @property
    def region_name(self) -> str:
        """The region's own name (芙蓉区, 文艺路街道), or its code when the tables do not name it."""
        return region_name(self.region) or self.region


def office_problems(office: Office, departments: Collection[str]) -> list[str]:
    """What is wrong with one directory entry (bilingual): an unknown department, a region that is
    not a current division code (a township or village outside 统计用区划代码 included), or a region
    not written in its canonical form."""
    problems = []
    if office.department not in departments:
        problems.append(f"office {office.name}: unknown department {office.department!r} / "
                        f"办理机构 {office.name} 的部门 {office.department!r} 不存在")
    try:
        validate_region_code(office.region)
    except InvalidValue as exc:
        problems.append(f"office {office.name}: region {office.region}: {exc.message_en} / "
                        f"办理机构 {office.name} 的区划 {office.region}：{exc.message_zh}")
        return problems
    if canonical_region(office.region) != office.region:
        problems.append(f"office {office.name}: write region {office.region} as {canonical_region(office.region)} / "
                        f"办理机构 {office.name} 的区划代码应写作 {canonical_region(office.region)}")
    return problems


@dataclass(frozen=True)
class Placement:
    """Where a department's step for a region decided at a level goes (:meth:`OfficeDirectory.place`).

    ``target`` is the region at the level above the asked region (canonical), or the asked region
    itself when it is coarser than the level (a city-wide case of a county item); ``office`` is the
    office at ``target`` or, failing that, the nearest one above it (None: none up to the province)."""

    department: str
    level: Level
    region: str
    target: str
    office: Office | None

    @property
    def coarser(self) -> bool:
        """The asked region lies above the deciding level, so it is decided at the region itself."""
        return level_of(self.region).rank < self.level.rank

    @property
    def exact(self) -> bool:
        """An office sits at the target itself (no fallback to an office above)."""
        return self.office is not None and self.office.region == self.target


class OfficeDirectory(BaseModel):
    """Every office, looked up by id or by department and region."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offices: tuple[Office, ...] = ()

    @cached_property
    def _by_id(self) -> dict[str, Office]:
        return {office.id: office for office in self.offices}

    def get(self, ident: str) -> Office | None:
        """The office with this id (``11@430102``), or None."""
        return self._by_id.get(ident)

    def at(self, department: str, region: str) -> Office | None:
        """The office of ``department`` exactly at ``region`` (any spelling of the code), or None."""
        return self._by_id.get(office_id(department, region))

    def nearest(self, department: str, region: str) -> Office | None:
        """The office of ``department`` at ``region`` or, failing that, at the nearest region above
        it (township, county, city, province), or None when there is none up to the province."""
        prefix = region_prefix(region)
        for level in sorted((lv for lv in Level if lv.digits <= len(prefix)), key=lambda lv: -lv.rank):
            found = self.at(department, prefix[: level.digits])
            if found is not None:
                return found
        return None

    def place(self, department: str, level: Level, region: str) -> Placement:
        """The office of ``department`` deciding at ``level`` for ``region``: at the ancestor of
        ``region`` at that level, or the nearest office above it when there is none there."""
        own = level_of(region)
        target = canonical_region(region_prefix(region)[: level.digits] if own.rank >= level.rank else region)
        return Placement(department=department, level=level, region=canonical_region(region), target=target,
                         office=self.nearest(department, target))

    @cached_property
    def regions(self) -> frozenset[str]:
        """The regions served: every region some office is at (canonical codes)."""
        return frozenset(office.region for office in self.offices)

    def __iter__(self) -> Iterator[Office]:  # type: ignore[override]  # the offices, not the fields
        return iter(self.offices)

    def __len__(self) -> int:
        return len(self.offices)
