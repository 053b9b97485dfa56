"""情况说明 for red cards: the office explains, a supervisor accepts or returns.

The engine decides who sees and does what (:mod:`engine.governance.explanations`): the office's
officers explain their department's red cards; supervisors over the card's region (and admins)
decide. A card outside the caller's sight is a 404, as for an unknown id.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import Request
from engine.db.models import Card
from engine.governance.explanations import (
    MAX_NOTE,
    MAX_RESPONSIBLE,
    MAX_TEXT,
    accept_explanation,
    explanations_due,
    return_explanation,
    submit_explanation,
)
from engine.machine.unit_of_work import in_transaction

router = APIRouter(tags=["supervision"])

CardId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The red card's id")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTE)]


class ExplanationOut(BaseModel):
    """A red card and its explanation, every round of it."""

    card_id: int
    colour: Literal["yellow", "red"]
    case_id: str
    step_id: str | None = Field(description="The late step; null: the case's own deadline or a follow-up")
    followup_id: int | None = Field(description="The late follow-up (a rectification, post-check, complaint)")
    department: str | None
    region: str
    reason: str = Field(description="Why the card was issued")
    issued_on: date
    working_days_overdue: int
    resolved_at: datetime | None = Field(description="When the late work closed (the explanation is owed all the same)")
    explanation_state: Literal["required", "submitted", "accepted", "returned"]
    rounds: list[dict[str, Any]] = Field(description=(
        "One per submission: submitted {by, label, at, reason, corrective_action, responsible} and the decision "
        "on it {action, by, at, note}"))


def _out(card: Card) -> ExplanationOut:
    return ExplanationOut(card_id=card.id, colour=card.colour, case_id=card.case_id,
                          step_id=card.step_id, followup_id=card.followup_id, department=card.department,
                          region=card.region, reason=card.reason, issued_on=card.issued_on,
                          working_days_overdue=card.working_days_overdue, resolved_at=card.resolved_at,
                          explanation_state=card.explanation_state,
                          rounds=list((card.explanation or {}).get("rounds", [])))


class ExplainIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "reason": "经办人员病假，未及时移交", "corrective_action": "已建立AB岗制度", "responsible": "张三"}]})

    reason: Annotated[Text, Field(description="Why the work was late")]
    corrective_action: Annotated[Text, Field(description="What the office does about it")]
    responsible: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_RESPONSIBLE),
                           Field(description="The person responsible (optional)")] = ""


class DecideIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "说明属实"}]})

    note: Annotated[Note, Field(description="The supervisor's note (required when returning)")] = ""


ACT = problems(403, 404, 409)
"""Not the caller's role (403), no such card for the caller (404), a state the action does not
start from: a yellow card, an explanation already submitted or accepted (409)."""


@router.get("/explanations", response_model=list[ExplanationOut], summary="Red cards whose explanation is the caller's to act on")
def list_explanations(
    session: SessionDep,
    actor: CurrentActor,
    state: Annotated[Literal["required", "submitted", "accepted", "returned"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ExplanationOut]:
    """An officer: their office's red cards still to explain (required, or returned); a supervisor
    or admin: the submitted explanations of their region, to decide. Newest first; anyone else has none."""
    return [_out(card) for card in explanations_due(session, actor=actor, state=state, limit=limit, offset=offset)]


@router.post("/cards/{card_id}/explanation", response_model=ExplanationOut, responses=ACT,
             summary="Explain a red card (情况说明)")
def explain(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, card_id: CardId,
            body: ExplainIn) -> ExplanationOut:
    """The office's officer says why the work was late and what is done about it (again after a return)."""
    card = in_transaction(session, lambda: submit_explanation(
        session, runtime, card_id=card_id, actor=actor, reason=body.reason, corrective_action=body.corrective_action,
        responsible=body.responsible))
    return _out(card)


@router.post("/cards/{card_id}/explanation/accept", response_model=ExplanationOut, responses=ACT,
             summary="Accept a red card's explanation")
def accept(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, card_id: CardId,
           body: DecideIn) -> ExplanationOut:
    """A supervisor over the card's region (or an admin) accepts the submitted explanation."""
    card = in_transaction(session, lambda: accept_explanation(session, runtime, card_id=card_id, actor=actor,
                                                              note=body.note))
    return _out(card)


@router.post("/cards/{card_id}/explanation/return", response_model=ExplanationOut, responses={**ACT, **problems(422)},
             summary="Return a red card's explanation")
def give_back(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, card_id: CardId,
              body: DecideIn) -> ExplanationOut:
    """A supervisor returns the explanation with a note saying why; the office explains again."""
    card = in_transaction(session, lambda: return_explanation(session, runtime, card_id=card_id, actor=actor,
                                                              note=body.note))
    return _out(card)
