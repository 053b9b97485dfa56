"""The ten bundles of the Hunan 2023 plan and the data-only 依申请公开 bundle load, and the catalog and
field dictionary are all used."""

from __future__ import annotations

import re

import pytest

from engine.spec.loader import BundleRegistry, load_registry
from engine.spec.models import FieldType, SupplyMode

THEMES = {
    "办证": "newborn",
    "就业": "employment",
    "婚姻": "marriage",
    "身后": "post_death",
    "企业用工": "hiring",
    "员工保障": "employee_protection",
    "政策兑现": "policy_benefit",
    "融资服务": "financing",
    "招投标": "tendering",
    "用地审批": "land_use",
}
THEME_CODES = {
    "newborn": "43PCN0009",
    "employment": "43PCP0015",
    "marriage": "43PCP0007",
    "post_death": "43PCP0008",
    "hiring": "43TCP0014",
    "policy_benefit": "43TCP0019",
    "land_use": "43TCP0010",
    "financing": "43TCP0017",  # a real Hunan theme without a published guide
    "employee_protection": None,
    "tendering": None,
}
REGULATION_BUNDLES = {"information_disclosure"}
"""Bundles written from a regulation rather than a Hunan theme (依申请公开: 政府信息公开条例 §27-§36)."""
ENTERPRISE = {"hiring", "employee_protection", "policy_benefit", "financing", "tendering", "land_use"}


@pytest.fixture(scope="module")
def registry() -> BundleRegistry:
    return load_registry()


def test_ten_distinct_bundles_for_the_ten_themes(registry: BundleRegistry) -> None:
    ids = [b.id for b in registry]
    assert len(ids) == len(set(ids)) == 11
    assert set(ids) == set(THEMES.values()) | REGULATION_BUNDLES
    assert len(set(THEMES.values())) == 10
    names = {b.name.zh for b in registry}
    assert len(names) == 11


@pytest.mark.parametrize("bundle_id", sorted(THEMES.values()))
def test_bundle_loads(registry: BundleRegistry, bundle_id: str) -> None:
    bundle = registry.get(bundle_id)
    assert bundle.version >= 1
    assert bundle.steps
    assert bundle.theme_code == THEME_CODES[bundle_id]
    assert bundle.applicant_kind == ("enterprise" if bundle_id in ENTERPRISE else "person")
    assert registry.files[bundle_id].name == f"{bundle_id}.yaml"


@pytest.mark.parametrize("bundle_id", sorted(ENTERPRISE))
def test_enterprise_bundles_name_the_company(registry: BundleRegistry, bundle_id: str) -> None:
    fields = {use.field for use in registry.get(bundle_id).fields}
    assert {"company_credit_code", "company_name"} <= fields


def test_every_field_is_used(registry: BundleRegistry) -> None:
    used: set[str] = set()
    for bundle in registry:
        for use in bundle.fields:
            used.add(use.field)
            used.update(registry.fields[use.field].item_fields)
    assert set(registry.fields) - used == set()


def test_every_item_is_used(registry: BundleRegistry) -> None:
    used = {step.item for bundle in registry for step in bundle.steps}
    # an item chosen by an answer (用地预审 at three authority levels) uses every item of its map
    used.update(code for bundle in registry for step in bundle.steps if step.item_choice
                for code in step.item_choice.map.values())
    assert set(registry.catalog.items) - used == set()


def test_every_licence_is_used(registry: BundleRegistry) -> None:
    used = {source.licence for f in registry.fields.values() for source in f.prefill}
    for bundle in registry:
        for step in bundle.steps:
            used.update(m.licence for m in step.materials if m.licence)
            if step.outputs.licence:
                used.add(step.outputs.licence)
            used.update(r.licence for r in step.revokes)  # a licence a step cancels (驾驶证注销)
    assert set(registry.catalog.licences) - used == set()


def test_item_codes_follow_the_scheme(registry: BundleRegistry) -> None:
    for code, item in registry.catalog.items.items():
        assert re.fullmatch(r"\d{2}-[A-Z]+", code), code
        assert code[:2] == item.department, code
        assert item.legal_basis.strip(), code


def test_enterprise_licences(registry: BundleRegistry) -> None:
    licences = registry.catalog.licences
    assert licences["L1000001"].name.zh == "营业执照"
    assert set(licences["L1000001"].attributes) >= {
        "name", "credit_code", "legal_representative", "registered_capital", "address", "established_on"}
    assert licences["L1000002"].name.zh == "不动产权证书"
    for code, licence in licences.items():
        assert licence.holder == ("enterprise" if code.startswith("L1") else "person"), code


def test_field_dictionary_rules(registry: BundleRegistry) -> None:
    fields = registry.fields
    for spec in fields.values():
        if spec.type in (FieldType.ID_NUMBER, FieldType.PHONE):
            assert spec.sensitive, spec.id
    assert fields["company_credit_code"].type is FieldType.CREDIT_CODE
    company_name = fields["company_name"]
    assert [(p.licence, p.attribute) for p in company_name.prefill] == [("L1000001", "name")]
    assert not company_name.correctable


def test_e_licence_materials_name_a_licence(registry: BundleRegistry) -> None:
    for bundle in registry:
        for step in bundle.steps:
            for material in step.materials:
                if material.supply is SupplyMode.E_LICENCE:
                    assert material.licence in registry.catalog.licences, (bundle.id, step.id, material.name)
                if material.code and material.code.startswith("L"):
                    assert material.licence == material.code, (bundle.id, step.id, material.name)


def test_automated_steps_use_builtin_handlers(registry: BundleRegistry) -> None:
    from engine.machine.handlers import default_handlers

    handlers = set(default_handlers())
    for bundle in registry:
        for step in bundle.steps:
            if step.handler is not None:
                assert step.handler in handlers, (bundle.id, step.id)
