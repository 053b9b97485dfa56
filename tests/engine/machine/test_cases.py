"""Case rules a user would notice: deadlines, 补正, rejection, withdrawal, idempotency, versions."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.db.models import BundleVersion, Case, OutboxMessage
from engine.machine.dispatch import Outcome, drain_outbox, process_message
from engine.errors import DomainError, IdempotencyConflict, IllegalTransition, StaleVersion, TooEarly
from engine.machine.handlers import HandlerContext, StepRefused, default_handlers
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime, SpecConflict, publish_bundles
from engine.spec.loader import BundleRegistry
from engine.machine.states import CaseState, StepState
from engine.machine.actions import (
    claim_step,
    complete_step,
    hand_in_supplement,
    receive_supplement,
    reject_step,
    request_supplement,
    withdraw_case,
)
from engine.machine.timers import release_due_timers
from tests.conftest import Database
from tests.engine.automated import automated_runtime
from tests.engine.sample_people import CHILD, CLERK, GROOM, another_couple, applicant, marriage_answers, officer, post_death_answers


def marriage(session: Session, runtime: Runtime, **answers: object) -> Case:
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                       answers=marriage_answers(**answers), actor=CLERK)


def step(case: Case, key: str, instance: int = 0):  # type: ignore[no-untyped-def]
    return next(s for s in case.steps if s.step_key == key and s.instance == instance)


def finish(session: Session, runtime: Runtime, case: Case, key: str, instance: int = 0) -> None:
    target = step(case, key, instance)
    actor = officer(target.department)
    claim_step(session, runtime, step_id=target.id, actor=actor)
    complete_step(session, runtime, step_id=target.id, actor=actor)


def test_due_dates_skip_spring_festival_and_count_make_up_saturdays(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    clock.set_local(date(2026, 2, 13))  # Friday before the 2026 Spring Festival
    case = marriage(session, runtime)
    # 15 working days from Fri 13 Feb 2026: Sat 14 Feb (调休) is day 1, 15-23 Feb are off,
    # 24-27 Feb are days 2-5, Sat 28 Feb (调休) is day 6, 2-6 March 7-11, 9-12 March 12-15.
    assert case.due_on == date(2026, 3, 12)
    # the registration step's 20 working days: 13 and 16-19 March are days 16-20
    assert step(case, "marriage_registration").due_on == date(2026, 3, 19)
    assert not case.due_provisional


def test_due_dates_in_a_year_without_an_official_schedule_are_provisional(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    clock.set_local(date(2026, 12, 18))  # 15 working days later is in January 2027
    case = marriage(session, runtime)
    assert case.due_provisional and step(case, "marriage_registration").due_provisional
    assert case.due_on.year == 2027


def test_supplement_stops_the_clock_and_restarts_it_from_receipt(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    case = marriage(session, runtime)  # Monday 2 March 2026
    registration = step(case, "marriage_registration")
    civil = officer("11")
    claim_step(session, runtime, step_id=registration.id, actor=civil)
    clock.set_local(date(2026, 3, 4))
    request_supplement(session, runtime, step_id=registration.id, actor=civil,
                       materials=["3张2寸男女双方近期半身免冠合影照片", "离婚证"], note="照片不清晰")
    session.refresh(case)
    assert case.state == CaseState.SUPPLEMENT_REQUESTED
    assert registration.state == StepState.SUPPLEMENT_REQUESTED
    assert registration.clock_stopped_on == date(2026, 3, 4) and case.clock_stopped_on == date(2026, 3, 4)
    hand_in_supplement(session, runtime, step_id=registration.id, actor=CLERK, material="3张2寸男女双方近期半身免冠合影照片",
                       paper=True)
    with pytest.raises(DomainError, match="still missing: 离婚证"):
        receive_supplement(session, runtime, step_id=registration.id, actor=civil)
    with pytest.raises(DomainError):  # another applicant may not hand in materials for this case
        hand_in_supplement(session, runtime, step_id=registration.id, actor=applicant(CHILD), material="离婚证",
                           paper=True)
    hand_in_supplement(session, runtime, step_id=registration.id, actor=CLERK, material="离婚证", paper=True)
    clock.set_local(date(2026, 3, 11))  # a week later (5 working days): the officer confirms the receipt
    receive_supplement(session, runtime, step_id=registration.id, actor=civil)
    session.refresh(case)
    assert case.state == CaseState.IN_PROGRESS and registration.state == StepState.IN_PROGRESS
    # §32: the step's 20 working days count again from the day the receipt was confirmed
    assert registration.clock_start_on == date(2026, 3, 11)
    assert registration.due_on == WorkingCalendar.default().add_working_days(date(2026, 3, 11), 20)
    # the bundle's clock was stopped for 5 working days (5 Mar to 11 Mar) and is extended by them
    assert case.paused_days == 5 and case.clock_stopped_on is None
    assert case.due_on == WorkingCalendar.default().add_working_days(date(2026, 3, 2), 20)


def test_rejection_cancels_dependents_and_the_rest_continues(session: Session, runtime: Runtime) -> None:
    case = accept_case(session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person"),
                       answers=post_death_answers(), actor=CLERK)
    finish(session, runtime, case, "death_certificate")
    household = step(case, "household_cancellation")
    police = officer("09")
    claim_step(session, runtime, step_id=household.id, actor=police)
    with pytest.raises(DomainError, match="reason"):
        reject_step(session, runtime, step_id=household.id, actor=police, reason="  ")
    reject_step(session, runtime, step_id=household.id, actor=police, reason="户籍信息与死亡证明不一致")
    session.refresh(case)
    for key in ("pension_suspension", "survivor_benefit", "medical_account_withdrawal", "housing_fund_withdrawal"):
        assert step(case, key).state == StepState.CANCELLED, key
    assert "household_cancellation was rejected" in step(case, "pension_suspension").reason
    assert step(case, "cremation_certificate").state == StepState.READY  # independent of the rejection
    for key in ("cremation_certificate", "will_lookup"):
        finish(session, runtime, case, key)
    finish(session, runtime, case, "small_deposit_withdrawal", 0)
    finish(session, runtime, case, "small_deposit_withdrawal", 1)
    session.refresh(case)
    assert case.state == CaseState.PARTIALLY_COMPLETED


def test_a_bundle_can_reject_the_whole_case_on_one_refusal(
    session: Session, runtime: Runtime, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    strict = automated_runtime(registry, calendar, clock, on_step_rejected="reject_case")
    publish_bundles(session, strict)

    def refuse(ctx: HandlerContext) -> dict[str, object]:
        raise StepRefused("身份信息核验不通过")

    handlers = default_handlers()
    strict.handlers = handlers
    handlers._entries["data_check"] = refuse  # swap the interface check for a failing one
    case = accept_case(session, strict, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                       answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
    [result] = drain_outbox(session, strict)
    assert result.outcome is Outcome.REFUSED and result.detail == "身份信息核验不通过"
    session.refresh(case)
    assert case.state == CaseState.REJECTED
    assert [s.state for s in case.steps] == ["rejected", "cancelled", "cancelled"]


def test_a_crashing_handler_is_retried_and_never_runs_twice(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = automated_runtime(registry, calendar, clock)
    publish_bundles(session, runtime)
    calls: list[str] = []
    handlers = default_handlers()
    real = handlers["data_check"]

    def flaky(ctx: HandlerContext) -> dict[str, object]:
        calls.append(ctx.step_id)
        if len(calls) == 1:
            raise ConnectionError("department system unreachable")
        return real(ctx)

    handlers._entries["data_check"] = flaky
    runtime.handlers = handlers
    case = accept_case(session, runtime, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                       answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
    [first] = drain_outbox(session, runtime)
    assert first.outcome is Outcome.FAILED and "unreachable" in first.detail
    session.refresh(case)
    assert case.steps[0].state == StepState.READY  # rolled back, untouched
    assert drain_outbox(session, runtime) == []  # backing off
    clock.advance(minutes=2)
    [second] = drain_outbox(session, runtime)
    assert second.outcome is Outcome.COMPLETED
    assert process_message(session, runtime, message_id=second.message_id).outcome is Outcome.STALE
    assert len(calls) == 2
    message = session.scalars(select(OutboxMessage)).one()
    assert message.attempts == 1 and message.processed_at is not None


def test_timer_holds_the_step_until_its_minimum_wait(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = automated_runtime(registry, calendar, clock)
    publish_bundles(session, runtime)
    case = accept_case(session, runtime, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                       answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
    drain_outbox(session, runtime)
    session.refresh(case)
    publicity = case.steps[1]
    assert publicity.not_before == date(2026, 3, 7)  # 5 calendar days, weekends included
    clock.set_local(date(2026, 3, 6))
    assert release_due_timers(session, runtime) == []
    clock.set_local(date(2026, 3, 7))
    assert release_due_timers(session, runtime) == [publicity.id]
    session.refresh(case)
    assert [s.state for s in case.steps] == ["done", "done", "ready"]


def test_a_human_step_with_a_minimum_wait_cannot_finish_early(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    spec_steps = [{"id": "decide", "item": "09-HYZK", "min_wait": {"calendar_days": 3},
                   "time_limit": {"working_days": 5}}]
    runtime = automated_runtime(registry, calendar, clock, steps=spec_steps)
    publish_bundles(session, runtime)
    case = accept_case(session, runtime, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                       answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
    decide = case.steps[0]
    police = officer("09")
    claim_step(session, runtime, step_id=decide.id, actor=police)
    with pytest.raises(TooEarly, match="2026-03-05"):
        complete_step(session, runtime, step_id=decide.id, actor=police)
    clock.set_local(date(2026, 3, 5))
    complete_step(session, runtime, step_id=decide.id, actor=police)
    session.refresh(case)
    assert case.state == CaseState.COMPLETED


def test_withdrawal_cancels_every_open_step(session: Session, runtime: Runtime) -> None:
    case = marriage(session, runtime)
    with pytest.raises(DomainError):
        withdraw_case(session, runtime, case_id=case.id, actor=applicant(CHILD), reason="不是我的")
    withdraw_case(session, runtime, case_id=case.id, actor=applicant(GROOM), reason="改期办理")
    session.refresh(case)
    assert case.state == CaseState.WITHDRAWN
    assert {s.state for s in case.steps} == {"cancelled", "skipped"} or {s.state for s in case.steps} == {"cancelled"}
    with pytest.raises(IllegalTransition):
        withdraw_case(session, runtime, case_id=case.id, actor=applicant(GROOM))
    with pytest.raises(IllegalTransition):
        claim_step(session, runtime, step_id=case.steps[0].id, actor=officer("11"))


def test_stale_versions_are_refused_not_overwritten(session: Session, runtime: Runtime) -> None:
    case = marriage(session, runtime)
    registration = step(case, "marriage_registration")
    version = registration.version
    civil = officer("11")
    claim_step(session, runtime, step_id=registration.id, actor=civil, expected_version=version)
    with pytest.raises(StaleVersion):
        complete_step(session, runtime, step_id=registration.id, actor=civil, expected_version=version)
    session.refresh(registration)
    assert registration.state == StepState.ASSIGNED


def test_idempotency_key_returns_the_same_case(session: Session, runtime: Runtime) -> None:
    args = dict(bundle_id="marriage", applicant=Applicant(GROOM, "person"), answers=marriage_answers(), actor=CLERK)
    first = accept_case(session, runtime, idempotency_key="k-1", **args)  # type: ignore[arg-type]
    again = accept_case(session, runtime, idempotency_key="k-1", **args)  # type: ignore[arg-type]
    assert again.id == first.id
    assert session.scalar(select(func.count()).select_from(Case)) == 1
    with pytest.raises(IdempotencyConflict):
        accept_case(session, runtime, idempotency_key="k-1", bundle_id="marriage",
                    applicant=Applicant(GROOM, "person"), answers=marriage_answers(register_birth_plan=False),
                    actor=CLERK)


def test_receipt_numbers_count_per_region_and_day(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    numbers = [marriage(session, runtime, **another_couple()).receipt_no for _ in range(3)]
    assert numbers == ["430102-20260302-00001", "430102-20260302-00002", "430102-20260302-00003"]
    clock.advance(days=1)
    assert marriage(session, runtime, **another_couple()).receipt_no == "430102-20260303-00001"


def test_version_two_leaves_running_version_one_cases_untouched(
    db: Database, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    v1 = automated_runtime(registry, calendar, clock)
    with db.session() as session:
        publish_bundles(session, v1)
        old = accept_case(session, v1, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                          answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
    # version 2 drops the publicity period; a new process (fresh runtime, no cache) picks it up
    steps_v2 = [{"id": "check", "item": "11-JHDJ", "kind": "automated", "handler": "data_check",
                 "fields": ["groom_name"], "time_limit": {"working_days": 1}},
                {"id": "decide", "item": "09-HYZK", "depends_on": ["check"], "time_limit": {"working_days": 3}}]
    v2 = automated_runtime(registry, calendar, clock, version=2, steps=steps_v2)
    with db.session() as session:
        publish_bundles(session, v2)
        assert session.scalar(select(func.count()).select_from(BundleVersion)) == 2
        new = accept_case(session, v2, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                          answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
        assert (new.bundle_version, len(new.steps)) == (2, 2)
        drain_outbox(session, v2)  # the v1 case is driven by its v1 snapshot
        old = session.get_one(Case, old.id)
        assert old.bundle_version == 1 and [s.step_key for s in old.steps] == ["check", "publicity", "decide"]
        assert [s.state for s in old.steps] == ["done", "ready", "pending"]
        # changing a published version without bumping it is refused
        changed = automated_runtime(registry, calendar, clock, time_limit={"working_days": 9})
        with pytest.raises(SpecConflict, match="new version number"):
            publish_bundles(session, changed)
