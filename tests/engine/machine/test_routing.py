"""Routing (办理地): every step of every shipped bundle, for an applicant of every region the office
directory serves — the province, its cities, counties, townships and villages — goes to exactly
one office: its item's department at the item's deciding level above that region. The expected
office is worked out here from the codes alone (a code's prefix at the level), independently of
the directory's lookup, and the examples below pin one route per level by name."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from engine.db.models import Case, Step
from engine.machine.routing import route_step
from engine.people.identifiers import make_id_number
from engine.people.regions import Level, level_of
from engine.spec.loader import BundleRegistry
from engine.spec.models import StepSpec

DIGITS = {Level.PROVINCE: 2, Level.CITY: 4, Level.COUNTY: 6, Level.TOWNSHIP: 9, Level.VILLAGE: 12}


def canonical(prefix: str) -> str:
    """43 → 430000, 4301 → 430100, 430102 / 430102001 / 430102001001 as they are."""
    return prefix.ljust(6, "0") if len(prefix) <= 6 else prefix


def significant(region: str) -> str:
    """430000 → 43, 430100 → 4301; county, township and village codes as they are."""
    if len(region) == 6:
        return region[:2] if region.endswith("0000") else region[:4] if region.endswith("00") else region
    return region


def expected_office(department: str, level: Level, region: str) -> str:
    """The office id the issue's rule names: the department at the region's ancestor at ``level``
    (the region itself when it lies above that level: a city-wide case of a county item)."""
    return f"{department}@{canonical(significant(region)[: DIGITS[level]])}"


def items_of(step: StepSpec) -> tuple[str, ...]:
    return tuple(dict.fromkeys(step.item_choice.map.values())) if step.item_choice is not None else (step.item,)


def routed(registry: BundleRegistry, step: StepSpec, code: str, region: str) -> tuple[str | None, str, str]:
    """The office id, 办理地 and reason for ``step`` working on item ``code`` of a case of ``region``
    (the region also being every region answer, so ``decided_for`` steps are decided there too)."""
    catalog = registry.catalog
    department = step.department or catalog.items[code].department
    answers = {name: region for name, spec in registry.fields.items() if spec.type.value == "region_code"}
    case = Case(region=region, answers=answers, applicant_id=make_id_number("430102", date(1990, 1, 1), 11))
    row = Step(step_key=step.id, item_code=code, department=department, entry=dict(answers), kind=step.kind.value)
    route = route_step(catalog, registry.fields, case=case, step=row, spec=step, home="43")
    return route.office_id, route.decided_in, route.reason


def test_every_step_of_every_bundle_goes_to_one_office_for_every_served_region(registry: BundleRegistry) -> None:
    catalog = registry.catalog
    regions = sorted(catalog.offices.regions)
    assert {level_of(r) for r in regions} == set(Level)  # the directory spans the five levels
    levels_used: Counter[Level] = Counter()
    checked = 0
    for bundle in registry.bundles.values():
        for step in bundle.steps:
            for code in items_of(step):
                level = catalog.decided_at(code)
                department = step.department or catalog.items[code].department
                for region in regions:
                    office_id, decided_in, reason = routed(registry, step, code, region)
                    want = expected_office(department, level, region)
                    assert office_id == want, f"{bundle.id}/{step.id} ({code}) for {region}: {office_id}, not {want}"
                    office = catalog.offices.get(want)
                    assert office is not None and decided_in == office.region
                    assert office.name in reason and " / " in reason  # bilingual, naming the office
                    levels_used[office.level] += 1
                    checked += 1
    assert set(levels_used) == set(Level), levels_used  # offices of all five levels decide something
    assert checked > 1000


@pytest.mark.parametrize(("bundle", "step", "item", "region", "office"), [
    # province: 用地预审（省级权限）is decided by 省自然资源厅 wherever the project lies
    ("land_use", "land_preapproval", "15-YDYSSJ", "430104102203", "15@430000"),
    # city: 劳动能力鉴定 by the city's committee (人社局 of 长沙市) for a 岳麓区 worker
    ("employee_protection", None, "14-LDNLJD", "430104", "14@430100"),
    # county: 结婚登记 at the county 民政局, also for a couple of a township or village
    ("marriage", "marriage_registration", "11-JHDJ", "430102001001", "11@430102"),
    ("marriage", "marriage_registration", "11-JHDJ", "430405007", "11@430405"),
    # township: 失业登记 at the township's employment service of the household's township
    ("employment", "unemployment_registration", "14-SYDJ", "430104102203", "14@430104102"),
    # village: 就业登记 by the community's public employment platform
    ("employment", "employment_registration", "14-JYDJ", "430405007006", "14@430405007006"),
    # a region above the deciding level: a city-wide case of a township item is decided at the city
    ("employment", "unemployment_registration", "14-SYDJ", "430100", "14@430100"),
])
def test_one_route_per_level_by_name(registry: BundleRegistry, bundle: str, step: str | None, item: str,
                                     region: str, office: str) -> None:
    spec = registry.bundles[bundle]
    found = [s for s in spec.steps if (step is None or s.id == step) and item in items_of(s)]
    assert found, f"{bundle} has no step working on {item}"
    office_id, decided_in, reason = routed(registry, found[0], item, region)
    assert office_id == office and decided_in == office.split("@")[1]
    assert registry.catalog.offices.get(office) is not None


def test_a_region_of_another_province_goes_to_no_office_here(registry: BundleRegistry) -> None:
    step = registry.bundles["employment"].step("unemployment_registration")
    office_id, decided_in, reason = routed(registry, step, "14-SYDJ", "440106")
    assert office_id is None and decided_in == "440106" and "跨省通办" in reason
