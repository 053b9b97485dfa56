"""Reading one case's inbox: who may, and what they see (the progress page and the JSON API).

The inbox of a case holds the notices addressed to the reader about it: the applicant's for
their own case (:data:`~engine.machine.access.Access.SEE_CASE`, own case), an officer's reminders
for the cases they may see. Whoever may not see the case gets the same :class:`NotFound` as for
an unknown id; a notice of someone else's (or of another case) is likewise not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from engine.db.models import Case, Notification
from engine.errors import NotFound
from engine.machine.access import Access, Target, authorize
from engine.machine.states import Actor, Role
from engine.notify.queue import inbox, mark_read


def reader_of(actor: Actor) -> str:
    """Whom ``actor``'s notices are addressed to: an applicant's subject, a staff token's id."""
    return (actor.subject or "") if actor.role is Role.APPLICANT else actor.id


def readers_of(actor: Actor) -> tuple[str, ...]:
    """Every recipient whose notices ``actor`` reads: their own, and an officer's office's
    (``<department>@<region>``: a notice to the office is every one of its officers')."""
    own = reader_of(actor)
    if actor.role is Role.OFFICER and actor.department and actor.region:
        return own, f"{actor.department}@{actor.region}"
    return (own,)


def _seen_case(session: Session, actor: Actor, case_id: str) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}", field="case_id")
    authorize(actor, Access.SEE_CASE, Target(case=case))
    return case


def case_inbox(session: Session, *, actor: Actor, case_id: str, limit: int = 50) -> Sequence[Notification]:
    """The reader's inbox notices about ``case_id``, newest first; NotFound if they may not see it."""
    _seen_case(session, actor, case_id)
    return inbox(session, recipient=readers_of(actor), case_id=case_id, limit=limit)


def mark_case_notice_read(session: Session, *, actor: Actor, case_id: str, notification_id: int,
                          at: datetime) -> Notification:
    """Mark the reader's notice ``notification_id`` of ``case_id`` read (once: the first time
    stays) and commit; NotFound for a case they may not see or a notice not theirs or not of this case."""
    _seen_case(session, actor, case_id)
    row = session.get(Notification, notification_id)
    if row is None or row.case_id != case_id or \
            not mark_read(session, recipient=readers_of(actor), notification_id=notification_id, at=at):
        session.rollback()
        raise NotFound(f"no notification {notification_id}", field="notification_id")
    session.commit()
    return row


def mark_case_inbox_read(session: Session, *, actor: Actor, case_id: str, at: datetime) -> int:
    """Mark every unread notice of the reader's about ``case_id`` read and commit; how many were
    unread. NotFound for a case they may not see."""
    unread = [row for row in case_inbox(session, actor=actor, case_id=case_id, limit=1000) if row.read_at is None]
    for row in unread:
        row.read_at = at
    session.commit()
    return len(unread)


def reader_inbox(session: Session, *, actor: Actor, limit: int = 50) -> Sequence[Notification]:
    """Every inbox notice addressed to ``actor`` (their own; an officer's office's too), about any
    case, newest first: what the 消息 page lists."""
    return inbox(session, recipient=readers_of(actor), limit=limit)
