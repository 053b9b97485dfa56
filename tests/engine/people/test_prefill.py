"""Prefill from e-licences, earlier cases and the case's own steps; waived materials."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from engine.records.audit import case_history
from engine.time.clock import FixedClock
from engine.errors import InvalidApplication
from engine.machine.intake import Applicant, accept_case
from engine.people.licences import revoke_licence, store_licence, valid_licences
from engine.people.prefill import PrefillContext, PrefillRegistry, default_providers, prefill, step_materials
from engine.runtime import Runtime
from engine.machine.actions import claim_step, complete_step
from tests.engine.sample_people import BRIDE, CHILD, CLERK, DECEASED, GROOM, marriage_answers, officer, post_death_answers


def licence(session: Session, runtime: Runtime, type_code: str, holder: str, number: str, **attributes: object):
    return store_licence(
        session, type_code=type_code, holder_id=holder, number=number, attributes=attributes,
        issuer="长沙市公安局", valid_from=date(2020, 1, 1), valid_to=date(2040, 1, 1), now=runtime.clock.now(),
    )


@pytest.fixture
def couple(session: Session, runtime: Runtime) -> None:
    licence(session, runtime, "L2000016", GROOM, "ID-G", name="测试甲")
    licence(session, runtime, "L2000016", BRIDE, "ID-B", name="测试乙")
    licence(session, runtime, "L2000017", GROOM, "HK-G", household_type="family", household_region="430102")
    licence(session, runtime, "L2000017", BRIDE, "HK-B", household_type="family", household_region="430104")
    session.commit()


def context(runtime: Runtime, bundle_id: str, applicant: str, answers: dict[str, object]) -> PrefillContext:
    return PrefillContext(runtime.current_spec(bundle_id), runtime.registry, applicant, answers, runtime.today())


def test_marriage_prefill_fills_names_from_each_spouses_id_card(session: Session, runtime: Runtime, couple: None) -> None:
    result = prefill(session, context(runtime, "marriage", GROOM,
                                      {"groom_id_number": GROOM, "bride_id_number": BRIDE, "both_hunan_household": True,
                                       "move_household": True}))
    assert {k: (v.value, v.source) for k, v in result.values.items()} == {
        "groom_name": ("测试甲", "licence"),
        "bride_name": ("测试乙", "licence"),
        "receiving_household_type": ("family", "licence"),
    }
    assert result.values["bride_name"].detail == "居民身份证 ID-B"
    waived = {(m.step, m.name) for m in result.waived}
    assert ("marriage_registration", "女方居民身份证") in waived
    assert ("marriage_registration", "结婚落户“一件事”申请表") in waived  # template generated
    assert ("marital_status_change", "男方居民户口簿") in waived
    # the marriage certificate does not exist yet, but the first step issues it: not asked for
    certificate = next(m for m in result.materials if (m.step, m.name) == ("marital_status_change", "结婚证"))
    assert certificate.waived and certificate.reason.startswith("由前序环节「内地居民结婚登记」办结后自动关联")
    assert ("marriage_registration", "3张2寸男女双方近期半身免冠合影照片") in {(m.step, m.name) for m in result.to_supply}


def test_expired_and_revoked_licences_are_never_used(session: Session, runtime: Runtime) -> None:
    store_licence(session, type_code="L2000016", holder_id=GROOM, number="OLD", attributes={"name": "旧名"},
                  issuer="x", valid_from=date(2000, 1, 1), valid_to=date(2020, 1, 1), now=runtime.clock.now())
    revoked = licence(session, runtime, "L2000016", BRIDE, "REV", name="已注销")
    session.flush()
    revoke_licence(session, licence_id=revoked.id, now=runtime.clock.now())
    store_licence(session, type_code="L2000017", holder_id=GROOM, number="FUTURE", attributes={"household_type": "family"},
                  issuer="x", valid_from=runtime.today() + timedelta(days=3), now=runtime.clock.now())
    session.commit()
    result = prefill(session, context(runtime, "marriage", GROOM, {"groom_id_number": GROOM, "bride_id_number": BRIDE}))
    assert result.values == {}
    assert not any(m.waived for m in result.materials if m.code in ("L2000016", "L2000017"))
    assert valid_licences(session, holders={GROOM, BRIDE}, types={"L2000016", "L2000017"}, today=runtime.today()) == {}


def test_providers_are_injectable_and_called_once_per_application(session: Session, runtime: Runtime) -> None:
    calls: list[int] = []
    registry = PrefillRegistry()

    @registry.register("stub_registry")
    def provider(session, ctx, requests):  # type: ignore[no-untyped-def]
        calls.append(len(requests))
        from engine.people.prefill import Prefilled

        return {r.field: Prefilled(r.field, f"来自{r.holder[-4:]}", "stub_registry", "") for r in requests}

    with pytest.raises(ValueError, match="already registered"):
        registry.register("stub_registry")(provider)
    result = prefill(session, context(runtime, "marriage", GROOM, {"groom_id_number": GROOM, "bride_id_number": BRIDE}),
                     providers=registry)
    assert calls == [3]  # one batch with the three requests, not one call per field
    assert result.values["bride_name"].value == f"来自{BRIDE[-4:]}"
    assert [pid for pid, _ in default_providers()] == ["licence", "earlier_case"]


def test_intake_reports_every_problem_of_the_form_at_once(session: Session, runtime: Runtime, couple: None) -> None:
    """A changed locked field, an invalid phone and missing answers come back in one refusal (issue 15:
    the clerk saw them over three submits), each naming what to fill in, not a bare 必填."""
    answers = marriage_answers(bride_name="别的名字", applicant_phone="12345")
    del answers["groom_name"], answers["previously_married"], answers["move_household"]
    with pytest.raises(InvalidApplication) as refused:
        accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person"), answers=answers,
                    actor=CLERK)
    found = {p.field: p for p in refused.value.problems}
    assert found["bride_name"].code == "field.not_correctable"
    assert found["applicant_phone"].code.startswith("phone")
    assert {"previously_married", "move_household"} <= found.keys()
    assert found["previously_married"].message_zh.startswith("请填写") and found["previously_married"].message_zh != "请填写"
    assert "is required" in found["move_household"].message_en and "move_household" not in found["move_household"].message_en


def test_intake_uses_prefill_refuses_locked_changes_and_audits_corrections(
    session: Session, runtime: Runtime, couple: None
) -> None:
    answers = marriage_answers()
    del answers["groom_name"], answers["bride_name"], answers["receiving_household_type"]
    with pytest.raises(InvalidApplication) as refused:
        accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                    answers={**answers, "bride_name": "别的名字"}, actor=CLERK)
    assert [(p.field, p.code) for p in refused.value.problems] == [("bride_name", "field.not_correctable")]
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                       answers={**answers, "receiving_household_type": "collective"}, actor=CLERK)
    assert case.answers["groom_name"] == "测试甲" and case.answers["bride_name"] == "测试乙"
    assert case.answers["receiving_household_type"] == "collective"  # a correctable field, corrected
    accept = case_history(session, case_id=case.id)[0]
    assert accept.payload["prefilled"]["groom_name"] == {"source": "licence", "detail": "居民身份证 ID-G"}
    assert accept.payload["corrections"] == [
        {"field": "receiving_household_type", "prefilled": "family", "given": "collective", "source": "居民户口簿 HK-G"}
    ]
    assert {"step": "marriage_registration", "material": "男方居民身份证",
            "reason": "已关联电子证照 居民身份证 ID-G (linked e-licence)"} in accept.payload["waived"]


def test_step_results_feed_later_steps_and_later_cases(session: Session, runtime: Runtime, clock: FixedClock,
                                                       couple: None) -> None:
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                       answers=marriage_answers(), actor=CLERK)
    spec = runtime.current_spec("marriage")
    ctx = PrefillContext(spec, runtime.registry, GROOM, case.answers, runtime.today(), case)
    status = {m.name: m.reason for m in step_materials(session, ctx, step=spec.step("marital_status_change"))}
    assert status["结婚证"] == "由前序环节「内地居民结婚登记」办结后自动关联 (issued by an earlier step of this bundle)"
    registration = case.steps[0]
    civil = officer("11")
    claim_step(session, runtime, step_id=registration.id, actor=civil)
    complete_step(session, runtime, step_id=registration.id, actor=civil,
                  outputs={"number": "J430102-2026-000123", "marriage_date": "2026-03-02"})
    # both spouses now hold a marriage certificate; the later step no longer asks for it
    issued = valid_licences(session, holders={GROOM, BRIDE}, types={"L2000025"}, today=runtime.today())
    assert {k: v.number for k, v in issued.items()} == {
        (GROOM, "L2000025"): "J430102-2026-000123-1", (BRIDE, "L2000025"): "J430102-2026-000123-2"}
    assert issued[(BRIDE, "L2000025")].attributes["spouse_name"] == "测试乙"
    assert issued[(GROOM, "L2000025")].source_case_id == case.id
    status = {m.name: m.reason for m in step_materials(session, ctx, step=spec.step("marital_status_change"))}
    assert status["结婚证"] == "已关联电子证照 结婚证 J430102-2026-000123-1 (linked e-licence)"
    # and a later case of the same holder reuses the groom's earlier answers (data reuse)
    result = prefill(session, context(runtime, "post_death", GROOM, {"deceased_id_number": DECEASED}))
    assert result.values["applicant_name"].value == "测试甲"  # from his ID card (licence first)


def test_earlier_cases_fill_what_no_licence_holds(session: Session, runtime: Runtime) -> None:
    accept_case(session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person"),
                answers=post_death_answers(), actor=CLERK)
    result = prefill(session, context(runtime, "post_death", CHILD, {}))
    assert result.values["applicant_name"].value == "测试丙"
    assert result.values["applicant_name"].source == "earlier_case"
    # another person's data (the deceased's name) is never copied from an old application
    assert "deceased_name" not in result.values


def test_death_certificate_waives_it_for_household_cancellation(session: Session, runtime: Runtime) -> None:
    case = accept_case(session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person"),
                       answers=post_death_answers(), actor=CLERK)
    spec = runtime.current_spec("post_death")
    ctx = PrefillContext(spec, runtime.registry, CHILD, case.answers, runtime.today(), case)
    before = {m.name: m.reason for m in step_materials(session, ctx, step=spec.step("household_cancellation"))}
    assert before["居民死亡医学证明（推断）书"].startswith("由前序环节「死亡证办理（正常）」")
    death = next(s for s in case.steps if s.step_key == "death_certificate")
    health = officer("23")
    claim_step(session, runtime, step_id=death.id, actor=health)
    complete_step(session, runtime, step_id=death.id, actor=health, outputs={"cause": "疾病"})
    after = {m.name: m.reason for m in step_materials(session, ctx, step=spec.step("household_cancellation"))}
    assert after["居民死亡医学证明（推断）书"].startswith("已关联电子证照 居民死亡医学证明（推断）书")
    held = valid_licences(session, holders={DECEASED}, types={"L2000031"}, today=runtime.today())
    assert held[(DECEASED, "L2000031")].attributes["death_date"] == "2026-02-26"


def test_data_reused_from_an_earlier_case_can_be_corrected(session: Session, runtime: Runtime) -> None:
    accept_case(session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person"),
                answers=post_death_answers(), actor=CLERK)
    # applicant_name is locked when it comes from an ID card, but here it only comes from the
    # applicant's earlier application: a new spelling is accepted and recorded as a correction
    case = accept_case(session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person"),
                       answers=post_death_answers(applicant_name="测试丙丙"), actor=CLERK)
    assert case.answers["applicant_name"] == "测试丙丙"
    accept = case_history(session, case_id=case.id)[0]
    assert accept.payload["corrections"][0]["field"] == "applicant_name"
    assert accept.payload["corrections"][0]["prefilled"] == "测试丙"


def test_a_case_accepted_without_a_name_names_its_applicant_from_the_answers(session: Session, runtime: Runtime,
                                                                             couple: None) -> None:
    """An API intake that leaves the applicant's name blank still names the applicant: the groom's
    name, prefilled from his ID card, since he is the applicant (worklists showed a blank)."""
    answers = marriage_answers()
    del answers["groom_name"], answers["bride_name"]
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(BRIDE, "person"), answers=answers,
                       actor=CLERK)
    assert case.applicant_name == "测试乙"  # the bride applied: her name, not the groom's


def test_a_companys_credit_code_is_taken_from_the_identified_applicant(session: Session, runtime: Runtime) -> None:
    """Issue 15: the credit code was typed twice (identify, then the form); now the form's
    统一社会信用代码 is the identified company's, and another one typed in is refused."""
    from engine.people.identifiers import make_credit_code

    company = make_credit_code("430100", "MA4L88011")
    answers = {
        "company_name": "示例科技有限公司", "legal_representative": "测试戊", "agent_name": "测试己",
        "agent_id_number": GROOM, "applicant_phone": "13800000001", "project_name": "示例厂房建设项目",
        "project_location": "长沙市芙蓉区", "total_investment": "50000", "investment_procedure": "filing",
        "needs_new_land": False, "annual_energy_tce": 10, "annual_electricity_10k_kwh": 10,
        "eia_document": "registration_form",
    }
    case = accept_case(session, runtime, bundle_id="land_use", applicant=Applicant(company, "enterprise", "示例"),
                       answers=answers, actor=CLERK)
    assert case.answers["company_credit_code"] == company
    other = make_credit_code("430100", "MA4L88012")
    with pytest.raises(InvalidApplication) as refused:
        accept_case(session, runtime, bundle_id="land_use", applicant=Applicant(company, "enterprise", "示例"),
                    answers={**answers, "company_credit_code": other}, actor=CLERK)
    assert [(p.field, p.code) for p in refused.value.problems] == [("company_credit_code", "field.not_correctable")]


def test_each_employees_id_card_is_waived_when_every_one_holds_the_e_licence(session: Session,
                                                                            runtime: Runtime) -> None:
    """Issue 15: three employees' ID cards were asked for although the store held them. A list step's
    material whose holder is an entry's field is waived when every entry's person holds the licence."""
    from engine.people.identifiers import make_credit_code

    company = make_credit_code("430100", "MA4L88021")
    employees = [{"employee_name": "员工甲", "employee_id_number": GROOM, "contract_start": "2026-03-01"},
                 {"employee_name": "员工乙", "employee_id_number": BRIDE, "contract_start": "2026-03-01"}]

    def id_card_status() -> bool:
        found = prefill(session, context(runtime, "hiring", company, {"new_employees": employees}))
        (status,) = [m for m in found.materials
                     if m.step == "pension_insurance_registration" and m.name == "申请人居民身份证"]
        return status.waived

    licence(session, runtime, "L2000016", GROOM, "ID-G", name="员工甲")
    session.commit()
    assert id_card_status() is False  # one of the two is not in the store: supplied
    licence(session, runtime, "L2000016", BRIDE, "ID-B", name="员工乙")
    session.commit()
    assert id_card_status() is True
