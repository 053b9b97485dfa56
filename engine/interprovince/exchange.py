"""Sending a step to the province that decides it, and taking its decision back (跨省通办).

The life of such a step, every change through the gate (:mod:`engine.machine.transitions`):

1. **Release.** Routing decides where the step is decided (:mod:`engine.machine.routing`); when
   that is in another province, the release's ``queue_transfer`` effect writes an outbox message
   (topic :data:`TRANSFER_TOPIC`) in the release's transaction. No office here works the step.
2. **Send.** A dispatcher (:mod:`engine.machine.dispatch`) claims the message and, holding no lock,
   hands the step to that province's system (:meth:`ProvinceSystem.send` with a
   :class:`StepTransfer`); under the case lock, if the step is still as it was, ``send_away``
   records the transfer on the step (system, both references, the day) and the step is
   ``in_progress`` there.
3. **Decision.** While the other system answers ``accepted`` the same message waits
   :data:`POLL_EVERY` and asks again (:meth:`ProvinceSystem.poll`); ``done`` completes the step
   with the other province's outputs (``receive_decision``: its licences are issued here too),
   ``refused`` rejects it with their reason (``receive_refusal``). The case then settles as after
   any step.

Failures (no system registered for the province, an error, a timeout, a nonsensical answer) are
the outbox's: retried with its back-off and in the end a dead letter, listed with the error by
``onevisit outbox`` and on the supervision desk, and shown on the case page beside the step
(:func:`transfers_of`). The step's own clock runs all along, so an overdue remote decision gets
its cards like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Case, OutboxMessage, Step
from engine.interprovince.systems import (
    TRANSFER_TOPIC,
    RemoteAnswer,
    RemoteStatus,
    StepTransfer,
    TransferError,
    home_province,
)
from engine.machine.effects import Inputs
from engine.machine.handover import receiving_window
from engine.machine.progress import settle
from engine.machine.routing import deciding_region
from engine.machine.states import SYSTEM, StepState
from engine.machine.transitions import transition_step
from engine.runtime import Runtime
from engine.time.clock import local_date

__all__ = ["POLL_EVERY", "TRANSFER_TOPIC", "TransferView", "prepare_transfer", "take_answer", "transfers_of"]

POLL_EVERY = timedelta(hours=1)
"""How long a step the other system has accepted waits before the engine asks again."""
TRANSFER = "transfer"
"""The key of the transfer record among the step's outputs (kept when the step completes)."""


def transfer_reference(step: Step) -> str:
    """This side's reference for a step sent away: one per step, the same on every attempt."""
    return f"onevisit-step-{step.id}"


def _transfer(session: Session, runtime: Runtime, case: Case, step: Step, today: date) -> StepTransfer:
    catalog = runtime.registry.catalog
    spec = runtime.spec_for(session, case).step(step.step_key)
    item, department = catalog.items.get(step.item_code), catalog.departments.get(step.department)
    values = {**case.answers, **step.entry}
    return StepTransfer(
        reference=transfer_reference(step), receipt_no=case.receipt_no, step_key=step.step_key,
        item_code=step.item_code, item_name=item.name if item else step.item_code, department=step.department,
        department_name=department.name.zh if department else step.department,
        decided_for=deciding_region(case, step), received_in=receiving_window(case),
        applicant_kind=case.applicant_kind, applicant_id=case.applicant_id, applicant_name=case.applicant_name,
        fields={name: values.get(name) for name in spec.fields}, sent_on=today,
    )


def prepare_transfer(session: Session, runtime: Runtime, *, case: Case, step: Step,
                     now: datetime) -> Callable[[], RemoteAnswer] | str:
    """The call to make outside the lock for a transfer message of ``step`` (read without a lock):
    send it (the step is ready) or ask where it stands (the step was sent); or, as a string, why
    the message has nothing left to do (the step moved on: withdrawn, cancelled, decided)."""
    province = deciding_region(case, step)[:2]
    if province == home_province(runtime.region):
        return f"step is decided in province {province}, here"
    system = runtime.provinces.for_region(deciding_region(case, step))
    record = step.outputs.get(TRANSFER)
    if step.state == StepState.READY.value and record is None:
        transfer = _transfer(session, runtime, case, step, local_date(now))
        if system is None:
            return _unregistered(province)
        return lambda: system.send(transfer)
    if step.state == StepState.IN_PROGRESS.value and isinstance(record, dict) and record.get("remote_reference"):
        if system is None:
            return _unregistered(province)
        remote = str(record["remote_reference"])
        return lambda: system.poll(remote)
    return f"step is {step.state}"


def _unregistered(province: str) -> Callable[[], RemoteAnswer]:
    def fail() -> RemoteAnswer:
        raise TransferError(f"no system is registered for province {province} (ONEVISIT_INTERPROVINCE_PLUGINS or "
                            "entry points onevisit.interprovince) / 未配置该省的跨省通办接口")

    return fail


def take_answer(session: Session, runtime: Runtime, *, case: Case, step: Step, answer: RemoteAnswer,
                at: datetime) -> bool:
    """Apply the other system's ``answer`` to ``step`` (its case locked) through the gate; True if
    the step is decided now, False if it still waits there (ask again later)."""
    if step.state == StepState.READY.value:
        system = runtime.provinces.for_region(deciding_region(case, step))
        record = {"province": deciding_region(case, step)[:2], "system": system.name if system else "",
                  "reference": transfer_reference(step), "remote_reference": answer.remote_reference,
                  "sent_on": local_date(at).isoformat()}
        transition_step(session, runtime, case=case, step=step, action="send_away", actor=SYSTEM, at=at,
                        inputs=Inputs(transfer=record))
    if answer.status is RemoteStatus.ACCEPTED:
        return False
    if answer.status is RemoteStatus.DONE:
        transition_step(session, runtime, case=case, step=step, action="receive_decision", actor=SYSTEM, at=at,
                        inputs=Inputs(outputs=dict(answer.outputs)))
    else:
        transition_step(session, runtime, case=case, step=step, action="receive_refusal", actor=SYSTEM, at=at,
                        inputs=Inputs(reason=answer.reason))
    settle(session, runtime, case=case, spec=runtime.spec_for(session, case), at=at)
    return True


# --- what the window sees ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferView:
    """A step decided in another province, as the window follows it (no personal data)."""

    step_id: str
    province: str
    system: str
    remote_reference: str | None
    """The other system's reference, once it has the step."""
    sent_on: date | None
    decided: str | None
    """``done`` or ``refused`` once decided there."""
    attempts: int
    """Failed attempts of the pending send or question (0: none failed)."""
    last_error: str
    dead: bool
    """Every attempt failed: a person must look (``onevisit outbox retry``)."""


def transfers_of(session: Session, case: Case) -> Mapping[str, TransferView]:
    """By step id, the case's steps sent to (or waiting to be sent to) another province."""
    messages = {m.step_id: m for m in session.scalars(
        select(OutboxMessage).where(OutboxMessage.case_id == case.id, OutboxMessage.topic == TRANSFER_TOPIC)
        .order_by(OutboxMessage.id))}
    views: dict[str, TransferView] = {}
    for step in case.steps:
        message = messages.get(step.id)
        record: Mapping[str, Any] = step.outputs.get(TRANSFER) or {}
        if message is None and not record:
            continue
        pending = message is not None and message.processed_at is None
        views[step.id] = TransferView(
            step_id=step.id, province=str(record.get("province") or deciding_region(case, step)[:2]),
            system=str(record.get("system", "")), remote_reference=record.get("remote_reference"),
            sent_on=date.fromisoformat(record["sent_on"]) if record.get("sent_on") else None,
            decided=record.get("decided"), attempts=message.attempts if pending and message else 0,
            last_error=message.last_error if pending and message else "",
            dead=bool(pending and message and message.dead_at is not None),
        )
    return views
