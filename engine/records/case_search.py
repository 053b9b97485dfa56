"""办件查询: a window (or a supervisor) finds the cases of their region by receipt number or by the
applicant's name or identifier, newest first — to answer an applicant at the counter, to pick up
a case received elsewhere, and to see a second open case of the same bundle before accepting one.

Which cases a reader finds is the access rules' answer: the region's cases narrow the query
(:func:`~engine.machine.access.cases_within`), and each row is one the reader may see
(:data:`~engine.machine.access.Access.SEE_CASE`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from engine.db.models import Case
from engine.records.worklists import receipt_or_name, search_text
from engine.machine.access import Access, Target, cases_within, list_scope, permits
from engine.machine.states import CASE_OPEN, Actor
from engine.people.identifiers import InvalidValue, validate_credit_code, validate_id_number

FOUND_MAX = 100


def _identifier(text: str) -> str | None:
    """The text as a person's or an enterprise's identifier, when it is one."""
    for check in (validate_id_number, validate_credit_code):
        try:
            return check(text)
        except InvalidValue:
            continue
    return None


def find_cases(session: Session, *, actor: Actor, search: str = "", bundle: str | None = None,
               open_only: bool = False, limit: int = FOUND_MAX) -> list[Case]:
    """The cases ``actor`` may find (:data:`Access.FIND_CASES`), newest first: by receipt number
    from its start, by (part of) the applicant's name, or by the applicant's whole identifier;
    of one ``bundle``; only the open ones. With their steps loaded (one statement)."""
    scope = list_scope(actor, Access.FIND_CASES)
    text = search_text(search)
    query = select(Case).where(*cases_within(scope)).order_by(Case.accepted_at.desc()).limit(min(limit, FOUND_MAX))
    if text:
        ident = _identifier(text)
        query = query.where(Case.applicant_id == ident if ident is not None else receipt_or_name(text, Case.receipt_no))
    if bundle:
        query = query.where(Case.bundle_id == bundle)
    if open_only:
        query = query.where(Case.state.in_(sorted(s.value for s in CASE_OPEN)))
    found = session.scalars(query.options(selectinload(Case.steps))).all()
    return [case for case in found if permits(actor, Access.SEE_CASE, Target(case=case))]
