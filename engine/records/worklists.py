"""Worklists (待办): a department's open steps within the reader's region, soonest due first.

The one predicate of open work (:func:`open_work`) serves the worklists and the supervision
counts alike, so every count on the supervision desk is the length of a worklist. A page is read
by offset (with the total) or by keyset (``after``) along the open steps' index by department,
due date, receipt and position (revision 0013). Filters narrow it: by state, due date, assignee
(mine, nobody's, a colleague's) and a search by receipt number or applicant name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from engine.db.models import OPEN_WORK_STATES, Case, Step
from engine.db.session import LIKE_ESCAPE, like_literal
from engine.errors import DomainError
from engine.machine.access import Access, Target, decided_within, list_scope
from engine.machine.states import Actor, StepState
from engine.people.identifiers import mask_id_number



@dataclass(frozen=True)
class WorkItem:
    """One line of a department's worklist; the applicant's id is masked."""

    step_id: str
    version: int
    step_key: str
    item: str
    state: str
    due_on: date | None
    due_provisional: bool
    overdue: bool
    instance_label: str
    case_id: str
    receipt_no: str
    bundle_id: str
    region: str
    applicant_name: str
    applicant_id_masked: str
    assigned_to: str | None = None
    """The officer who claimed it (an actor id), None while it waits in the department's list."""
    handed_in: bool = False
    """补正 came back: the applicant handed in for the open notice and the officer has yet to confirm."""


@dataclass(frozen=True)
class Page:
    """A page of a list, the total number of matching rows (None for a page asked by cursor: the
    first page told it) and the cursor of the next page (None on the last)."""

    total: int | None
    limit: int
    offset: int
    items: tuple[WorkItem, ...]
    next_after: str | None = None
    total_capped: bool = False
    """The count stopped at :data:`COUNT_CAP`: there are at least ``total`` (shown as 10000+)."""


COUNT_CAP = 10_000
"""Counting stops here: a department with more open steps is told "10000+", and its first page
costs what a small department's does (a count reads every matching row)."""


def work_scope(scope: str | None) -> list[ColumnElement[bool]]:
    """SQL over steps joined to their cases: the steps whose work lies within ``scope`` (none when
    unscoped): those decided there, by an office of the region at the step's level
    (:func:`engine.machine.access.decided_within`, the access rules' own test in SQL). The one scope
    of :func:`open_work`, and of the supervision desk's step cards."""
    return decided_within(scope)


def open_work(scope: str | None) -> list[ColumnElement[bool]]:
    """THE predicate of open work, over ``steps`` joined to ``cases``: released steps in an active
    state (``engine.machine.states.STEP_ACTIVE``; pending steps are nobody's work yet) within
    ``scope`` (:func:`work_scope`). Worklists list exactly these and supervision counts exactly
    these, so every count on the desk is the length of a worklist.

    The states are rendered as literals, in the index's order, so that PostgreSQL and SQLite match
    the partial index ``ix_steps_open_department`` (whose predicate names the same literals)."""
    return [Step.state.in_([literal(s, literal_execute=True) for s in OPEN_WORK_STATES]), *work_scope(scope)]


def overdue_work(today: date) -> ColumnElement[bool]:
    """Of open work, the steps past their due date on ``today`` whose clock runs (a 补正 notice
    stops it): the worklist's ``overdue`` filter and supervision's overdue count."""
    return (Step.due_on < today) & Step.clock_stopped_on.is_(None)


_CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2}|-)~([0-9A-Za-z-]{1,32})~(\d{1,6})$")
CURSOR_PATTERN = _CURSOR.pattern


def worklist_cursor(item: WorkItem, position: int) -> str:
    """The cursor of the page after ``item`` (at ``position`` in its case): ``<due date or ->~<receipt>~<position>``."""
    return f"{item.due_on.isoformat() if item.due_on is not None else '-'}~{item.receipt_no}~{position}"


def _after(cursor: str) -> ColumnElement[bool]:
    """The steps after the cursor's in the worklist's order: due date (none last), receipt, position."""
    found = _CURSOR.match(cursor)
    if found is None:
        raise DomainError("after is not a cursor of this list (give next_after as it came) / 翻页参数无效",
                          field="after")
    receipt, position = found[2], int(found[3])
    later_in_day = or_(Step.receipt_no > receipt, and_(Step.receipt_no == receipt, Step.position > position))
    if found[1] == "-":
        return and_(Step.due_on.is_(None), later_in_day)
    day = date.fromisoformat(found[1])
    return or_(Step.due_on > day, and_(Step.due_on == day, later_in_day), Step.due_on.is_(None))


UNASSIGNED = "unassigned"
MINE = "mine"
SEARCH_MAX = 64


def search_text(search: str | None) -> str:
    """A list's search as typed, stripped; longer than :data:`SEARCH_MAX` is refused naming ``q``."""
    text = (search or "").strip()
    if len(text) > SEARCH_MAX:
        raise DomainError(f"search: at most {SEARCH_MAX} characters / 检索内容过长", field="q")
    return text


def receipt_or_name(text: str, receipt: QueryableAttribute[Any]) -> ColumnElement[bool]:
    """A receipt number from its start (430102-20260302…), or an applicant's name or part of it."""
    escaped = like_literal(text)
    return or_(receipt.like(f"{escaped}%", escape=LIKE_ESCAPE),
               Case.applicant_name.like(f"%{escaped}%", escape=LIKE_ESCAPE))


def worklist(
    session: Session, *, department: str, region: str | None, state: str | None, due_within_days: int | None,
    overdue: bool, today: date, limit: int = 50, offset: int = 0, after: str | None = None,
    assignee: str | None = None, search: str | None = None,
) -> Page:
    """A department's open steps (:func:`open_work`, or those in ``state``) in ``region``, soonest
    due first, the earlier receipt first within a day (first come, first served). Pages by
    ``offset`` (with the total), or by ``after``, the ``next_after`` of the page before (keyset:
    the page starts where the last ended, read along the open steps' index by department and due
    date, so a deep page costs what the first does; no total). ``assignee``: only the steps claimed
    by that officer (an actor id), or with :data:`UNASSIGNED` the ones nobody claimed; ``search``: a
    receipt number from its start, or (part of) the applicant's name."""
    try:
        chosen = StepState(state).value if state else None
    except ValueError:
        raise DomainError(f"unknown step state {state!r}", field="state") from None
    if after is not None and offset:
        raise DomainError("give after or offset, not both / 翻页参数只能二选一", field="offset")
    where = [Step.department == department,
             *(open_work(region) if chosen is None else [Step.state == chosen, *work_scope(region)])]
    if due_within_days is not None:
        where.append(Step.due_on <= today + timedelta(days=due_within_days))
    if overdue:
        where.append(overdue_work(today))
    if assignee == UNASSIGNED:
        where.append(Step.assigned_to.is_(None))
    elif assignee:
        where.append(Step.assigned_to == assignee)
    text = search_text(search)
    if text:
        where.append(receipt_or_name(text, Step.receipt_no))
    total = None if after is not None else session.scalar(select(func.count()).select_from(
        select(Step.id).join(Case, Case.id == Step.case_id).where(*where).limit(COUNT_CAP + 1).subquery())) or 0
    capped = total is not None and total > COUNT_CAP
    rows = session.execute(
        select(Step.id, Step.version, Step.step_key, Step.item_code, Step.state, Step.due_on, Step.due_provisional,
               Step.clock_stopped_on, Step.instance_label, Case.id, Case.receipt_no, Case.bundle_id, Case.region,
               Case.applicant_name, Case.applicant_id, Step.position, Step.assigned_to, Step.supplement)
        .join(Case, Case.id == Step.case_id).where(*where, *([_after(after)] if after is not None else []))
        # the order of ix_steps_open_department_queue: the page is read along it, at any depth
        .order_by(Step.due_on.asc().nulls_last(), Step.receipt_no, Step.position).limit(limit + 1).offset(offset)
    ).all()
    more, rows = len(rows) > limit, rows[:limit]
    items = tuple(
        WorkItem(step_id=r[0], version=r[1], step_key=r[2], item=r[3], state=r[4], due_on=r[5], due_provisional=r[6],
                 overdue=r[5] is not None and r[5] < today and r[7] is None, instance_label=r[8], case_id=r[9],
                 receipt_no=r[10], bundle_id=r[11], region=r[12], applicant_name=r[13],
                 applicant_id_masked=mask_id_number(r[14]), assigned_to=r[16],
                 handed_in=r[4] == StepState.SUPPLEMENT_REQUESTED.value and bool((r[17] or {}).get("handed_in")))
        for r in rows
    )
    cursor = worklist_cursor(items[-1], rows[-1][15]) if more and items else None
    return Page(total=COUNT_CAP if capped else total, limit=limit, offset=offset, items=items, next_after=cursor,
                total_capped=capped)


def department_worklist(
    session: Session, *, actor: Actor, department: str, state: str | None = None, due_within_days: int | None = None,
    overdue: bool = False, today: date, limit: int = 50, offset: int = 0, after: str | None = None,
    assigned: str | None = None, search: str | None = None,
) -> Page:
    """:func:`worklist` for an officer of that department, a supervisor or an admin
    (:data:`~engine.machine.access.Access.READ_WORKLIST`), of the offices in their region.
    ``assigned``: :data:`MINE` (the caller's claimed steps), :data:`UNASSIGNED`, or an officer's id."""
    region = list_scope(actor, Access.READ_WORKLIST, Target(department=department))
    assignee = actor.id if assigned == MINE else assigned or None
    return worklist(session, department=department, region=region, state=state, due_within_days=due_within_days,
                    overdue=overdue, today=today, limit=limit, offset=offset, after=after, assignee=assignee,
                    search=search)


