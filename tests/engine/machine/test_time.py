"""Time rules of a bundle, driven through the real actions with an injected clock that jumps days
across the 2026 Qingming holiday (Sat 4 – Mon 6 April, State Council schedule), on SQLite and
PostgreSQL: the one-time 补正 notice and its hand-in window, the bundle clock during §45 excluded
steps, minimum waits in working days, waits a declaration ends or an objection interrupts, and
§42 extensions."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, Step
from engine.errors import DomainError, Forbidden, IllegalTransition
from engine.machine.actions import (
    approve_extension,
    claim_step,
    complete_step,
    declare_no_objection,
    raise_objection,
    refuse_extension,
    reject_step,
    request_extension,
    request_supplement,
    start_step,
)
from engine.machine.intake import Applicant, accept_case
from engine.machine.permissions import allowed_actions
from engine.machine.states import Actor, CaseState, Role, StepState
from engine.machine.timers import release_due_timers
from engine.records.audit import verify_audit
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from tests.engine.sample_people import CLERK, GROOM, applicant, officer
from tests.engine.supplements import bring_supplement

THURSDAY_BEFORE_QINGMING = date(2026, 4, 2)
"""Working days after it: Fri 3, (Sat 4 – Mon 6 off), Tue 7, Wed 8, Thu 9, Fri 10 April."""
SUPERVISOR = Actor(id="supervisor-1", role=Role.SUPERVISOR, region="430102")

TIMED_BUNDLE: dict[str, Any] = {
    "id": "timed_demo",
    "version": 1,
    "name": {"zh": "时限测试事项", "en": "Time rules test bundle"},
    "applicant_kind": "person",
    "time_limit": {"working_days": 30},
    "max_extension": {"working_days": 10},
    "fields": [{"field": "groom_name"}, {"field": "groom_id_number"}],
    "steps": [
        {"id": "review", "item": "11-JHDJ", "time_limit": {"working_days": 20},
         "supplement_window": {"working_days": 5}},
        {"id": "publicity", "item": "23-SYDJ", "kind": "timer", "depends_on": ["review"],
         "min_wait": {"working_days": 5}, "time_limit": {"working_days": 5},
         "on_no_objection": "end_wait", "on_objection": "officer_decides"},
        {"id": "decide", "item": "09-HYZK", "depends_on": ["publicity"], "time_limit": {"working_days": 3}},
    ],
}

PARALLEL_BUNDLE: dict[str, Any] = {
    "id": "parallel_demo",
    "version": 1,
    "name": {"zh": "听证并行测试事项", "en": "Hearing beside counted work"},
    "applicant_kind": "person",
    "time_limit": {"working_days": 20},
    "fields": [{"field": "groom_name"}, {"field": "groom_id_number"}],
    "steps": [
        {"id": "hearing", "item": "11-JHDJ", "time_limit": {"working_days": 10}, "excluded_from_limit": True},
        {"id": "check", "item": "09-HYZK", "time_limit": {"working_days": 5}},
        {"id": "final", "item": "23-SYDJ", "depends_on": ["hearing", "check"], "time_limit": {"working_days": 3}},
    ],
}


PHASED_BUNDLE: dict[str, Any] = {
    "id": "phased_demo",
    "version": 1,
    "name": {"zh": "分阶段测试事项", "en": "An item in phases"},
    "applicant_kind": "person",
    "time_limit": {"working_days": 30},
    "fields": [{"field": "groom_name"}, {"field": "groom_id_number"}],
    "steps": [
        {"id": "phase_one", "item": "11-JHDJ", "time_limit": {"working_days": 20}},
        # one limit over both phases: the second counts from the first's release
        {"id": "phase_two", "item": "09-HYZK", "depends_on": ["phase_one"], "time_limit": {"working_days": 20},
         "clock_from": {"step": "phase_one", "event": "released"}},
        # a deadline set by an earlier step: 30 days from phase one's completion
        {"id": "notify", "item": "23-SYDJ", "depends_on": ["phase_two"], "time_limit": {"calendar_days": 30},
         "clock_from": {"step": "phase_one", "event": "done"}},
    ],
}


def timed_runtime(registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock,
                  **changes: Any) -> Runtime:
    specs = [BundleSpec.model_validate({**TIMED_BUNDLE, **changes}), BundleSpec.model_validate(PARALLEL_BUNDLE),
             BundleSpec.model_validate(PHASED_BUNDLE)]
    custom = BundleRegistry(catalog=registry.catalog, fields=registry.fields, bundles={s.id: s for s in specs})
    return Runtime(registry=custom, calendar=calendar, clock=clock)


def start(session: Session, runtime: Runtime, bundle_id: str = "timed_demo") -> Case:
    publish_bundles(session, runtime)
    return accept_case(session, runtime, bundle_id=bundle_id, applicant=Applicant(GROOM, "person", "测试甲"),
                       answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)


def step_of(case: Case, key: str) -> Step:
    return next(s for s in case.steps if s.step_key == key)


def work(session: Session, runtime: Runtime, step: Step) -> Actor:
    desk = officer(step.department)
    claim_step(session, runtime, step_id=step.id, actor=desk)
    start_step(session, runtime, step_id=step.id, actor=desk)
    return desk


def events(session: Session, case: Case, action: str) -> list[dict[str, Any]]:
    query = select(AuditEvent.payload).where(AuditEvent.case_id == case.id, AuditEvent.action == action)
    return [dict(p) for p in session.scalars(query.order_by(AuditEvent.seq))]


def to_publicity(session: Session, runtime: Runtime, clock: FixedClock) -> tuple[Case, Step]:
    """A case whose review is done on the Thursday before Qingming: its publicity is released."""
    case = start(session, runtime)
    review = step_of(case, "review")
    desk = work(session, runtime, review)
    clock.set_local(THURSDAY_BEFORE_QINGMING)
    complete_step(session, runtime, step_id=review.id, actor=desk)
    publicity = step_of(case, "publicity")
    assert publicity.state == StepState.READY
    return case, publicity


# --- 1. the one-time 补正 notice and the hand-in window ----------------------------------------------


def test_a_second_supplement_notice_is_refused(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    case = start(session, runtime)
    review = step_of(case, "review")
    desk = work(session, runtime, review)
    clock.set_local(THURSDAY_BEFORE_QINGMING)
    request_supplement(session, runtime, step_id=review.id, actor=desk, materials=["户口簿"])
    # The window: 5 working days from the notice, the holiday skipped (3, 7, 8, 9, 10 April).
    assert review.supplement["hand_in_by"] == "2026-04-10"
    assert events(session, case, "step.request_supplement")[0]["supplement"]["hand_in_by"] == "2026-04-10"
    clock.set_local(date(2026, 4, 7))
    bring_supplement(session, runtime, review, officer=desk)
    assert review.state == StepState.IN_PROGRESS

    version = review.version
    with pytest.raises(IllegalTransition, match="一次性告知"):
        request_supplement(session, runtime, step_id=review.id, actor=desk, materials=["照片"])
    session.refresh(review)
    assert (review.state, review.version, review.supplement["requested"]) == (StepState.IN_PROGRESS, version, ["户口簿"])
    assert len(events(session, case, "step.request_supplement")) == 1
    assert verify_audit(session, case_id=case.id).ok


def test_a_bundle_may_allow_more_notices(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    steps = [dict(TIMED_BUNDLE["steps"][0], supplement_notices=2), *TIMED_BUNDLE["steps"][1:]]
    runtime = timed_runtime(registry, calendar, clock, steps=steps)
    case = start(session, runtime)
    review = step_of(case, "review")
    desk = work(session, runtime, review)
    for n, material in enumerate(["户口簿", "照片"], start=1):
        request_supplement(session, runtime, step_id=review.id, actor=desk, materials=[material])
        assert review.supplement["notices"] == n
        bring_supplement(session, runtime, review, officer=desk)
    with pytest.raises(IllegalTransition):
        request_supplement(session, runtime, step_id=review.id, actor=desk, materials=["证明"])


# --- 2. the bundle clock and §45 excluded steps -------------------------------------------------------


def test_an_excluded_step_stops_the_bundle_clock_only_while_nothing_counted_runs(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    clock.set_local(date(2026, 3, 30))  # Monday
    case = start(session, runtime, "parallel_demo")
    hearing, check = step_of(case, "hearing"), step_of(case, "check")
    assert hearing.state == check.state == StepState.READY
    # The counted check runs beside the hearing: the bundle's clock runs.
    assert case.clock_stopped_on is None and events(session, case, "case.stop_clock") == []
    due = case.due_on

    desk = work(session, runtime, check)
    clock.set_local(THURSDAY_BEFORE_QINGMING)
    complete_step(session, runtime, step_id=check.id, actor=desk)
    # Only the hearing runs now: its days do not count.
    assert case.clock_stopped_on == THURSDAY_BEFORE_QINGMING
    assert events(session, case, "case.stop_clock") == [{"clock_stopped_on": "2026-04-02"}]

    hearing_desk = work(session, runtime, hearing)
    clock.set_local(date(2026, 4, 8))  # Wednesday after the holiday: 3 working days (3, 7, 8 April)
    complete_step(session, runtime, step_id=hearing.id, actor=hearing_desk)
    assert events(session, case, "case.resume_clock")[0]["paused_days"] == {"added": 3, "total": 3}
    assert case.clock_stopped_on is None and case.paused_days == 3
    assert case.due_on == calendar.add_working_days(date(2026, 3, 30), 20 + 3) and case.due_on > (due or date.min)
    assert step_of(case, "final").state == StepState.READY


# --- 3. minimum waits in working days -----------------------------------------------------------------


def test_a_wait_in_working_days_skips_the_holiday(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    case, publicity = to_publicity(session, runtime, clock)
    # 5 working days from Thursday 2 April: Friday 10 April (5 calendar days would end on the 7th).
    assert publicity.not_before == date(2026, 4, 10)
    assert [e["not_before"] for e in events(session, case, "step.release") if "not_before" in e] == ["2026-04-10"]
    clock.set_local(date(2026, 4, 9))
    assert release_due_timers(session, runtime) == []
    clock.set_local(date(2026, 4, 10))
    assert release_due_timers(session, runtime) == [publicity.id]
    session.refresh(publicity)
    assert publicity.state == StepState.DONE and publicity.outputs["waited_until"] == "2026-04-10"


# --- 4. a wait a declaration ends, or an objection interrupts -----------------------------------------


def test_no_objection_ends_the_wait(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    case, publicity = to_publicity(session, runtime, clock)
    clock.set_local(date(2026, 4, 3))
    with pytest.raises(Forbidden):
        declare_no_objection(session, runtime, step_id=publicity.id, actor=officer(publicity.department))
    declare_no_objection(session, runtime, step_id=publicity.id, actor=applicant(GROOM))
    assert publicity.state == StepState.DONE and publicity.not_before == date(2026, 4, 3)
    ended = events(session, case, "step.end_wait")
    assert ended[0]["not_before"] == {"from": "2026-04-10", "to": "2026-04-03"}
    assert ended[0]["declared"] == "no_objection"
    assert publicity.outputs["ended_early"] == "no_objection"
    assert step_of(case, "decide").state == StepState.READY
    assert verify_audit(session, case_id=case.id).ok


def test_a_wait_the_bundle_does_not_let_end_early_is_kept(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    steps = [TIMED_BUNDLE["steps"][0],
             {k: v for k, v in TIMED_BUNDLE["steps"][1].items() if k not in ("on_no_objection", "on_objection")},
             TIMED_BUNDLE["steps"][2]]
    runtime = timed_runtime(registry, calendar, clock, steps=steps)
    case, publicity = to_publicity(session, runtime, clock)
    with pytest.raises(IllegalTransition, match="on_no_objection"):
        declare_no_objection(session, runtime, step_id=publicity.id, actor=applicant(GROOM))
    with pytest.raises(IllegalTransition, match="on_objection"):
        raise_objection(session, runtime, step_id=publicity.id, actor=CLERK, grounds="信息有误")
    session.refresh(publicity)
    assert (publicity.state, publicity.kind, publicity.not_before) == (StepState.READY, "timer", date(2026, 4, 10))


@pytest.mark.parametrize("upheld", [False, True])
def test_an_objection_turns_the_wait_into_an_officers_decision(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock, upheld: bool
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    case, publicity = to_publicity(session, runtime, clock)
    clock.set_local(date(2026, 4, 7))
    with pytest.raises(DomainError):
        raise_objection(session, runtime, step_id=publicity.id, actor=CLERK, grounds="  ")
    raise_objection(session, runtime, step_id=publicity.id, actor=CLERK, grounds="公示对象信息有误")
    assert (publicity.state, publicity.kind, publicity.not_before) == (StepState.READY, "human", None)
    assert publicity.outputs["objection"]["grounds"] == "公示对象信息有误"
    raised = events(session, case, "step.raise_objection")[0]
    assert raised["kind"] == {"from": "timer", "to": "human"}
    assert raised["not_before"] == {"from": "2026-04-10", "to": None}
    # The sweep leaves it alone now; an officer of the department decides, before the wait would have ended.
    assert release_due_timers(session, runtime) == []
    desk = work(session, runtime, publicity)
    if upheld:
        reject_step(session, runtime, step_id=publicity.id, actor=desk, reason="异议成立")
        assert step_of(case, "decide").state == StepState.CANCELLED
    else:
        complete_step(session, runtime, step_id=publicity.id, actor=desk, outputs={"decision": "异议不成立"})
        assert publicity.outputs["decision"] == "异议不成立"
        assert publicity.outputs["objection"]["grounds"] == "公示对象信息有误"  # kept beside the decision
        assert step_of(case, "decide").state == StepState.READY
    assert verify_audit(session, case_id=case.id).ok


# --- 5. §42 extensions --------------------------------------------------------------------------------


def test_an_extension_is_requested_approved_and_audited(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    clock.set_local(date(2026, 3, 20))  # Friday
    case = start(session, runtime)
    review = step_of(case, "review")
    assert review.due_on == date(2026, 4, 20)  # 20 working days, Qingming skipped
    desk = work(session, runtime, review)
    with pytest.raises(DomainError, match="reason"):
        request_extension(session, runtime, step_id=review.id, actor=desk, days=5, reason=" ")
    with pytest.raises(DomainError, match="at most 10"):
        request_extension(session, runtime, step_id=review.id, actor=desk, days=11, reason="需现场核查")
    with pytest.raises(Forbidden):
        request_extension(session, runtime, step_id=review.id, actor=SUPERVISOR, days=5, reason="需现场核查")
    with pytest.raises(IllegalTransition, match="no extension request"):
        approve_extension(session, runtime, step_id=review.id, actor=SUPERVISOR)

    request_extension(session, runtime, step_id=review.id, actor=desk, days=6, reason="需现场核查")
    assert review.due_on == date(2026, 4, 20)  # not before it is approved
    with pytest.raises(IllegalTransition, match="already waiting"):
        request_extension(session, runtime, step_id=review.id, actor=desk, days=1, reason="再延")
    with pytest.raises(Forbidden):
        approve_extension(session, runtime, step_id=review.id, actor=desk)
    approve_extension(session, runtime, step_id=review.id, actor=SUPERVISOR)
    assert review.due_on == date(2026, 4, 28)
    granted = events(session, case, "step.approve_extension")[0]
    assert granted["due"] == {"from": "2026-04-20", "to": "2026-04-28"}
    assert granted["extension"] == {"granted": 6, "reason": "需现场核查", "requested_by": desk.id, "total": 6}
    assert events(session, case, "step.request_extension")[0]["extension"] == {"requested": 6, "reason": "需现场核查"}

    # The rest of the bundle's maximum: 4 more days at most.
    with pytest.raises(DomainError, match="at most 4"):
        request_extension(session, runtime, step_id=review.id, actor=desk, days=5, reason="再延")
    request_extension(session, runtime, step_id=review.id, actor=desk, days=4, reason="再延")
    refuse_extension(session, runtime, step_id=review.id, actor=SUPERVISOR, reason="无正当理由")
    assert review.due_on == date(2026, 4, 28)
    assert events(session, case, "step.refuse_extension")[0]["extension"] == {"refused": 4, "reason": "无正当理由"}
    complete_step(session, runtime, step_id=review.id, actor=desk, outputs={"result": "ok"})
    assert review.outputs["extension"]["granted_days"] == 6  # the record outlives the completion
    assert case.state == CaseState.IN_PROGRESS
    assert verify_audit(session, case_id=case.id).ok


def test_a_bundle_without_a_maximum_extends_nothing(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock, max_extension=None)
    case = start(session, runtime)
    review = step_of(case, "review")
    desk = work(session, runtime, review)
    with pytest.raises(IllegalTransition, match="cannot be extended"):
        request_extension(session, runtime, step_id=review.id, actor=desk, days=1, reason="需现场核查")
    assert "extension" not in review.outputs


# --- what is offered ----------------------------------------------------------------------------------


def test_the_offered_actions_follow_the_bundle_and_the_step_record(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    case = start(session, runtime)
    spec = runtime.spec_for(session, case)
    review = step_of(case, "review")
    desk = work(session, runtime, review)
    assert allowed_actions(desk, review, case=case, spec=spec) == [
        "unclaim", "complete", "reject", "request_supplement", "request_extension"]
    # without the spec, the language's defaults: no extension is offered
    assert "request_extension" not in allowed_actions(desk, review, case=case)
    assert allowed_actions(SUPERVISOR, review, case=case, spec=spec) == ["unclaim", "reassign"]
    request_extension(session, runtime, step_id=review.id, actor=desk, days=2, reason="需现场核查")
    assert "request_extension" not in allowed_actions(desk, review, case=case, spec=spec)
    assert allowed_actions(SUPERVISOR, review, case=case, spec=spec) == [
        "unclaim", "reassign", "approve_extension", "refuse_extension"]
    approve_extension(session, runtime, step_id=review.id, actor=SUPERVISOR)
    request_supplement(session, runtime, step_id=review.id, actor=desk, materials=["户口簿"])
    bring_supplement(session, runtime, review, officer=desk)
    assert "request_supplement" not in allowed_actions(desk, review, case=case, spec=spec)  # the one notice is sent
    complete_step(session, runtime, step_id=review.id, actor=desk)
    publicity = step_of(case, "publicity")
    assert allowed_actions(applicant(GROOM), publicity, case=case, spec=spec) == ["end_wait", "raise_objection"]
    assert allowed_actions(applicant(GROOM), publicity, case=case) == []


# --- 6. clocks counted from another step's event; one limit over several phases ----------------------


def test_a_clock_counts_from_another_steps_event(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    clock.set_local(date(2026, 3, 30))  # Monday
    case = start(session, runtime, "phased_demo")
    one = step_of(case, "phase_one")
    assert one.due_on == date(2026, 4, 28)  # 20 working days from 30 March, 清明 (6 April) skipped
    desk = work(session, runtime, one)
    clock.set_local(THURSDAY_BEFORE_QINGMING)
    complete_step(session, runtime, step_id=one.id, actor=desk)
    two = step_of(case, "phase_two")
    # Released on 2 April, but its 20 working days are the same span as phase one's.
    assert (two.state, two.clock_start_on, two.due_on) == (StepState.READY, date(2026, 3, 30), date(2026, 4, 28))
    released = [e for e in events(session, case, "step.release") if e.get("step") == "phase_two"][0]
    assert released["clock_from"] == {"step": "phase_one", "event": "released", "on": "2026-03-30"}
    assert released["due"] == {"from": None, "to": "2026-04-28"}

    desk_two = work(session, runtime, two)
    clock.set_local(date(2026, 4, 8))
    complete_step(session, runtime, step_id=two.id, actor=desk_two)
    notify = step_of(case, "notify")
    # 30 calendar days from phase one's completion (2 April), not from its own release (8 April).
    assert (notify.clock_start_on, notify.due_on) == (THURSDAY_BEFORE_QINGMING, date(2026, 5, 2))
    assert verify_audit(session, case_id=case.id).ok
