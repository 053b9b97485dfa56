"""The one gate for state: every change of a case or step state goes through here.

Rules are data, in the spirit of Prefect's orchestration policies: each names an action, the
states it may start from, the state it leads to and the roles that may ask for it, and whether
only the officer who claimed the step may ask (``assignee_only``), and the rule's effects: what
else the change does (close, set the reason or assignee, start, stop or restart a clock, queue
an automated step, record outputs and issue licences; :mod:`engine.machine.effects`). The gate
finds the rule, checks the actor, applies the effects, writes the state, bumps the optimistic
version and appends one audit event carrying everything that changed, all in the caller's
transaction (which holds the case lock).

Claimed work belongs to its assignee: a colleague of the same department cannot start,
complete, reject or ask for 补正 on it (:class:`~engine.errors.ClaimedByAnother`). The assignee
may hand it back (``unclaim``); a supervisor of the region or an admin may hand it back or
``reassign`` it to another officer (the state stays; the audit event says from whom to whom).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from engine.records.audit import append_event
from engine.db.models import Case, Step
from engine.errors import ClaimedByAnother, Forbidden, IllegalTransition
from engine.machine.states import (
    CASE_OPEN,
    CASE_STARTERS,
    CASE_TERMINAL,
    CASE_WITHDRAWERS,
    DEPARTMENT_OFFICERS,
    LEADS,
    STEP_OPEN,
    STEP_WORKING,
    Actor,
    CaseState,
    Role,
    StepState,
    SUPPLEMENT_BRINGERS,
)
from engine.machine.effects import (
    CASE_EFFECTS,
    CASE_GUARDS,
    STEP_EFFECTS,
    STEP_GUARDS,
    Change,
    Effect,
    Inputs,
    check_inputs,
)
from engine.notify.queue import EVENTS, queue_notices
from engine.runtime import Runtime
from engine.spec.models import StepKind
from engine.records.labels import role_may_not

SYSTEM_ONLY = frozenset({Role.SYSTEM})
ACCEPTORS = CASE_STARTERS | SYSTEM_ONLY
"""Who may accept a case: the people who start one, and the engine (seeding, imports)."""


State = TypeVar("State", StepState, CaseState)


@dataclass(frozen=True, slots=True)
class Rule(Generic[State]):
    """One allowed change: ``action`` takes an entity from any of ``sources`` to ``target``
    (``None`` among the sources: the entity is being created)."""

    action: str
    sources: frozenset[State | None]
    target: State
    roles: frozenset[Role]
    kinds: frozenset[StepKind] | None = None
    """Step kinds the rule applies to (None: every kind)."""
    assignee_only: bool = False
    """Only the officer the step is assigned to may ask (a claimed step is its assignee's)."""
    effects: frozenset[Effect] = frozenset()
    """What else the transition changes, applied by the gate and recorded in its one audit event."""

    def allows(self, state: State | None) -> bool:
        return state in self.sources


def _rule(
    action: str, sources: Iterable[State] | None, target: State, roles: Iterable[Role],
    kinds: Iterable[StepKind] | None = None, *, assignee_only: bool = False, effects: Iterable[Effect] = (),
) -> Rule[State]:
    return Rule(
        action=action,
        sources=frozenset(sources) if sources is not None else frozenset({None}),
        target=target,
        roles=frozenset(roles),
        kinds=frozenset(kinds) if kinds is not None else None,
        assignee_only=assignee_only,
        effects=frozenset(effects),
    )


# Officers work human and commitment steps; the engine itself runs automated steps and timers.
DESK_KINDS = frozenset({StepKind.HUMAN, StepKind.COMMITMENT})
ENGINE_KINDS = frozenset({StepKind.AUTOMATED, StepKind.TIMER})
KINDS = frozenset(StepKind)
CLOSE_WITH_REASON = (Effect.CLOSE, Effect.SET_REASON)
FINISH = (Effect.RECORD_OUTPUTS, Effect.REVOKE_LICENCES, Effect.CLOSE)
"""A step that is done: its outputs are stored (and its licences issued), the licences it cancels
are revoked, and it closes."""
DECLARERS = frozenset({Role.APPLICANT, Role.CLERK})
"""Who may declare, for the applicant, no objection or an objection during a timer's wait, or sign
a commitment (a window records the applicant's signature on paper)."""
TAKEN = (StepState.ASSIGNED, StepState.IN_PROGRESS, StepState.SUPPLEMENT_REQUESTED)
"""States in which a desk step has an assignee."""


STEP_RULES: tuple[Rule[StepState], ...] = (
    _rule("create", None, StepState.PENDING, SYSTEM_ONLY),
    # Released: the step goes to its deciding office, its clock starts (and its minimum wait); an
    # automated step is queued for a worker.
    # A desk step routed to another province is queued to be sent there (跨省通办).
    _rule("release", {StepState.PENDING}, StepState.READY, SYSTEM_ONLY, KINDS - {StepKind.AUTOMATED, StepKind.COMMITMENT},
          effects={Effect.ROUTE, Effect.START_CLOCK, Effect.QUEUE_TRANSFER}),
    # 告知承诺: a holder with a serious credit mark gets normal review (the step turns human).
    _rule("release", {StepState.PENDING}, StepState.READY, SYSTEM_ONLY, {StepKind.COMMITMENT},
          effects={Effect.CHECK_CREDIT, Effect.ROUTE, Effect.START_CLOCK, Effect.QUEUE_TRANSFER}),
    _rule("release", {StepState.PENDING}, StepState.READY, SYSTEM_ONLY, {StepKind.AUTOMATED},
          effects={Effect.ROUTE, Effect.START_CLOCK, Effect.QUEUE_RUN}),
    _rule("claim", {StepState.READY}, StepState.ASSIGNED, DEPARTMENT_OFFICERS, DESK_KINDS, effects={Effect.ASSIGN}),
    # Handing claimed work back to the worklist: the assignee, or a lead who takes it off them.
    _rule("unclaim", STEP_WORKING, StepState.READY, DEPARTMENT_OFFICERS, DESK_KINDS, assignee_only=True,
          effects={Effect.UNASSIGN}),
    _rule("unclaim", STEP_WORKING, StepState.READY, LEADS, DESK_KINDS, effects={Effect.UNASSIGN}),
    # Reassigning keeps the state (a step awaiting 补正 keeps waiting); only the assignee changes.
    *(_rule("reassign", {state}, state, LEADS, DESK_KINDS, effects={Effect.ASSIGN}) for state in TAKEN),
    _rule("start", {StepState.ASSIGNED}, StepState.IN_PROGRESS, DEPARTMENT_OFFICERS, DESK_KINDS, assignee_only=True),
    _rule("start", {StepState.READY}, StepState.IN_PROGRESS, SYSTEM_ONLY, {StepKind.AUTOMATED}),  # picked up by dispatch
    # 容缺: a step cannot be finished while a material it needs is still owed.
    _rule("complete", STEP_WORKING, StepState.DONE, DEPARTMENT_OFFICERS, DESK_KINDS, assignee_only=True,
          effects={Effect.CHECK_DEFERRED, *FINISH}),
    _rule("complete", {StepState.READY, StepState.IN_PROGRESS}, StepState.DONE, SYSTEM_ONLY, ENGINE_KINDS,
          effects=FINISH),
    _rule("reject", STEP_WORKING, StepState.REJECTED, DEPARTMENT_OFFICERS, DESK_KINDS, assignee_only=True,
          effects=CLOSE_WITH_REASON),
    # An automated check failed.
    _rule("reject", {StepState.IN_PROGRESS}, StepState.REJECTED, SYSTEM_ONLY, {StepKind.AUTOMATED},
          effects=CLOSE_WITH_REASON),
    # 补正 (§32): one notice of everything missing stops the clock; the applicant (or a window) hands
    # the materials in, one at a time if need be (the state stays: a partial hand-in stays partial);
    # the officer may return a file (files.check_material); only the officer's confirmation of
    # receipt restarts the clock.
    _rule("request_supplement", STEP_WORKING, StepState.SUPPLEMENT_REQUESTED, DEPARTMENT_OFFICERS, DESK_KINDS,
          assignee_only=True, effects={Effect.REQUEST_MATERIALS, Effect.STOP_CLOCK}),
    _rule("hand_in_supplement", {StepState.SUPPLEMENT_REQUESTED}, StepState.SUPPLEMENT_REQUESTED, SUPPLEMENT_BRINGERS,
          DESK_KINDS, effects={Effect.HAND_IN_MATERIAL}),
    # The new count is a new §42 period: extensions granted on the old count lapse with it.
    _rule("receive_supplement", {StepState.SUPPLEMENT_REQUESTED}, StepState.IN_PROGRESS, DEPARTMENT_OFFICERS,
          DESK_KINDS, assignee_only=True,
          effects={Effect.RECEIVE_MATERIALS, Effect.RESTART_CLOCK, Effect.LAPSE_EXTENSION}),
    # 逾期未补正的视为撤回申请: the sweep closes a step whose hand-in window passed, as a withdrawal
    # closes steps (cancelled); its dependents are cancelled as after any failed prerequisite.
    _rule("lapse_supplement", {StepState.SUPPLEMENT_REQUESTED}, StepState.CANCELLED, SYSTEM_ONLY, DESK_KINDS,
          effects={Effect.LAPSE_SUPPLEMENT, Effect.CLOSE}),
    # Skipped: its condition was false, or another alternative was taken (even mid-work).
    # Timers (a publicity): a declared no-objection ends the wait; an objection makes it an officer's decision.
    _rule("end_wait", {StepState.READY}, StepState.DONE, DECLARERS, {StepKind.TIMER},
          effects={Effect.END_WAIT, *FINISH}),
    _rule("raise_objection", {StepState.READY}, StepState.READY, DECLARERS, {StepKind.TIMER},
          effects={Effect.TO_DESK}),
    # §42: the assignee asks for more time with a reason; a supervisor (or admin) grants or refuses it.
    *(_rule("request_extension", {state}, state, DEPARTMENT_OFFICERS, DESK_KINDS, assignee_only=True,
            effects={Effect.REQUEST_EXTENSION}) for state in sorted(STEP_WORKING)),
    *(_rule("approve_extension", {state}, state, LEADS, DESK_KINDS, effects={Effect.EXTEND_LIMIT})
      for state in sorted(STEP_WORKING)),
    *(_rule("refuse_extension", {state}, state, LEADS, DESK_KINDS, effects={Effect.REFUSE_EXTENSION})
      for state in sorted(STEP_WORKING)),
    # 跨省通办: the other province's system took the step, then decided it (its outputs, or its refusal).
    _rule("send_away", {StepState.READY}, StepState.IN_PROGRESS, SYSTEM_ONLY, DESK_KINDS, effects={Effect.SEND_AWAY}),
    _rule("receive_decision", {StepState.IN_PROGRESS}, StepState.DONE, SYSTEM_ONLY, DESK_KINDS,
          effects={Effect.REMOTE_DECISION, *FINISH}),
    _rule("receive_refusal", {StepState.IN_PROGRESS}, StepState.REJECTED, SYSTEM_ONLY, DESK_KINDS,
          effects={Effect.REMOTE_DECISION, *CLOSE_WITH_REASON}),
    # 告知承诺: the applicant (or a window for them) signs the letter and the step is approved at once,
    # its result and licences issued; a mark found only at signing turns it to normal review first;
    # a failed post-check revokes what it issued (the state stays: decided, then revoked).
    _rule("sign", {StepState.READY}, StepState.DONE, DECLARERS, {StepKind.COMMITMENT},
          effects={Effect.RECORD_COMMITMENT, *FINISH}),
    _rule("review_instead", {StepState.READY}, StepState.READY, SYSTEM_ONLY, {StepKind.COMMITMENT},
          effects={Effect.CHECK_CREDIT}),
    _rule("revoke_result", {StepState.DONE}, StepState.DONE, SYSTEM_ONLY, {StepKind.COMMITMENT},
          effects={Effect.REVOKE_RESULT}),
    _rule("skip", STEP_OPEN, StepState.SKIPPED, SYSTEM_ONLY, effects=CLOSE_WITH_REASON),
    _rule("cancel", STEP_OPEN, StepState.CANCELLED, SYSTEM_ONLY, effects=CLOSE_WITH_REASON),
)

HANDERS = frozenset({Role.CLERK})
"""Who hands out a finished case's results (出件): a clerk, at the window that received it
(:mod:`engine.machine.handover` checks the window)."""
FINISHED = (CaseState.COMPLETED, CaseState.PARTIALLY_COMPLETED)
"""Cases whose results (licences, documents) are issued, to be handed out."""

CASE_CLOSE = (Effect.RESUME_CLOCK, Effect.CLOSE)
"""A case that closes: a stopped clock resumes first, so its paused days are final."""

CASE_RULES: tuple[Rule[CaseState], ...] = (
    _rule("accept", None, CaseState.ACCEPTED, ACCEPTORS, effects={Effect.START_CLOCK}),
    _rule("progress", {CaseState.ACCEPTED, CaseState.SUPPLEMENT_REQUESTED}, CaseState.IN_PROGRESS, SYSTEM_ONLY),
    _rule("await_supplement", {CaseState.ACCEPTED, CaseState.IN_PROGRESS}, CaseState.SUPPLEMENT_REQUESTED, SYSTEM_ONLY),
    # The bundle's clock stops during 补正 and §45 excluded steps and resumes after; the state stays.
    *(_rule("stop_clock", {state}, state, SYSTEM_ONLY, effects={Effect.STOP_CLOCK}) for state in sorted(CASE_OPEN)),
    *(_rule("resume_clock", {state}, state, SYSTEM_ONLY, effects={Effect.RESUME_CLOCK}) for state in sorted(CASE_OPEN)),
    _rule("complete", CASE_OPEN, CaseState.COMPLETED, SYSTEM_ONLY, effects=CASE_CLOSE),
    _rule("partially_complete", CASE_OPEN, CaseState.PARTIALLY_COMPLETED, SYSTEM_ONLY, effects=CASE_CLOSE),
    _rule("reject", CASE_OPEN, CaseState.REJECTED, SYSTEM_ONLY, effects=CASE_CLOSE),
    _rule("withdraw", CASE_OPEN, CaseState.WITHDRAWN, CASE_WITHDRAWERS, effects=CASE_CLOSE),
    # 出件: the results handed out (once); the state stays.
    *(_rule("hand_over", {state}, state, HANDERS, effects={Effect.HAND_OVER}) for state in FINISHED),
    # 容缺: a material accepted as missing arrives (the applicant, or a window), or the engine
    # records the reminder before the promised date; the state stays.
    *(_rule("supply_deferred", {state}, state, SUPPLEMENT_BRINGERS, effects={Effect.SUPPLY_DEFERRED})
      for state in sorted(CASE_OPEN)),
    *(_rule("remind_deferred", {state}, state, SYSTEM_ONLY, effects={Effect.REMIND_DEFERRED})
      for state in sorted(CASE_OPEN)),
    # Retention: the expired files of a closed case are purged (the bytes, not the rows); the state stays.
    *(_rule("purge_files", {state}, state, SYSTEM_ONLY, effects={Effect.PURGE_FILES}) for state in sorted(CASE_TERMINAL)),
)


def _find(
    rules: tuple[Rule[State], ...], action: str, *, state: State | None, actor: Actor, what: str,
    kind: StepKind | None = None,
) -> Rule[State]:
    candidates = [r for r in rules if r.action == action]
    if not candidates:
        raise IllegalTransition(f"unknown {what} action {action!r}")
    if kind is not None:
        candidates = [r for r in candidates if r.kinds is None or kind in r.kinds]
        if not candidates:
            who = "the engine does it, not an officer" if kind in ENGINE_KINDS else "an officer does it, not the engine"
            raise IllegalTransition(f"cannot {action.replace('_', ' ')} a {kind} step: {who}")
    from_state = [r for r in candidates if r.allows(state)]
    if not from_state:
        shown = state.value if state is not None else "new"
        raise IllegalTransition(f"cannot {action.replace('_', ' ')} a {what} that is {shown}")
    permitted = [r for r in from_state if actor.role in r.roles]
    if not permitted:
        raise Forbidden(role_may_not(actor.role, f"{action.replace('_', ' ')} a {what} that is {state}"))
    return permitted[0]


def _write(
    session: Session, entity: Case | Step, rule: Rule[StepState] | Rule[CaseState],
    current: StepState | CaseState | None, *, change: Change, action: str, step_id: str | None = None,
) -> None:
    """Write the rule's target state, bump the version and append the one audit event."""
    entity.state = rule.target.value
    entity.version = (entity.version or 0) + 1
    append_event(
        session, case=change.case, actor=change.actor, action=action, at=change.at, step_id=step_id,
        from_state=current.value if current else None, to_state=rule.target.value, payload=change.details,
    )


def _notify(session: Session, runtime: Runtime, *, case: Case, event: str, at: datetime,
            step: Step | None = None) -> None:
    """Queue the notices ``event`` sends the applicant (engine.notify), in this same transaction."""
    if event not in EVENTS:
        return
    english = runtime.channels.locale == "en"
    names = runtime.spec_for(session, case).name
    step_name = ""
    if step is not None:
        item = runtime.registry.catalog.items.get(step.item_code)
        step_name = item.name if item else step.item_code
    queue_notices(session, runtime.channels, case=case, event=event, at=at, step=step,
                  bundle=names.en if english else names.zh, step_name=step_name)


def transition_step(
    session: Session,
    runtime: Runtime,
    *,
    case: Case,
    step: Step,
    action: str,
    actor: Actor,
    at: datetime,
    payload: dict[str, Any] | None = None,
    inputs: Inputs = Inputs(),
) -> StepState:
    """Apply ``action`` to ``step`` if a rule allows it: write the state and version, apply the rule's
    effects (fed by ``inputs``) and append one audit event carrying ``payload`` and everything the
    effects changed. An input no declared effect takes is a programming error (``ValueError``)."""
    current = StepState(step.state) if step.state is not None else None
    rule = _find(STEP_RULES, action, state=current, actor=actor, what="step", kind=StepKind(step.kind))
    if actor.role is Role.OFFICER and actor.department != step.department:
        raise Forbidden(f"step {step.step_key!r} belongs to department {step.department}, not {actor.department}")
    if rule.assignee_only and step.assigned_to is not None and step.assigned_to != actor.id:
        raise ClaimedByAnother(
            f"cannot {action.replace('_', ' ')}: the step is claimed by another officer; only its assignee may act "
            "on it, or a supervisor may reassign it first"
        )
    check_inputs(inputs, rule.effects, action=f"step.{action}")
    change = Change(session=session, runtime=runtime, case=case, actor=actor, at=at, inputs=inputs,
                    details={"step": step.step_key, "instance": step.instance, **(payload or {})})
    for effect, guard in STEP_GUARDS.items():  # every guard first: a refusal changes nothing
        if effect in rule.effects:
            guard(change, step)
    for effect, apply in STEP_EFFECTS.items():
        if effect in rule.effects:
            apply(change, step)
    _write(session, step, rule, current, change=change, action=f"step.{action}", step_id=step.id)
    _notify(session, runtime, case=case, event=f"step.{action}", at=at, step=step)
    return rule.target


def transition_case(
    session: Session,
    runtime: Runtime,
    *,
    case: Case,
    action: str,
    actor: Actor,
    at: datetime,
    payload: dict[str, Any] | None = None,
    inputs: Inputs = Inputs(),
) -> CaseState:
    """Apply ``action`` to ``case`` if a rule allows it: write state and version, apply the rule's
    effects (the bundle's clock, closing, a hand-over fed by ``inputs``) and append one audit event
    carrying them."""
    current = CaseState(case.state) if case.state is not None else None
    rule = _find(CASE_RULES, action, state=current, actor=actor, what="case")
    check_inputs(inputs, rule.effects, action=f"case.{action}")
    change = Change(session=session, runtime=runtime, case=case, actor=actor, at=at, inputs=inputs,
                    details=dict(payload or {}))
    for effect, guard in CASE_GUARDS.items():  # every guard first: a refusal changes nothing
        if effect in rule.effects:
            guard(change, case)
    for effect, apply in CASE_EFFECTS.items():
        if effect in rule.effects:
            apply(change, case)
    _write(session, case, rule, current, change=change, action=f"case.{action}")
    _notify(session, runtime, case=case, event=f"case.{action}", at=at)
    return rule.target
