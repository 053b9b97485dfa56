"""The gate's effects as a user of the audit trail sees them: each transition's one event says
what else changed — due dates from → to, stopped and resumed clocks, 补正 notices, queued work,
outputs and the licences issued — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, Licence, OutboxMessage, Step
from engine.machine.actions import (
    claim_step,
    complete_step,
    hand_in_supplement,
    receive_supplement,
    request_supplement,
    start_step,
)
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import CaseState, StepState
from engine.records.audit import verify_audit
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import BundleRegistry
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from tests.engine.automated import automated_runtime
from tests.engine.sample_people import BRIDE, CLERK, GROOM, marriage_answers, officer


def events(session: Session, case: Case, action: str, step: Step | None = None) -> list[dict[str, Any]]:
    query = select(AuditEvent.payload).where(AuditEvent.case_id == case.id, AuditEvent.action == action)
    if step is not None:
        query = query.where(AuditEvent.step_id == step.id)
    return [dict(p) for p in session.scalars(query.order_by(AuditEvent.seq))]


def marriage_case(session: Session, runtime: Runtime) -> tuple[Case, Step]:
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(), actor=CLERK)
    return case, next(s for s in case.steps if s.step_key == "marriage_registration")


def test_acceptance_and_release_record_the_due_dates(session: Session, runtime: Runtime) -> None:
    case, registration = marriage_case(session, runtime)
    # Accepted Monday 2 March 2026: the bundle is due 15 working days on, the step 20.
    assert events(session, case, "case.accept")[0]["due"] == {"from": None, "to": "2026-03-23"}
    assert events(session, case, "step.release", registration)[0]["due"] == {"from": None, "to": "2026-03-30"}
    assert (case.due_on, registration.due_on) == (date(2026, 3, 23), date(2026, 3, 30))


def test_supplement_stops_and_restarts_both_clocks_in_the_events(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    case, step = marriage_case(session, runtime)
    desk = officer(step.department)
    claim_step(session, runtime, step_id=step.id, actor=desk)
    start_step(session, runtime, step_id=step.id, actor=desk)
    clock.set_local(date(2026, 3, 4))  # Wednesday
    request_supplement(session, runtime, step_id=step.id, actor=desk, materials=["合影照片"], note="近三个月内")

    asked = events(session, case, "step.request_supplement", step)[0]
    assert asked["clock_stopped_on"] == "2026-03-04"
    assert asked["supplement"] == {"requested": ["合影照片"], "note": "近三个月内"}
    assert step.clock_stopped_on == date(2026, 3, 4) and step.supplement["by"] == desk.id
    assert events(session, case, "case.stop_clock") == [{"clock_stopped_on": "2026-03-04"}]
    assert case.state == CaseState.SUPPLEMENT_REQUESTED and case.clock_stopped_on == date(2026, 3, 4)

    clock.set_local(date(2026, 3, 9))  # the next Monday: 3 working days later (5, 6, 9 March)
    hand_in_supplement(session, runtime, step_id=step.id, actor=CLERK, material="合影照片", paper=True)
    receive_supplement(session, runtime, step_id=step.id, actor=desk)

    received = events(session, case, "step.receive_supplement", step)[0]
    # §32: the step's 20 working days count afresh from the day the officer confirmed the receipt.
    assert received["due"] == {"from": "2026-03-30", "to": "2026-04-07"}
    assert received["supplement"] == {"received": ["合影照片"], "round": 1, "files": []}
    assert (step.due_on, step.clock_start_on, step.clock_stopped_on) == (date(2026, 4, 7), date(2026, 3, 9), None)
    # The bundle's clock resumes: the stopped working days are added and its due date moves.
    resumed = events(session, case, "case.resume_clock")
    assert resumed == [{"paused_days": {"added": 3, "total": 3}, "due": {"from": "2026-03-23", "to": "2026-03-26"}}]
    assert (case.paused_days, case.due_on, case.clock_stopped_on) == (3, date(2026, 3, 26), None)
    assert verify_audit(session, case_id=case.id).ok


def test_completion_records_outputs_and_the_licences_it_issued(session: Session, runtime: Runtime) -> None:
    case, step = marriage_case(session, runtime)
    desk = officer(step.department)
    claim_step(session, runtime, step_id=step.id, actor=desk)
    complete_step(session, runtime, step_id=step.id, actor=desk, outputs={"certificate_no": "J430102-2026-000001"})

    done = events(session, case, "step.complete", step)[0]
    assert done["outputs"] == {"certificate_no": "J430102-2026-000001"}
    issued = session.scalars(select(Licence).where(Licence.source_step_id == step.id)).all()
    assert {l.holder_id for l in issued} == {GROOM, BRIDE}
    assert sorted(done["licences"], key=lambda l: l["holder"]) == sorted(
        ({"type": l.type_code, "number": l.number, "holder": l.holder_id} for l in issued), key=lambda l: l["holder"])
    assert step.outputs["licences"] == done["licences"] and step.closed_at is not None


def test_releasing_an_automated_step_queues_it_in_the_same_event(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = automated_runtime(registry, calendar, clock)
    publish_bundles(session, runtime)
    case = accept_case(session, runtime, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                       answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
    check = next(s for s in case.steps if s.step_key == "check")
    assert check.state == StepState.READY
    released = events(session, case, "step.release", check)[0]
    assert released["queued"] == {"topic": "run_step", "handler": "data_check"}
    queued = session.scalars(select(OutboxMessage).where(OutboxMessage.step_id == check.id)).all()
    assert [(m.topic, m.payload["handler"]) for m in queued] == [("run_step", "data_check")]
    # A desk step released later queues nothing: only the rule for automated steps declares it.
    decide = next(s for s in case.steps if s.step_key == "decide")
    assert session.scalars(select(OutboxMessage).where(OutboxMessage.step_id == decide.id)).all() == []
