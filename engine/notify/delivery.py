"""Sending one queued notice: what the dispatcher runs for an outbox message of topic ``notify``.

:func:`prepare_notice` reads the notice and its recipient's address (no case lock); the send
runs outside any transaction; :func:`record_attempt` then writes the attempt (its number, the
channel, when, ok or the error) and, when it went, the notice's ``sent_at``. The dispatcher
retries a failed send with the outbox's back-off and makes it a dead letter after the last
attempt (:mod:`engine.machine.dispatch`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Case, Notification, NotificationAttempt, OutboxMessage
from engine.notify.channels import ChannelRegistry, Outgoing


@dataclass(frozen=True)
class Sending:
    """A notice about to be sent, and the attempt it is."""

    notification_id: int
    channel: str
    attempt: int
    address: str
    send: Callable[[], None]


class ChannelMissing(RuntimeError):
    """The notice's channel is not configured here (any more): retried, then a dead letter."""


def prepare_notice(session: Session, channels: ChannelRegistry, message: OutboxMessage) -> Sending | str:
    """The send of ``message``'s notice, or why there is nothing to send (already sent, no address)."""
    notice = session.scalars(select(Notification).where(Notification.outbox_id == message.id)
                             .execution_options(populate_existing=True)).one_or_none()
    if notice is None:
        return "no notification for this message"
    if notice.sent_at is not None:
        return "already sent"
    if notice.channel not in channels:
        raise ChannelMissing(f"notification channel {notice.channel!r} is not configured")
    channel = channels[notice.channel]
    case = session.get_one(Case, notice.case_id, populate_existing=True)
    address = channel.address(channels.contacts(case))
    if not address:
        return f"the applicant has no {notice.channel} address any more"
    outgoing = Outgoing(address=address, subject=notice.subject, body=notice.body, template=notice.template,
                        receipt_no=case.receipt_no, key=str(notice.id))
    return Sending(notification_id=notice.id, channel=notice.channel, attempt=message.attempts + 1,
                   address=address, send=lambda: channel.send(outgoing))


def without_address(error: str, address: str) -> str:
    """``error`` with the recipient's address (and anything shaped like one) taken out: errors are
    shown on the supervision page and by ``onevisit outbox``."""
    if address:
        error = error.replace(address, "<recipient>")
    return re.sub(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", "<address>", error)


def record_attempt(session: Session, sending: Sending, *, at: datetime, error: str = "") -> None:
    """Write the attempt (ok when ``error`` is empty) and, when it went, mark the notice sent."""
    session.add(NotificationAttempt(notification_id=sending.notification_id, attempt=sending.attempt,
                                    channel=sending.channel, at=at, ok=not error, error=error))
    if not error:
        notice = session.get_one(Notification, sending.notification_id)
        notice.sent_at = at
