"""情况说明 on the pages: ``/ui/explanations`` lists the red cards the reader must act on, as the
engine answers (:func:`engine.governance.explanations.explanations_due`): an officer's office's cards
whose explanation is owed (required, or returned) with a form for who, why and what is done; a
supervisor's region's submitted ones with the office's words and accept / return forms. The
forms post to the engine's one gate (:func:`~engine.governance.explanations.change_explanation`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import RuntimeDep, SessionDep
from api.errors import domain_status
from api.pages.common import Csrf, FormDep, PageActor, PageRoute, form_text, page, redirect
from engine.db.models import Case
from engine.errors import DomainError
from engine.governance.explanations import (
    MAX_NOTE,
    MAX_RESPONSIBLE,
    MAX_TEXT,
    accept_explanation,
    explanations_due,
    return_explanation,
    submit_explanation,
)
from engine.machine.states import Actor, Role
from engine.machine.unit_of_work import in_transaction
from engine.runtime import Runtime

router = APIRouter(route_class=PageRoute)

CardId = Annotated[int, Path(ge=1, le=2**63 - 1)]
SHOWN = 100


def _page(request: Request, session: Session, actor: Actor, *, error: tuple[str, str, str] | None = None,
          status: int = 200) -> Response:
    cards = explanations_due(session, actor=actor, limit=SHOWN)
    receipts = dict(session.execute(select(Case.id, Case.receipt_no).where(
        Case.id.in_({c.case_id for c in cards}))).all()) if cards else {}
    rows = [{"id": c.id, "case_id": c.case_id, "receipt_no": receipts.get(c.case_id, ""), "reason": c.reason,
             "issued_on": c.issued_on, "days": c.working_days_overdue, "state": c.explanation_state,
             "department": c.department, "resolved": c.resolved_at is not None,
             "last": ((c.explanation or {}).get("rounds") or [None])[-1]} for c in cards]
    session.rollback()
    return page(request, "explanations.html", {
        "cards": rows, "explains": actor.role is Role.OFFICER, "decides": actor.role in (Role.SUPERVISOR, Role.ADMIN),
        "error": error, "limits": {"text": MAX_TEXT, "note": MAX_NOTE, "responsible": MAX_RESPONSIBLE},
    }, status=status, actor=actor)


@router.get("/explanations")
def explanations(request: Request, session: SessionDep, actor: PageActor) -> Response:
    """The red cards the reader explains (an officer) or decides on (a supervisor, an admin)."""
    return _page(request, session, actor)


def _run(request: Request, session: Session, actor: Actor, action: Callable[[], object], done: str) -> Response:
    try:
        in_transaction(session, action)
    except DomainError as exc:
        session.rollback()
        status, _title, zh = domain_status(exc)
        return _page(request, session, actor, error=("error", zh, exc.message), status=status)
    return redirect(f"/ui/explanations?msg={done}")


@router.post("/cards/{card_id}/explanation", dependencies=[Csrf])
def submit(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, card_id: CardId,
           form: FormDep) -> Response:
    """The office's 情况说明 of a red card: why, what is done, who is responsible."""
    return _run(request, session, actor, lambda: submit_explanation(
        session, runtime, card_id=card_id, actor=actor, reason=form_text(form, "reason", MAX_TEXT + 1),
        corrective_action=form_text(form, "corrective_action", MAX_TEXT + 1),
        responsible=form_text(form, "responsible", MAX_RESPONSIBLE + 1)), "explanation_submitted")


def _decide(request: Request, session: Session, runtime: Runtime, actor: Actor, card_id: int, note: str,
            accept: bool) -> Response:
    decide = accept_explanation if accept else return_explanation
    return _run(request, session, actor, lambda: decide(session, runtime, card_id=card_id, actor=actor, note=note),
                "explanation_accepted" if accept else "explanation_returned")


@router.post("/cards/{card_id}/explanation/accept", dependencies=[Csrf])
def accept(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, card_id: CardId,
           form: FormDep) -> Response:
    """A supervisor accepts the submitted explanation."""
    return _decide(request, session, runtime, actor, card_id, form_text(form, "note", MAX_NOTE + 1), True)


@router.post("/cards/{card_id}/explanation/return", dependencies=[Csrf])
def send_back(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, card_id: CardId,
              form: FormDep) -> Response:
    """A supervisor returns it, saying why: the office explains again."""
    return _decide(request, session, runtime, actor, card_id, form_text(form, "note", MAX_NOTE + 1), False)
