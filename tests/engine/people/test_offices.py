"""The office directory (bundles/catalog/offices.yaml): the shipped one loads and spans the five
levels; the loader refuses an unknown department, a region outside GB/T 2260 or the table of
统计用区划代码 (a township or village code that does not exist), a region not written canonically
and a second office of one department at one region — every problem in one pass, with its line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.people.offices import office_id
from engine.people.regions import Level
from engine.spec.loader import BUNDLES_DIR, SpecError, load_catalog

CATALOG = BUNDLES_DIR / "catalog"
GOOD = ('- {department: "11", region: "430102", name: 芙蓉区民政局, address: 芙蓉区政务服务中心, '
        'phone: "0731-12345", hours: 法定工作日}\n')


def catalog_with(tmp_path: Path, offices: str) -> Path:
    folder = tmp_path / "catalog"
    shutil.copytree(CATALOG, folder)
    (folder / "offices.yaml").write_text(offices, encoding="utf-8")
    return folder


def problems(tmp_path: Path, offices: str) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_catalog(catalog_with(tmp_path, offices))
    return [str(p) for p in raised.value.problems]


def test_the_shipped_directory_serves_the_demo_regions_at_five_levels() -> None:
    offices = load_catalog(CATALOG).offices
    regions = offices.regions
    assert {"430000", "430100", "430102", "430104", "430400", "430405"} <= regions  # 湖南, 长沙 and two districts, 衡阳
    assert {office.level for office in offices} == set(Level)
    assert {r for r in regions if len(r) == 9} >= {"430102001", "430104002", "430104102", "430405007"}
    registry = offices.get(office_id("14", "430102001"))
    assert registry is not None and registry.name == "芙蓉区文艺路街道劳动就业和社会保障服务站"
    assert registry.region_name == "文艺路街道" and registry.address and registry.phone and registry.hours
    assert offices.get("11@430102") is offices.at("11", "430102")


def test_a_good_entry_loads(tmp_path: Path) -> None:
    offices = load_catalog(catalog_with(tmp_path, GOOD)).offices
    assert [o.id for o in offices] == ["11@430102"]


@pytest.mark.parametrize(("entry", "problem"), [
    ('- {department: "11", region: "430102999", name: 不存在街道, address: x, phone: "1", hours: x}\n',
     "430102999"),  # a township code outside 统计用区划代码
    ('- {department: "14", region: "430102001999", name: 不存在社区, address: x, phone: "1", hours: x}\n',
     "430102001999"),  # a village code outside it
    ('- {department: "11", region: "990100", name: 不存在市, address: x, phone: "1", hours: x}\n', "990100"),
    ('- {department: "77", region: "430102", name: 无此部门, address: x, phone: "1", hours: x}\n',
     "unknown department '77'"),
    ('- {department: "11", region: "4301", name: 长沙市民政局, address: x, phone: "1", hours: x}\n', "region"),
    ('- {department: "11", region: "430102", name: "", address: x, phone: "1", hours: x}\n', "name"),
    ('- {department: "11", region: "430102", name: x, address: x, phone: "1"}\n', "hours"),
])
def test_a_bad_entry_is_refused_with_its_line(tmp_path: Path, entry: str, problem: str) -> None:
    found = problems(tmp_path, GOOD + entry)
    assert len(found) == 1 and problem in found[0], found
    assert "offices.yaml:2" in found[0], found  # the file and the entry's line


def test_a_second_office_of_a_department_at_one_region_is_refused_naming_the_first(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, GOOD + GOOD.replace("芙蓉区民政局", "芙蓉区民政局第二窗口"))
    assert "duplicate office 11@430102 (also at line 1)" in found and "offices.yaml:2" in found


def test_every_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    bad = [GOOD.replace('"430102"', f'"{code}"') for code in ("430102999", "430104999", "430405999")]
    assert len(problems(tmp_path, GOOD + "".join(bad))) == 3
