"""Materials (issue 10, item 5): supply mode 5 (个人中心), alternatives (``any_of``) and
bundle-level materials, in the loader and on the one form.

Same conventions as test_loader.py (whose helpers these tests use).
"""

from __future__ import annotations

from pathlib import Path


from engine.records.documents import BUNDLE_MATERIAL_ITEMS, render_application_form
from engine.records.labels import SUPPLY_MODE_LABELS, WAIVED_SUPPLY_MODES
from engine.spec.models import SupplyMode
from tests.engine.spec.test_loader import bundle, expect_problem, load, write

ALTERNATIVES = """\
- id: first
  item: 11-JHDJ
  time_limit: {working_days: 5}
  materials:
    - name: 身份证明
      supply: 4
      any_of:
        - {name: 居民身份证, supply: 2, licence: L2000016}
        - {name: 户口注销证明, supply: 4}
"""

SHARED = """\
materials:
  - {name: 申请人居民身份证, supply: 2, licence: L2000016}
  - {name: 个人简历, supply: 5}
"""



def with_shared(text: str, shared: str = SHARED) -> str:
    return text.replace("steps:\n", shared + "steps:\n", 1)


def test_supply_mode_5_is_the_personal_centre_and_is_not_handed_in() -> None:
    assert SupplyMode(5) is SupplyMode.PERSONAL_CENTRE
    assert set(SUPPLY_MODE_LABELS) == set(SupplyMode)  # every mode has its wording
    assert SUPPLY_MODE_LABELS[SupplyMode.PERSONAL_CENTRE] == "个人中心已上传材料（免提交）"
    assert SupplyMode.PERSONAL_CENTRE in WAIVED_SUPPLY_MODES and SupplyMode.APPLICANT not in WAIVED_SUPPLY_MODES


def test_a_material_with_alternatives_loads(bundles: Path) -> None:
    write(bundles, "sample.yaml", bundle(ALTERNATIVES))
    [material] = load(bundles).get("sample").step("first").materials
    assert [o.name for o in material.options] == ["居民身份证", "户口注销证明"]


def test_one_alternative_is_refused(bundles: Path) -> None:
    text = bundle(ALTERNATIVES.replace("        - {name: 户口注销证明, supply: 4}\n", ""))
    problem = expect_problem(bundles, text, "any_of needs at least two alternatives", "- name: 身份证明", "first")
    assert "至少需两种备选材料" in problem.problem


def test_an_alternative_with_an_unknown_licence_is_refused(bundles: Path) -> None:
    text = bundle(ALTERNATIVES.replace("licence: L2000016", "licence: L9999999"))
    expect_problem(bundles, text, "unknown licence type 'L9999999'", "licence: L9999999", "first")


def test_bundle_materials_load(bundles: Path) -> None:
    write(bundles, "sample.yaml", with_shared(bundle(ALTERNATIVES)))
    spec = load(bundles).get("sample")
    assert [m.name for m in spec.materials] == ["申请人居民身份证", "个人简历"]
    assert spec.materials[1].supply is SupplyMode.PERSONAL_CENTRE


def test_a_bundle_material_with_an_unknown_licence_names_its_line(bundles: Path) -> None:
    text = with_shared(bundle(ALTERNATIVES), SHARED.replace("L2000016", "L9999999"))
    problem = expect_problem(bundles, text, "unknown licence type 'L9999999'", "name: 申请人居民身份证", None)
    assert "未知证照类型" in problem.problem


def test_a_bundle_material_listed_on_a_step_again_is_refused(bundles: Path) -> None:
    text = with_shared(bundle(ALTERNATIVES + "    - {name: 个人简历, supply: 4}\n"))
    expect_problem(bundles, text, "is a bundle material", "{name: 个人简历, supply: 4}", "first")


def test_the_form_lists_a_bundle_material_once_and_names_the_alternatives(bundles: Path) -> None:
    steps = ALTERNATIVES + """\
- id: second
  item: 09-HYZK
  depends_on: [first]
  time_limit: {working_days: 5}
"""
    write(bundles, "sample.yaml", with_shared(bundle(steps)))
    registry = load(bundles)
    html = render_application_form(registry.get("sample"), registry)
    assert html.count("个人简历") == 1 and html.count("申请人居民身份证") == 1
    assert BUNDLE_MATERIAL_ITEMS.split(" ")[0] in html
    assert "任选其一：居民身份证 或 户口注销证明" in html
