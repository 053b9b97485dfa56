"""情况说明: the explanation a red card asks of the office (电子监察, "超时必究").

:func:`engine.time.supervision.issue_cards` issues every red card with its explanation
``required``. The office's officer submits one (:func:`submit_explanation`: the reason, the
corrective action, optionally the person responsible); a supervisor accepts it
(:func:`accept_explanation`) or returns it with a note (:func:`return_explanation`), after which the
office submits again. Every change goes through one gate, :func:`change_explanation`, which finds
the rule of :data:`EXPLANATION_RULES`, checks the actor (an officer of the card's department whose
region covers the card's office's; a supervisor or admin over the card's region), locks the case,
writes the state, adds to the card's history (``explanation["rounds"]``: one round per submission,
with the decision on it) and appends one audit event on the case (``card.explanation.<action>``).

A card's explanation is owed whether or not the card is resolved: closing the late step does not
undo its lateness. The caller commits (:func:`engine.machine.unit_of_work.in_transaction`).

:func:`explanations_due` is each actor's worklist of explanations; :func:`unexplained_red_cards`
counts the red cards still waiting on their office, per office.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case as when_then, false, func, or_, select
from sqlalchemy.orm import Session

from engine.db.models import Card, Followup, Step
from engine.errors import DomainError, Forbidden, IllegalTransition, NotFound
from engine.machine.access import region_covers
from engine.machine.states import LEADS, Actor, Role
from engine.machine.unit_of_work import load_case
from engine.people.regions import region_prefix
from engine.records.audit import append_event
from engine.runtime import Runtime
from engine.records.labels import role_may_not

__all__ = ["EXPLANATION_RULES", "MAX_NOTE", "MAX_RESPONSIBLE", "MAX_TEXT", "NO_OFFICE", "ExplanationRule",
           "ExplanationState", "accept_explanation", "card_office_region", "card_visible", "change_explanation",
           "explanation_rule", "explanations_due", "return_explanation", "submit_explanation",
           "unexplained_red_cards"]

MAX_TEXT = 1000
"""The longest reason or corrective action, in characters."""
MAX_NOTE = 1000
"""The longest note on a decision."""
MAX_RESPONSIBLE = 64
"""The longest name of the person responsible."""
NO_OFFICE = "-"
"""The office :func:`unexplained_red_cards` counts a card under when it has none (a case's card)."""


class ExplanationState(StrEnum):
    NONE = ""
    """A yellow card (or a red card issued before explanations): nothing to explain."""
    REQUIRED = "required"
    """A red card as issued: the office owes an explanation."""
    SUBMITTED = "submitted"
    """The office explained; a supervisor decides."""
    ACCEPTED = "accepted"
    """A supervisor accepted the explanation: nothing more is owed."""
    RETURNED = "returned"
    """A supervisor returned it (with a note): the office submits again."""


OWED = frozenset({ExplanationState.REQUIRED, ExplanationState.RETURNED})
"""States in which the office owes an explanation."""


@dataclass(frozen=True, slots=True)
class ExplanationRule:
    """One allowed change of a card's explanation: ``action`` from ``sources`` to ``target``, asked
    by ``roles``, with the ``fields`` the action records (and no others)."""

    action: str
    sources: frozenset[ExplanationState]
    target: ExplanationState
    roles: frozenset[Role]
    fields: frozenset[str]


_S = ExplanationState

EXPLANATION_RULES: tuple[ExplanationRule, ...] = tuple(
    ExplanationRule(action, frozenset(sources), target, frozenset(roles), frozenset(fields))
    for action, sources, target, roles, fields in (
        # The office explains a red card, first or again after a return.
        ("submit", {_S.REQUIRED, _S.RETURNED}, _S.SUBMITTED, {Role.OFFICER},
         {"reason", "corrective_action", "responsible"}),
        # A supervisor (or admin) decides on what was submitted.
        ("accept", {_S.SUBMITTED}, _S.ACCEPTED, LEADS, {"note"}),
        ("return", {_S.SUBMITTED}, _S.RETURNED, LEADS, {"note"}),
    )
)


def _rules_for(action: str) -> list[ExplanationRule]:
    rules = [r for r in EXPLANATION_RULES if r.action == action]
    if not rules:
        raise IllegalTransition(f"an explanation has no action {action!r} / 无此操作", field="action")
    return rules


def explanation_rule(action: str, state: ExplanationState | str) -> ExplanationRule:
    """The rule for ``action`` on an explanation in ``state``; IllegalTransition if none (a yellow
    card's, whose state is '', has none)."""
    current = ExplanationState(state or "")
    for rule in _rules_for(action):
        if current in rule.sources:
            return rule
    shown = current.value or "not asked for"
    raise IllegalTransition(f"cannot {action} an explanation that is {shown} / 该情况说明当前状态不允许此操作",
                            field="action")


def card_office_region(card: Card, step: Step | None) -> str:
    """The region of the office a card is for: a step's card, the step's office (``DEPT@REGION``;
    a step not yet routed, where it is decided, else the card's region); any other card, the
    card's region (a follow-up's card copies the follow-up's office region)."""
    if step is not None:
        if step.office:
            return step.office.split("@", 1)[1]
        return step.decided_in or card.region
    return card.region


def card_visible(actor: Actor, card: Card, step: Step | None) -> bool:
    """Who sees a card's explanation: the officers of its department whose region covers its
    office's, supervisors and admins over its region, the engine. Nobody else (an applicant, a
    window clerk) learns of it."""
    match actor.role:
        case Role.SYSTEM:
            return True
        case Role.OFFICER:
            return (actor.department is not None and actor.department == card.department
                    and actor.region is not None and region_covers(actor.region, card_office_region(card, step)))
        case Role.SUPERVISOR | Role.ADMIN:
            return region_covers(actor.region, card.region)
        case _:
            return False


def _check_fields(rule: ExplanationRule, fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - rule.fields)
    if unknown:
        raise DomainError(f"{rule.action} records no {', '.join(unknown)} / 不接受字段 {', '.join(unknown)}",
                          field=unknown[0])


def change_explanation(
    session: Session,
    runtime: Runtime,
    *,
    card_id: int,
    action: str,
    actor: Actor,
    **fields: Any,
) -> Card:
    """Apply ``action`` to the explanation of card ``card_id`` if a rule allows it and ``actor`` may:
    lock the case, write the state, add the submission (a new round) or the decision (on the last
    round) to ``card.explanation`` and append one audit event. A card outside the actor's sight
    does not exist (NotFound); in sight but not the actor's to do, Forbidden; a state the rule does
    not start from, IllegalTransition. The caller commits."""
    rules = _rules_for(action)
    found = session.get(Card, card_id)
    if found is None:
        raise NotFound(f"no card {card_id}", field="card_id")
    case = load_case(session, found.case_id)
    session.refresh(found)  # read after the lock: another decision may have just committed
    card = found
    step = session.get(Step, card.step_id) if card.step_id is not None else None
    if not card_visible(actor, card, step):
        raise NotFound(f"no card {card_id}", field="card_id")
    # The role before the state: whoever may never do this learns that, whatever the card's state.
    if not any(actor.role in r.roles for r in rules):
        raise Forbidden(role_may_not(actor.role, f"{action} an explanation", "处理该情况说明"))
    before = ExplanationState(card.explanation_state or "")
    rule = explanation_rule(action, before)
    _check_fields(rule, fields)
    at = runtime.clock.now()
    explanation = dict(card.explanation or {})
    rounds: list[dict[str, Any]] = [dict(r) for r in explanation.get("rounds", [])]
    added: dict[str, Any]
    if rule.target is ExplanationState.SUBMITTED:
        submitted = {"by": actor.id, "label": actor.label, "at": at.isoformat(),
                     "reason": fields.get("reason", ""), "corrective_action": fields.get("corrective_action", ""),
                     "responsible": fields.get("responsible", "")}
        rounds.append({"submitted": submitted, "decision": None})
        added = {"submitted": submitted}
    else:
        # A decision is only ever on a submitted explanation, so the last round is the one decided.
        decision = {"action": rule.action, "by": actor.id, "label": actor.label, "at": at.isoformat(),
                    "note": fields.get("note", "")}
        rounds[-1] = {**rounds[-1], "decision": decision}
        added = {"decision": decision}
    # A new dict, not a mutation: the JSON column notices assignments only.
    card.explanation = {**explanation, "rounds": rounds}
    card.explanation_state = rule.target.value
    append_event(session, case=case, actor=actor, action=f"card.explanation.{rule.action}", at=at,
                 step_id=card.step_id, from_state=before.value, to_state=rule.target.value,
                 payload={"card": card.id, "colour": card.colour, "followup": card.followup_id,
                          "from": before.value, "to": rule.target.value, "round": len(rounds), **added})
    session.flush()
    return card


def _text(value: str, *, field: str, what_en: str, what_zh: str, limit: int, required: bool) -> str:
    text = value.strip()
    if required and not text:
        raise DomainError(f"{what_en} is needed / 请填写{what_zh}", field=field)
    if len(text) > limit:
        raise DomainError(f"{what_en} is at most {limit} characters / {what_zh}不超过{limit}字", field=field)
    return text


def submit_explanation(
    session: Session,
    runtime: Runtime,
    *,
    card_id: int,
    actor: Actor,
    reason: str,
    corrective_action: str,
    responsible: str = "",
) -> Card:
    """The office's officer explains a red card (first, or again after a return): why it was late
    (1–1000 characters), what is done about it (1–1000) and, optionally, who is responsible (≤ 64)."""
    return change_explanation(
        session, runtime, card_id=card_id, action="submit", actor=actor,
        reason=_text(reason, field="reason", what_en="the reason", what_zh="超时原因", limit=MAX_TEXT, required=True),
        corrective_action=_text(corrective_action, field="corrective_action", what_en="the corrective action",
                                what_zh="整改措施", limit=MAX_TEXT, required=True),
        responsible=_text(responsible, field="responsible", what_en="the person responsible", what_zh="责任人",
                          limit=MAX_RESPONSIBLE, required=False),
    )


def accept_explanation(session: Session, runtime: Runtime, *, card_id: int, actor: Actor, note: str = "") -> Card:
    """A supervisor accepts the explanation submitted for a red card, with an optional note (≤ 1000)."""
    return change_explanation(
        session, runtime, card_id=card_id, action="accept", actor=actor,
        note=_text(note, field="note", what_en="the note", what_zh="意见", limit=MAX_NOTE, required=False),
    )


def return_explanation(session: Session, runtime: Runtime, *, card_id: int, actor: Actor, note: str) -> Card:
    """A supervisor returns the explanation submitted for a red card, saying why (the note, 1–1000
    characters, is required): the office submits again."""
    return change_explanation(
        session, runtime, card_id=card_id, action="return", actor=actor,
        note=_text(note, field="note", what_en="the note saying why it is returned", what_zh="退回意见",
                   limit=MAX_NOTE, required=True),
    )


def _states(wanted: Iterable[ExplanationState], state: str | None) -> list[str]:
    states = [s.value for s in wanted]
    if state is None:
        return states
    try:
        chosen = ExplanationState(state)
    except ValueError:
        raise DomainError(f"state must be one of {', '.join(s.value for s in ExplanationState if s.value)} / "
                          "状态取值无效", field="state") from None
    return [chosen.value] if chosen.value in states else []


def _officer_sight(actor: Actor) -> list[ColumnElement[bool]]:
    """:func:`card_visible` for an officer, in SQL over cards outer-joined to their steps."""
    if actor.department is None or actor.region is None:
        return [false()]
    prefix = region_prefix(actor.region)
    # A routed step's office is "DEPT@REGION" and no department code holds "@", so "@<prefix>"
    # occurs in it exactly when the office's region starts with the prefix.
    step_office = or_(
        and_(Step.office.is_not(None), Step.office.contains("@" + prefix, autoescape=True)),
        and_(Step.office.is_(None), func.coalesce(Step.decided_in, Card.region).startswith(prefix, autoescape=True)),
    )
    return [
        Card.department == actor.department,
        or_(and_(Card.step_id.is_not(None), step_office),
            and_(Card.step_id.is_(None), Card.region.startswith(prefix, autoescape=True))),
    ]


def explanations_due(
    session: Session,
    *,
    actor: Actor,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Card]:
    """The red cards whose explanation ``actor`` must act on, newest first: for an officer, their
    department's cards whose office their region covers, explanation required or returned; for a
    supervisor (or admin), the submitted ones in their region. ``state`` narrows to one of those
    (a state the actor does not act on lists nothing). Resolved cards count: the explanation is
    owed all the same. Anyone else has none."""
    where: list[ColumnElement[bool]] = [Card.colour == "red"]
    match actor.role:
        case Role.OFFICER:
            states = _states(OWED, state)
            where += _officer_sight(actor)
        case Role.SUPERVISOR | Role.ADMIN:
            states = _states({ExplanationState.SUBMITTED}, state)
            if actor.region is not None:
                where.append(Card.region.startswith(region_prefix(actor.region), autoescape=True))
        case _:
            _states((), state)  # still refuse a state that does not exist
            return []
    if not states:
        return []
    where.append(Card.explanation_state.in_(states))
    query = (select(Card).outerjoin(Step, Step.id == Card.step_id).where(*where)
             .order_by(Card.issued_at.desc(), Card.id.desc()).limit(limit).offset(offset))
    return list(session.scalars(query))


def unexplained_red_cards(session: Session, *, region: str | None, today: date | None = None) -> dict[str, int]:
    """Red cards in ``region`` (the card's region; None: everywhere) whose explanation the office
    still owes (required or returned), per office: a step's card under the step's office, a
    follow-up's under the follow-up's, any other (a case's card) under :data:`NO_OFFICE` ('-').
    ``today``: only cards issued on or before it (None: all). One grouped statement."""
    office = func.coalesce(
        when_then((Card.followup_id.is_not(None), Followup.office), (Card.step_id.is_not(None), Step.office)),
        NO_OFFICE,
    )
    where: list[ColumnElement[bool]] = [Card.colour == "red", Card.explanation_state.in_([s.value for s in OWED])]
    if region is not None:
        where.append(Card.region.startswith(region_prefix(region), autoescape=True))
    if today is not None:
        where.append(Card.issued_on <= today)
    rows = session.execute(
        select(office, func.count())
        .select_from(Card)
        .outerjoin(Step, Step.id == Card.step_id)
        .outerjoin(Followup, Followup.id == Card.followup_id)
        .where(*where)
        .group_by(office)
    ).all()
    return {str(key): int(count) for key, count in rows}
