"""Which changes notify whom: called by the gate in the transaction of the change itself.

Every notice is an inbox row of the recipient's at once (the progress page shows it); each
other channel that reaches the recipient (:meth:`~engine.notify.channels.Channel.address`) gets
its own ``notifications`` row and an outbox message of topic :data:`NOTIFY_TOPIC`, which the
dispatcher sends after the commit (:mod:`engine.notify.delivery`). Nothing here talks to a
network, so a notice cannot slow down or fail the request that causes it.

A withdrawn case is acknowledged (``case_withdrawn``) and gets neither a completion notice nor
a rating invitation; a completed, partially completed or rejected one is invited to rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Case, Notification, Step
from engine.machine.effects import queue_message
from engine.notify.channels import INBOX, ChannelRegistry
from engine.notify.templates import Notice, render
from engine.settings import public_link

NOTIFY_TOPIC = "notify"

EVENTS: dict[str, tuple[Notice, ...]] = {
    "case.accept": (Notice.CASE_ACCEPTED,),
    "step.request_supplement": (Notice.SUPPLEMENT_REQUESTED,),
    "step.receive_supplement": (Notice.SUPPLEMENT_RECEIVED,),
    "step.complete": (Notice.STEP_DONE,),
    "step.end_wait": (Notice.STEP_DONE,),
    "step.receive_decision": (Notice.STEP_DONE,),
    "step.sign": (Notice.STEP_DONE,),
    "step.revoke_result": (Notice.RESULT_REVOKED,),
    "case.complete": (Notice.CASE_COMPLETED, Notice.RESULTS_READY, Notice.RATING_INVITATION),
    "case.partially_complete": (Notice.CASE_PARTIALLY_COMPLETED, Notice.RESULTS_READY, Notice.RATING_INVITATION),
    "case.reject": (Notice.CASE_REJECTED, Notice.RATING_INVITATION),
    "case.withdraw": (Notice.CASE_WITHDRAWN,),
}
"""The gate's audit action → the notices it sends the applicant, in order."""


def _context(case: Case, step: Step | None, *, bundle: str, step_name: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "receipt_no": case.receipt_no, "bundle": bundle, "accepted_on": case.accepted_on.isoformat(),
        "due_on": case.due_on.isoformat(), "step": step_name, "reason": "", "hand_in_by": "",
        # The rating invitation's link: the progress page's form, the channel recorded as the notice's.
        "rating_url": public_link(f"/ui/cases/{case.id}?via=notice#rating"),
    }
    if step is not None:
        if step.due_on is not None and step_name:
            context["step_due_on"] = step.due_on.isoformat()
        supplement = step.supplement or {}
        wanted = "、".join(str(m) for m in supplement.get("requested", ()))
        note = str(supplement.get("note", ""))
        context["hand_in_by"] = str(supplement.get("hand_in_by") or "")
        context["reason"] = "；".join(part for part in (wanted, note) if part) or step.reason
    return context


def queue_notices(session: Session, channels: ChannelRegistry, *, case: Case, event: str, at: datetime,
                  step: Step | None = None, bundle: str = "", step_name: str = "",
                  reason: str = "") -> list[Notification]:
    """Write the notices ``event`` (an audit action such as ``case.accept``) sends the case's
    applicant: an inbox row each, and a row plus an outbox message per reaching channel."""
    notices = EVENTS.get(event, ())
    if not notices:
        return []
    locale = channels.locale
    context = _context(case, step, bundle=bundle, step_name=step_name)
    if reason:
        context["reason"] = reason
    contacts = channels.contacts(case)
    reaching = [name for name, channel in channels.items() if channel.address(contacts)]
    written: list[Notification] = []
    for notice in notices:
        subject, body = render(notice, locale=locale, context=context)
        for channel in (INBOX, *reaching):
            row = Notification(case_id=case.id, recipient=case.applicant_id, channel=channel, template=notice.value,
                               locale=locale, subject=subject, body=body, created_at=at,
                               sent_at=at if channel == INBOX else None)
            if channel != INBOX:
                row.outbox = queue_message(session, topic=NOTIFY_TOPIC, case_id=case.id, step_id=None,
                                           payload={"channel": channel, "notice": notice.value}, at=at)
            session.add(row)
            written.append(row)
    return written


def inbox(session: Session, *, recipient: str | Sequence[str], case_id: str | None = None,
          limit: int = 50) -> Sequence[Notification]:
    """``recipient``'s inbox (several: an officer's own and their office's), newest first (of one
    case when ``case_id`` is given)."""
    recipients = [recipient] if isinstance(recipient, str) else list(recipient)
    stmt = select(Notification).where(Notification.recipient.in_(recipients), Notification.channel == INBOX)
    if case_id is not None:
        stmt = stmt.where(Notification.case_id == case_id)
    return session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)).all()


def queue_officer_reminder(session: Session, channels: ChannelRegistry, *, case: Case, step: Step, officer: str,
                           at: datetime, step_name: str) -> Notification:
    """An inbox notice to ``officer`` that ``step`` is due on its due date (the supervision sweep
    sends it some working days before); officers are reached in their inbox only."""
    context = _context(case, step, bundle="", step_name=step_name)
    context["due_on"] = step.due_on.isoformat() if step.due_on is not None else case.due_on.isoformat()
    subject, body = render(Notice.OFFICER_REMINDER, locale=channels.locale, context=context)
    row = Notification(case_id=case.id, recipient=officer, channel=INBOX, template=Notice.OFFICER_REMINDER.value,
                       locale=channels.locale, subject=subject, body=body, created_at=at, sent_at=at)
    session.add(row)
    return row


def queue_office_notice(session: Session, channels: ChannelRegistry, *, case: Case, step: Step, office: str,
                        at: datetime, step_name: str, later_step: str, reason: str) -> Notification:
    """An inbox notice to ``office`` (``<department>@<region>``; every officer of it reads it) that
    the result of ``step``, which its own later step ``later_step`` used, was revoked."""
    context = _context(case, step, bundle="", step_name=step_name)
    context.update(later_step=later_step, reason=reason)
    subject, body = render(Notice.OFFICE_RESULT_REVOKED, locale=channels.locale, context=context)
    row = Notification(case_id=case.id, recipient=office, channel=INBOX, template=Notice.OFFICE_RESULT_REVOKED.value,
                       locale=channels.locale, subject=subject, body=body, created_at=at, sent_at=at)
    session.add(row)
    return row


def mark_read(session: Session, *, recipient: str | Sequence[str], notification_id: int, at: datetime) -> bool:
    """Mark one of ``recipient``'s inbox notices read (the first time only); False: not theirs."""
    recipients = [recipient] if isinstance(recipient, str) else list(recipient)
    row = session.get(Notification, notification_id)
    if row is None or row.recipient not in recipients or row.channel != INBOX:
        return False
    if row.read_at is None:
        row.read_at = at
    return True
