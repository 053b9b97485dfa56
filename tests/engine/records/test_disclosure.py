"""Disclosure (issue 7): what a self-service applicant, an officer and a clerk learn from the engine.

A self-service applicant learns nothing about another person: a material held by someone else
gets one classification and one wording whether or not that person holds a licence, and the
licence store is not even asked about them (no timing difference). Staff see other people's
licences; a prefill read of them is recorded in the access log. Officers see their own
department's steps in full and the others only as progress; a case outside anyone's scope
answers exactly as a case that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from engine.db.models import AccessRecord, Case
from api.demo import load_demo_data, seed_licences, synthetic_person
from engine.records.documents import render_completion_notice, render_receipt
from engine.errors import Forbidden, NotFound
from engine.machine.intake import Applicant, accept_case, prefill_application
from engine.people.licences import store_licence
from engine.people.prefill import PrefillResult
from engine.records.queries import case_status, check_case_scope, check_step_scope, document_case, step_detail
from engine.runtime import Runtime
from engine.machine.states import Actor, Role
from engine.people.validators import make_id_number
from engine.machine.actions import claim_step, complete_step
from tests.engine.sample_people import BRIDE, CHILD, CLERK, DECEASED, GROOM, applicant, marriage_answers, officer
from tests.engine.sample_people import post_death_answers

PERSON_1 = synthetic_person(1)  # 430103195702020012 in the issue
PERSON_2 = synthetic_person(2)  # 430104196403030027 in the issue
STRANGER = make_id_number("430111", date(1980, 7, 7), 777)  # holds no licence at all


def _licence(session: Session, runtime: Runtime, type_code: str, holder: str, number: str, **attributes: Any) -> None:
    store_licence(session, type_code=type_code, holder_id=holder, number=number, attributes=attributes,
                  issuer="示例市民政局", valid_from=date(2020, 1, 1), now=runtime.clock.now())


@pytest.fixture
def demo(session: Session, runtime: Runtime) -> None:
    """The demo people's ID cards and household registers, and a marriage certificate of person 2."""
    seed_licences(session, runtime, load_demo_data(), report=lambda _: None)
    _licence(session, runtime, "L2000025", PERSON_2, "L2000025-20260101-ABCDEF01-2", name="测试乙")
    session.commit()


def _marriage(session: Session, runtime: Runtime, actor: Actor, groom: str) -> PrefillResult:
    return prefill_application(
        session, runtime, bundle_id="marriage", applicant=Applicant(PERSON_1, "person"), actor=actor,
        answers={"groom_id_number": groom, "bride_id_number": PERSON_1, "both_hunan_household": True,
                 "move_household": True},
    )


def _materials(result: PrefillResult) -> list[tuple[str, str, bool, str]]:
    return [(m.step, m.name, m.waived, m.reason) for m in result.materials]


@contextmanager
def licence_queries(session: Session) -> Iterator[list[str]]:
    """The parameters of every statement that reads the licence store, as text."""
    seen: list[str] = []
    engine = session.get_bind()

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "licences" in statement:
            seen.append(repr(parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


# --- a self-service applicant --------------------------------------------------------------


def test_an_applicant_learns_nothing_of_another_persons_licences_from_prefill(
    session: Session, runtime: Runtime, demo: None
) -> None:
    me = applicant(PERSON_1)
    holder = _marriage(session, runtime, me, groom=PERSON_2)  # holds an ID card, a register and a 结婚证
    nobody = _marriage(session, runtime, me, groom=STRANGER)  # holds nothing
    assert _materials(holder) == _materials(nobody)
    shown = repr(holder)
    assert "L2000025-20260101" not in shown and f"ID-{PERSON_2[-8:]}" not in shown and "HK-" + PERSON_2[-8:] not in shown
    groom_card = next(m for m in holder.materials if m.name == "男方居民身份证")
    assert not groom_card.waived and "由部门通过电子证照库核验" in groom_card.reason
    # the applicant's own licences are still linked and shown
    own = next(m for m in holder.materials if m.name == "女方居民身份证")
    assert own.waived and f"ID-{PERSON_1[-8:]}" in own.reason
    assert holder.values["bride_name"].value == "测试甲" and "groom_name" not in holder.values


def test_an_applicants_post_death_prefill_is_no_dead_or_alive_oracle(
    session: Session, runtime: Runtime, demo: None
) -> None:
    deceased, living = synthetic_person(4), synthetic_person(5)
    _licence(session, runtime, "L2000031", deceased, "SW-0001", deceased_name="测试丁")
    session.commit()

    def ask(who: str) -> PrefillResult:
        return prefill_application(
            session, runtime, bundle_id="post_death", applicant=Applicant(synthetic_person(3), "person"),
            actor=applicant(synthetic_person(3)),
            answers={"deceased_id_number": who, "death_kind": "natural", "was_retired_employee": True},
        )

    dead, alive = ask(deceased), ask(living)
    assert _materials(dead) == _materials(alive)
    assert "SW-0001" not in repr(dead) and "居民死亡医学证明（推断）书 SW" not in repr(dead)


def test_the_licence_store_is_not_asked_about_other_people_for_an_applicant(
    session: Session, runtime: Runtime, demo: None
) -> None:
    with licence_queries(session) as seen:
        _marriage(session, runtime, applicant(PERSON_1), groom=PERSON_2)
        accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(PERSON_1, "person"),
                    actor=applicant(PERSON_1),
                    answers=marriage_answers(groom_id_number=PERSON_2, bride_id_number=PERSON_1, groom_name="测试乙",
                                             bride_name="测试甲"))
    assert seen, "the applicant's own licences are looked up"
    assert not [params for params in seen if PERSON_2 in params]


def test_a_clerk_sees_other_peoples_licences_and_the_read_is_logged(
    session: Session, runtime: Runtime, demo: None
) -> None:
    result = _marriage(session, runtime, CLERK, groom=PERSON_2)
    groom_card = next(m for m in result.materials if m.name == "男方居民身份证")
    assert groom_card.waived and f"ID-{PERSON_2[-8:]}" in groom_card.reason
    assert result.values["groom_name"].value == "测试乙"
    records = session.execute(select(AccessRecord.actor_id, AccessRecord.role, AccessRecord.case_id,
                                     AccessRecord.what)).all()
    assert len(records) == 1
    actor_id, role, case_id, what = records[0]
    assert (actor_id, role, case_id) == (CLERK.id, "clerk", None)
    assert what.startswith("prefill marriage") and PERSON_2 not in what and PERSON_2[-4:] in what
    # an applicant's prefill reads nobody else's data: nothing to record
    _marriage(session, runtime, applicant(PERSON_1), groom=PERSON_2)
    assert len(session.execute(select(AccessRecord.id)).all()) == 1


def _finished_registration(session: Session, runtime: Runtime, *, by: Actor) -> Case:
    """A marriage case of GROOM whose registration is done (both spouses hold a 结婚证)."""
    _licence(session, runtime, "L2000016", BRIDE, "ID-BRIDE-1", name="测试乙")
    session.commit()
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(), actor=by, region="430102")
    registration = case.steps[0]
    civil = officer("11")
    claim_step(session, runtime, step_id=registration.id, actor=civil)
    complete_step(session, runtime, step_id=registration.id, actor=civil, outputs={"number": "J430102-2026-000123"})
    return case


def test_the_applicant_reads_only_their_own_certificate_numbers(session: Session, runtime: Runtime) -> None:
    case = _finished_registration(session, runtime, by=applicant(GROOM))
    me = applicant(GROOM)
    status = case_status(session, runtime, case_id=case.id, actor=me)
    registration = next(s for s in status.steps if s.step_key == "marriage_registration")
    assert registration.result == "结婚证 J430102-2026-000123-1"
    detail = step_detail(session, runtime, step_id=registration.id, actor=me)
    assert detail.outputs == {"licences": [{"type": "L2000025", "number": "J430102-2026-000123-1", "holder": GROOM}]}
    assert detail.assigned_to is None
    household = next(s for s in status.steps if s.step_key == "marital_status_change")
    materials = step_detail(session, runtime, step_id=household.id, actor=me).materials
    assert BRIDE not in repr(materials) and "J430102-2026-000123-2" not in repr(materials)
    bride_register = next(m for m in materials if m.name == "女方居民户口簿")
    assert not bride_register.waived and "由部门通过电子证照库核验" in bride_register.reason
    certificate = next(m for m in materials if m.name == "结婚证")  # the groom's own: linked, with its number
    assert certificate.waived and "J430102-2026-000123-1" in certificate.reason
    # staff see both spouses' certificates
    staff = case_status(session, runtime, case_id=case.id, actor=CLERK)
    assert next(s for s in staff.steps if s.step_key == "marriage_registration").result == \
        "结婚证 J430102-2026-000123-1 J430102-2026-000123-2"


def test_documents_carry_no_licence_numbers(session: Session, runtime: Runtime) -> None:
    case = _finished_registration(session, runtime, by=CLERK)
    spec = runtime.spec_for(session, case)
    session.refresh(case)
    for html in (render_receipt(case, spec, runtime.registry),):
        assert "J430102-2026-000123" not in html and BRIDE not in html
    from engine.machine.actions import withdraw_case

    withdraw_case(session, runtime, case_id=case.id, actor=CLERK)
    session.refresh(case)
    notice = render_completion_notice(case, spec, runtime.registry)
    assert "J430102-2026-000123" not in notice and BRIDE not in notice


# --- officers ------------------------------------------------------------------------------


def test_an_officer_sees_other_departments_steps_only_as_progress(session: Session, runtime: Runtime) -> None:
    case = _finished_registration(session, runtime, by=CLERK)
    health = officer("23")  # 卫健: the birth-plan registration
    status = case_status(session, runtime, case_id=case.id, actor=health)
    registration = next(s for s in status.steps if s.step_key == "marriage_registration")
    assert (registration.state, registration.department_name) == ("done", "民政局")
    assert registration.result == "" and registration.reason == "" and registration.supplement_requested == ()
    assert "J430102" not in repr(status) and GROOM not in repr(status)
    own = next(s for s in status.steps if s.step_key == "birth_plan_registration")
    assert own.state == "ready" and own.due_on is not None
    # the registration's own department sees its result
    civil = case_status(session, runtime, case_id=case.id, actor=officer("11"))
    assert next(s for s in civil.steps if s.step_key == "marriage_registration").result.startswith("结婚证 J430102")


def test_officers_read_no_case_documents(session: Session, runtime: Runtime) -> None:
    case = _finished_registration(session, runtime, by=CLERK)
    with pytest.raises(Forbidden) as refused:
        document_case(session, runtime, case_id=case.id, actor=officer("11"), what="receipt")
    assert case.receipt_no not in refused.value.message
    assert document_case(session, runtime, case_id=case.id, actor=CLERK, what="receipt").id == case.id
    assert document_case(session, runtime, case_id=case.id, actor=applicant(GROOM), what="receipt").id == case.id


def test_outside_ones_scope_a_case_is_answered_as_missing(session: Session, runtime: Runtime) -> None:
    case = accept_case(session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person", "测试丙"),
                       answers=post_death_answers(), actor=CLERK)
    missing = "0" * 32
    strangers = [
        Actor(id="clerk-far", role=Role.CLERK, region="430200"),
        Actor(id="supervisor-far", role=Role.SUPERVISOR, region="430200"),
        Actor(id="officer-30", role=Role.OFFICER, department="30", region="430102"),  # no step in the case
        Actor(id="officer-23-far", role=Role.OFFICER, department="23", region="430200"),
        applicant(GROOM),
    ]
    for who in strangers:
        with pytest.raises(NotFound) as outside:
            check_case_scope(session, actor=who, case_id=case.id)
        with pytest.raises(NotFound) as nowhere:
            check_case_scope(session, actor=who, case_id=missing)
        assert outside.value.message.replace(case.id, "X") == nowhere.value.message.replace(missing, "X")
        assert outside.value.field == nowhere.value.field == "case_id"
        assert case.receipt_no not in outside.value.message
    death = next(s for s in case.steps if s.step_key == "death_certificate")
    for who in [*strangers, officer("11")]:  # 民政 works in the case, but not on this step
        with pytest.raises(NotFound) as outside:
            check_step_scope(session, actor=who, step_id=death.id)
        assert outside.value.message == f"no step {death.id}" and outside.value.field == "step_id"
    assert DECEASED  # the deceased's data never appears in these answers
