"""The one gate for state: every change of a case or step state goes through here.

Rules are data, in the spirit of Prefect's orchestration policies: each names an action, the
states it may start from, the state it leads to and the roles that may ask for it, and whether
only the officer who claimed the step may ask (``assignee_only``). The gate finds the rule,
checks the actor, writes the state, bumps the optimistic version and appends the audit event,
all in the caller's transaction (which holds the case lock).

Claimed work belongs to its assignee: a colleague of the same department cannot start,
complete, reject or ask for 补正 on it (:class:`~engine.errors.ClaimedByAnother`). The assignee
may hand it back (``unclaim``); a supervisor of the region or an admin may hand it back or
``reassign`` it to another officer (the state stays; the audit event says from whom to whom).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from engine.records.audit import append_event
from engine.db.models import Case, Step
from engine.errors import ClaimedByAnother, Forbidden, IllegalTransition
from engine.machine.states import (
    CASE_OPEN,
    STEP_OPEN,
    STEP_WORKING,
    Actor,
    CaseState,
    Role,
    StepState,
)
from engine.spec.models import StepKind

STAFF = frozenset({Role.OFFICER})
LEADS = frozenset({Role.SUPERVISOR, Role.ADMIN})
"""Who may take claimed work off its assignee (scoped by region in :mod:`engine.machine.actions`)."""
SYSTEM_ONLY = frozenset({Role.SYSTEM})
INTAKE = frozenset({Role.APPLICANT, Role.CLERK, Role.ADMIN, Role.SYSTEM})


State = TypeVar("State", StepState, CaseState)


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
CLOSE_WITH_REASON = (Effect.CLOSE, Effect.SET_REASON)
TAKEN = (StepState.ASSIGNED, StepState.IN_PROGRESS, StepState.SUPPLEMENT_REQUESTED)
"""States in which a desk step has an assignee."""


STEP_RULES: tuple[Rule[StepState], ...] = (
    _rule("create", None, StepState.PENDING, SYSTEM_ONLY),
    _rule("release", {StepState.PENDING}, StepState.READY, SYSTEM_ONLY),
    _rule("claim", {StepState.READY}, StepState.ASSIGNED, STAFF, DESK_KINDS, effects={Effect.ASSIGN}),
    # Handing claimed work back to the worklist: the assignee, or a lead who takes it off them.
    _rule("unclaim", STEP_WORKING, StepState.READY, STAFF, DESK_KINDS, assignee_only=True, effects={Effect.UNASSIGN}),
    _rule("unclaim", STEP_WORKING, StepState.READY, LEADS, DESK_KINDS, effects={Effect.UNASSIGN}),
    # Reassigning keeps the state (a step awaiting 补正 keeps waiting); only the assignee changes.
    *(_rule("reassign", {state}, state, LEADS, DESK_KINDS, effects={Effect.ASSIGN}) for state in TAKEN),
    _rule("start", {StepState.ASSIGNED}, StepState.IN_PROGRESS, STAFF, DESK_KINDS, assignee_only=True),
    _rule("start", {StepState.READY}, StepState.IN_PROGRESS, SYSTEM_ONLY, {StepKind.AUTOMATED}),  # picked up by dispatch
    _rule("complete", STEP_WORKING, StepState.DONE, STAFF, DESK_KINDS, assignee_only=True, effects={Effect.CLOSE}),
    _rule("complete", {StepState.READY, StepState.IN_PROGRESS}, StepState.DONE, SYSTEM_ONLY, ENGINE_KINDS,
          effects={Effect.CLOSE}),
    _rule("reject", STEP_WORKING, StepState.REJECTED, STAFF, DESK_KINDS, assignee_only=True, effects=CLOSE_WITH_REASON),
    # An automated check failed.
    _rule("reject", {StepState.IN_PROGRESS}, StepState.REJECTED, SYSTEM_ONLY, {StepKind.AUTOMATED}, effects=CLOSE_WITH_REASON),
    _rule("request_supplement", STEP_WORKING, StepState.SUPPLEMENT_REQUESTED, STAFF, DESK_KINDS, assignee_only=True),
    _rule("receive_supplement", {StepState.SUPPLEMENT_REQUESTED}, StepState.IN_PROGRESS, {Role.APPLICANT, Role.CLERK}, DESK_KINDS),
    # Skipped: its condition was false, or another alternative was taken (even mid-work).
    _rule("skip", STEP_OPEN, StepState.SKIPPED, SYSTEM_ONLY, effects=CLOSE_WITH_REASON),
    _rule("cancel", STEP_OPEN, StepState.CANCELLED, SYSTEM_ONLY, effects=CLOSE_WITH_REASON),
)

CASE_RULES: tuple[Rule[CaseState], ...] = (
    _rule("accept", None, CaseState.ACCEPTED, INTAKE),
    _rule("progress", {CaseState.ACCEPTED, CaseState.SUPPLEMENT_REQUESTED}, CaseState.IN_PROGRESS, SYSTEM_ONLY),
    _rule("await_supplement", {CaseState.ACCEPTED, CaseState.IN_PROGRESS}, CaseState.SUPPLEMENT_REQUESTED, SYSTEM_ONLY),
    _rule("complete", CASE_OPEN, CaseState.COMPLETED, SYSTEM_ONLY, effects={Effect.CLOSE}),
    _rule("partially_complete", CASE_OPEN, CaseState.PARTIALLY_COMPLETED, SYSTEM_ONLY, effects={Effect.CLOSE}),
    _rule("reject", CASE_OPEN, CaseState.REJECTED, SYSTEM_ONLY, effects={Effect.CLOSE}),
    _rule("withdraw", CASE_OPEN, CaseState.WITHDRAWN, {Role.APPLICANT, Role.CLERK, Role.ADMIN}, effects={Effect.CLOSE}),
)


def _find(
    rules: tuple[Rule[State], ...], action: str, state: State | None, actor: Actor, what: str,
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
        raise Forbidden(f"a {actor.role.value} may not {action.replace('_', ' ')} a {what} that is {state}")
    return permitted[0]


def _apply(
    session: Session,
    entity: Case | Step,
    rule: Rule[StepState] | Rule[CaseState],
    current: StepState | CaseState | None,
    *,
    case: Case,
    action: str,
    actor: Actor,
    at: datetime,
    step_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Write the rule's target state and its effects, bump the version and append the audit event."""
    entity.state = rule.target.value
    entity.version = (entity.version or 0) + 1
    if Effect.CLOSE in rule.effects:
        entity.closed_at = at  # the audit event's own time says when
    append_event(
        session,
        case=case,
        actor=actor,
        action=action,
        at=at,
        step_id=step_id,
        from_state=current.value if current else None,
        to_state=rule.target.value,
        payload=payload,
    )


def transition_step(
    session: Session,
    *,
    case: Case,
    step: Step,
    action: str,
    actor: Actor,
    at: datetime,
    payload: dict[str, Any] | None = None,
    reason: str | None = None,
    assignee: str | None = None,
) -> StepState:
    """Apply ``action`` to ``step`` if a rule allows it; write state, version, the rule's effects and
    one audit event carrying them. ``reason`` and ``assignee`` are the effects' inputs: giving one
    the rule does not declare is a programming error (``ValueError``), never silently dropped."""
    current = StepState(step.state) if step.state is not None else None
    rule = _find(STEP_RULES, action, current, actor, "step", StepKind(step.kind))
    if actor.role is Role.OFFICER and actor.department != step.department:
        raise Forbidden(f"step {step.step_key!r} belongs to department {step.department}, not {actor.department}")
    if rule.assignee_only and step.assigned_to is not None and step.assigned_to != actor.id:
        raise ClaimedByAnother(
            f"cannot {action.replace('_', ' ')}: the step is claimed by another officer; only its assignee may act "
            "on it, or a supervisor may reassign it first"
        )
    details: dict[str, Any] = {"step": step.step_key, "instance": step.instance, **(payload or {})}
    _apply_step_effects(step, rule, actor=actor, reason=reason, assignee=assignee, details=details)
    _apply(session, step, rule, current, case=case, action=f"step.{action}", actor=actor, at=at, step_id=step.id,
           payload=details)
    return rule.target


def _apply_step_effects(
    step: Step, rule: Rule[StepState], *, actor: Actor, reason: str | None, assignee: str | None,
    details: dict[str, Any],
) -> None:
    """Write the step fields the rule declares and add them to the audit ``details``."""
    if reason is not None and Effect.SET_REASON not in rule.effects:
        raise ValueError(f"step.{rule.action} sets no reason")
    if assignee is not None and Effect.ASSIGN not in rule.effects:
        raise ValueError(f"step.{rule.action} assigns nobody")
    if Effect.SET_REASON in rule.effects and reason is not None:
        step.reason = reason
        details["reason"] = reason
    if Effect.ASSIGN in rule.effects:
        if step.assigned_to is not None:
            details["from"] = step.assigned_to
        step.assigned_to = assignee if assignee is not None else actor.id
        details["to"] = step.assigned_to
    if Effect.UNASSIGN in rule.effects:
        details["from"] = step.assigned_to
        step.assigned_to = None


def transition_case(
    session: Session,
    *,
    case: Case,
    action: str,
    actor: Actor,
    at: datetime,
    payload: dict[str, Any] | None = None,
) -> CaseState:
    """Apply ``action`` to ``case`` if a rule allows it; write state, version and audit event."""
    current = CaseState(case.state) if case.state is not None else None
    rule = _find(CASE_RULES, action, current, actor, "case")
    _apply(session, case, rule, current, case=case, action=f"case.{action}", actor=actor, at=at, payload=payload)
    return rule.target
