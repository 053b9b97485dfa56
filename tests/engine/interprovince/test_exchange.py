"""跨省通办 through the engine, on both backends: a Hunan window receives an employment case whose
失业登记 is decided for a household in 广州 (440106); release sends that step to Guangdong's system
(here the in-memory desk, :class:`~engine.interprovince.local.DeskProvince`), the dispatcher asks
again while it is being decided there, and its decision or refusal comes back through the gate.
Nothing fails silently: an unregistered province or a failing system is retried and ends as a dead
letter naming the province, while the step waits where it was."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, OutboxMessage, Step
from engine.interprovince.exchange import POLL_EVERY, TRANSFER, transfer_reference, transfers_of
from engine.interprovince.local import DeskProvince
from engine.interprovince.systems import TRANSFER_TOPIC, RemoteAnswer, StepTransfer
from engine.machine.actions import withdraw_case
from engine.machine.dispatch import MAX_ATTEMPTS, Outcome, dead_letters, drain_outbox
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import CaseState, StepState
from engine.people.identifiers import make_id_number
from engine.records.queries import describe_case
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from tests.engine.sample_people import CLERK, applicant

WORKER = make_id_number("430102", date(1990, 4, 12), 57)
GUANGZHOU_TIANHE = "440106"
ANSWERS = {"applicant_name": "测试丙", "applicant_phone": "13800000000", "household_region": GUANGZHOU_TIANHE,
           "employment_status": "unemployed", "unemployment_insured_one_year": True,
           "involuntary_unemployment": True}
REGISTRATION = "unemployment_registration"


@pytest.fixture
def guangdong(runtime: Runtime) -> DeskProvince:
    desk = DeskProvince(name="广东省一体化政务服务平台", code="44")
    runtime.provinces.register("44")(desk)
    return desk


def received(session: Session, runtime: Runtime) -> Case:
    """The employment case a 430102 clerk receives for a worker whose household is in 广州天河."""
    return accept_case(session, runtime, bundle_id="employment", applicant=Applicant(WORKER, "person", "测试丙"),
                       answers=ANSWERS, actor=CLERK)


def step_of(session: Session, case: Case, key: str = REGISTRATION) -> Step:
    session.rollback()
    return session.scalars(select(Step).where(Step.case_id == case.id, Step.step_key == key)
                           .execution_options(populate_existing=True)).one()


def transfer_messages(session: Session, case: Case) -> list[OutboxMessage]:
    session.rollback()
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id,
                                                            OutboxMessage.topic == TRANSFER_TOPIC)
                                .execution_options(populate_existing=True)))


def actions(session: Session, step: Step) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.step_id == step.id).order_by(AuditEvent.id)))


def later(clock: FixedClock, by: timedelta = POLL_EVERY) -> None:
    clock.advance(seconds=(by + timedelta(seconds=1)).total_seconds())


def test_a_step_decided_in_another_province_is_sent_asked_again_and_completed_there(
    session: Session, runtime: Runtime, clock: FixedClock, guangdong: DeskProvince
) -> None:
    case = received(session, runtime)
    step = step_of(session, case)
    # Release routed it to Guangdong: no office here works it, one transfer message is queued.
    assert step.state == StepState.READY.value and step.office is None and step.decided_in == GUANGZHOU_TIANHE
    (message,) = transfer_messages(session, case)
    assert message.payload == {"step": REGISTRATION, "province": "44"}
    (release,) = [e for e in actions(session, step) if "routing" in e.payload]
    assert release.payload["routing"]["decided_in"] == GUANGZHOU_TIANHE and release.payload["routing"]["office"] is None
    assert release.payload["queued"] == {"topic": TRANSFER_TOPIC, "province": "44"}

    (sent,) = drain_outbox(session, runtime)
    assert sent.outcome is Outcome.WAITING
    step = step_of(session, case)
    remote = guangdong.reference_of(transfer_reference(step))
    assert step.state == StepState.IN_PROGRESS.value
    assert step.outputs[TRANSFER] == {"province": "44", "system": "广东省一体化政务服务平台",
                                      "reference": transfer_reference(step), "remote_reference": remote,
                                      "sent_on": "2026-03-02"}
    # Guangdong gets what deciding the step needs: the step's own fields, not the rest of the case.
    filed: StepTransfer = guangdong.filed[remote].transfer
    assert filed.fields == {"applicant_name": "测试丙", "household_region": GUANGZHOU_TIANHE}
    assert (filed.item_code, filed.received_in, filed.receipt_no) == ("14-SYDJ", "430102", case.receipt_no)
    # The steps after it wait for it.
    assert step_of(session, case, "unemployment_benefit").state == StepState.PENDING.value

    assert drain_outbox(session, runtime) == []  # not due again yet
    later(clock)
    (asked,) = drain_outbox(session, runtime)
    assert asked.outcome is Outcome.WAITING and guangdong.sends == 1

    guangdong.decide(remote, {"number": "440106-SYDJ-0001"})
    later(clock)
    (decided,) = drain_outbox(session, runtime)
    assert decided.outcome is Outcome.COMPLETED
    step = step_of(session, case)
    assert step.state == StepState.DONE.value and step.outputs["number"] == "440106-SYDJ-0001"
    assert step.outputs[TRANSFER]["decided"] == "done"
    assert [e.action for e in actions(session, step)][-2:] == ["step.send_away", "step.receive_decision"]
    assert {e.role for e in actions(session, step)[-2:]} == {"system"}
    # The case goes on here: the steps after it are released to their offices.
    assert step_of(session, case, "unemployment_benefit").state == StepState.READY.value
    message = transfer_messages(session, case)[0]
    assert message.processed_at is not None and message.attempts == 0

    # The receiving window follows it (no personal data in the view).
    case = session.get_one(Case, case.id)
    view = transfers_of(session, case)[step.id]
    assert (view.province, view.remote_reference, view.decided, view.dead) == ("44", remote, "done", False)
    status = describe_case(session, runtime, case, viewer=CLERK)
    (shown,) = [s for s in status.steps if s.step_key == REGISTRATION]
    assert shown.decided_in == GUANGZHOU_TIANHE and shown.office is None
    assert "跨省通办" in shown.routing_reason and "440000 广东省" in shown.routing_reason


def test_a_refusal_there_rejects_the_step_with_their_reason_and_the_case_goes_on(
    session: Session, runtime: Runtime, clock: FixedClock, guangdong: DeskProvince
) -> None:
    case = received(session, runtime)
    drain_outbox(session, runtime)
    remote = guangdong.reference_of(transfer_reference(step_of(session, case)))
    guangdong.refuse(remote, "户籍地未查询到该申请人的参保记录")
    later(clock)
    (result,) = drain_outbox(session, runtime)
    assert result.outcome is Outcome.REFUSED
    step = step_of(session, case)
    assert step.state == StepState.REJECTED.value and step.outputs[TRANSFER]["decided"] == "refused"
    assert actions(session, step)[-1].action == "step.receive_refusal"
    assert "参保记录" in (step.reason)
    # Everything after 失业登记 needed it: cancelled, and the case closes partially done or rejected.
    assert step_of(session, case, "unemployment_benefit").state == StepState.CANCELLED.value
    case = session.get_one(Case, case.id, populate_existing=True)
    assert case.state in {CaseState.REJECTED.value, CaseState.PARTIALLY_COMPLETED.value}


def test_a_province_without_a_system_fails_loudly_and_the_step_waits(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    case = received(session, runtime)
    for _ in range(MAX_ATTEMPTS):
        results = drain_outbox(session, runtime)
        assert [r.outcome for r in results] in ([Outcome.FAILED], [Outcome.DEAD])
        later(clock, timedelta(days=1))
    (dead,) = dead_letters(session, runtime)
    assert dead.step_key == REGISTRATION and "province 44" in dead.last_error
    step = step_of(session, case)
    assert step.state == StepState.READY.value and TRANSFER not in step.outputs
    view = transfers_of(session, session.get_one(Case, case.id))[step.id]
    assert view.dead and "province 44" in view.last_error and view.attempts == MAX_ATTEMPTS


def test_a_system_answering_nonsense_is_a_failure_not_a_decision(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    class Broken:
        name = "坏的接口"

        def send(self, transfer: StepTransfer) -> RemoteAnswer:
            return RemoteAnswer.from_json({"status": "maybe", "reference": "x"})

        def poll(self, remote_reference: str) -> RemoteAnswer:
            raise AssertionError("never asked: nothing was sent")

    runtime.provinces.register("44")(Broken())
    case = received(session, runtime)
    (result,) = drain_outbox(session, runtime)
    assert result.outcome is Outcome.FAILED and "unknown status" in result.detail
    assert step_of(session, case).state == StepState.READY.value


def test_a_repeated_send_files_nothing_twice(
    session: Session, runtime: Runtime, clock: FixedClock, guangdong: DeskProvince
) -> None:
    """A dispatcher that sent the step and then crashed before recording it leaves the message
    due again; the next send carries the same reference and the desk answers as the first time."""
    case = received(session, runtime)
    step = step_of(session, case)
    first = guangdong.send(StepTransfer(
        reference=transfer_reference(step), receipt_no=case.receipt_no, step_key=REGISTRATION, item_code="14-SYDJ",
        item_name="失业登记", department="14", department_name="人社局", decided_for=GUANGZHOU_TIANHE,
        received_in="430102", applicant_kind="person", applicant_id=WORKER, applicant_name="测试丙",
        fields={}, sent_on=date(2026, 3, 2)))
    drain_outbox(session, runtime)
    assert guangdong.sends == 2 and len(guangdong.filed) == 1
    assert step_of(session, case).outputs[TRANSFER]["remote_reference"] == first.remote_reference


def test_a_case_withdrawn_while_away_stops_asking(
    session: Session, runtime: Runtime, clock: FixedClock, guangdong: DeskProvince
) -> None:
    case = received(session, runtime)
    drain_outbox(session, runtime)
    withdraw_case(session, runtime, case_id=case.id, actor=applicant(WORKER), reason="已在户籍地办理")
    later(clock)
    (result,) = drain_outbox(session, runtime)
    assert result.outcome is Outcome.STALE
    assert transfer_messages(session, case)[0].processed_at is not None
    assert drain_outbox(session, runtime) == []

