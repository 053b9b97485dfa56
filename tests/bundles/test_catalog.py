"""The ten bundles of the Hunan 2023 plan load, and the catalog and field dictionary are all used."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.dispatch import drain_outbox
from engine.intake import Applicant, accept_case
from engine.runtime import Runtime
from engine.spec.loader import BundleRegistry, load_registry
from engine.spec.models import FieldType, SupplyMode
from engine.states import CaseState, StepState
from engine.validators import make_credit_code, make_id_number
from engine.work import claim_step, complete_step, release_due_timers
from tests.engine.people import CLERK, officer

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
ENTERPRISE = {"hiring", "employee_protection", "policy_benefit", "financing", "tendering", "land_use"}


@pytest.fixture(scope="module")
def registry() -> BundleRegistry:
    return load_registry()


def test_ten_distinct_bundles_for_the_ten_themes(registry: BundleRegistry) -> None:
    ids = [b.id for b in registry]
    assert len(ids) == len(set(ids)) == 10
    assert set(ids) == set(THEMES.values())
    assert len(set(THEMES.values())) == 10
    names = {b.name.zh for b in registry}
    assert len(names) == 10


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
    assert set(registry.catalog.items) - used == set()


def test_every_licence_is_used(registry: BundleRegistry) -> None:
    used = {source.licence for f in registry.fields.values() for source in f.prefill}
    for bundle in registry:
        for step in bundle.steps:
            used.update(m.licence for m in step.materials if m.licence)
            if step.outputs.licence:
                used.add(step.outputs.licence)
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
    from engine.handlers import default_handlers

    handlers = set(default_handlers())
    for bundle in registry:
        for step in bundle.steps:
            if step.handler is not None:
                assert step.handler in handlers, (bundle.id, step.id)


# --- every new bundle runs from acceptance to completion ----------------------------------

FATHER = make_id_number("430102", date(1990, 5, 17), 11)
MOTHER = make_id_number("430104", date(1992, 8, 3), 22)
AGENT = make_id_number("430103", date(1985, 2, 9), 31)
COMPANY = make_credit_code("430100", "MA4L00001")
COMPANY_ANSWERS = {"company_credit_code": COMPANY, "company_name": "示例科技有限公司", "applicant_phone": "13800000001",
                   "agent_name": "测试经办", "agent_id_number": AGENT}
SAMPLES: dict[str, tuple[str, str, dict[str, Any], set[str]]] = {
    # bundle: (applicant id, kind, answers, steps expected to be skipped)
    "newborn": (MOTHER, "person", {
        "applicant_name": "测试乙", "applicant_phone": "13800000002", "baby_name": "测试宝", "baby_sex": "female",
        "baby_birth_date": "2026-02-20", "birth_institution": "示例妇幼保健院", "mother_name": "测试乙",
        "mother_id_number": MOTHER, "father_name": "测试甲", "father_id_number": FATHER, "registration_parent": "father",
        "household_region": "430102", "parents_same_ethnicity": True, "claim_maternity_benefit": True,
        "pickup_method": "mail", "mailing_address": "长沙市示例路1号"}, set()),
    "employment": (FATHER, "person", {
        "applicant_name": "测试甲", "applicant_phone": "13800000002", "household_region": "430102",
        "employment_status": "unemployed", "unemployment_insured_one_year": True, "involuntary_unemployment": True,
        "wants_training": True, "training_trade": "电工", "hard_to_employ": False, "apply_support_policy": True},
        {"employment_assistance", "employment_registration", "unemployment_deregistration"}),
    "hiring": (COMPANY, "enterprise", {
        **COMPANY_ANSWERS, "receive_archives": True, "apply_social_security_cards": True, "new_employees": [
            {"employee_name": "测试甲", "employee_id_number": FATHER, "employee_phone": "13800000003",
             "contract_start": "2026-03-01"},
            {"employee_name": "测试乙", "employee_id_number": MOTHER, "employee_phone": "13800000004",
             "contract_start": "2026-03-01"}]}, set()),
    "employee_protection": (COMPANY, "enterprise", {
        **COMPANY_ANSWERS, "injured_worker_name": "测试甲", "injured_worker_id_number": FATHER,
        "injury_date": "2026-02-20", "injury_description": "搬运时跌倒致左腿骨折", "treatment_finished": True,
        "request_disability_assessment": True, "company_bank_account": "示例银行 6222000000000000"}, set()),
    "policy_benefit": (COMPANY, "enterprise", {
        **COMPANY_ANSWERS, "legal_representative": "测试丙", "company_address": "长沙市示例路2号",
        "company_established_on": "2018-01-01", "annual_revenue": "12000000", "rd_expenses": "3000000",
        "company_bank_account": "示例银行 6222000000000001"}, set()),
    "financing": (COMPANY, "enterprise", {
        **COMPANY_ANSWERS, "legal_representative": "测试丙", "loan_amount": "5000000", "loan_term_months": 12,
        "lending_bank": "示例银行", "secured_by_real_estate": True, "real_estate_certificate_no": "湘(2024)长沙市不动产权第0000001号",
        "secured_by_movables": True, "collateral_description": "应收账款", "request_government_guarantee": True,
        "request_interest_subsidy": True, "company_bank_account": "示例银行 6222000000000002"}, set()),
    "tendering": (COMPANY, "enterprise", {
        **COMPANY_ANSWERS, "project_name": "示例厂房建设项目", "project_code": "2026-430100-00-00-000001",
        "project_approval_kind": "ratification", "tender_method": "open", "estimated_contract_amount": "20000000",
        "bid_bond_amount": "400000"}, set()),
    "land_use": (COMPANY, "enterprise", {
        **COMPANY_ANSWERS, "legal_representative": "测试丙", "project_name": "示例厂房建设项目",
        "project_location": "长沙市示例区", "total_investment": "50000", "investment_procedure": "ratification",
        "needs_new_land": True, "land_approval_level": "city", "annual_energy_tce": 1500,
        "annual_electricity_10k_kwh": 200, "eia_document": "report"},
        {"project_filing", "land_preapproval_province", "land_preapproval_county", "eia_report_form_approval"}),
}


def test_samples_cover_the_new_bundles() -> None:
    assert set(SAMPLES) == set(THEMES.values()) - {"marriage", "post_death"}


@pytest.mark.parametrize("bundle_id", sorted(SAMPLES))
def test_bundle_runs_to_completion(session: Session, runtime: Runtime, clock: FixedClock, bundle_id: str) -> None:
    """Officers finish what is ready, automated steps are dispatched, timers are released as days
    pass, until the case is closed."""
    applicant_id, kind, answers, skipped = SAMPLES[bundle_id]
    case = accept_case(session, runtime, bundle_id=bundle_id, applicant=Applicant(applicant_id, kind, "测试"),
                       answers=answers, actor=CLERK)
    for _ in range(400):
        drain_outbox(session, runtime)
        session.refresh(case)
        ready = [s for s in case.steps if s.state == StepState.READY.value and s.kind != "timer"]
        for step in ready:
            actor = officer(step.department)
            claim_step(session, runtime, step_id=step.id, actor=actor, expected_version=step.version)
            complete_step(session, runtime, step_id=step.id, actor=actor, outputs={"result": "ok"},
                          expected_version=step.version)
        if ready or release_due_timers(session, runtime):
            continue
        session.refresh(case)
        if not any(s.state == StepState.READY.value for s in case.steps):
            break
        clock.advance(days=1)  # only timers are left: let their minimum wait pass
    session.refresh(case)
    assert case.state == CaseState.COMPLETED, {s.step_key: s.state for s in case.steps}
    assert {s.step_key for s in case.steps if s.state == StepState.SKIPPED.value} == skipped
