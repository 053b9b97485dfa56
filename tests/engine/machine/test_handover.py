"""出件: the receiving window hands out a finished case's results, once, on both backends.

A 430102 clerk receives a marriage case for a couple of 衡阳 (430405: 异地代收); the offices decide
its steps; the results are handed out in 430102, to the applicant or an agent whose ID number is
only ever shown masked, at the window or by post; a second hand-over is refused naming the first.
Refusals are asked of the engine directly (no HTTP).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, Handover, Step
from engine.errors import Conflict, DomainError, Forbidden, IllegalTransition, NotFound
from engine.machine.actions import claim_step, complete_step, reject_step
from engine.machine.handover import hand_over, handover_of, may_hand_over
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, CaseState, Role, StepState
from engine.people.identifiers import make_id_number, mask_id_number
from engine.records.audit import verify_audit
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from tests.engine.sample_people import CLERK, another_couple, applicant, marriage_answers

HOME_CLERK = Actor(id="clerk-hengyang", role=Role.CLERK, region="430405")
FAR_CLERK = Actor(id="clerk-zhuzhou", role=Role.CLERK, region="430200")
AGENT = make_id_number("430102", date(1970, 6, 1), 33)


def province_officer(department: str) -> Actor:
    """An officer of the department at the province: their region covers every office of it."""
    return Actor(id=f"officer-43-{department}", role=Role.OFFICER, department=department, region="430000")


def fresh(session: Session, case_id: str) -> Case:
    case = session.get_one(Case, case_id, populate_existing=True)
    session.scalars(select(Step).where(Step.case_id == case_id).execution_options(populate_existing=True)).all()
    return case


def received(session: Session, runtime: Runtime, *, region: str = "430102", clerk: Actor = CLERK) -> Case:
    """A marriage case (no household move, no birth plan) of a new couple of ``region``, received by ``clerk``."""
    couple = another_couple()
    answers = marriage_answers(**couple, move_household=False, register_birth_plan=False)
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(str(couple["groom_id_number"]), "person"),
                       answers=answers, actor=clerk, region=region)


def work_off(session: Session, runtime: Runtime, case: Case, *, reject: str | None = None) -> Case:
    """Every step decided by its department's province officer (``reject``: that step refused)."""
    for _ in range(10):
        case = fresh(session, case.id)
        ready = [s for s in case.steps if s.state == StepState.READY.value]
        if not ready:
            break
        for step in ready:
            officer = province_officer(step.department)
            claim_step(session, runtime, step_id=step.id, actor=officer)
            if step.step_key == reject:
                reject_step(session, runtime, step_id=step.id, actor=officer, reason="不符合条件")
            else:
                complete_step(session, runtime, step_id=step.id, actor=officer)
    return fresh(session, case.id)


@pytest.fixture
def finished(session: Session, runtime: Runtime) -> Case:
    """A case a 430102 clerk received for a 衡阳 (430405) couple, every step done."""
    case = work_off(session, runtime, received(session, runtime, region="430405"))
    assert case.state == CaseState.COMPLETED.value and case.received_in == "430102" and case.region == "430405"
    return case


def events(session: Session, case_id: str, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.action == action)))


def test_the_receiving_window_hands_the_results_to_the_applicant(session: Session, runtime: Runtime, finished: Case,
                                                                 clock: FixedClock) -> None:
    assert may_hand_over(session, CLERK, finished)
    clock.advance(hours=2)
    view = hand_over(session, runtime, case_id=finished.id, actor=CLERK, recipient="applicant", method="window")

    assert (view.recipient, view.method, view.region, view.handed_at) == ("applicant", "window", "430102", clock.now())
    assert view.handed_by == CLERK.id and view.recipient_label == "申请人本人" and view.method_label == "窗口领取"
    case = fresh(session, finished.id)
    assert case.state == CaseState.COMPLETED.value  # the state stays
    [event] = events(session, case.id, "case.hand_over")
    assert (event.actor_id, event.from_state, event.to_state) == (CLERK.id, "completed", "completed")
    assert event.payload["handover"]["recipient"] == "applicant"
    assert verify_audit(session, case_id=case.id).ok
    assert not may_hand_over(session, CLERK, case)  # once


def test_an_agent_collects_and_their_id_number_is_masked_everywhere(session: Session, runtime: Runtime,
                                                                     finished: Case) -> None:
    view = hand_over(session, runtime, case_id=finished.id, actor=CLERK, recipient="agent", method="window",
                     agent_name="测试代", agent_id_number=AGENT.lower())
    assert view.agent_name == "测试代" and view.agent_id_number_masked == mask_id_number(AGENT)
    assert AGENT not in repr(view)
    [event] = events(session, finished.id, "case.hand_over")
    assert event.payload["handover"]["agent_id_number"] == mask_id_number(AGENT)
    assert AGENT not in str(event.payload)
    row = session.get_one(Handover, finished.id)
    assert row.agent_id_number == AGENT  # the evidence of who collected, kept in full, never shown
    owner = applicant(finished.applicant_id)
    read = handover_of(session, finished, viewer=owner)
    assert read is not None and read.handed_by is None and read.agent_id_number_masked == mask_id_number(AGENT)


def test_results_by_post_carry_the_tracking_number(session: Session, runtime: Runtime, finished: Case,
                                                   clock: FixedClock) -> None:
    with pytest.raises(DomainError) as missing:
        hand_over(session, runtime, case_id=finished.id, actor=CLERK, recipient="applicant", method="post")
    assert missing.value.field == "tracking_no"
    clock.advance(hours=1)
    posted_at = clock.now() - timedelta(minutes=30)  # after the case closed, before now
    view = hand_over(session, runtime, case_id=finished.id, actor=CLERK, recipient="applicant", method="post",
                     tracking_no="SF1234567890", handed_at=posted_at)
    assert (view.method, view.tracking_no, view.handed_at) == ("post", "SF1234567890", posted_at)


@pytest.mark.parametrize(("given", "field"), [
    ({"recipient": "neighbour", "method": "window"}, "recipient"),
    ({"recipient": "applicant", "method": "courier"}, "method"),
    ({"recipient": "agent", "method": "window", "agent_id_number": AGENT}, "agent_name"),
    ({"recipient": "agent", "method": "window", "agent_name": "测试代"}, "agent_id_number"),
    ({"recipient": "agent", "method": "window", "agent_name": "测试代", "agent_id_number": AGENT[:-1] + "0"},
     "agent_id_number"),
    ({"recipient": "applicant", "method": "window", "agent_name": "测试代"}, "agent_name"),
    ({"recipient": "applicant", "method": "window", "tracking_no": "SF1234567890"}, "tracking_no"),
    ({"recipient": "applicant", "method": "post", "tracking_no": "顺丰"}, "tracking_no"),
    ({"recipient": "applicant", "method": "window", "note": "x" * 501}, "note"),
])
def test_bad_input_is_refused_naming_the_field(session: Session, runtime: Runtime, finished: Case,
                                               given: dict[str, str], field: str) -> None:
    with pytest.raises(DomainError) as refused:
        hand_over(session, runtime, case_id=finished.id, actor=CLERK, **given)  # type: ignore[arg-type]
    assert refused.value.field == field and " / " in refused.value.message
    assert session.get(Handover, finished.id) is None


def test_a_hand_over_in_the_future_or_before_the_case_closed_is_refused(session: Session, runtime: Runtime,
                                                                        finished: Case, clock: FixedClock) -> None:
    assert finished.closed_at is not None
    for when in (clock.now() + timedelta(hours=1), finished.closed_at - timedelta(minutes=1)):
        with pytest.raises(DomainError) as refused:
            hand_over(session, runtime, case_id=finished.id, actor=CLERK, recipient="applicant", method="window",
                      handed_at=when)
        assert refused.value.field == "handed_at"


def test_a_second_hand_over_is_refused_naming_the_first(session: Session, runtime: Runtime, finished: Case,
                                                        clock: FixedClock) -> None:
    hand_over(session, runtime, case_id=finished.id, actor=CLERK, recipient="applicant", method="post",
              tracking_no="EMS-20260302-01")
    seq = fresh(session, finished.id).audit_seq
    with pytest.raises(Conflict) as again:
        hand_over(session, runtime, case_id=finished.id, actor=CLERK, recipient="applicant", method="window")
    assert "2026-03-02" in again.value.message and "post" in again.value.message and "邮寄送达" in again.value.message
    assert fresh(session, finished.id).audit_seq == seq
    assert session.get_one(Handover, finished.id).method == "post"


def test_an_open_case_has_nothing_to_hand_out(session: Session, runtime: Runtime) -> None:
    case = received(session, runtime)
    assert not may_hand_over(session, CLERK, case)
    with pytest.raises(IllegalTransition, match="cannot hand over a case that is accepted"):
        hand_over(session, runtime, case_id=case.id, actor=CLERK, recipient="applicant", method="window")


def test_a_partially_completed_case_hands_out_what_it_issued(session: Session, runtime: Runtime) -> None:
    case = work_off(session, runtime, received(session, runtime), reject="marital_status_change")
    assert case.state == CaseState.PARTIALLY_COMPLETED.value
    assert hand_over(session, runtime, case_id=case.id, actor=CLERK, recipient="applicant", method="window")


def test_only_the_receiving_window_hands_out(session: Session, runtime: Runtime, finished: Case) -> None:
    # the applicant's home window sees the case (its region's) but did not receive it
    assert not may_hand_over(session, HOME_CLERK, finished)
    with pytest.raises(Forbidden, match="430102"):
        hand_over(session, runtime, case_id=finished.id, actor=HOME_CLERK, recipient="applicant", method="window")
    # a window elsewhere does not even see it
    assert not may_hand_over(session, FAR_CLERK, finished)
    with pytest.raises(NotFound):
        hand_over(session, runtime, case_id=finished.id, actor=FAR_CLERK, recipient="applicant", method="window")
    # the applicant, an officer who worked a step, an admin: not their act
    for who in (applicant(finished.applicant_id), province_officer("11"),
                Actor(id="admin", role=Role.ADMIN)):
        assert not may_hand_over(session, who, finished)
        with pytest.raises(Forbidden):
            hand_over(session, runtime, case_id=finished.id, actor=who, recipient="applicant", method="window")
    assert session.get(Handover, finished.id) is None
    assert hand_over(session, runtime, case_id=finished.id, actor=CLERK, recipient="applicant", method="window")


def test_a_case_the_applicant_filed_themselves_is_handed_out_in_its_region(session: Session, runtime: Runtime) -> None:
    couple = another_couple()
    groom = str(couple["groom_id_number"])
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(groom, "person"),
                       answers=marriage_answers(**couple, move_household=False, register_birth_plan=False),
                       actor=applicant(groom), region="430102")
    case = work_off(session, runtime, case)
    assert case.received_in is None
    assert may_hand_over(session, CLERK, case)
    assert hand_over(session, runtime, case_id=case.id, actor=CLERK, recipient="applicant", method="window").region == "430102"
