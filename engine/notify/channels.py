"""Notification channels: where a rendered notice goes besides the applicant's inbox.

A channel is an object with :meth:`Channel.address` (the recipient's address on the channel,
from their contact details, or None when the channel cannot reach them) and :meth:`Channel.send`
(deliver one message or raise). Channels are registered by name on a :class:`ChannelRegistry`
(``Runtime.channels``); plugins add their own (entry-point group ``onevisit.notify``, setting
``ONEVISIT_NOTIFY_PLUGINS``; see :mod:`engine.plugins`). ``inbox`` is not a registered channel:
it is a database row written in the transaction of the change itself, so it always arrives.

Log lines name the channel, the template and the receipt number, never an address, a name or an
ID number; the logging SMS adapter shows the phone number masked (``138****5678``).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

from engine.registry import Registry

if TYPE_CHECKING:
    from engine.db.models import Case
    from engine.settings import Settings

log = logging.getLogger(__name__)

INBOX = "inbox"
"""The channel every notice takes: a row of ``notifications`` shown to its recipient."""


@dataclass(frozen=True)
class Contacts:
    """How a recipient can be reached (from the case's answers); empty strings: not at all."""

    email: str = ""
    phone: str = ""

    @classmethod
    def of_answers(cls, answers: Mapping[str, Any]) -> Contacts:
        """The applicant's contact details as the application form asks for them."""
        return cls(email=str(answers.get("applicant_email") or "").strip(),
                   phone=str(answers.get("applicant_phone") or "").strip())


@dataclass(frozen=True)
class Outgoing:
    """One rendered notice for one address on one channel."""

    address: str
    subject: str
    body: str
    template: str
    receipt_no: str
    key: str
    """The notification's id, unique per notice: an idempotency key for channels that take one."""


class Channel(Protocol):
    """A way of sending notices (email, SMS, a province's messaging platform)."""

    def address(self, contacts: Contacts) -> str | None:
        """The recipient's address on this channel, or None: the channel cannot reach them."""

    def send(self, message: Outgoing) -> None:
        """Deliver ``message`` or raise; the outbox retries a failure after a back-off."""


class ChannelRegistry(Registry[Channel]):
    """Channels by name, in registration order; names are unique (``inbox`` is reserved)."""

    kind = "notification channel"

    def __init__(self, *, locale: str = "zh", contacts: Callable[[Case], Contacts] | None = None) -> None:
        super().__init__()
        self.locale = locale
        """The language notices are written in (``zh`` or ``en``)."""
        self.contacts: Callable[[Case], Contacts] = contacts or (lambda case: Contacts.of_answers(case.answers))
        """How to reach a case's applicant: by default the answers ``applicant_email`` and
        ``applicant_phone``; a deployment may look them up in its identity platform instead."""

    def add(self, name: str, channel: Channel) -> Channel:
        """Register ``channel`` under ``name`` (``registry.register(name)`` as a plain call)."""
        if name == INBOX:
            raise ValueError("notification channel 'inbox' is built in")
        return self.register(name)(channel)


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``: enough to tell numbers apart in a log, not to call one."""
    digits = "".join(c for c in phone if c.isdigit())
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 8 else "****"


@dataclass(frozen=True)
class EmailChannel:
    """Email over SMTP (the standard library's :mod:`smtplib`), optionally STARTTLS and login."""

    host: str
    port: int = 25
    sender: str = "noreply@onevisit.invalid"
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0

    def address(self, contacts: Contacts) -> str | None:
        return contacts.email or None

    def send(self, message: Outgoing) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<notice-{message.key}@onevisit>"
        mail.set_content(message.body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(mail)
        log.info("notify: email sent (%s, receipt %s)", message.template, message.receipt_no)


class SmsAdapter(Protocol):
    """A province's SMS gateway: send ``text`` to ``phone`` or raise."""

    def send_sms(self, phone: str, text: str, *, template: str) -> None: ...


class LoggingSmsAdapter:
    """The built-in SMS "gateway": logs the masked number and the template, sends nothing."""

    def send_sms(self, phone: str, text: str, *, template: str) -> None:
        log.info("notify: sms to %s (%s)", mask_phone(phone), template)


@dataclass(frozen=True)
class SmsChannel:
    """SMS through an :class:`SmsAdapter`; the message is the notice's subject and body."""

    adapter: SmsAdapter

    def address(self, contacts: Contacts) -> str | None:
        return contacts.phone or None

    def send(self, message: Outgoing) -> None:
        self.adapter.send_sms(message.address, f"【{message.subject}】{message.body}", template=message.template)


def default_channels(settings: Settings) -> ChannelRegistry:
    """The channels a deployment's settings configure: email when an SMTP host is set, SMS
    through the logging adapter when ``notify_sms`` is ``log``, notices in ``notify_locale``."""
    registry = ChannelRegistry(locale=settings.notify_locale)
    if settings.notify_smtp_host:
        password = settings.notify_smtp_password.get_secret_value() if settings.notify_smtp_password else None
        registry.add("email", EmailChannel(
            host=settings.notify_smtp_host, port=settings.notify_smtp_port, sender=settings.notify_smtp_from,
            starttls=settings.notify_smtp_starttls, user=settings.notify_smtp_user, password=password,
        ))
    if settings.notify_sms == "log":
        registry.add("sms", SmsChannel(LoggingSmsAdapter()))
    return registry
