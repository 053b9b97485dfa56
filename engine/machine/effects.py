"""What a transition changes besides the state: the effects the gate applies, one function each.

A rule in :mod:`engine.machine.transitions` names its effects; the gate applies exactly those,
in the order below, and every effect adds what it changed to the details of the transition's one
audit event (a due date that moves is recorded from → to). No other module writes these fields
(the effects on handed-in materials live in :mod:`engine.machine.material_effects`, part of the
gate): ``tests/engine/machine/test_transitions.py`` greps for writes outside the gate.

Effects that need the bundle (a step's time limit, its declared outputs, the bundle's limit) read
the exact spec the case was accepted under, through the runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from engine.db.models import Case, Handover, OutboxMessage, Step
from engine.errors import Conflict, DomainError, IllegalTransition
from engine.interprovince.systems import TRANSFER_TOPIC, decided_elsewhere, home_province
from engine.machine import commitment_effects, material_effects
from engine.machine.commitment_effects import Signed
from engine.machine.material_effects import HandIn
from engine.machine.states import Actor, Role, StepState
from engine.machine.routing import route_step
from engine.people.licences import issue_step_licences, revoke_holder_licences
from engine.runtime import Runtime
from engine.spec.models import BundleSpec, ClockEvent, StepKind, StepSpec, TimeLimit
from engine.time.calendar import TimeUnit
from engine.time.clock import local_date

if TYPE_CHECKING:
    from engine.machine.handover import HandOver


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
    ROUTE = "route"
    """At release the step goes to exactly one office (``office``, ``decided_in``: see
    :mod:`engine.machine.routing`); the event records the office and the reason."""
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
    HAND_IN_MATERIAL = "hand_in_material"
    """补正: files (or, at a window, a paper original) handed in for one material the notice asks
    for are recorded on the notice and as ``case_files`` rows of its round; the event lists the
    files with their hashes. Refused once the notice's hand-in window has passed (the application
    for the step then counts as withdrawn). A partial hand-in stays partial: the clock stays stopped."""
    RECEIVE_MATERIALS = "receive_materials"
    """§32: the officer confirms the receipt of the 补正 materials, refused (naming what is missing)
    until each requested material has a paper record or a file not returned, of this round."""
    CHECK_DEFERRED = "check_deferred"
    """容缺: refused while a material the step needs was deferred at acceptance and is not supplied
    (naming it and the promised date); changes nothing."""
    SUPPLY_DEFERRED = "supply_deferred"
    """容缺: the deferred material arrives (its files, or a window's paper record); ``supplied_at`` is set."""
    REMIND_DEFERRED = "remind_deferred"
    """容缺: the reminder before the promised date is recorded (``reminded_at``)."""
    PURGE_FILES = "purge_files"
    """Retention: the files whose retention period passed are marked purged (the event lists them)."""
    LAPSE_EXTENSION = "lapse_extension"
    """§32 restarts the count, and §42's extension belongs to the count it was granted for: the
    extensions granted before the 补正 receipt lapse (they no longer move the due date nor use up
    the maximum) and a pending request is dropped; the new count may be extended afresh."""
    LAPSE_SUPPLEMENT = "lapse_supplement"
    """The 补正 hand-in window (``supplement_window``) passed without the materials: the notice
    records the lapse and the step's reason names the window (逾期未补正，视为撤回申请)."""
    END_WAIT = "end_wait"
    """A declared event (the applicant's no-objection declaration) ends a timer's minimum wait
    today (``not_before`` from → to); only on a step whose bundle declares ``on_no_objection``."""
    TO_DESK = "to_desk"
    """An objection turns a timer into a human step of its department (``kind`` timer → human, the
    wait is lifted, the objection is kept in the outputs); only with ``on_objection``."""
    REQUEST_EXTENSION = "request_extension"
    """§42: the officer's request to extend the limit (days, reason) is kept on the step, pending."""
    EXTEND_LIMIT = "extend_limit"
    """§42: the approver grants the pending request: the due date moves (from → to), within the
    bundle's maximum extension."""
    REFUSE_EXTENSION = "refuse_extension"
    """§42: the approver refuses the pending request (with a reason); the due date stays."""
    QUEUE_TRANSFER = "queue_transfer"
    """跨省通办: a desk step routed to another province is queued (an outbox message) to be sent to
    that province's system (:mod:`engine.interprovince.exchange`); a step decided here: nothing."""
    SEND_AWAY = "send_away"
    """The other province's system has the step: the transfer (province, system, both references,
    the day) is recorded among the step's outputs (``transfer``)."""
    REMOTE_DECISION = "remote_decision"
    """The other province decided the step it was sent (refused for a step never sent): the
    transfer record says how and when."""
    HAND_OVER = "hand_over"
    """出件: the hand-over of a finished case's results (to whom, how, when) is recorded, once
    (a :class:`~engine.db.models.Handover` row; refused if the case was handed over already)."""
    CHECK_CREDIT = "check_credit"
    """告知承诺: a holder with a serious credit mark in force takes normal review instead (the step's
    ``kind`` commitment → human; the event names the mark)."""
    RECORD_COMMITMENT = "record_commitment"
    """告知承诺: the letter signed (the exact text, its SHA-256, who, when) is stored and the step's
    outputs point at it; refused without the bundle's letter or for a holder with a serious mark."""
    REVOKE_RESULT = "revoke_result"
    """A failed post-check (事中事后核查): the licences the step issued are revoked and its result is
    marked revoked (when, why); the state stays."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the caller gives a transition's effects; each belongs to one effect, and giving one the
    rule does not declare is a programming error (``ValueError``), never silently dropped."""

    reason: str | None = None
    assignee: str | None = None
    outputs: dict[str, Any] | None = None
    materials: Sequence[str] | None = None
    note: str = ""
    days: int | None = None
    """Working or calendar days (the step limit's unit) of a §42 extension request."""
    transfer: Mapping[str, Any] | None = None
    """跨省通办: the transfer record of a step the other province's system has taken."""
    handover: HandOver | None = None
    """出件: what the receiving window hands out, to whom, how and when (:mod:`engine.machine.handover`)."""
    hand_in: HandIn | None = None
    """补正 or 容缺: the files (stored already) or the paper original handed in for one material."""
    files: Sequence[str] | None = None
    """Retention: the ids of the files to mark purged."""
    commitment: Signed | None = None
    """告知承诺: the letter the applicant signed."""


INPUT_EFFECTS: dict[str, tuple[Effect, ...]] = {
    "reason": (Effect.SET_REASON, Effect.TO_DESK, Effect.REQUEST_EXTENSION, Effect.REFUSE_EXTENSION,
               Effect.REVOKE_RESULT),
    "assignee": (Effect.ASSIGN,),
    "outputs": (Effect.RECORD_OUTPUTS,),
    "materials": (Effect.REQUEST_MATERIALS, Effect.REMIND_DEFERRED),
    "days": (Effect.REQUEST_EXTENSION,),
    "transfer": (Effect.SEND_AWAY,),
    "handover": (Effect.HAND_OVER,),
    "hand_in": (Effect.HAND_IN_MATERIAL, Effect.SUPPLY_DEFERRED),
    "files": (Effect.PURGE_FILES,),
    "commitment": (Effect.RECORD_COMMITMENT,),
}
_REFUSAL = {"reason": "sets no reason", "assignee": "assigns nobody", "outputs": "records no outputs",
            "materials": "takes no materials", "days": "extends nothing", "transfer": "sends nothing away",
            "handover": "hands nothing over", "hand_in": "takes no hand-in",
            "files": "purges no files", "commitment": "records no commitment"}


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

    def spec(self, step: Step) -> StepSpec:
        """The step's spec, from the exact bundle version the case was accepted under."""
        return self.runtime.spec_for(self.session, self.case).step(step.step_key)


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


def _route(change: Change, step: Step) -> None:
    registry = change.runtime.registry
    route = route_step(registry.catalog, registry.fields, case=change.case, step=step, spec=change.spec(step),
                       home=change.runtime.region[:2])
    step.office = route.office_id
    step.decided_in = route.decided_in
    change.details["routing"] = route.record()


def _count_step_clock(change: Change, step: Step, *, start: date | None = None) -> None:
    """The step's limit counts from ``start`` (default today: its release, or §32's receipt of 补正)."""
    limit = change.runtime.spec_for(change.session, change.case).step(step.step_key).time_limit
    start = start if start is not None else change.today
    deadline = change.runtime.calendar.due(start, limit.amount, limit.unit)
    old = step.due_on
    step.clock_start_on = start
    step.clock_stopped_on = None
    step.due_on = deadline.due_on
    step.due_provisional = deadline.provisional
    _record_due(change, old, step.due_on)


def clock_origin(change: Change, step: Step) -> date | None:
    """The day a ``clock_from`` step's limit counts from: the named step's event (the instance of
    the same list entry if there is one, else the latest of its instances), or None if the step
    declares none or the event has not happened (then it counts from its release)."""
    origin = change.spec(step).clock_from
    if origin is None:
        return None
    sources = [s for s in change.case.steps if s.step_key == origin.step]
    same_entry = [s for s in sources if step.entry and s.entry == step.entry]
    days = []
    for source in same_entry or sources:
        if origin.event is ClockEvent.RELEASED:
            days.append(source.clock_start_on)
        elif source.closed_at is not None and source.state == StepState.DONE:
            days.append(local_date(source.closed_at))
    known = [d for d in days if d is not None]
    return max(known) if known else None


def _start_step_clock(change: Change, step: Step) -> None:
    start, origin = clock_origin(change, step), change.spec(step).clock_from
    if start is not None and origin is not None:
        change.details["clock_from"] = {"step": origin.step, "event": origin.event.value, "on": _iso(start)}
    _count_step_clock(change, step, start=start)
    wait = change.spec(step).min_wait
    if wait is not None:
        # The wait counts like a limit: the n-th (working) day after release, holidays skipped.
        step.not_before = change.runtime.calendar.due(change.today, wait.amount, wait.unit).due_on
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


def queue_message(session: Session, *, topic: str, case_id: str, step_id: str | None, payload: dict[str, Any],
                  at: datetime) -> OutboxMessage:
    """Queue outbox work, due at once, in the caller's (the gate's) transaction: a step for another
    province, or a notice to send (engine.notify.queue, which the gate calls after each change)."""
    message = OutboxMessage(topic=topic, case_id=case_id, step_id=step_id, payload=payload, created_at=at,
                            available_at=at)
    session.add(message)
    return message


def _queue_transfer(change: Change, step: Step) -> None:
    province = decided_elsewhere(change.case, step, home=home_province(change.runtime.region))
    if province is None:
        return  # decided here: the office routing chose works it
    queue_message(change.session, topic=TRANSFER_TOPIC, case_id=change.case.id, step_id=step.id,
                  payload={"step": step.step_key, "province": province}, at=change.at)
    change.details["queued"] = {"topic": TRANSFER_TOPIC, "province": province}


def _guard_send_away(change: Change, step: Step) -> None:
    if decided_elsewhere(change.case, step, home=home_province(change.runtime.region)) is None:
        raise IllegalTransition(f"step {step.step_key} is decided in this province: an office here works it / "
                                "本事项由本省办理，不跨省流转")
    if not change.inputs.transfer:
        raise ValueError("send_away needs the transfer record")


def _send_away(change: Change, step: Step) -> None:
    record = dict(change.inputs.transfer or {})
    step.outputs = {**step.outputs, "transfer": record}
    change.details["transfer"] = record


def _guard_remote_decision(change: Change, step: Step) -> None:
    if not (step.outputs.get("transfer") or {}).get("remote_reference"):
        raise IllegalTransition(f"step {step.step_key} was not sent to another province: an officer here decides it "
                                "/ 本事项未跨省流转，由本地部门办理")


def _remote_decision(change: Change, step: Step) -> None:
    decided = "refused" if change.inputs.reason is not None else "done"  # a refusal comes with its reason
    record = {**step.outputs.get("transfer", {}), "decided": decided, "decided_on": change.today.isoformat()}
    step.outputs = {**step.outputs, "transfer": record}
    change.details["transfer"] = {"remote_reference": record.get("remote_reference"), "decided": decided}


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
    kept = {key: step.outputs[key] for key in KEPT_OUTPUTS if key in step.outputs and key not in outputs}
    step.outputs = {**kept, **outputs}


def notices_sent(step: Step) -> int:
    """How many 补正 notices the step has sent (a notice stored before the count was kept: one)."""
    if not step.supplement:
        return 0
    return int(step.supplement.get("notices", 1))


def _guard_notice(change: Change, step: Step) -> None:
    allowed = change.spec(step).supplement_notices
    if notices_sent(step) >= allowed:
        raise IllegalTransition(
            f"step {step.step_key}: the 补正 notice was already sent ({allowed} allowed): 行政许可法 §32 asks for "
            f"one notice of everything missing / 一次性告知：本环节已发出补正通知，不得再次要求补正"
        )


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
    notice: dict[str, Any] = {"requested": wanted, "note": note, "requested_at": change.at.isoformat(),
                              "by": change.actor.id, "notices": notices_sent(step) + 1}
    details: dict[str, Any] = {"requested": wanted, "note": note}
    window = change.spec(step).supplement_window
    if window is not None:
        hand_in = change.runtime.calendar.due(change.today, window.amount, window.unit)
        notice["hand_in_by"] = details["hand_in_by"] = hand_in.due_on.isoformat()
        notice["hand_in_provisional"] = hand_in.provisional
    step.supplement = notice
    change.details["supplement"] = details


def supplement_lapsed_on(step: Step, today: date) -> date | None:
    """The last day of the step's 补正 hand-in window if it passed before ``today`` with the
    materials still awaited, else None: a notice without a window (no ``supplement_window``)
    never lapses, and materials handed in on the last day are in time (the lapse is the day after)."""
    if step.state != StepState.SUPPLEMENT_REQUESTED.value:
        return None
    hand_in_by = step.supplement.get("hand_in_by")
    if not isinstance(hand_in_by, str):
        return None
    last = date.fromisoformat(hand_in_by)
    return last if last < today else None


def lapsed(step: Step) -> bool:
    """Whether the step was closed because its 补正 window passed (its application withdrawn)."""
    return step.state == StepState.CANCELLED.value and bool(step.supplement.get("lapsed_on"))


def _guard_hand_in_material(change: Change, step: Step) -> None:
    last = supplement_lapsed_on(step, change.today)
    if last is not None:
        raise IllegalTransition(
            f"the 补正 window of step {step.step_key} ended on {last.isoformat()}: the application for it counts as "
            f"withdrawn / 补正期限已于{last.isoformat()}届满，逾期未补正的视为撤回申请"
        )
    material_effects.guard_hand_in_material(change, step)


def _guard_lapse(change: Change, step: Step) -> None:
    if supplement_lapsed_on(step, change.today) is None:
        raise IllegalTransition(f"step {step.step_key}: no 补正 hand-in window has passed / 补正期限尚未届满")
    if not material_effects.missing_materials(change.session, step):
        raise IllegalTransition(f"step {step.step_key}: every 补正 material was handed in, waiting for the officer's "
                                "receipt / 补正材料已补齐，待确认接收")


def _lapse_supplement(change: Change, step: Step) -> None:
    last = str(step.supplement["hand_in_by"])
    reason = (f"the 补正 window ended on {last} without the requested materials: the application for this step is "
              f"treated as withdrawn / 补正期限（{last}）届满未补正，视为撤回本事项申请")
    step.supplement = {**step.supplement, "lapsed_on": change.today.isoformat()}
    step.reason = reason
    change.details["supplement"] = {"lapsed": last, "requested": list(step.supplement.get("requested", []))}
    change.details["reason"] = reason


def _lapse_extension(change: Change, step: Step) -> None:
    """§32 counts the limit afresh from the receipt; §42's extension was for the old count, so it
    lapses with it (the restarted due date is receipt + the limit) and the maximum is whole again."""
    record = _extension(step)
    granted = int(record.get("granted_days", 0))
    pending = record.pop("pending", None)
    if not granted and pending is None:
        return
    lapse: dict[str, Any] = {"on": change.today.isoformat(), "granted_days": granted}
    if pending is not None:
        lapse["pending"] = pending
    record["granted_days"] = 0
    record.setdefault("lapsed", []).append(lapse)
    step.outputs = {**step.outputs, "extension": record}
    change.details["extension"] = {"lapsed": granted, "dropped": pending["days"] if pending else None}


# --- timers: declared events -------------------------------------------------------------------


def _guard_end_wait(change: Change, step: Step) -> None:
    if change.spec(step).on_no_objection is None:
        raise IllegalTransition(f"step {step.step_key}: its wait cannot end early (the bundle declares no "
                                "on_no_objection) / 本环节等待期不可因无异议声明提前结束")


def _end_wait(change: Change, step: Step) -> None:
    change.details["not_before"] = {"from": _iso(step.not_before), "to": _iso(change.today)}
    step.not_before = change.today
    change.details["declared"] = "no_objection"


def _guard_to_desk(change: Change, step: Step) -> None:
    if change.spec(step).on_objection is None:
        raise IllegalTransition(f"step {step.step_key}: the bundle declares no objection procedure "
                                "(on_objection) / 本环节未规定异议处理")
    if not (change.inputs.reason or "").strip():
        raise DomainError("an objection needs its grounds / 异议须说明理由", field="reason")


def _to_desk(change: Change, step: Step) -> None:
    objection = {"grounds": (change.inputs.reason or "").strip(), "by": change.actor.id, "role": change.actor.role.value,
                 "at": change.at.isoformat()}
    change.details["kind"] = {"from": step.kind, "to": StepKind.HUMAN.value}
    change.details["not_before"] = {"from": _iso(step.not_before), "to": None}
    change.details["objection"] = {"grounds": objection["grounds"]}
    step.kind = StepKind.HUMAN.value
    step.not_before = None
    step.outputs = {**step.outputs, "objection": objection}


# --- §42 extensions ---------------------------------------------------------------------------

KEPT_OUTPUTS = ("objection", "extension", "transfer")
"""What the time effects keep among a step's outputs, so its completion does not erase them."""


def extension_maximum(spec: StepSpec, bundle: BundleSpec | None) -> TimeLimit | None:
    """The most a step's limit may be extended in all (§42): the step's own maximum, else the bundle's."""
    return spec.max_extension or (bundle.max_extension if bundle is not None else None)


def extension_allowed(change: Change, step: Step) -> TimeLimit | None:
    """The most the step's limit may be extended in all, from the bundle the case was accepted under."""
    return extension_maximum(change.spec(step), change.runtime.spec_for(change.session, change.case))


def extension_left(step: Step, *, spec: StepSpec, bundle: BundleSpec | None) -> int | None:
    """How many more days (the limit's unit) may still be granted on the step's current count
    (extensions that lapsed with a §32 restart do not count), or None if it cannot be extended."""
    allowed = extension_maximum(spec, bundle)
    return None if allowed is None else max(0, allowed.amount - int(_extension(step).get("granted_days", 0)))


def _extension(step: Step) -> dict[str, Any]:
    return dict(step.outputs.get("extension") or {})


def _guard_request_extension(change: Change, step: Step) -> None:
    allowed = extension_allowed(change, step)
    if allowed is None:
        raise IllegalTransition(f"step {step.step_key}: its limit cannot be extended (no max_extension) / "
                                "本环节办理时限不可延长")
    if _extension(step).get("pending"):
        raise IllegalTransition("an extension request is already waiting for approval / 已有延期申请待审批")
    if allowed.unit is not TimeUnit(change.spec(step).time_limit.unit):
        raise IllegalTransition(f"step {step.step_key}: max_extension counts in {allowed.unit}, the limit does not")
    days = change.inputs.days
    granted = int(_extension(step).get("granted_days", 0))
    if days is None or days < 1:
        raise DomainError("an extension needs a positive number of days / 延长天数须为正数", field="days")
    if granted + days > allowed.amount:
        raise DomainError(f"at most {allowed.amount - granted} more {allowed.unit} may be granted (§42 maximum "
                          f"{allowed.amount}) / 超过可延长的最长期限", field="days")
    if not (change.inputs.reason or "").strip():
        raise DomainError("an extension needs a reason / 延期须说明理由", field="reason")


def _request_extension(change: Change, step: Step) -> None:
    pending = {"days": change.inputs.days, "reason": (change.inputs.reason or "").strip(), "by": change.actor.id,
               "at": change.at.isoformat()}
    step.outputs = {**step.outputs, "extension": {**_extension(step), "pending": pending}}
    change.details["extension"] = {"requested": change.inputs.days, "reason": pending["reason"]}


def _guard_decide_extension(change: Change, step: Step) -> None:
    if not _extension(step).get("pending"):
        raise IllegalTransition("no extension request is waiting for approval / 没有待审批的延期申请")


def _extend_limit(change: Change, step: Step) -> None:
    record = _extension(step)
    pending = record.pop("pending")
    unit = TimeUnit(change.spec(step).time_limit.unit)
    old = step.due_on
    start = old if old is not None else change.today
    deadline = change.runtime.calendar.due(start, int(pending["days"]), unit)
    step.due_on = deadline.due_on
    step.due_provisional = deadline.provisional
    record["granted_days"] = int(record.get("granted_days", 0)) + int(pending["days"])
    record.setdefault("granted", []).append({**pending, "approved_by": change.actor.id, "approved_at": change.at.isoformat(),
                                             "from": _iso(old), "to": _iso(step.due_on)})
    step.outputs = {**step.outputs, "extension": record}
    change.details["extension"] = {"granted": pending["days"], "reason": pending["reason"], "requested_by": pending["by"],
                                   "total": record["granted_days"]}
    _record_due(change, old, step.due_on)


def _refuse_extension(change: Change, step: Step) -> None:
    record = _extension(step)
    pending = record.pop("pending")
    reason = (change.inputs.reason or "").strip()
    record.setdefault("refused", []).append({**pending, "refused_by": change.actor.id, "reason": reason})
    step.outputs = {**step.outputs, "extension": record}
    change.details["extension"] = {"refused": pending["days"], "reason": reason}


def declared_for(effects: frozenset[Effect], step: Step, *, spec: StepSpec | None, bundle: BundleSpec | None) -> bool:
    """Whether the bundle declares what ``effects`` need and the step's record allows them now (the
    guards' conditions that do not depend on the caller's input), for offering an action. Without
    the spec, the language's defaults: one 补正 notice, no declared timer events, no extension. The
    receipt of 补正 materials once each has something handed in (as the step records it; a file
    returned since is the guard's to find)."""
    if Effect.REQUEST_MATERIALS in effects and notices_sent(step) >= (spec.supplement_notices if spec else 1):
        return False
    if Effect.END_WAIT in effects and (spec is None or spec.on_no_objection is None):
        return False
    if Effect.RECORD_COMMITMENT in effects and (spec is None or spec.commitment is None):
        return False
    if Effect.TO_DESK in effects and (spec is None or spec.on_objection is None):
        return False
    if Effect.RECEIVE_MATERIALS in effects and not material_effects.all_handed_in(step):
        return False  # the receipt is confirmed once everything asked for was handed in
    pending = bool(_extension(step).get("pending"))
    if Effect.REQUEST_EXTENSION in effects and (pending or spec is None or not extension_left(step, spec=spec, bundle=bundle)):
        return False  # none declared, one waiting, or the whole maximum granted already
    return not ({Effect.EXTEND_LIMIT, Effect.REFUSE_EXTENSION} & effects and not pending)


STEP_GUARDS: dict[Effect, Callable[[Change, Step], None]] = {
    Effect.REQUEST_MATERIALS: _guard_notice,
    Effect.HAND_IN_MATERIAL: _guard_hand_in_material,
    Effect.RECEIVE_MATERIALS: material_effects.guard_receipt,
    Effect.CHECK_DEFERRED: material_effects.guard_deferred_open,
    Effect.LAPSE_SUPPLEMENT: _guard_lapse,
    Effect.END_WAIT: _guard_end_wait,
    Effect.TO_DESK: _guard_to_desk,
    Effect.REQUEST_EXTENSION: _guard_request_extension,
    Effect.EXTEND_LIMIT: _guard_decide_extension,
    Effect.REFUSE_EXTENSION: _guard_decide_extension,
    Effect.SEND_AWAY: _guard_send_away,
    Effect.REMOTE_DECISION: _guard_remote_decision,
    Effect.RECORD_COMMITMENT: commitment_effects.guard_commitment,
}
"""What an effect requires of the step and its bundle; the gate checks every guard of a rule's
effects before it applies any effect, so a refused transition changes nothing."""


STEP_EFFECTS: dict[Effect, Callable[[Change, Step], None]] = {
    Effect.CLOSE: _close,
    Effect.SET_REASON: _set_reason,
    Effect.ASSIGN: _assign,
    Effect.UNASSIGN: _unassign,
    Effect.CHECK_CREDIT: commitment_effects.check_credit,
    Effect.ROUTE: _route,
    Effect.START_CLOCK: _start_step_clock,
    Effect.STOP_CLOCK: _stop_step_clock,
    Effect.RESTART_CLOCK: _count_step_clock,
    Effect.QUEUE_RUN: _queue_run,
    Effect.QUEUE_TRANSFER: _queue_transfer,
    Effect.SEND_AWAY: _send_away,
    Effect.RECORD_OUTPUTS: _record_outputs,
    Effect.REVOKE_LICENCES: _revoke_licences,
    Effect.RECORD_COMMITMENT: commitment_effects.record_commitment,  # after the outputs it adds to
    Effect.REVOKE_RESULT: commitment_effects.revoke_result,
    Effect.REQUEST_MATERIALS: _request_materials,
    Effect.HAND_IN_MATERIAL: material_effects.hand_in_material,
    Effect.RECEIVE_MATERIALS: material_effects.receive_materials,
    Effect.LAPSE_EXTENSION: _lapse_extension,
    Effect.LAPSE_SUPPLEMENT: _lapse_supplement,
    Effect.END_WAIT: _end_wait,
    Effect.TO_DESK: _to_desk,
    Effect.REQUEST_EXTENSION: _request_extension,
    Effect.EXTEND_LIMIT: _extend_limit,
    Effect.REFUSE_EXTENSION: _refuse_extension,
    Effect.REMOTE_DECISION: _remote_decision,
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


_METHOD_ZH = {"window": "窗口领取", "post": "邮寄送达"}


def _guard_hand_over(change: Change, case: Case) -> None:
    done = change.session.get(Handover, case.id)
    if done is not None:
        raise Conflict(f"the results of case {case.receipt_no} were already handed over on {done.handed_at:%Y-%m-%d} "
                       f"({done.method}) / 该件已于 {done.handed_at:%Y-%m-%d} 出件（{_METHOD_ZH.get(done.method, done.method)}）",
                       field="case_id")
    if change.inputs.handover is None:
        raise ValueError("hand_over needs what was handed over")


def _hand_over(change: Change, case: Case) -> None:
    given = change.inputs.handover
    assert given is not None  # the guard saw it
    change.session.add(Handover(
        case_id=case.id, handed_at=given.handed_at, region=change.actor.region or case.received_in or case.region,
        handed_by=change.actor.id, recipient=given.recipient, agent_name=given.agent_name,
        agent_id_number=given.agent_id_number, method=given.method, tracking_no=given.tracking_no, note=given.note,
    ))
    change.details["handover"] = given.audit()


CASE_GUARDS: dict[Effect, Callable[[Change, Case], None]] = {
    Effect.HAND_OVER: _guard_hand_over,
    Effect.SUPPLY_DEFERRED: material_effects.guard_supply_deferred,
    Effect.REMIND_DEFERRED: material_effects.guard_remind,
    Effect.PURGE_FILES: material_effects.guard_purge,
}
"""What a case effect requires (checked before any effect applies)."""

CASE_EFFECTS: dict[Effect, Callable[[Change, Case], None]] = {
    Effect.START_CLOCK: _count_case_clock,
    Effect.STOP_CLOCK: _stop_case_clock,
    Effect.RESUME_CLOCK: _resume_case_clock,
    Effect.CLOSE: _close,
    Effect.HAND_OVER: _hand_over,
    Effect.SUPPLY_DEFERRED: material_effects.supply_deferred,
    Effect.REMIND_DEFERRED: material_effects.remind_deferred,
    Effect.PURGE_FILES: material_effects.purge_files,
}
"""How each effect changes a case, in the order the gate applies them (a closing case's stopped
clock resumes before it closes)."""
