"""Lists and outputs: per-entry chains, conditions on the entry and on earlier outputs, an item
chosen by an answer; licences: validity, revocation, declared attributes (SQLite and PostgreSQL).

The hiring bundle is the guide's (hunan-guides/43TCP0014.json: 社会保障卡申领 after 职工参保登记,
per new employee); the other rules run on small bundles written here against the real catalog and
field dictionary.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, Licence, Step
from engine.errors import InvalidApplication
from engine.machine.actions import claim_step, complete_step, reject_step
from engine.machine.intake import Applicant, accept_case, prefill_application
from engine.people.identifiers import make_credit_code
from engine.people.licences import store_licence, valid_licences, validity_end
from engine.people.validators import make_id_number
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import BundleRegistry, check_bundle
from engine.spec.models import BundleSpec, Output, Validity
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from tests.conftest import Database
from tests.engine.sample_people import CHILD, CLERK, DECEASED, GROOM, HEIR_2, officer, post_death_answers

COMPANY = make_credit_code("430100", "MA4L00001")
EMPLOYEES = [
    ("测试甲", make_id_number("430102", date(1990, 1, 1), 11)),
    ("测试乙", make_id_number("430103", date(1991, 2, 2), 13)),
    ("测试丙", make_id_number("430104", date(1992, 3, 3), 15)),
]


def hiring_answers() -> dict[str, Any]:
    return {
        "company_credit_code": COMPANY, "company_name": "示例科技有限公司", "agent_name": "测试经办",
        "agent_id_number": GROOM, "applicant_phone": "13800000001", "receive_archives": False,
        "apply_social_security_cards": True,
        "new_employees": [
            {"employee_name": name, "employee_id_number": ident, "employee_phone": "13800000003",
             "contract_start": "2026-03-01"}
            for name, ident in EMPLOYEES
        ],
    }


def steps_of(case: Case, key: str) -> list[Step]:
    return sorted((s for s in case.steps if s.step_key == key), key=lambda s: s.instance)


def work(session: Session, runtime: Runtime, step: Step, *, reject: str | None = None,
         outputs: dict[str, Any] | None = None) -> None:
    who = officer(step.department)
    claim_step(session, runtime, step_id=step.id, actor=who)
    if reject is not None:
        reject_step(session, runtime, step_id=step.id, actor=who, reason=reject)
    else:
        complete_step(session, runtime, step_id=step.id, actor=who, outputs=outputs or {})


def refresh(session: Session, case: Case) -> Case:
    session.expire_all()
    found = session.get(Case, case.id)
    assert found is not None
    return found


# --- the hiring guide: one chain per employee ----------------------------------------------------


def test_each_employees_card_waits_for_that_employees_registration(session: Session, runtime: Runtime) -> None:
    case = accept_case(session, runtime, bundle_id="hiring", applicant=Applicant(COMPANY, "enterprise", "示例科技有限公司"),
                       answers=hiring_answers(), actor=CLERK)
    cards = steps_of(case, "social_security_card")
    assert [s.state for s in cards] == ["pending"] * 3
    first = steps_of(case, "pension_insurance_registration")[0]
    work(session, runtime, first)
    case = refresh(session, case)
    # 甲's card is released by 甲's registration alone; 乙's and 丙's still wait for theirs
    assert [s.state for s in steps_of(case, "social_security_card")] == ["ready", "pending", "pending"]


def test_rejecting_one_employees_registration_cancels_that_employees_chain_only(
    session: Session, runtime: Runtime
) -> None:
    case = accept_case(session, runtime, bundle_id="hiring", applicant=Applicant(COMPANY, "enterprise", "示例科技有限公司"),
                       answers=hiring_answers(), actor=CLERK)
    work(session, runtime, steps_of(case, "pension_insurance_registration")[0], reject="已在他处参保")
    case = refresh(session, case)
    cards = steps_of(case, "social_security_card")
    assert [s.state for s in cards] == ["cancelled", "pending", "pending"]
    assert cards[0].reason == "prerequisite pension_insurance_registration was rejected"
    for step in steps_of(case, "pension_insurance_registration")[1:]:
        work(session, runtime, step)
    case = refresh(session, case)
    assert [s.state for s in steps_of(case, "social_security_card")] == ["cancelled", "ready", "ready"]


# --- small bundles of this file ----------------------------------------------------------------------

LISTS = """
id: lists
version: 1
name: {zh: 列表测试, en: Lists test}
applicant_kind: person
time_limit: {working_days: 20}
fields:
  - field: applicant_name
  - field: death_kind
  - field: deceased_id_number
  - field: heirs
steps:
  - id: per_heir
    item: 99-XECK
    for_each: heirs
    time_limit: {working_days: 2}
  - id: per_heir_bank
    item: 99-XECK
    for_each: heirs
    depends_on: [per_heir]
    time_limit: {working_days: 2}
  - id: summary
    item: 12-YZHC
    depends_on: [per_heir]
    time_limit: {working_days: 2}
  - id: certificate
    item: {by: death_kind, map: {natural: 23-SWZM, unnatural: 09-FZCSW}}
    time_limit: {working_days: 2}
    outputs:
      licence: L2000031
      holders: [deceased_id_number]
      valid_for: {years: 10}
  - id: follow_up
    item: 12-YZHC
    depends_on: [certificate]
    time_limit: {working_days: 2}
  - id: cancellation
    item: 09-HKZX
    depends_on: [certificate]
    time_limit: {working_days: 2}
    revokes: {licence: L2000016, holder_field: deceased_id_number}
"""


def bundle_from(text: str, registry: BundleRegistry, **conditions: Any) -> BundleSpec:
    data = yaml.safe_load(text)
    for step in data["steps"]:
        if step["id"] in conditions:
            step["when"] = conditions[step["id"]]
    bundle = BundleSpec.model_validate(data)
    problems = check_bundle(bundle, registry.catalog, registry.fields)
    assert not problems, problems
    return bundle


@pytest.fixture
def lists_bundle(registry: BundleRegistry) -> BundleSpec:
    return bundle_from(LISTS, registry, per_heir_bank={"field": "entry.heir_bank", "eq": "甲银行"},
                       follow_up={"field": "steps.certificate.outputs.cause", "eq": "疾病"})


@pytest.fixture
def lists_runtime(registry: BundleRegistry, lists_bundle: BundleSpec, calendar: WorkingCalendar,
                  clock: FixedClock) -> Runtime:
    own = BundleRegistry(catalog=registry.catalog, fields=registry.fields, bundles={lists_bundle.id: lists_bundle})
    return Runtime(registry=own, calendar=calendar, clock=clock)


@pytest.fixture
def lists_session(db: Database, lists_runtime: Runtime) -> Iterator[Session]:
    with db.session() as session:
        publish_bundles(session, lists_runtime)
        yield session


def lists_answers(**overrides: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "applicant_name": "测试丙", "death_kind": "natural", "deceased_id_number": DECEASED,
        "heirs": [{"heir_name": "测试丙", "heir_id_number": CHILD, "heir_bank": "甲银行"},
                  {"heir_name": "测试戊", "heir_id_number": HEIR_2, "heir_bank": "乙银行"}],
    }
    answers.update(overrides)
    return answers


def accept(session: Session, runtime: Runtime, **overrides: Any) -> Case:
    return accept_case(session, runtime, bundle_id="lists", applicant=Applicant(CHILD, "person", "测试丙"),
                       answers=lists_answers(**overrides), actor=CLERK)


def test_a_step_without_for_each_waits_for_every_entry(lists_session: Session, lists_runtime: Runtime) -> None:
    case = accept(lists_session, lists_runtime)
    first, second = steps_of(case, "per_heir")
    work(lists_session, lists_runtime, first)
    case = refresh(lists_session, case)
    assert steps_of(case, "summary")[0].state == "pending"
    work(lists_session, lists_runtime, second)
    case = refresh(lists_session, case)
    assert steps_of(case, "summary")[0].state == "ready"


def test_a_condition_on_the_entry_decides_per_entry(lists_session: Session, lists_runtime: Runtime) -> None:
    case = accept(lists_session, lists_runtime)
    banks = steps_of(case, "per_heir_bank")
    assert [s.state for s in banks] == ["pending", "skipped"]
    assert banks[1].reason == "condition not met"


def test_a_condition_on_outputs_is_decided_when_the_step_is_releasable(
    lists_session: Session, lists_runtime: Runtime
) -> None:
    case = accept(lists_session, lists_runtime)
    assert steps_of(case, "follow_up")[0].state == "pending"  # not decided at intake
    work(lists_session, lists_runtime, steps_of(case, "certificate")[0], outputs={"cause": "疾病"})
    case = refresh(lists_session, case)
    assert steps_of(case, "follow_up")[0].state == "ready"

    other = accept(lists_session, lists_runtime, deceased_id_number=make_id_number("430103", date(1940, 1, 1), 33))
    work(lists_session, lists_runtime, steps_of(other, "certificate")[0], outputs={"cause": "意外"})
    other = refresh(lists_session, other)
    follow_up = steps_of(other, "follow_up")[0]
    assert (follow_up.state, follow_up.reason) == ("skipped", "condition not met")


def test_the_item_and_department_follow_the_answer(lists_session: Session, lists_runtime: Runtime) -> None:
    natural = steps_of(accept(lists_session, lists_runtime), "certificate")[0]
    assert (natural.item_code, natural.department) == ("23-SWZM", "23")
    unnatural = steps_of(accept(lists_session, lists_runtime, death_kind="unnatural",
                                deceased_id_number=make_id_number("430103", date(1940, 1, 1), 33)), "certificate")[0]
    assert (unnatural.item_code, unnatural.department) == ("09-FZCSW", "09")


# --- licences ----------------------------------------------------------------------------------------


def test_an_issued_licence_is_valid_for_the_declared_years(lists_session: Session, lists_runtime: Runtime) -> None:
    case = accept(lists_session, lists_runtime)
    work(lists_session, lists_runtime, steps_of(case, "certificate")[0], outputs={"cause": "疾病"})
    licence = lists_session.scalars(select(Licence).where(Licence.type_code == "L2000031")).one()
    assert (licence.valid_from, licence.valid_to) == (date(2026, 3, 2), date(2036, 3, 2))


def test_officer_outputs_must_be_attributes_of_the_licence_type(lists_session: Session, lists_runtime: Runtime) -> None:
    case = accept(lists_session, lists_runtime)
    step = steps_of(case, "certificate")[0]
    claim_step(lists_session, lists_runtime, step_id=step.id, actor=officer(step.department))
    with pytest.raises(InvalidApplication) as refused:
        complete_step(lists_session, lists_runtime, step_id=step.id, actor=officer(step.department),
                      outputs={"casue": "疾病"})
    assert refused.value.problems[0].field == "outputs.casue"
    assert "has no attribute 'casue'" in refused.value.problems[0].message_en
    lists_session.rollback()
    assert lists_session.scalars(select(Licence)).all() == []


def test_a_cancellation_step_revokes_the_licence(lists_session: Session, lists_runtime: Runtime) -> None:
    now = lists_runtime.clock.now()
    card = store_licence(lists_session, type_code="L2000016", holder_id=DECEASED, number="ID-1", attributes={},
                         issuer="公安", valid_from=date(2020, 1, 1), now=now)
    lists_session.commit()
    case = accept(lists_session, lists_runtime)
    work(lists_session, lists_runtime, steps_of(case, "certificate")[0], outputs={"cause": "疾病"})
    case = refresh(lists_session, case)
    work(lists_session, lists_runtime, steps_of(case, "cancellation")[0])
    lists_session.expire_all()
    revoked = lists_session.get(Licence, card.id)
    assert revoked is not None and revoked.revoked_at is not None
    today = lists_runtime.today()
    assert valid_licences(lists_session, holders={DECEASED}, types={"L2000016"}, today=today) == {}
    event = lists_session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action == "step.complete")
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert event is not None
    assert event.payload["revoked"] == [{"type": "L2000016", "number": "ID-1", "holder": DECEASED}]


def test_an_expired_licence_waives_nothing(session: Session, runtime: Runtime) -> None:
    store_licence(session, type_code="L2000016", holder_id=GROOM, number="OLD", attributes={"name": "测试甲"},
                  issuer="公安", valid_from=date(2010, 1, 1), valid_to=date(2020, 1, 1), now=runtime.clock.now())
    session.commit()
    assert valid_licences(session, holders={GROOM}, types={"L2000016"}, today=runtime.today()) == {}


def test_post_death_household_cancellation_revokes_the_deceaseds_id_card(session: Session, runtime: Runtime) -> None:
    """Guide 43PCP0008 (死亡人员户口注销): the deceased's 身份证 and 户口页 stop being valid licences."""
    now = runtime.clock.now()
    store_licence(session, type_code="L2000016", holder_id=DECEASED, number="ID-DECEASED",
                  attributes={"name": "测试丁"}, issuer="公安", valid_from=date(2016, 1, 1), now=now)
    session.commit()
    case = accept_case(session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person", "测试丙"),
                       answers=post_death_answers(), actor=CLERK)
    work(session, runtime, steps_of(case, "death_certificate")[0])
    case = refresh(session, case)
    assert valid_licences(session, holders={DECEASED}, types={"L2000016"}, today=runtime.today())  # still valid
    work(session, runtime, steps_of(case, "household_cancellation")[0])
    assert valid_licences(session, holders={DECEASED}, types={"L2000016", "L2000017"}, today=runtime.today()) == {}


def test_validity_ends() -> None:
    leap = date(2028, 2, 29)
    assert validity_end(Output(licence="L2000025", valid_for=Validity(years=1)), {}, leap) == date(2029, 2, 28)
    assert validity_end(Output(licence="L2000025", valid_for=Validity(months=11)), {}, leap) == date(2029, 1, 29)
    assert validity_end(Output(licence="L2000025", valid_for=Validity(days=30)), {}, leap) == date(2028, 3, 30)
    until = Output(licence="L2000025", valid_until_output="valid_until")
    assert validity_end(until, {"valid_until": "2030-06-30"}, leap) == date(2030, 6, 30)
    for wrong in ({}, {"valid_until": "30/06/2030"}, {"valid_until": "2020-01-01"}):
        with pytest.raises(InvalidApplication) as refused:
            validity_end(until, wrong, leap)
        assert refused.value.problems[0].field == "outputs.valid_until"
    assert validity_end(Output(licence="L2000025"), {}, leap) is None


@pytest.mark.usefixtures("lists_session")  # publishes the lists bundle into the same database
def test_a_revoked_licence_waives_and_prefills_nothing(lists_runtime: Runtime, session: Session,
                                                        runtime: Runtime) -> None:
    """After the cancellation step revoked the deceased's 身份证, a post-death application must supply it."""
    store_licence(session, type_code="L2000016", holder_id=DECEASED, number="ID-2", attributes={"name": "测试丁"},
                  issuer="公安", valid_from=date(2020, 1, 1), now=runtime.clock.now())
    session.commit()

    def waived() -> set[str]:
        result = prefill_application(session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person"),
                                     answers=post_death_answers(), actor=CLERK)
        return {m.name for m in result.waived if m.step == "death_certificate"}

    assert "死亡人员身份证" in waived()
    case = accept(session, lists_runtime)
    work(session, lists_runtime, steps_of(case, "certificate")[0], outputs={"cause": "疾病"})
    case = refresh(session, case)
    work(session, lists_runtime, steps_of(case, "cancellation")[0])
    assert "死亡人员身份证" not in waived()


def test_a_step_may_apply_before_any_step_ran(lists_bundle: BundleSpec) -> None:
    """Prefill lists the materials of steps that may apply: an entry condition holding for one entry,
    a condition on outputs not decided yet."""
    bank = lists_bundle.step("per_heir_bank")
    assert bank.may_apply(lists_answers())
    assert not bank.may_apply(lists_answers(heirs=[{"heir_name": "测试戊", "heir_id_number": HEIR_2,
                                                     "heir_bank": "乙银行"}]))
    assert lists_bundle.step("follow_up").may_apply(lists_answers())
