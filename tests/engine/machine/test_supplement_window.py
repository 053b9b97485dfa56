"""A 补正 hand-in window that passes without the materials (逾期未补正，视为撤回申请), driven
through the real actions and the sweep with an injected clock jumping days across the 2026
Qingming holiday, on SQLite and PostgreSQL.

A notice sent on Thursday 2 April with a 5-working-day window must be answered by Friday 10 April
(3, 7, 8, 9, 10 April; 4–6 April off): the sweep of the 10th leaves it alone, the first sweep of
the 11th closes the step as withdrawn, its dependents are cancelled as after any failed
prerequisite, and the case goes on (or, under ``reject_case``, is rejected).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, Step
from engine.errors import IllegalTransition
from engine.machine.actions import complete_step, hand_in_supplement, receive_supplement, request_supplement
from engine.machine.intake import Applicant, accept_case
from engine.machine.permissions import allowed_actions
from engine.machine.states import CaseState, Role, StepState
from engine.machine.timers import lapse_supplement_windows
from engine.records.audit import verify_audit
from engine.records.labels import plain_reason
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec, TimeLimit
from engine.time.calendar import TimeUnit, WorkingCalendar
from engine.time.clock import FixedClock
from tests.engine.machine.test_entries import COMPANY, hiring_answers, steps_of
from tests.engine.sample_people import CLERK, GROOM, applicant, decider
from tests.engine.supplements import bring_supplement, hand_in_all
from tests.engine.machine.test_time import THURSDAY_BEFORE_QINGMING, events, step_of, work

LAST_DAY = date(2026, 4, 10)
"""The fifth working day after 2 April: the last day to hand in."""

WINDOW_BUNDLE: dict[str, Any] = {
    "id": "window_demo",
    "version": 1,
    "name": {"zh": "补正期限测试事项", "en": "补正 window test bundle"},
    "applicant_kind": "person",
    "time_limit": {"working_days": 30},
    "fields": [{"field": "groom_name"}, {"field": "groom_id_number"}],
    "steps": [
        {"id": "review", "item": "11-JHDJ", "time_limit": {"working_days": 20},
         "supplement_window": {"working_days": 5}},
        {"id": "check", "item": "09-HYZK", "time_limit": {"working_days": 20}},  # beside it, no window
        {"id": "decide", "item": "23-SYDJ", "depends_on": ["review"], "time_limit": {"working_days": 3}},
    ],
}


def window_runtime(registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock, **changes: Any) -> Runtime:
    spec = BundleSpec.model_validate({**WINDOW_BUNDLE, **changes})
    custom = BundleRegistry(catalog=registry.catalog, fields=registry.fields, bundles={spec.id: spec})
    return Runtime(registry=custom, calendar=calendar, clock=clock)


def start(session: Session, runtime: Runtime) -> Case:
    publish_bundles(session, runtime)
    return accept_case(session, runtime, bundle_id="window_demo", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)


def ask(session: Session, runtime: Runtime, clock: FixedClock, case: Case, key: str = "review") -> Step:
    """The step's officer asks for 户口簿 on the Thursday before Qingming."""
    step = step_of(case, key)
    desk = work(session, runtime, step)
    clock.set_local(THURSDAY_BEFORE_QINGMING)
    request_supplement(session, runtime, step_id=step.id, actor=desk, materials=["户口簿"])
    return step


def sweep_on(session: Session, runtime: Runtime, clock: FixedClock, day: date) -> list[str]:
    clock.set_local(day)
    return lapse_supplement_windows(session, runtime)


def test_a_passed_window_withdraws_the_step_and_cancels_its_dependents(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = window_runtime(registry, calendar, clock)
    case = start(session, runtime)
    review = ask(session, runtime, clock, case)
    assert review.supplement["hand_in_by"] == LAST_DAY.isoformat()
    assert case.state == CaseState.SUPPLEMENT_REQUESTED and case.clock_stopped_on == THURSDAY_BEFORE_QINGMING

    assert sweep_on(session, runtime, clock, date(2026, 4, 7)) == []
    assert sweep_on(session, runtime, clock, LAST_DAY) == []  # the last day is still in time
    session.refresh(review)
    assert review.state == StepState.SUPPLEMENT_REQUESTED

    assert sweep_on(session, runtime, clock, LAST_DAY + timedelta(days=1)) == [review.id]  # Saturday the 11th
    session.expire_all()
    review, decide, check = step_of(case, "review"), step_of(case, "decide"), step_of(case, "check")
    assert review.state == StepState.CANCELLED and review.closed_at is not None
    assert "2026-04-10" in review.reason and "视为撤回" in review.reason and "treated as withdrawn" in review.reason
    assert review.supplement["lapsed_on"] == "2026-04-11"
    # the dependent is cancelled as after any failed prerequisite; the step beside it goes on
    assert (decide.state, decide.reason) == (StepState.CANCELLED, "prerequisite review was cancelled")
    assert check.state == StepState.READY
    # the notice's stopped bundle clock runs again, the five stopped working days added
    assert (case.state, case.clock_stopped_on, case.paused_days) == (CaseState.IN_PROGRESS, None, 5)

    lapses = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                      AuditEvent.action == "step.lapse_supplement")).all()
    assert len(lapses) == 1
    lapse = lapses[0]
    assert (lapse.role, lapse.from_state, lapse.to_state) == (Role.SYSTEM.value, "supplement_requested", "cancelled")
    assert lapse.payload["supplement"] == {"lapsed": "2026-04-10", "requested": ["户口簿"]}
    assert lapse.payload["reason"] == review.reason
    assert verify_audit(session, case_id=case.id).ok

    # a second pass finds nothing; the case ends as its other steps do
    assert sweep_on(session, runtime, clock, date(2026, 4, 13)) == []
    complete_step(session, runtime, step_id=check.id, actor=work(session, runtime, check))
    assert case.state == CaseState.PARTIALLY_COMPLETED


def test_materials_handed_in_on_the_last_day_do_not_lapse(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = window_runtime(registry, calendar, clock)
    case = start(session, runtime)
    review = ask(session, runtime, clock, case)
    clock.set_local(LAST_DAY)
    hand_in_all(session, runtime, review)
    # handed in on time: the window passes while the receipt waits for the officer, and nothing lapses
    assert sweep_on(session, runtime, clock, date(2026, 4, 13)) == []
    session.refresh(review)
    assert review.state == StepState.SUPPLEMENT_REQUESTED
    receive_supplement(session, runtime, step_id=review.id, actor=decider(review))
    assert review.state == StepState.IN_PROGRESS  # §32: counted afresh from the officer's confirmation
    assert review.due_on == runtime.calendar.add_working_days(date(2026, 4, 13), 20)
    assert sweep_on(session, runtime, clock, date(2026, 6, 1)) == []
    session.refresh(review)
    assert review.state == StepState.IN_PROGRESS and "lapsed_on" not in review.supplement
    assert events(session, case, "step.lapse_supplement") == []


def test_a_hand_in_after_the_window_is_refused_and_the_sweep_then_withdraws_the_step(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = window_runtime(registry, calendar, clock)
    case = start(session, runtime)
    review = ask(session, runtime, clock, case)
    clock.set_local(date(2026, 4, 13))  # the window ended on Friday; the sweep has not run yet
    version = review.version
    with pytest.raises(IllegalTransition, match="视为撤回申请"):
        hand_in_supplement(session, runtime, step_id=review.id, actor=CLERK, material="户口簿", paper=True)
    session.refresh(review)
    assert (review.state, review.version) == (StepState.SUPPLEMENT_REQUESTED, version)
    assert lapse_supplement_windows(session, runtime) == [review.id]
    session.refresh(review)
    assert review.state == StepState.CANCELLED
    assert allowed_actions(applicant(GROOM), review, case=case, spec=runtime.spec_for(session, case)) == []


def test_a_step_without_a_window_never_lapses(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = window_runtime(registry, calendar, clock)
    case = start(session, runtime)
    check = ask(session, runtime, clock, case, key="check")
    assert "hand_in_by" not in check.supplement
    for day in (date(2026, 4, 13), date(2026, 7, 1), date(2027, 3, 1)):
        assert sweep_on(session, runtime, clock, day) == []
    session.refresh(check)
    assert check.state == StepState.SUPPLEMENT_REQUESTED
    # handed in a year later: still received, and its clock restarts (§32)
    bring_supplement(session, runtime, check)
    assert check.state == StepState.IN_PROGRESS and check.due_on == calendar.add_working_days(date(2027, 3, 1), 20)


def test_under_reject_case_a_lapse_rejects_the_case(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = window_runtime(registry, calendar, clock, on_step_rejected="reject_case")
    case = start(session, runtime)
    review = ask(session, runtime, clock, case)
    assert sweep_on(session, runtime, clock, date(2026, 4, 13)) == [review.id]
    session.expire_all()
    check = step_of(case, "check")
    assert case.state == CaseState.REJECTED and case.closed_at is not None
    assert check.state == StepState.CANCELLED and check.reason == "case rejected: step review was deemed withdrawn"
    assert plain_reason(check.reason, {"review": "结婚登记"}.__getitem__) == "因“结婚登记”逾期未补正视为撤回，本件事终止"
    rejected = events(session, case, "case.reject")[0]
    assert rejected["step"] == "review" and "视为撤回" in rejected["reason"]
    assert verify_audit(session, case_id=case.id).ok


def test_a_lapse_cancels_that_entrys_chain_only(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    """Hiring (43TCP0014): employee 甲's 参保登记 lapses; only 甲's 社保卡 step is cancelled."""
    hiring = registry.bundles["hiring"]
    steps = [s.model_copy(update={"supplement_window": TimeLimit(amount=2, unit=TimeUnit.WORKING_DAYS)})
             if s.id == "pension_insurance_registration" else s for s in hiring.steps]
    spec = BundleSpec.model_validate({**hiring.model_dump(), "steps": [s.model_dump() for s in steps]})
    runtime = Runtime(registry=registry, calendar=calendar, clock=clock).with_draft(spec)
    case = accept_case(session, runtime, bundle_id="hiring", applicant=Applicant(COMPANY, "enterprise", "示例科技有限公司"),
                       answers=hiring_answers(), actor=CLERK)
    first, second, _third = steps_of(case, "pension_insurance_registration")
    desk = work(session, runtime, first)
    request_supplement(session, runtime, step_id=first.id, actor=desk, materials=["参保登记申请表"])
    assert first.supplement["hand_in_by"] == "2026-03-04"  # Monday 2 March + 2 working days
    complete_step(session, runtime, step_id=second.id, actor=work(session, runtime, second))

    assert sweep_on(session, runtime, clock, date(2026, 3, 5)) == [first.id]
    session.expire_all()
    cards = steps_of(case, "social_security_card")
    assert [c.state for c in cards] == [StepState.CANCELLED, StepState.READY, StepState.PENDING]
    assert cards[0].reason == "prerequisite pension_insurance_registration was cancelled"
    assert case.state == CaseState.IN_PROGRESS
    assert verify_audit(session, case_id=case.id).ok
