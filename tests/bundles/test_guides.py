"""The bundles against the real Hunan service guides (and, for the three themes without a guide,
against the statutory facts in DOMAIN.md).

The guide extracts are copied into ``tests/fixtures/hunan-guides`` (see the README there for the
source repository and commit); nothing here reads outside the repository.

``GUIDE_BUNDLES`` maps, per guide-backed bundle, each step id to the guide item it implements.
A guide item is named by its ``name``; where a guide repeats a name (43TCP0010 lists 建设项目用地预审
与选址意见书核发 three times, once per authority level) by its ``standard_item`` instead.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from engine.time.calendar import TimeUnit
from engine.spec.loader import BundleRegistry, load_registry
from engine.spec.models import BundleSpec, StepKind, StepSpec, SupplyMode

GUIDES = Path(__file__).resolve().parents[1] / "fixtures" / "hunan-guides"
EMPTY_RESULTS = {"", "无", "暂无"}


@dataclass(frozen=True)
class GuideMap:
    guide: str
    steps: dict[str, str]
    """step id → guide item (name, or standard_item where the name repeats); ``step@answer`` for a
    step whose item an answer chooses (``item: {by, map}``)."""
    extra_steps: dict[str, str] = field(default_factory=dict)
    """Steps that implement no guide item → why they exist."""
    departments_not_used: dict[str, str] = field(default_factory=dict)
    """Guide department codes no step uses → why."""


GUIDE_BUNDLES: dict[str, GuideMap] = {
    "newborn": GuideMap(
        "43PCN0009.json",
        {
            "birth_certificate": "出生医学证明首次签发",
            "vaccination_certificate": "预防接种证办理",
            "birth_registration": "出生登记",
            "social_security_card": "社会保障卡申领（邮寄卡不激活金融账户）",
            "maternity_benefit": "生育医疗待遇支付",
            "resident_insurance_registration": "城乡居民参保登记",
            "parenting_guidance_registration": "科学育儿指导服务登记",
        },
    ),
    "employment": GuideMap(
        "43PCP0015.json",
        {
            "unemployment_registration": "失业登记",
            "unemployment_benefit": "失业保险待遇申请和受理",
            "employment_service": "就业服务",
            "support_policy": "就业创业扶持政策申请和受理",
            "training_registration": "技能培训意愿登记和培训信息推送",
            "employment_assistance": "就业援助",
            "unemployment_deregistration": "失业登记注销",
            "employment_registration": "就业登记",
        },
    ),
    "marriage": GuideMap(
        "43PCP0007.json",
        {
            "marriage_registration": "内地居民结婚登记",
            "marital_status_change": "变更户口婚姻状况",
            "spouse_household_move": "夫妻投靠户口迁移",
            "birth_plan_registration": "生育登记",
        },
    ),
    "post_death": GuideMap(
        "43PCP0008.json",
        {
            "cremation_certificate": "遗体火化证明开具",
            "pension_suspension": "企业职工养老保险待遇暂停",
            "survivor_benefit": "企业退休职工(无工伤信息)遗属待遇",
            "pension_account_balance": "企业退休职工(无工伤信息)个人账户余额申领",
            "medical_insurance_termination": "基本医疗保险减少登记（终止参保）",
            "medical_account_withdrawal": "参保人员个人账户一次性支取",
            "driving_licence_cancellation": "驾驶证注销",
            "shareholding_lookup": "已故人员股权登记信息查询(继承人查询)",
            "housing_fund_withdrawal": "死亡或被宣告死亡提取住房公积金",
            "will_lookup": "遗嘱公证信息核查",
            "household_cancellation": "户口注销",
            "death_certificate": "死亡证办理（正常）",
            "unnatural_death_certificate": "出具死亡证明(非正常死亡)",
            "small_deposit_withdrawal": "已故存款人小额存款提取(继承人提取)",
        },
    ),
    "hiring": GuideMap(
        "43TCP0014.json",
        {
            "pension_insurance_registration": "职工参保登记",
            "employment_registration": "就业登记",
            "labour_filing": "劳动用工备案",
            "personnel_file_receipt": "流动人员人事档案接收",
            "social_security_card": "社会保障卡申领",
            "medical_insurance_enrolment": "职工医疗保险参保登记",
            "housing_fund_account": "个人住房公积金账户设立",
        },
    ),
    "policy_benefit": GuideMap(
        "43TCP0019.json",
        {
            "business_licence_check": "高新技术企业营业执照信息核验",
            "ip_check": "高新技术企业知识产权信息共享(包括专利信息、知识产权权利变更情况等)",
            "audit_report_check": "高新技术企业审计报告报备信息共享",
            "customs_check": "高新技术企业进出口信息共享(包括进出口总额、出口总额等)",
            "safety_accident_check": "高新技术企业重特大生产安全事故处罚信息核验",
            "tax_check": "高新技术企业税务信息核验",
            "market_penalty_check": "高新技术企业市场监管行政处罚信息查询",
            "quality_certification_check": "高新技术企业质量管理体系认证信息共享",
            "hte_status_check": "高新技术企业评价认定结果查询",
        },
        extra_steps={
            "recognition_review": "DOMAIN.md [R]: recognition by 科技 after the checks",
            "recognition_publicity": "DOMAIN.md [R]: publicity (公示) of the recognised list",
            "award_payment": "DOMAIN.md [R]: 财政 pays the award",
        },
        departments_not_used={
            "07": "the guide lists 工信 but none of its nine items is an 工信 matter: 知识产权 and 质量认证 "
            "are 市监 (31), 审计报告报备 is 财政 (13); see the bundle's header",
        },
    ),
    # The three 用地预审 items differ only in authority level: one step whose item the answer
    # `land_approval_level` chooses, keyed here "step@answer" (test_land_preapproval_levels).
    "land_use": GuideMap(
        "43TCP0010.json",
        {
            "project_filing": "企业投资（含外商投资）项目备案",
            "project_ratification": "企业投资（含外商投资）项目核准",
            "energy_review": "固定资产投资项目节能审查",
            "land_preapproval@province": "建设项目用地预审与选址意见书办理（省级权限）",
            "land_preapproval@county": "建设项目用地预审与选址意见书办理（县级权限）",
            "land_preapproval@city": "建设项目用地预审与选址意见书办理（设区的市级权限）",
            "eia_report_approval": "建设项目环境影响评价审批报告书（普通类）",
            "eia_report_form_approval": "建设项目环境影响评价审批报告表（普通类）",
        },
    ),
}


@cache
def guide(filename: str) -> dict[str, Any]:
    return json.loads((GUIDES / filename).read_text(encoding="utf-8"))


def item_key(g: dict[str, Any], item: dict[str, Any]) -> str:
    names = Counter(i["name"] for i in g["items"])
    return item["standard_item"] if names[item["name"]] > 1 else item["name"]


def guide_items(g: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item_key(g, i): i for i in g["items"]}


def step_id_of(key: str) -> str:
    return key.partition("@")[0]


def item_of(step: StepSpec, key: str) -> str:
    """The catalog item a mapped key implements: the step's, or the one its answer chooses."""
    _, _, answer = key.partition("@")
    if not answer:
        return step.item
    assert step.item_choice is not None, key
    chosen = step.item_for({step.item_choice.by: answer})
    assert chosen is not None, key
    return chosen


def guide_steps(registry: BundleRegistry, bundle_id: str) -> list[tuple[str, StepSpec, dict[str, Any]]]:
    """(key, step, guide item) for each step (or chosen item of a step) that implements a guide item."""
    mapping = GUIDE_BUNDLES[bundle_id]
    items = guide_items(guide(mapping.guide))
    bundle = registry.get(bundle_id)
    return [(key, bundle.step(step_id_of(key)), items[item]) for key, item in mapping.steps.items()]


def normal_result(text: str) -> str:
    text = text.strip().rstrip("；;").strip()
    return "" if text in EMPTY_RESULTS else text


@pytest.fixture(scope="module")
def registry() -> BundleRegistry:
    return load_registry()


def department(registry: BundleRegistry, step: StepSpec) -> str:
    return step.department or registry.catalog.items[step.item].department


def applicable(bundle: BundleSpec, answers: dict[str, Any]) -> set[str]:
    """The steps whose condition holds for these answers (what intake would not skip)."""
    return {s.id for s in bundle.steps if s.when is None or s.when.evaluate(answers)}


BUNDLE_IDS = sorted(GUIDE_BUNDLES)


# --- every guide-backed bundle ------------------------------------------------------------


def test_fixtures_are_the_seven_guides() -> None:
    assert sorted(p.name for p in GUIDES.glob("*.json")) == sorted(m.guide for m in GUIDE_BUNDLES.values())
    assert "chuanshuozhongdeshen3-hub/hunan-gov-wiki-data" in (GUIDES / "README.md").read_text(encoding="utf-8")
    for m in GUIDE_BUNDLES.values():
        source = guide(m.guide)["source"]
        assert source["repo"] == "chuanshuozhongdeshen3-hub/hunan-gov-wiki-data"
        assert len(source["commit"]) == 40


@pytest.mark.parametrize("bundle_id", BUNDLE_IDS)
def test_theme_code(registry: BundleRegistry, bundle_id: str) -> None:
    g = guide(GUIDE_BUNDLES[bundle_id].guide)
    assert registry.get(bundle_id).theme_code == g["theme_code"]


@pytest.mark.parametrize("bundle_id", BUNDLE_IDS)
def test_every_guide_item_is_one_step(registry: BundleRegistry, bundle_id: str) -> None:
    mapping = GUIDE_BUNDLES[bundle_id]
    g = guide(mapping.guide)
    items = guide_items(g)
    assert len(items) == len(g["items"]), "guide item keys must be unique"
    bundle = registry.get(bundle_id)
    step_ids = {s.id for s in bundle.steps}
    # each mapped step exists, each guide item is implemented by exactly one step
    mapped = {step_id_of(key) for key in mapping.steps}
    assert mapped <= step_ids
    assert Counter(mapping.steps.values()) == Counter(items.keys()), "each guide item exactly once"
    # every other step is a declared extra
    assert step_ids - mapped == set(mapping.extra_steps)
    # a step whose item an answer chooses maps every answer of its map, and nothing else
    for key in mapping.steps:
        step = bundle.step(step_id_of(key))
        assert ("@" in key) == (step.item_choice is not None), key
    for step in bundle.steps:
        if step.item_choice is not None:
            assert {k for k in mapping.steps if step_id_of(k) == step.id} == {
                f"{step.id}@{answer}" for answer in step.item_choice.map}


@pytest.mark.parametrize("bundle_id", BUNDLE_IDS)
def test_step_names_and_results_follow_the_guide(registry: BundleRegistry, bundle_id: str) -> None:
    for step_id, step, item in guide_steps(registry, bundle_id):
        catalog_item = registry.catalog.items[item_of(step, step_id)]
        assert catalog_item.name in {item["name"], item.get("standard_item")}, step_id
        expected = normal_result(item["result"])
        if expected:  # where the guide names no result a bundle may name one (e.g. 非正常死亡证明)
            assert normal_result(step.outputs.result) == expected, step_id
            assert normal_result(catalog_item.result) == expected, step_id


@pytest.mark.parametrize("bundle_id", BUNDLE_IDS)
def test_step_limits_are_the_guides(registry: BundleRegistry, bundle_id: str) -> None:
    for step_id, step, item in guide_steps(registry, bundle_id):
        limit = step.time_limit
        assert limit.unit is TimeUnit.WORKING_DAYS, step_id
        assert limit.amount == int(item["limit_workdays"]), step_id
        assert float(limit.amount) == item["limit_workdays"]


@pytest.mark.parametrize("bundle_id", BUNDLE_IDS)
def test_bundle_limit_is_the_committed_limit(registry: BundleRegistry, bundle_id: str) -> None:
    g = guide(GUIDE_BUNDLES[bundle_id].guide)
    limit = registry.get(bundle_id).time_limit
    assert limit.unit is TimeUnit.WORKING_DAYS
    assert limit.amount == int(g["committed_limit_workdays"])


@pytest.mark.parametrize("bundle_id", BUNDLE_IDS)
def test_departments_are_the_guides(registry: BundleRegistry, bundle_id: str) -> None:
    mapping = GUIDE_BUNDLES[bundle_id]
    expected = set(guide(mapping.guide)["department_codes"].split(","))
    used = {department(registry, s) for s in registry.get(bundle_id).steps}
    assert set(mapping.departments_not_used) <= expected
    assert used == expected - set(mapping.departments_not_used)


@pytest.mark.parametrize("bundle_id", BUNDLE_IDS)
def test_every_guide_material_is_in_a_step(registry: BundleRegistry, bundle_id: str) -> None:
    g = guide(GUIDE_BUNDLES[bundle_id].guide)
    bundle = registry.get(bundle_id)
    used = [m for s in bundle.steps for m in s.materials]
    for material in g["materials"]:
        same = [m for m in used if m.name == material["name"]]
        assert same, f"guide material {material['name']!r} is in no step"
        for m in same:
            assert m.supply == SupplyMode(int(material["supply"])), m.name
            assert m.code == material["code"], m.name
            assert m.required is (material["required"] == "1"), m.name
            if material["code"] and material["code"].startswith("L"):
                assert m.licence == material["code"], m.name


def test_newborn_keeps_item_limits_longer_than_the_bundle(registry: BundleRegistry) -> None:
    bundle = registry.get("newborn")
    assert bundle.time_limit.amount == 5
    assert bundle.step("social_security_card").time_limit.amount == 30
    assert bundle.step("birth_registration").time_limit.amount == 10


def test_newborn_order(registry: BundleRegistry) -> None:
    bundle = registry.get("newborn")
    assert bundle.step("birth_registration").depends_on == ("birth_certificate",)
    assert bundle.step("resident_insurance_registration").depends_on == ("birth_registration",)
    assert bundle.step("social_security_card").depends_on == ("birth_registration",)
    for parallel in ("vaccination_certificate", "maternity_benefit", "parenting_guidance_registration", "birth_certificate"):
        assert bundle.step(parallel).prerequisites == ()
    assert bundle.step("birth_certificate").outputs.licence == "L2000035"


def test_employment_situations(registry: BundleRegistry) -> None:
    bundle = registry.get("employment")
    assert {department(registry, s) for s in bundle.steps} == {"14"}
    unemployed = {"employment_status": "unemployed", "unemployment_insured_one_year": True,
                  "involuntary_unemployment": True}
    assert applicable(bundle, unemployed) == {"unemployment_registration", "unemployment_benefit", "employment_service"}
    not_insured = {**unemployed, "unemployment_insured_one_year": False, "wants_training": True,
                   "hard_to_employ": True, "apply_support_policy": True}
    assert applicable(bundle, not_insured) == {
        "unemployment_registration", "employment_service", "training_registration", "employment_assistance",
        "support_policy",
    }
    employed = {"employment_status": "employed", "employment_kind": "employer"}
    assert applicable(bundle, employed) == {"employment_registration", "unemployment_deregistration"}
    assert bundle.step("unemployment_deregistration").depends_on == ("employment_registration",)
    assert bundle.step("unemployment_benefit").depends_on == ("unemployment_registration",)


def test_hiring_is_per_employee(registry: BundleRegistry) -> None:
    bundle = registry.get("hiring")
    assert bundle.applicant_kind == "enterprise"
    assert all(s.for_each == "new_employees" for s in bundle.steps)
    assert bundle.step("labour_filing").depends_on == ("employment_registration",)
    assert bundle.step("social_security_card").depends_on == ("pension_insurance_registration",)
    parallel = {"pension_insurance_registration", "employment_registration", "medical_insurance_enrolment",
                "housing_fund_account", "personnel_file_receipt"}
    assert {s.id for s in bundle.steps if not s.prerequisites} == parallel
    assert registry.fields["new_employees"].item_fields == (
        "employee_name", "employee_id_number", "employee_phone", "contract_start")
    assert registry.fields["company_credit_code"].type.value == "credit_code"


def test_policy_benefit_checks(registry: BundleRegistry) -> None:
    bundle = registry.get("policy_benefit")
    mapping = GUIDE_BUNDLES["policy_benefit"].steps
    checks = [bundle.step(s) for s in mapping]
    assert all(not s.prerequisites for s in checks), "the nine checks run in parallel"
    for step in checks:
        if step.id == "tax_check":  # guide FAQ: 税务信息 "企业填报+人工核验"
            assert step.kind is StepKind.HUMAN
        else:
            assert (step.kind, step.handler) == (StepKind.AUTOMATED, "data_check"), step.id
            assert step.fields, step.id
    departments = {s.id: department(registry, s) for s in checks}
    assert departments == {
        "business_licence_check": "31", "ip_check": "31", "audit_report_check": "13", "customs_check": "29",
        "safety_accident_check": "25", "tax_check": "30", "market_penalty_check": "31",
        "quality_certification_check": "31", "hte_status_check": "06",
    }
    review, publicity, payment = (bundle.step(s) for s in ("recognition_review", "recognition_publicity", "award_payment"))
    assert set(review.depends_on) == set(mapping)
    assert publicity.kind is StepKind.TIMER and publicity.min_wait is not None
    assert (publicity.min_wait.working_days, publicity.min_wait.calendar_days) == (10, None)  # 公示 10 个工作日
    assert publicity.excluded_from_limit
    assert publicity.depends_on == ("recognition_review",) and payment.depends_on == ("recognition_publicity",)
    assert department(registry, review) == department(registry, publicity) == "06"
    assert department(registry, payment) == "13"
    # counted path: checks 10 + review 10 + payment 10 = the bundle's 30 WD
    assert 10 + review.time_limit.amount + payment.time_limit.amount == bundle.time_limit.amount


def test_land_preapproval_levels(registry: BundleRegistry) -> None:
    """The guide's three 用地预审 items (省级/县级/设区的市级权限) are one step: the level chooses the item."""
    bundle = registry.get("land_use")
    step = bundle.step("land_preapproval")
    base = {"investment_procedure": "ratification", "eia_document": "registration_form",
            "annual_energy_tce": 10, "annual_electricity_10k_kwh": 10}
    chosen = {}
    for level in ("province", "city", "county"):
        answers = {**base, "needs_new_land": True, "land_approval_level": level}
        assert "land_preapproval" in applicable(bundle, answers)
        chosen[level] = step.item_for(answers)
    assert not {"land_preapproval"} & applicable(bundle, {**base, "needs_new_land": False})
    assert bundle.step("project_ratification").depends_on == ("land_preapproval",)
    assert {registry.catalog.items[code].department for code in chosen.values() if code} == {"15"}
    assert len(set(chosen.values())) == 3 and None not in chosen.values()


def test_land_use_conditions(registry: BundleRegistry) -> None:
    bundle = registry.get("land_use")
    assert bundle.step("project_filing").kind is StepKind.COMMITMENT
    base = {"needs_new_land": False, "annual_energy_tce": 10, "annual_electricity_10k_kwh": 10}
    filing = applicable(bundle, {**base, "investment_procedure": "filing", "eia_document": "report"})
    assert filing == {"project_filing", "eia_report_approval"}
    ratified = applicable(bundle, {**base, "investment_procedure": "ratification", "eia_document": "report_form",
                                   "annual_energy_tce": 1000})
    assert ratified == {"project_ratification", "eia_report_form_approval", "energy_review"}
    assert "energy_review" in applicable(bundle, {**base, "annual_electricity_10k_kwh": 500})
    # the two 环评 steps never both apply
    for document in ("report", "report_form", "registration_form"):
        eia = applicable(bundle, {**base, "eia_document": document}) & {"eia_report_approval", "eia_report_form_approval"}
        assert len(eia) <= 1
    # every guide material is the applicant's and optional
    assert all(m.supply is SupplyMode.APPLICANT for m in bundle.step("project_filing").materials)


# --- reconstructions: DOMAIN.md and the statutes --------------------------------------------


def test_tendering_periods(registry: BundleRegistry) -> None:
    bundle = registry.get("tendering")
    assert bundle.applicant_kind == "enterprise"
    assert bundle.time_limit.unit is TimeUnit.CALENDAR_DAYS
    # 招标投标法 and its 实施条例 count 日: every step after the 核准 is in calendar days; the 核准
    # itself is an administrative licence, counted in working days (行政许可法 §42, §82).
    approval = bundle.step("tender_method_approval")
    assert approval.time_limit.unit is TimeUnit.WORKING_DAYS
    assert department(registry, approval) == "04"
    for step in bundle.steps:
        if step is not approval:
            assert step.time_limit.unit is TimeUnit.CALENDAR_DAYS, step.id
    minimum = {"tender_document_sale": 5, "bid_deadline": 20, "candidate_publicity": 3}
    for step_id, days in minimum.items():
        step = bundle.step(step_id)
        assert step.kind is StepKind.TIMER
        assert step.min_wait is not None and step.min_wait.unit is TimeUnit.CALENDAR_DAYS, step_id
        assert step.min_wait.amount >= days, step_id
        assert step.time_limit.amount >= step.min_wait.amount, step_id
    maximum = {"contract_signing": 30, "written_report": 15, "bid_bond_refund": 5}
    for step_id, days in maximum.items():
        assert bundle.step(step_id).time_limit.amount <= days, step_id
    assert [s.id for s in bundle.steps if s.excluded_from_limit] == ["bid_opening_evaluation"]
    notice = bundle.step("tender_notice")
    assert (notice.kind, notice.handler) == (StepKind.AUTOMATED, "publish_notice")
    # the bid window runs from the notice (documents issued that day), alongside the sale
    assert bundle.step("bid_deadline").depends_on == ("tender_notice",)
    assert bundle.step("tender_document_sale").depends_on == ("tender_notice",)
    assert set(bundle.step("bid_opening_evaluation").depends_on) == {"tender_document_sale", "bid_deadline"}
    assert bundle.step("candidate_publicity").depends_on == ("bid_opening_evaluation",)
    assert bundle.step("award_notice").depends_on == ("candidate_publicity",)
    assert bundle.step("contract_signing").depends_on == ("award_notice",)
    assert bundle.step("written_report").depends_on == ("award_notice",)
    assert bundle.step("bid_bond_refund").depends_on == ("contract_signing",)


def test_employee_protection_chain(registry: BundleRegistry) -> None:
    bundle = registry.get("employee_protection")
    assert bundle.applicant_kind == "enterprise"
    assert bundle.theme_code is None  # no Hunan guide: reconstruction
    chain = ["injury_claim_acceptance", "injury_recognition", "disability_assessment", "benefit_payment"]
    assert [s.id for s in bundle.steps] == chain
    limits = {"injury_claim_acceptance": 15, "injury_recognition": 60, "disability_assessment": 60}
    for step_id, days in limits.items():  # 工伤保险条例 / 工伤认定办法 count 日
        limit = bundle.step(step_id).time_limit
        assert (limit.unit, limit.amount) == (TimeUnit.CALENDAR_DAYS, days), step_id
    assert bundle.step("injury_recognition").depends_on == ("injury_claim_acceptance",)
    assert bundle.step("disability_assessment").depends_on == ("injury_recognition",)
    assert set(bundle.step("benefit_payment").depends_on) == {"injury_recognition", "disability_assessment"}
    assert {department(registry, s) for s in bundle.steps} == {"14"}
    base = {"treatment_finished": True, "request_disability_assessment": True}
    assert "disability_assessment" in applicable(bundle, base)
    assert "disability_assessment" not in applicable(bundle, {**base, "treatment_finished": False})
    assert "disability_assessment" not in applicable(bundle, {**base, "request_disability_assessment": False})


def test_financing_chain(registry: BundleRegistry) -> None:
    bundle = registry.get("financing")
    assert bundle.applicant_kind == "enterprise"
    authorise = bundle.step("data_authorisation")
    assert authorise.kind is StepKind.AUTOMATED and not authorise.prerequisites
    credit = bundle.step("bank_credit_approval")
    assert credit.depends_on == ("data_authorisation",)
    assert department(registry, credit) == "99" and 5 <= credit.time_limit.amount <= 10
    securities = ("real_estate_mortgage_registration", "movable_collateral_registration", "government_guarantee")
    for step_id in securities:
        assert bundle.step(step_id).depends_on == ("bank_credit_approval",), step_id
        assert bundle.step(step_id).when is not None, step_id
    mortgage = bundle.step("real_estate_mortgage_registration")
    assert department(registry, mortgage) == "15"
    assert mortgage.time_limit.unit is TimeUnit.WORKING_DAYS and mortgage.time_limit.amount <= 5
    assert bundle.step("movable_collateral_registration").kind is StepKind.AUTOMATED
    assert set(bundle.step("loan_disbursement").depends_on) == set(securities)
    subsidy = bundle.step("interest_subsidy")
    assert subsidy.depends_on == ("loan_disbursement",) and department(registry, subsidy) == "13"
    licences = {m.licence for s in bundle.steps for m in s.materials if m.supply is SupplyMode.E_LICENCE}
    assert licences == {"L1000001", "L1000002"}
    assert applicable(bundle, {"secured_by_real_estate": False, "secured_by_movables": False}) == {
        "data_authorisation", "bank_credit_approval", "loan_disbursement"}
