"""What a transition changes besides the state: the effects the gate applies, one function each.

A rule in :mod:`engine.machine.transitions` names its effects; the gate applies exactly those,
in the order below, and every effect adds what it changed to the details of the transition's one
audit event (a due date that moves is recorded from → to). No other module writes these fields:
``tests/engine/machine/test_transitions.py`` greps for writes outside the gate.

Effects that need the bundle (a step's time limit, its declared outputs, the bundle's limit) read
the exact spec the case was accepted under, through the runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from engine.db.models import Case, OutboxMessage, Step
from engine.machine.states import Actor, Role
from engine.people.licences import issue_step_licences, revoke_holder_licences
from engine.runtime import Runtime
from engine.time.calendar import TimeUnit
from engine.time.clock import local_date


class Effect(StrEnum):
    """What a transition changes besides the state; the gate applies exactly a rule's effects."""

    CLOSE = "close"
    """``closed_at`` becomes the time of the transition (the audit event's own time)."""
    SET_REASON = "set_reason"
    """``reason`` becomes the reason given (recorded in the audit event)."""
    ASSIGN = "assign"
    """``assigned_to`` becomes the assignee given, or the actor (the event records from whom, to whom)."""
    UNASSIGN = "unassign"
    """``assigned_to`` is cleared (the event records from whom)."""
    START_CLOCK = "start_clock"
    """A step: its limit counts from the day after today, and its minimum wait starts. A case: the
    bundle's limit counts from the day of acceptance. The event records the due date."""
    STOP_CLOCK = "stop_clock"
    """The clock stops today (补正, 行政许可法 §32; a case also during §45 excluded steps)."""
    RESTART_CLOCK = "restart_clock"
    """§32: the step's limit counts afresh from the day the materials arrive (due date from → to)."""
    RESUME_CLOCK = "resume_clock"
    """A stopped case clock runs again: the stopped days are added and the due date moves (from → to).
    Closing a case resumes a stopped clock too, so its paused days are final."""
    QUEUE_RUN = "queue_run"
    """An outbox message asks a worker to run the automated step's handler."""
    RECORD_OUTPUTS = "record_outputs"
    """The step's outputs are stored and the licences it declares are issued to their holders."""
    REVOKE_LICENCES = "revoke_licences"
    """The licences the step declares it revokes (注销: by type and holder) stop being valid."""
    REQUEST_MATERIALS = "request_materials"
    """The 补正 notice (materials, note, who, when) is stored on the step."""
    RECEIVE_MATERIALS = "receive_materials"
    """The materials handed in are recorded on the step's 补正 notice."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the caller gives a transition's effects; each belongs to one effect, and giving one the
    rule does not declare is a programming error (``ValueError``), never silently dropped."""

    reason: str | None = None
    assignee: str | None = None
    outputs: dict[str, Any] | None = None
    materials: Sequence[str] | None = None
    note: str = ""


INPUT_EFFECTS: dict[str, tuple[Effect, ...]] = {
    "reason": (Effect.SET_REASON,),
    "assignee": (Effect.ASSIGN,),
    "outputs": (Effect.RECORD_OUTPUTS,),
    "materials": (Effect.REQUEST_MATERIALS, Effect.RECEIVE_MATERIALS),
}
_REFUSAL = {"reason": "sets no reason", "assignee": "assigns nobody", "outputs": "records no outputs",
            "materials": "takes no materials"}


def check_inputs(inputs: Inputs, effects: frozenset[Effect], *, action: str) -> None:
    """Refuse an input no declared effect takes."""
    for name, takers in INPUT_EFFECTS.items():
        if getattr(inputs, name) is not None and not effects.intersection(takers):
            raise ValueError(f"{action} {_REFUSAL[name]}")


@dataclass(slots=True)
class Change:
    """One transition being applied: what the effects read, and the details its audit event carries."""

    session: Session
    runtime: Runtime
    case: Case
    actor: Actor
    at: datetime
    inputs: Inputs
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return local_date(self.at)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _record_due(change: Change, old: date | None, new: date | None) -> None:
    change.details["due"] = {"from": _iso(old), "to": _iso(new)}


# --- step effects ------------------------------------------------------------------------------


def _close(change: Change, entity: Case | Step) -> None:
    entity.closed_at = change.at  # the audit event's own time says when


def _set_reason(change: Change, step: Step) -> None:
    if change.inputs.reason is not None:
        step.reason = change.inputs.reason
        change.details["reason"] = change.inputs.reason


def _assign(change: Change, step: Step) -> None:
    if step.assigned_to is not None:
        change.details["from"] = step.assigned_to
    step.assigned_to = change.inputs.assignee if change.inputs.assignee is not None else change.actor.id
    change.details["to"] = step.assigned_to


def _unassign(change: Change, step: Step) -> None:
    change.details["from"] = step.assigned_to
    step.assigned_to = None


def _count_step_clock(change: Change, step: Step) -> None:
    limit = change.runtime.spec_for(change.session, change.case).step(step.step_key).time_limit
    deadline = change.runtime.calendar.due(change.today, limit.amount, limit.unit)
    old = step.due_on
    step.clock_start_on = change.today
    step.clock_stopped_on = None
    step.due_on = deadline.due_on
    step.due_provisional = deadline.provisional
    _record_due(change, old, step.due_on)


def _start_step_clock(change: Change, step: Step) -> None:
    _count_step_clock(change, step)
    wait = change.runtime.spec_for(change.session, change.case).step(step.step_key).min_wait
    if wait is not None:
        step.not_before = change.today + timedelta(days=wait.calendar_days)
        change.details["not_before"] = _iso(step.not_before)


def _stop_step_clock(change: Change, step: Step) -> None:
    step.clock_stopped_on = change.today
    change.details["clock_stopped_on"] = _iso(change.today)


def _queue_run(change: Change, step: Step) -> None:
    handler = change.runtime.spec_for(change.session, change.case).step(step.step_key).handler
    change.session.add(
        OutboxMessage(
            topic="run_step", case_id=change.case.id, step_id=step.id,
            payload={"handler": handler, "step": step.step_key}, created_at=change.at, available_at=change.at,
        )
    )
    change.details["queued"] = {"topic": "run_step", "handler": handler}


def _record_outputs(change: Change, step: Step) -> None:
    """Store the outputs and issue the step's licences, so later steps and cases are prefilled from them."""
    outputs = dict(change.inputs.outputs or {})
    spec = change.runtime.spec_for(change.session, change.case).step(step.step_key)
    department = change.runtime.registry.catalog.departments.get(step.department)
    licence_type = change.runtime.registry.catalog.licences.get(spec.outputs.licence or "")
    issued = issue_step_licences(
        change.session, case_id=change.case.id, step_id=step.id, applicant_id=change.case.applicant_id,
        answers=change.case.answers, element=step.entry, output=spec.outputs,
        issuer=department.name.zh if department else step.department, outputs=outputs, now=change.at,
        today=change.today,
        # what an officer types must be an attribute the licence type declares
        attribute_names=licence_type.attributes if licence_type and change.actor.role is Role.OFFICER else None,
    )
    change.details["outputs"] = dict(outputs)
    if issued:
        licences = [{"type": l.type_code, "number": l.number, "holder": l.holder_id} for l in issued]
        outputs["licences"] = licences
        change.details["licences"] = licences
    step.outputs = outputs


def _revoke_licences(change: Change, step: Step) -> None:
    """Revoke the licences the step cancels (a 注销 step): each declared type, of the holder its field names."""
    revokes = change.runtime.spec_for(change.session, change.case).step(step.step_key).revokes
    if not revokes:
        return
    values = {**change.case.answers, **step.entry}
    revoked = []
    for revocation in revokes:
        holder = str(values.get(revocation.holder_field) or "") if revocation.holder_field else change.case.applicant_id
        if not holder:
            continue  # the holder's field was not answered: nothing of theirs to revoke
        for licence in revoke_holder_licences(change.session, type_code=revocation.licence, holder_id=holder,
                                              now=change.at, today=change.today, step_id=step.id):
            revoked.append({"type": licence.type_code, "number": licence.number, "holder": licence.holder_id})
    change.details["revoked"] = revoked


def _request_materials(change: Change, step: Step) -> None:
    wanted = list(change.inputs.materials or ())
    note = change.inputs.note.strip()
    step.supplement = {"requested": wanted, "note": note, "requested_at": change.at.isoformat(), "by": change.actor.id}
    change.details["supplement"] = {"requested": wanted, "note": note}


def _receive_materials(change: Change, step: Step) -> None:
    handed_in = list(change.inputs.materials or ())
    step.supplement = {**step.supplement, "received": handed_in, "received_at": change.at.isoformat()}
    change.details["supplement"] = {"received": handed_in}


STEP_EFFECTS: dict[Effect, Callable[[Change, Step], None]] = {
    Effect.CLOSE: _close,
    Effect.SET_REASON: _set_reason,
    Effect.ASSIGN: _assign,
    Effect.UNASSIGN: _unassign,
    Effect.START_CLOCK: _start_step_clock,
    Effect.STOP_CLOCK: _stop_step_clock,
    Effect.RESTART_CLOCK: _count_step_clock,
    Effect.QUEUE_RUN: _queue_run,
    Effect.RECORD_OUTPUTS: _record_outputs,
    Effect.REVOKE_LICENCES: _revoke_licences,
    Effect.REQUEST_MATERIALS: _request_materials,
    Effect.RECEIVE_MATERIALS: _receive_materials,
}
"""How each effect changes a step, in the order the gate applies them."""


# --- case effects ------------------------------------------------------------------------------


def days_between(runtime: Runtime, unit: TimeUnit, start: date, end: date) -> int:
    """Days of ``unit`` in (start, end]: how long a stopped clock was stopped."""
    if unit is TimeUnit.WORKING_DAYS:
        return runtime.calendar.working_days_between(start, end)
    return max(0, (end - start).days)


def _count_case_clock(change: Change, case: Case) -> None:
    limit = change.runtime.spec_for(change.session, case).time_limit
    deadline = change.runtime.calendar.due(case.accepted_on, limit.amount + case.paused_days, limit.unit)
    old = case.due_on
    case.due_on = deadline.due_on
    case.due_provisional = deadline.provisional
    _record_due(change, old, case.due_on)


def _stop_case_clock(change: Change, case: Case) -> None:
    case.clock_stopped_on = change.today
    change.details["clock_stopped_on"] = _iso(change.today)


def _resume_case_clock(change: Change, case: Case) -> None:
    if case.clock_stopped_on is None:
        return  # closing a case whose clock runs: nothing to resume
    unit = change.runtime.spec_for(change.session, case).time_limit.unit
    stopped = days_between(change.runtime, unit, case.clock_stopped_on, change.today)
    case.paused_days += stopped
    case.clock_stopped_on = None
    change.details["paused_days"] = {"added": stopped, "total": case.paused_days}
    _count_case_clock(change, case)


CASE_EFFECTS: dict[Effect, Callable[[Change, Case], None]] = {
    Effect.START_CLOCK: _count_case_clock,
    Effect.STOP_CLOCK: _stop_case_clock,
    Effect.RESUME_CLOCK: _resume_case_clock,
    Effect.CLOSE: _close,
}
"""How each effect changes a case, in the order the gate applies them (a closing case's stopped
clock resumes before it closes)."""
