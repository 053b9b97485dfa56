"""Eligibility (前置校验, issue 10 item 1): each case the issue names is refused at intake with the
guide's reason, naming the rule and the fields, on SQLite and PostgreSQL; the happy paths are
still accepted; warnings and an applicant's deferred rules are recorded in the acceptance event.

The acceptance date is the test clock's, Monday 2 March 2026.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case
from engine.errors import InvalidApplication
from engine.machine.actions import withdraw_case
from engine.machine.eligibility import assess
from engine.machine.intake import Applicant, accept_case
from engine.people.licences import store_licence
from engine.people.validators import make_id_number
from engine.runtime import Runtime
from engine.spec.models import BundleSpec, OnFail
from tests.engine.sample_people import BRIDE, CLERK, DECEASED, GROOM, applicant, marriage_answers, post_death_answers

MOTHER = make_id_number("430104", date(1995, 6, 1), 42)
FATHER = make_id_number("430102", date(1993, 1, 9), 13)


def newborn_answers(**overrides: object) -> dict[str, object]:
    answers: dict[str, object] = {
        "applicant_name": "测试乙", "applicant_phone": "13800000002", "baby_name": "测试宝", "baby_sex": "female",
        "baby_birth_date": "2026-02-20", "birth_institution": "示例妇幼保健院", "mother_name": "测试乙",
        "mother_id_number": MOTHER, "father_name": "测试甲", "father_id_number": FATHER,
        "registration_parent": "father", "household_region": "430102", "parents_same_ethnicity": True,
        "claim_maternity_benefit": False, "pickup_method": "self",
    }
    answers.update(overrides)
    return answers


def accept(session: Session, runtime: Runtime, bundle_id: str, answers: dict[str, Any], *,
           who: str = GROOM, actor: Any = CLERK) -> Case:
    return accept_case(session, runtime, bundle_id=bundle_id, applicant=Applicant(who, "person"), answers=answers,
                       actor=actor, region="430102")


def refused(session: Session, runtime: Runtime, bundle_id: str, answers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """The refusal's problems by code: {code: (fields, message_zh, message_en)}; nothing was written."""
    before = session.scalar(select(Case.id).limit(1))
    with pytest.raises(InvalidApplication) as info:
        accept(session, runtime, bundle_id, answers, **kw)
    session.rollback()
    assert session.scalar(select(Case.id).limit(1)) == before
    out: dict[str, Any] = {}
    for p in info.value.problems:
        fields, zh, en = out.get(p.code, ((), p.message_zh, p.message_en))
        out[p.code] = (fields + (p.field,), zh, en)
    return out


def licence(session: Session, runtime: Runtime, type_code: str, holder: str, number: str) -> None:
    store_licence(session, type_code=type_code, holder_id=holder, number=number, attributes={}, issuer="测试",
                  valid_from=date(2020, 1, 1), now=runtime.clock.now())
    session.commit()


# --- marriage ------------------------------------------------------------------------------

def test_an_under_age_couple_is_refused_with_the_guides_reason(session: Session, runtime: Runtime) -> None:
    groom = make_id_number("430102", date(2008, 6, 1), 11)  # 17 on 2 March 2026
    bride = make_id_number("430104", date(2010, 6, 1), 22)  # 15
    problems = refused(session, runtime, "marriage", marriage_answers(groom_id_number=groom, bride_id_number=bride))
    assert problems == {
        "eligibility.groom_age": (("groom_id_number",), "男不得早于二十二周岁，女不得早于二十周岁（男方）",
                                  "the groom is under age (men 22, women 20)"),
        "eligibility.bride_age": (("bride_id_number",), "男不得早于二十二周岁，女不得早于二十周岁（女方）",
                                  "the bride is under age (men 22, women 20)"),
    }


def test_the_ages_are_full_years_at_the_acceptance_date(session: Session, runtime: Runtime) -> None:
    assert runtime.today() == date(2026, 3, 2)
    turns_22_tomorrow = make_id_number("430102", date(2004, 3, 3), 11)
    turned_22_today = make_id_number("430102", date(2004, 3, 2), 13)
    assert "eligibility.groom_age" in refused(session, runtime, "marriage",
                                              marriage_answers(groom_id_number=turns_22_tomorrow))
    assert accept(session, runtime, "marriage", marriage_answers(groom_id_number=turned_22_today)).state


def test_the_same_id_number_for_both_is_refused(session: Session, runtime: Runtime) -> None:
    problems = refused(session, runtime, "marriage", marriage_answers(bride_id_number=GROOM))
    assert problems["eligibility.two_people"][0] == ("groom_id_number", "bride_id_number")
    assert problems["eligibility.two_people"][1] == "男女双方的身份证号码不能相同"


def test_a_spouse_holding_a_valid_marriage_certificate_is_refused(session: Session, runtime: Runtime) -> None:
    licence(session, runtime, "L2000025", BRIDE, "JH-OLD-1")
    problems = refused(session, runtime, "marriage", marriage_answers())
    assert set(problems) == {"eligibility.bride_unmarried"}
    assert problems["eligibility.bride_unmarried"][2] == "the bride is married (holds a valid marriage certificate)"


def test_marrying_a_person_with_a_death_certificate_is_refused(session: Session, runtime: Runtime) -> None:
    licence(session, runtime, "L2000031", BRIDE, "SW-0001")
    problems = refused(session, runtime, "marriage", marriage_answers())
    assert problems == {"eligibility.bride_living": (("bride_id_number",), "女方已开具死亡证明",
                                                     "a death certificate exists for the bride")}


def test_a_second_open_case_for_the_same_couple_is_refused(session: Session, runtime: Runtime) -> None:
    accept(session, runtime, "marriage", marriage_answers())
    # the couple in the other order is the same couple
    problems = refused(session, runtime, "marriage", marriage_answers(groom_id_number=BRIDE, bride_id_number=GROOM))
    assert problems == {"eligibility.no_open_case": (("groom_id_number", "bride_id_number"),
                                                     "该男女双方已有在办的结婚落户“一件事”，请勿重复申请",
                                                     "this couple already has an open marriage case")}


def test_the_same_couple_is_accepted_again_once_their_case_is_withdrawn(session: Session, runtime: Runtime) -> None:
    first = accept(session, runtime, "marriage", marriage_answers())
    assert "eligibility.no_open_case" in refused(session, runtime, "marriage", marriage_answers())
    withdraw_case(session, runtime, case_id=first.id, actor=CLERK, reason="测试撤回")
    session.commit()
    assert session.get(Case, first.id).state == "withdrawn"  # type: ignore[union-attr]
    second = accept(session, runtime, "marriage", marriage_answers())
    assert second.state == "accepted" and second.id != first.id


def test_a_bundle_may_refuse_a_second_open_case(session: Session, runtime: Runtime) -> None:
    """The same rule with on_fail: refuse (how a bundle says "no duplicates") refuses the second case."""
    accept(session, runtime, "marriage", marriage_answers())
    spec = runtime.current_spec("marriage")
    strict = _with_rule(spec, "no_open_case", on_fail=OnFail.REFUSE)
    result = assess(session, spec=strict, answers=marriage_answers(), applicant_id=GROOM, today=runtime.today())
    assert [v.code for v in result.refusals] == ["eligibility.no_open_case"]
    with pytest.raises(InvalidApplication) as info:
        result.refuse()
    assert [p.field for p in info.value.problems] == ["groom_id_number", "bride_id_number"]
    # A closed case is no duplicate.
    other = make_id_number("430104", date(1990, 1, 1), 24)
    assert not assess(session, spec=strict, answers=marriage_answers(bride_id_number=other), applicant_id=GROOM,
                      today=runtime.today()).refusals


def test_the_happy_path_is_accepted_with_nothing_recorded(session: Session, runtime: Runtime) -> None:
    case = accept(session, runtime, "marriage", marriage_answers())
    payload = session.scalars(select(AuditEvent.payload).where(AuditEvent.case_id == case.id, AuditEvent.seq == 1)).one()
    assert "eligibility_warnings" not in payload and "eligibility_deferred" not in payload
    assert "facts.age(groom_id_number)" not in case.answers  # the case stores the answers alone


def test_an_applicant_learns_nothing_about_the_other_spouse(session: Session, runtime: Runtime) -> None:
    """Applying for themselves, the groom is not told the bride holds a 结婚证: the rules on her
    licences are deferred to the registry office, recorded in the acceptance event."""
    licence(session, runtime, "L2000025", BRIDE, "JH-OLD-2")
    case = accept(session, runtime, "marriage", marriage_answers(), actor=applicant(GROOM))
    payload = session.scalars(select(AuditEvent.payload).where(AuditEvent.case_id == case.id, AuditEvent.seq == 1)).one()
    # no_open_case names the bride too (it refuses since the guide forbids a second case): deferred as well
    assert payload["eligibility_deferred"] == ["eligibility.bride_unmarried", "eligibility.bride_living",
                                               "eligibility.no_open_case"]
    # rules on the applicant's own records are still decided
    licence(session, runtime, "L2000025", GROOM, "JH-OLD-3")
    assert "eligibility.groom_unmarried" in refused(session, runtime, "marriage", marriage_answers(),
                                                    actor=applicant(GROOM))


# --- newborn -------------------------------------------------------------------------------

@pytest.mark.parametrize(("born", "rule"), [
    ("2023-03-02", "born_within_six_months"),  # three years ago
    ("2025-09-02", "born_within_six_months"),  # six whole months ago
    ("2027-01-10", "born_not_in_future"),      # next year
    ("2026-03-03", "born_not_in_future"),      # tomorrow
])
def test_a_newborn_born_too_long_ago_or_in_the_future_is_refused(
    session: Session, runtime: Runtime, born: str, rule: str
) -> None:
    problems = refused(session, runtime, "newborn", newborn_answers(baby_birth_date=born), who=MOTHER)
    assert set(problems) == {f"eligibility.{rule}"}
    assert problems[f"eligibility.{rule}"][0] == ("baby_birth_date",)


@pytest.mark.parametrize("born", ["2025-09-03", "2026-03-02"])
def test_a_newborn_within_six_months_is_accepted(session: Session, runtime: Runtime, born: str) -> None:
    assert accept(session, runtime, "newborn", newborn_answers(baby_birth_date=born), who=MOTHER).state == "accepted"


def test_a_newborn_registered_outside_hunan_is_refused(session: Session, runtime: Runtime) -> None:
    problems = refused(session, runtime, "newborn", newborn_answers(household_region="110101"), who=MOTHER)
    assert problems == {"eligibility.hunan_household": (("household_region",), "父母一方户籍须在本省（湖南省）",
                                                        "one parent's household must be in Hunan")}


def test_twins_are_warned_not_refused(session: Session, runtime: Runtime) -> None:
    accept(session, runtime, "newborn", newborn_answers(), who=MOTHER)
    twin = accept(session, runtime, "newborn", newborn_answers(baby_name="测试宝二"), who=MOTHER)
    payload = session.scalars(select(AuditEvent.payload).where(AuditEvent.case_id == twin.id, AuditEvent.seq == 1)).one()
    assert [w["rule"] for w in payload["eligibility_warnings"]] == ["no_open_case"]


# --- post-death ----------------------------------------------------------------------------

def test_a_deceased_with_a_beijing_id_is_refused(session: Session, runtime: Runtime) -> None:
    beijing = make_id_number("110101", date(1941, 2, 9), 31)
    problems = refused(session, runtime, "post_death", post_death_answers(deceased_id_number=beijing))
    assert problems == {"eligibility.hunan_household": (("deceased_id_number",), "仅限湖南省省内户籍死亡人员",
                                                        "only for a deceased person with a Hunan household")}


def test_the_applicant_cannot_be_the_deceased(session: Session, runtime: Runtime) -> None:
    problems = refused(session, runtime, "post_death", post_death_answers(), who=DECEASED)
    assert problems["eligibility.applicant_not_deceased"][0] == ("deceased_id_number",)


def test_a_hunan_deceased_is_accepted(session: Session, runtime: Runtime) -> None:
    assert accept(session, runtime, "post_death", post_death_answers()).state == "accepted"


# --- step rules ----------------------------------------------------------------------------

def test_a_step_rule_refuses_naming_its_step(session: Session, runtime: Runtime) -> None:
    young = make_id_number("430102", date(2011, 1, 1), 15)  # 15
    answers = {"applicant_name": "测试", "applicant_phone": "13800000009", "household_region": "430102",
               "employment_status": "unemployed", "unemployment_insured_one_year": False,
               "involuntary_unemployment": False}
    problems = refused(session, runtime, "employment", answers, who=young)
    assert problems == {"eligibility.unemployment_registration.of_working_age": (
        ("applicant.id",), "失业登记须年满16周岁（事项环节 unemployment_registration）",
        "unemployment registration is for persons aged 16 or over (step unemployment_registration)")}
    # The rule asks nothing when its step does not apply (an employed person's deregistration).
    employed = {**answers, "employment_status": "employed", "employment_kind": "flexible",
                "employment_start_date": "2026-02-01"}
    del employed["unemployment_insured_one_year"], employed["involuntary_unemployment"]
    assert accept(session, runtime, "employment", employed, who=young).state == "accepted"


def test_a_skip_rule_skips_its_step_with_the_guides_reason(session: Session, runtime: Runtime) -> None:
    spec = runtime.current_spec("marriage")
    skip = _step_rule(spec, "birth_plan_registration", {"fact": "in_region", "of": "bride_id_number",
                                                        "region": "110000", "eq": True})
    runtime.registry.bundles["marriage"] = skip
    try:
        case = accept(session, runtime, "marriage", marriage_answers())
        step = next(s for s in case.steps if s.step_key == "birth_plan_registration")
        assert step.state == "skipped" and step.reason == "仅限北京户籍 (Beijing households only)"
        assert {s.step_key for s in case.steps if s.state == "skipped"} == {"birth_plan_registration"}
    finally:
        runtime.registry.bundles["marriage"] = spec


def test_when_no_step_applies_the_applicant_gets_the_guides_reasons(session: Session, runtime: Runtime) -> None:
    spec = runtime.current_spec("marriage")
    only = spec.model_copy(update={"steps": (spec.steps[0],)})
    skip = _step_rule(only, "marriage_registration", {"fact": "in_region", "of": "groom_id_number",
                                                      "region": "110000", "eq": True})
    runtime.registry.bundles["marriage"] = skip
    try:
        problems = refused(session, runtime, "marriage", marriage_answers())
    finally:
        runtime.registry.bundles["marriage"] = spec
    assert problems == {"eligibility.marriage_registration.beijing": (
        ("groom_id_number",), "仅限北京户籍（事项环节 marriage_registration）",
        "Beijing households only (step marriage_registration)")}


def _with_rule(spec: BundleSpec, rule_id: str, *, on_fail: OnFail) -> BundleSpec:
    rules = tuple(r.model_copy(update={"on_fail": on_fail}) if r.id == rule_id else r for r in spec.requires)
    return BundleSpec.model_validate({**spec.model_dump(by_alias=True), "requires": [
        r.model_dump(by_alias=True) for r in rules]})


def _step_rule(spec: BundleSpec, step_id: str, condition: dict[str, Any]) -> BundleSpec:
    data = spec.model_dump(by_alias=True)
    for step in data["steps"]:
        if step["id"] == step_id:
            step["requires"] = [{"id": "beijing", "condition": condition, "on_fail": "skip",
                                 "reason": {"zh": "仅限北京户籍", "en": "Beijing households only"}}]
    return BundleSpec.model_validate(data)
