"""What read models and documents show of issue 10's materials and chosen items: the bundle's own
materials (listed when the step they would have hung on is skipped), alternatives (A 或 B) with
each one's supply mode, supply mode 5 (个人中心), and the item an answer chose (用地预审 at 县级
权限, not the first-mapped 省级) on the receipt, the forms, the notices and the case read model.

Assertions read the visible text of the documents and the fields of the read models."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from api.demo import load_demo_data, seed_licences
from engine.db.models import Case
from engine.machine.actions import claim_step, reject_step
from engine.machine.intake import Applicant, accept_case
from engine.people.licences import store_licence
from engine.people.validators import make_id_number
from engine.records.documents import (
    render_application_form,
    render_completion_notice,
    render_receipt,
    render_step_form,
)
from engine.records.labels import LABELS, SUPPLY_MODE_LABELS, plain_reason
from engine.records.queries import CaseMaterial, case_materials, case_status
from engine.runtime import Runtime
from engine.spec.models import BundleSpec, SupplyMode
from tests.engine.records.test_documents import section, text
from tests.engine.sample_people import BRIDE, CLERK, GROOM, applicant, decider, marriage_answers, officer

ID_CARD = "申请人居民身份证"
RESUME = "个人简历"
BRIDE_PROOF = "女方身份证明"
BIRTH_PLAN_FORM = "生育登记承诺书"
PERSONAL_CENTRE = SUPPLY_MODE_LABELS[SupplyMode.PERSONAL_CENTRE]
E_LICENCE = SUPPLY_MODE_LABELS[SupplyMode.E_LICENCE]
APPLICANT_SUPPLIES = SUPPLY_MODE_LABELS[SupplyMode.APPLICANT]
COUNTY = "建设项目用地预审与选址意见书办理（县级权限）"
PROVINCE = "建设项目用地预审与选址意见书办理（省级权限）"


def marriage_with_materials(runtime: Runtime) -> BundleSpec:
    """The marriage bundle with two materials of its own (an e-licence, supply 5), an alternative
    on the registration step and a material on the birth-plan step (skipped without a birth plan)."""
    data = runtime.registry.get("marriage").canonical()
    data["version"] += 1
    data["materials"] = [{"name": ID_CARD, "supply": 2, "licence": "L2000016"}, {"name": RESUME, "supply": 5}]
    for step in data["steps"]:
        if step["id"] == "marriage_registration":
            step["materials"] = [*step.get("materials", []), {
                "name": BRIDE_PROOF, "supply": 4,
                "any_of": [{"name": "女方居民身份证", "supply": 2, "licence": "L2000016", "holder_field": "bride_id_number"},
                           {"name": "女方户口注销证明", "supply": 4}]}]
        if step["id"] == "birth_plan_registration":
            step["materials"] = [{"name": BIRTH_PLAN_FORM, "supply": 4}]
    return BundleSpec.model_validate(data)


@pytest.fixture
def trying(session: Session, runtime: Runtime) -> Runtime:
    """The runtime serving the draft, with both spouses' ID cards in the licence store."""
    for holder, number, name in ((GROOM, "ID-G", "测试甲"), (BRIDE, "ID-B", "测试乙")):
        store_licence(session, type_code="L2000016", holder_id=holder, number=number, attributes={"name": name},
                      issuer="长沙市公安局", valid_from=date(2020, 1, 1), valid_to=date(2040, 1, 1), now=runtime.clock.now())
    session.commit()
    return runtime.with_draft(marriage_with_materials(runtime))


def no_birth_plan_case(session: Session, trying: Runtime) -> Case:
    return accept_case(session, trying, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(register_birth_plan=False), actor=CLERK)


def by_name(materials: tuple[CaseMaterial, ...]) -> dict[str, CaseMaterial]:
    return {m.name: m for m in materials}


# --- the case's materials (read model) ------------------------------------------------------------


def test_the_bundle_materials_come_first_and_stay_when_their_step_is_skipped(session: Session, trying: Runtime) -> None:
    case = no_birth_plan_case(session, trying)
    assert next(s for s in case.steps if s.step_key == "birth_plan_registration").state == "skipped"
    materials = case_materials(session, trying, case=case, viewer=CLERK)
    assert [m.name for m in materials][:2] == [ID_CARD, RESUME]
    found = by_name(materials)
    assert BIRTH_PLAN_FORM not in found  # a skipped step's own material goes with it
    assert found[ID_CARD].whole_bundle and found[ID_CARD].items == ()
    assert (found[ID_CARD].waived, found[ID_CARD].supply_label) == (True, E_LICENCE)
    assert found[ID_CARD].reason.startswith("已关联电子证照")
    assert (found[RESUME].waived, found[RESUME].supply_label) == (True, PERSONAL_CENTRE)
    assert not found[BRIDE_PROOF].whole_bundle and found[BRIDE_PROOF].items == ("内地居民结婚登记",)


def test_a_material_names_its_alternatives_and_the_one_that_satisfied_it(session: Session, trying: Runtime) -> None:
    case = no_birth_plan_case(session, trying)
    proof = by_name(case_materials(session, trying, case=case, viewer=CLERK))[BRIDE_PROOF]
    assert [(o.name, o.supply_label, o.licence) for o in proof.alternatives] == [
        ("女方居民身份证", E_LICENCE, "L2000016"), ("女方户口注销证明", APPLICANT_SUPPLIES, None)]
    assert proof.waived and proof.reason.startswith("以「女方居民身份证」代替")


def test_an_applicant_learns_nothing_of_the_brides_id_card(session: Session, trying: Runtime) -> None:
    case = no_birth_plan_case(session, trying)
    found = by_name(case_materials(session, trying, case=case, viewer=applicant(GROOM)))
    assert found[ID_CARD].waived  # the applicant's own
    assert not found[BRIDE_PROOF].waived
    assert found[BRIDE_PROOF].reason == "任选其一提交：女方居民身份证／女方户口注销证明 (supply any one of these)"


def test_an_officer_sees_the_bundle_materials_and_their_own_steps_only(session: Session, trying: Runtime) -> None:
    case = accept_case(session, trying, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(), actor=CLERK)
    public_security = by_name(case_materials(session, trying, case=case, viewer=officer("09")))
    assert {ID_CARD, RESUME} <= set(public_security)
    assert BRIDE_PROOF not in public_security and BIRTH_PLAN_FORM not in public_security  # 民政's and 卫健's
    health = by_name(case_materials(session, trying, case=case, viewer=officer("23")))
    assert health[BIRTH_PLAN_FORM].items == ("生育登记",) and BRIDE_PROOF not in health


# --- documents ------------------------------------------------------------------------------------


def test_the_receipt_lists_the_bundle_materials_and_the_alternatives(session: Session, trying: Runtime) -> None:
    case = no_birth_plan_case(session, trying)
    waived = {m.name for m in case_materials(session, trying, case=case, viewer=CLERK) if m.waived}
    html = render_receipt(case, trying.spec_for(session, case), trying.registry, waived=waived)
    materials = section(html, "四、申请材料", "五、温馨提示")
    exempt = section(html, "免提交 waived", "需提交 to supply")
    assert ID_CARD in exempt and RESUME in exempt and PERSONAL_CENTRE in exempt
    assert LABELS.whole_bundle.split(" ")[0] in exempt
    assert "任选其一：女方居民身份证 或 女方户口注销证明" in exempt
    assert f"女方居民身份证：{E_LICENCE} 或 女方户口注销证明：{APPLICANT_SUPPLIES}" in exempt
    assert BIRTH_PLAN_FORM not in materials
    assert materials.count(ID_CARD) == 1


def test_the_receipt_without_waivers_goes_by_supply_mode(session: Session, trying: Runtime) -> None:
    case = no_birth_plan_case(session, trying)
    html = render_receipt(case, trying.spec_for(session, case), trying.registry)
    exempt = section(html, "免提交 waived", "需提交 to supply")
    assert RESUME in exempt and PERSONAL_CENTRE in exempt


def test_the_blank_application_form_names_alternatives_with_their_supply_modes(trying: Runtime) -> None:
    html = render_application_form(trying.registry.get("marriage"), trying.registry)
    visible = text(html)
    assert "任选其一：女方居民身份证 或 女方户口注销证明" in visible
    assert f"女方居民身份证：{E_LICENCE} 或 女方户口注销证明：{APPLICANT_SUPPLIES}" in visible
    assert "个人中心已上传的材料" in visible  # the waived section says what supply 5 is
    assert BIRTH_PLAN_FORM in visible  # no answers: every step may apply


def test_the_filled_application_form_keeps_the_bundle_materials_of_a_skipped_step(trying: Runtime) -> None:
    html = render_application_form(trying.registry.get("marriage"), trying.registry,
                                   answers=marriage_answers(register_birth_plan=False))
    visible = text(html)
    assert ID_CARD in visible and RESUME in visible
    assert BIRTH_PLAN_FORM not in visible


# --- an item chosen by an answer ------------------------------------------------------------------


def land_use_case(session: Session, runtime: Runtime, **answers: Any) -> Case:
    data = load_demo_data()
    seed_licences(session, runtime, data, report=lambda _: None)
    scenario = data.scenarios["land_use"]
    return accept_case(session, runtime, bundle_id="land_use",
                       applicant=Applicant(scenario["applicant"]["id"], "enterprise", scenario["applicant"]["name"]),
                       answers={**scenario["answers"], **answers}, actor=CLERK)


def test_the_chosen_item_is_shown_wherever_the_step_is_named(session: Session, runtime: Runtime) -> None:
    case = land_use_case(session, runtime, land_approval_level="county")
    spec = runtime.spec_for(session, case)
    step = next(s for s in case.steps if s.step_key == "land_preapproval")
    assert step.item_code == spec.step("land_preapproval").chosen_item(case.answers) == "15-YDYSXJ"

    status = case_status(session, runtime, case_id=case.id, actor=CLERK)
    ratification = next(s for s in status.steps if s.step_key == "project_ratification")
    assert ratification.state == "pending" and ratification.waiting_on == (COUNTY,)

    receipt = text(render_receipt(case, spec, runtime.registry))
    assert COUNTY in receipt and PROVINCE not in receipt
    form = text(render_application_form(spec, runtime.registry, answers=case.answers))
    assert COUNTY in section(render_application_form(spec, runtime.registry, answers=case.answers),
                             "二、本件事包含的事项", "三、申请材料")
    assert PROVINCE not in form
    step_form = text(render_step_form(spec, runtime.registry, "land_preapproval", answers=case.answers))
    assert COUNTY in step_form and "15-YDYSXJ" in step_form
    blank = text(render_step_form(spec, runtime.registry, "land_preapproval"))
    assert PROVINCE in blank  # no answers: the first mapped item


def test_a_reason_names_the_chosen_item(session: Session, runtime: Runtime) -> None:
    case = land_use_case(session, runtime, land_approval_level="county")
    step = next(s for s in case.steps if s.step_key == "land_preapproval")
    actor = decider(step)
    claim_step(session, runtime, step_id=step.id, actor=actor)
    reject_step(session, runtime, step_id=step.id, actor=actor, reason="选址不符合国土空间规划")
    session.refresh(case)
    for other in [s for s in case.steps if s.state in ("pending", "ready")]:
        claim_step(session, runtime, step_id=other.id, actor=decider(other))
        reject_step(session, runtime, step_id=other.id, actor=decider(other), reason="材料不全")
    session.refresh(case)
    notice = text(render_completion_notice(case, runtime.spec_for(session, case), runtime.registry))
    assert f"前序事项“{COUNTY}”不予办理" in notice
    assert PROVINCE not in notice


def test_an_answer_without_an_item_reads_plainly() -> None:
    assert plain_reason("no item for land_approval_level", lambda key: key) == "所选情形无对应事项，无需办理"


# --- list entries ---------------------------------------------------------------------------------


def hiring_case(session: Session, runtime: Runtime, *, second_employee_id: str | None = None) -> Case:
    data = load_demo_data()
    seed_licences(session, runtime, data, report=lambda _: None)
    scenario = data.scenarios["hiring"]
    answers = dict(scenario["answers"])
    if second_employee_id is not None:
        answers["new_employees"] = [answers["new_employees"][0],
                                    {**answers["new_employees"][1], "employee_id_number": second_employee_id}]
    return accept_case(session, runtime, bundle_id="hiring",
                       applicant=Applicant(scenario["applicant"]["id"], "enterprise", scenario["applicant"]["name"]),
                       answers=answers, actor=CLERK)


def test_an_entrys_material_is_classified_with_that_entry(session: Session, runtime: Runtime) -> None:
    every = by_name(case_materials(session, runtime, case=hiring_case(session, runtime), viewer=CLERK))
    assert every[ID_CARD].waived  # each employee's ID card is in the store
    assert every[ID_CARD].items == (runtime.registry.catalog.items["14-ZGCBDJ"].name,)

    stranger = make_id_number("430102", date(1999, 9, 9), 91)  # no ID card in the store
    one_missing = by_name(case_materials(
        session, runtime, case=hiring_case(session, runtime, second_employee_id=stranger), viewer=CLERK))
    assert not one_missing[ID_CARD].waived  # waived only if waived for every employee
    assert one_missing[ID_CARD].reason == "未找到有效电子证照，请提交 (no valid e-licence found: please supply it)"
