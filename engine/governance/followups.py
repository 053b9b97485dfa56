"""The gate of follow-ups: tasks that follow a case with a working-day deadline of their own.

A follow-up (:class:`~engine.db.models.Followup`) is a rectification of a bad rating (整改), a
post-check of a commitment (事中事后核查) or a 12345 complaint (诉求). Like the step gate
(:mod:`engine.machine.transitions`), every change of a follow-up's state goes through one function,
:func:`transition_followup`, which finds the rule of :data:`FOLLOWUP_RULES` for the kind, action and
state, checks the actor (role and reach: an officer of the follow-up's department whose region
covers its office's; a supervisor over its region; the applicant of the case), applies the kind's
effect (passed by the kind's module, in the same transaction), closes the follow-up and resolves its
cards when the rule leads to ``closed``, bumps the version and appends one audit event on the case
(``followup.<kind>.<action>``) carrying everything that changed. :func:`open_followup` creates one
(rule ``open``) with its deadline counted in working days from today.

The caller holds the case lock (:func:`engine.machine.unit_of_work.load_case`) and commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, update
from sqlalchemy.orm import Session, contains_eager

from engine.db.models import Card, Case, Followup, Step
from engine.errors import DomainError, Forbidden, IllegalTransition, NotFound, StaleVersion
from engine.machine.access import region_covers
from engine.people.regions import region_prefix
from engine.machine.states import LEADS, SYSTEM, Actor, Role
from engine.machine.unit_of_work import load_case
from engine.records.audit import append_event
from engine.runtime import Runtime
from engine.time.clock import local_date
from engine.records.labels import role_may_not

__all__ = ["FOLLOWUP_OPEN", "FOLLOWUP_RULES", "FollowupChange", "FollowupKind", "FollowupRule", "FollowupState",
           "authorize_followup", "followup_actions", "followup_rule", "followups_visible_to", "list_followups",
           "load_followup", "open_followup", "transition_followup"]


class FollowupKind(StrEnum):
    RECTIFICATION = "rectification"
    """整改: the office answers a bad rating (国办发〔2019〕51号: 差评整改, 回访)."""
    POST_CHECK = "post_check"
    """事中事后核查 of a commitment (告知承诺, 国办发〔2020〕42号)."""
    COMPLAINT = "complaint"
    """A 12345 hotline 诉求 about a case."""


class FollowupState(StrEnum):
    OPEN = "open"
    APPEALED = "appealed"
    """The office contests it (申诉); a supervisor decides."""
    CLOSED = "closed"


FOLLOWUP_OPEN = frozenset({FollowupState.OPEN, FollowupState.APPEALED})
"""States in which a follow-up's deadline runs (and it may be carded)."""

MAX_FOLLOWUPS_PAGE = 500
"""The longest page of follow-ups one request may ask for."""

OFFICERS = frozenset({Role.OFFICER})
SYSTEM_ONLY = frozenset({Role.SYSTEM})


@dataclass(frozen=True, slots=True)
class FollowupRule:
    """One allowed change of a follow-up of ``kind``: ``action`` from ``sources`` (None: creating it)
    to ``target``, asked by ``roles``; ``outcome`` is recorded when it closes."""

    kind: FollowupKind
    action: str
    sources: frozenset[FollowupState | None]
    target: FollowupState
    roles: frozenset[Role]
    outcome: str = ""


def _rules(kind: FollowupKind, *rows: tuple[str, Iterable[FollowupState | None], FollowupState, Iterable[Role], str]
           ) -> tuple[FollowupRule, ...]:
    return tuple(FollowupRule(kind, action, frozenset(sources), target, frozenset(roles), outcome)
                 for action, sources, target, roles, outcome in rows)


_O, _A, _C = FollowupState.OPEN, FollowupState.APPEALED, FollowupState.CLOSED

FOLLOWUP_RULES: tuple[FollowupRule, ...] = (
    # 差评整改: opened by a bad rating; the office rectifies and records its call-back (回访), or
    # contests it (申诉) and a supervisor upholds the appeal (the rating no longer counts against the
    # office) or dismisses it (the rectification goes on, its deadline unchanged).
    *_rules(FollowupKind.RECTIFICATION,
            ("open", {None}, _O, SYSTEM_ONLY, ""),
            ("rectify", {_O}, _C, OFFICERS, "rectified"),
            ("appeal", {_O}, _A, OFFICERS, ""),
            ("uphold_appeal", {_A}, _C, LEADS, "appeal_upheld"),
            ("dismiss_appeal", {_A}, _O, LEADS, "")),
    # 事中事后核查: the office checks what the applicant promised.
    *_rules(FollowupKind.POST_CHECK,
            ("open", {None}, _O, SYSTEM_ONLY, ""),
            ("pass", {_O}, _C, OFFICERS, "passed"),
            ("fail", {_O}, _C, OFFICERS, "failed")),
    # 12345 诉求: the office answers; the hotline (or a supervisor) reopens an answer the caller rejects.
    *_rules(FollowupKind.COMPLAINT,
            ("open", {None}, _O, SYSTEM_ONLY | LEADS, ""),
            ("answer", {_O}, _C, OFFICERS, "answered"),
            ("reopen", {_C}, _O, SYSTEM_ONLY | LEADS, "")),
)


def followup_rule(kind: FollowupKind | str, action: str, state: FollowupState | str | None) -> FollowupRule:
    """The rule for ``action`` on a follow-up of ``kind`` in ``state``; IllegalTransition if none."""
    current = FollowupState(state) if state is not None else None
    candidates = [r for r in FOLLOWUP_RULES if r.kind == kind and r.action == action]
    if not candidates:
        raise IllegalTransition(f"a {kind} has no action {action!r}", field="action")
    for rule in candidates:
        if current in rule.sources:
            return rule
    raise IllegalTransition(f"cannot {action.replace('_', ' ')} a {kind} that is {current}", field="action")


def authorize_followup(actor: Actor, followup: Followup, case: Case, rule: FollowupRule) -> None:
    """Whether ``actor`` may ask for ``rule`` on ``followup``: the role, then the reach. Outside one's
    sight the follow-up does not exist (NotFound); in sight but not one's to do, Forbidden."""
    if actor.role is Role.SYSTEM:
        return
    if not followup_visible(actor, followup, case):
        raise NotFound(f"no follow-up {followup.id}", field="followup_id")
    if actor.role not in rule.roles:
        raise Forbidden(role_may_not(actor.role, f"{rule.action.replace('_', ' ')} a {followup.kind}"))


def followup_visible(actor: Actor, followup: Followup, case: Case) -> bool:
    """Who sees a follow-up: its office's officers (department, region covering the office's),
    supervisors and admins over its office's region or the case's, the case's applicant, the engine."""
    match actor.role:
        case Role.SYSTEM:
            return True
        case Role.OFFICER:
            office_region = followup.office.split("@", 1)[1] if followup.office else followup.region
            return actor.department == followup.department and region_covers(actor.region, office_region)
        case Role.SUPERVISOR | Role.ADMIN:
            return region_covers(actor.region, followup.region) or region_covers(actor.region, case.region)
        case Role.APPLICANT:
            return actor.subject is not None and actor.subject == case.applicant_id
        case _:
            return False


@dataclass
class FollowupChange:
    """What a kind's effect sees and adds to: the follow-up, its case, who and when; ``details`` is
    merged into the follow-up's ``details`` and recorded in the audit event, ``audit`` only recorded."""

    session: Session
    runtime: Runtime
    case: Case
    followup: Followup
    actor: Actor
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)


Effect = Callable[[FollowupChange], None]


def open_followup(
    session: Session,
    runtime: Runtime,
    *,
    case: Case,
    kind: FollowupKind,
    working_days: int,
    region: str,
    office: str | None,
    department: str | None,
    step: Step | None = None,
    rating_id: int | None = None,
    source_ref: str | None = None,
    details: dict[str, Any] | None = None,
    actor: Actor | None = None,
    effect: Effect | None = None,
) -> Followup:
    """Open a follow-up of ``kind`` on ``case`` due ``working_days`` working days from today (rule
    ``open``), and record it in one audit event."""
    who = actor or SYSTEM
    rule = followup_rule(kind, "open", None)
    if who.role not in rule.roles:
        raise Forbidden(f"a {who.role.value} may not open a {kind}")
    at = runtime.clock.now()
    today = local_date(at)
    followup = Followup(
        kind=kind.value, case_id=case.id, step_id=step.id if step is not None else None, rating_id=rating_id,
        source_ref=source_ref, office=office, department=department, region=region, state=rule.target.value,
        version=0, details=dict(details or {}), outcome="", opened_at=at, opened_on=today,
        due_on=runtime.calendar.add_working_days(today, working_days),
    )
    session.add(followup)
    session.flush()  # its id goes into the audit event
    change = FollowupChange(session=session, runtime=runtime, case=case, followup=followup, actor=who, at=at)
    if effect is not None:
        effect(change)
    followup.details = {**followup.details, **change.details}
    append_event(session, case=case, actor=who, action=f"followup.{kind.value}.open", at=at,
                 step_id=followup.step_id, to_state=followup.state,
                 payload={"followup": followup.id, "kind": kind.value, "office": office, "region": region,
                          "due_on": followup.due_on.isoformat(), "working_days": working_days,
                          **(details or {}), **change.details, **change.audit})
    return followup


def transition_followup(
    session: Session,
    runtime: Runtime,
    *,
    case: Case,
    followup: Followup,
    action: str,
    actor: Actor,
    expected_version: int | None = None,
    details: dict[str, Any] | None = None,
    effect: Effect | None = None,
    restart_working_days: int | None = None,
) -> FollowupState:
    """Apply ``action`` to ``followup`` if a rule allows it and ``actor`` may: write the state (and,
    closing it, the outcome, ``closed_at`` and its cards' resolution; with ``restart_working_days``,
    a new deadline that many working days from today), merge ``details``, run the kind's ``effect``
    and append one audit event carrying all of it."""
    rule = followup_rule(followup.kind, action, followup.state)
    authorize_followup(actor, followup, case, rule)
    if expected_version is not None and followup.version != expected_version:
        raise StaleVersion(f"the {followup.kind} was changed by someone else (version {followup.version}, "
                           f"you had {expected_version}); reload it", field="version")
    at = runtime.clock.now()
    change = FollowupChange(session=session, runtime=runtime, case=case, followup=followup, actor=actor, at=at,
                            details=dict(details or {}))
    if effect is not None:
        effect(change)
    before = followup.state
    followup.state = rule.target.value
    followup.version += 1
    followup.details = {**followup.details, **change.details}
    closing: dict[str, Any] = {}
    if rule.target is FollowupState.CLOSED:
        followup.outcome = rule.outcome
        followup.closed_at = at
        result = session.execute(
            update(Card).where(Card.followup_id == followup.id, Card.resolved_at.is_(None)).values(resolved_at=at)
        )
        resolved = int(getattr(result, "rowcount", 0) or 0)
        closing = {"outcome": rule.outcome, "cards_resolved": resolved}
    elif before == FollowupState.CLOSED.value:  # reopened
        followup.outcome = ""
        followup.closed_at = None
    if restart_working_days is not None:
        followup.due_on = runtime.calendar.add_working_days(local_date(at), restart_working_days)
        closing["due_on"] = followup.due_on.isoformat()
        closing["working_days"] = restart_working_days
    append_event(session, case=case, actor=actor, action=f"followup.{followup.kind}.{action}", at=at,
                 step_id=followup.step_id, from_state=before, to_state=followup.state,
                 payload={"followup": followup.id, "kind": followup.kind, **change.details, **change.audit,
                          **closing})
    return rule.target


def followup_actions(actor: Actor, followup: Followup, case: Case) -> list[str]:
    """The actions of :data:`FOLLOWUP_RULES` ``actor`` may ask for on ``followup`` now (its kind and
    state, the actor's role, in sight): what a page offers, from the gate's own table."""
    if actor.role is Role.SYSTEM or not followup_visible(actor, followup, case):
        return []
    state = FollowupState(followup.state)
    return [rule.action for rule in FOLLOWUP_RULES
            if rule.kind == followup.kind and rule.action != "open" and state in rule.sources
            and actor.role in rule.roles]


def load_followup(session: Session, followup_id: int, *, kind: FollowupKind, missing: str) -> tuple[Case, Followup]:
    """Follow-up ``followup_id`` of ``kind`` with its case locked and the follow-up read after the
    lock; NotFound (``missing``, on ``followup_id``) for another kind or none."""
    found = session.get(Followup, followup_id)
    if found is None or found.kind != kind.value:
        raise NotFound(missing, field="followup_id")
    case = load_case(session, found.case_id)
    session.refresh(found)
    return case, found


def due_today(followup: Followup, today: date) -> bool:
    """Whether an open follow-up is past its deadline on ``today``."""
    return followup.closed_at is None and today > followup.due_on


def followups_visible_to(actor: Actor) -> list[ColumnElement[bool]]:
    """:func:`followup_visible` as SQL over follow-ups joined to their cases. An office's region is
    the follow-up's ``region`` (open_followup stores the office's region there)."""
    def within(scope: str | None) -> list[ColumnElement[bool]]:
        return [] if scope is None else [Followup.region.startswith(region_prefix(scope), autoescape=True)]

    match actor.role:
        case Role.SYSTEM:
            return []
        case Role.OFFICER:
            if actor.department is None:
                return [false()]
            return [Followup.department == actor.department, *within(actor.region)]
        case Role.SUPERVISOR | Role.ADMIN:
            if actor.region is None:
                return []
            return [or_(Followup.region.startswith(region_prefix(actor.region), autoescape=True),
                        Case.region.startswith(region_prefix(actor.region), autoescape=True))]
        case Role.APPLICANT if actor.subject is not None:
            return [Case.applicant_id == actor.subject]
        case _:
            return [false()]


def list_followups(
    session: Session,
    *,
    actor: Actor,
    kind: FollowupKind | None = None,
    open_only: bool = True,
    newest_first: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Followup]:
    """The follow-ups ``actor`` sees (:func:`followup_visible`), of ``kind`` (None: all), open or
    appealed only unless ``open_only`` is False; the earliest due first (open before closed), or
    with ``newest_first`` the most recently opened first."""
    if not 1 <= limit <= MAX_FOLLOWUPS_PAGE:
        raise DomainError(f"limit must be 1 to {MAX_FOLLOWUPS_PAGE} / 每页条数须为1至{MAX_FOLLOWUPS_PAGE}",
                          field="limit")
    if offset < 0:
        raise DomainError("offset must not be negative / 偏移量不能为负", field="offset")
    where = followups_visible_to(actor)
    if kind is not None:
        where.append(Followup.kind == kind.value)
    if open_only:
        where.append(Followup.closed_at.is_(None))
    order = ((Followup.opened_at.desc(), Followup.id.desc()) if newest_first
             else (Followup.closed_at.is_not(None), Followup.due_on, Followup.id.desc()))
    query = (select(Followup).join(Case, Case.id == Followup.case_id).options(contains_eager(Followup.case))
             .where(*where).order_by(*order).limit(limit).offset(offset))
    return list(session.scalars(query))
