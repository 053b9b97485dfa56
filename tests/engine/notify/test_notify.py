"""Notifications: the inbox, email over a real local SMTP server, SMS, delivery through the outbox."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message

import pytest
from pydantic import SecretStr
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session as SmtpSession
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Case, Notification, NotificationAttempt, OutboxMessage
from engine.machine.actions import claim_step, complete_step, withdraw_case
from engine.machine.dispatch import MAX_ATTEMPTS, Outcome, drain_outbox
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import StepState
from engine.notify.channels import (
    ChannelRegistry,
    Contacts,
    EmailChannel,
    LoggingSmsAdapter,
    Outgoing,
    SmsChannel,
    default_channels,
)
from engine.notify.queue import inbox, mark_read, queue_officer_reminder
from engine.notify.templates import LOCALES, Notice, render
from engine.plugins import NOTIFY_GROUP, PluginError, install_plugins
from engine.runtime import Runtime
from engine.settings import Settings
from engine.time.clock import FixedClock
from tests.engine.sample_people import CLERK, GROOM, applicant, decider, marriage_answers

EMAIL = "groom@example.cn"
PHONE = "13812345678"


@dataclass
class Mailbox:
    """What the local SMTP server received."""

    received: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.received.append(message_from_bytes(envelope.content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@dataclass
class FlakyChannel:
    """A province's channel whose first send fails (its gateway was down), then delivers."""

    failures: int = 1
    delivered: list[Outgoing] = field(default_factory=list)
    tries: int = 0

    def address(self, contacts: Contacts) -> str | None:
        return contacts.phone or None

    def send(self, message: Outgoing) -> None:
        self.tries += 1
        if self.tries <= self.failures:
            raise ConnectionError(f"gateway unreachable while sending to {message.address}")
        self.delivered.append(message)


def _channels() -> ChannelRegistry:
    """The deployment's registry, reaching the applicant as its identity platform knows them."""
    return ChannelRegistry(contacts=lambda case: Contacts(email=EMAIL, phone=PHONE) if case.applicant_id == GROOM
                           else Contacts())


def _accept(session: Session, runtime: Runtime) -> Case:
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(), actor=CLERK)


def _templates(session: Session, case: Case) -> list[str]:
    return [n.template for n in inbox(session, recipient=case.applicant_id, case_id=case.id)]


def _subject(message: Message) -> str:
    return str(make_header(decode_header(str(message["Subject"]))))


def _attempts(session: Session) -> list[tuple[int, str, bool]]:
    rows = session.scalars(select(NotificationAttempt).order_by(NotificationAttempt.id))
    return [(a.attempt, a.channel, a.ok) for a in rows]


def test_email_arrives_once_in_chinese(session: Session, runtime: Runtime,
                                       smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    runtime.channels = _channels()
    runtime.channels.add("email", EmailChannel(host="127.0.0.1", port=port, sender="notice@gov.example.cn",
                                               timeout=10))
    case = _accept(session, runtime)
    results = drain_outbox(session, runtime)
    assert [r.outcome for r in results] == [Outcome.COMPLETED]
    assert len(mailbox.received) == 1 and mailbox.recipients == [[EMAIL]]
    mail = mailbox.received[0]
    assert _subject(mail) == f"您的申请已受理（回执号 {case.receipt_no}）"
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode(mail.get_content_charset() or "utf-8")
    assert "已于 2026-03-02 受理" in text and "承诺办结日期 2026-03-23" in text
    assert drain_outbox(session, runtime) == []  # sent: nothing is left to send again
    assert len(mailbox.received) == 1
    assert _attempts(session) == [(1, "email", True)]
    sent = session.scalars(select(Notification).where(Notification.channel == "email")).one()
    assert sent.sent_at is not None


def test_a_channel_that_fails_once_sends_exactly_once(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    flaky = FlakyChannel()
    runtime.channels = _channels()
    runtime.channels.add("sms", flaky)
    case = _accept(session, runtime)
    first = drain_outbox(session, runtime)
    assert [r.outcome for r in first] == [Outcome.FAILED]
    assert PHONE not in first[0].detail and "<recipient>" in first[0].detail  # the error keeps no number
    assert drain_outbox(session, runtime) == []  # backing off
    clock.advance(minutes=1)
    assert [r.outcome for r in drain_outbox(session, runtime)] == [Outcome.COMPLETED]
    clock.advance(hours=2)
    assert drain_outbox(session, runtime) == []
    assert [m.template for m in flaky.delivered] == ["case_accepted"]
    assert flaky.delivered[0].address == PHONE and case.receipt_no in flaky.delivered[0].subject
    assert _attempts(session) == [(1, "sms", False), (2, "sms", True)]
    failed = session.scalars(select(NotificationAttempt).where(NotificationAttempt.ok.is_(False))).one()
    assert "gateway unreachable" in failed.error and PHONE not in failed.error


def test_a_channel_that_never_works_ends_as_a_dead_letter(session: Session, runtime: Runtime,
                                                          clock: FixedClock) -> None:
    runtime.channels = _channels()
    runtime.channels.add("sms", FlakyChannel(failures=10_000))
    _accept(session, runtime)
    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        outcomes += [r.outcome for r in drain_outbox(session, runtime)]
        clock.advance(hours=1)
    assert outcomes == [Outcome.FAILED] * (MAX_ATTEMPTS - 1) + [Outcome.DEAD]
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify")).one()
    assert message.dead_at is not None
    assert [a for a, _, ok in _attempts(session)] == list(range(1, MAX_ATTEMPTS + 1))
    assert not any(ok for _, _, ok in _attempts(session))


def test_the_applicant_inbox_follows_the_case_to_completion(session: Session, runtime: Runtime) -> None:
    case = _accept(session, runtime)
    assert _templates(session, case) == ["case_accepted"]
    while ready := [s for s in case.steps if s.state == StepState.READY.value]:
        for step in ready:
            actor = decider(step)
            claim_step(session, runtime, step_id=step.id, actor=actor, expected_version=step.version)
            complete_step(session, runtime, step_id=step.id, actor=actor, outputs={"result": "ok"},
                          expected_version=step.version)
        session.refresh(case)
    seen = _templates(session, case)
    assert seen[:3] == ["rating_invitation", "results_ready", "case_completed"]
    assert seen[3:] == ["step_done"] * 4 + ["case_accepted"]
    completed = inbox(session, recipient=case.applicant_id, case_id=case.id)[2]
    assert completed.subject == f"办结通知（回执号 {case.receipt_no}）" and "结婚" in completed.body
    assert inbox(session, recipient="someone-else") == []  # nobody else sees them


def test_a_withdrawn_case_gets_no_completion_notice_and_no_rating_invitation(session: Session,
                                                                            runtime: Runtime) -> None:
    flaky = FlakyChannel(failures=0)
    runtime.channels = _channels()
    runtime.channels.add("sms", flaky)
    case = _accept(session, runtime)
    withdraw_case(session, runtime, case_id=case.id, actor=applicant(GROOM))
    drain_outbox(session, runtime)
    assert _templates(session, case) == ["case_withdrawn", "case_accepted"]
    assert [m.template for m in flaky.delivered] == ["case_accepted", "case_withdrawn"]


def test_no_personal_data_in_log_lines(session: Session, runtime: Runtime, smtp_server: tuple[Mailbox, int],
                                       caplog: pytest.LogCaptureFixture) -> None:
    _, port = smtp_server
    runtime.channels = _channels()
    runtime.channels.add("email", EmailChannel(host="127.0.0.1", port=port, timeout=10))
    runtime.channels.add("sms", SmsChannel(LoggingSmsAdapter()))
    with caplog.at_level(logging.DEBUG):
        case = _accept(session, runtime)
        withdraw_case(session, runtime, case_id=case.id, actor=applicant(GROOM))
        assert {r.outcome for r in drain_outbox(session, runtime)} == {Outcome.COMPLETED}
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("engine"))
    assert "notify: sms to 138****5678 (case_accepted)" in logged
    assert "notify: email sent (case_withdrawn" in logged
    for personal in (PHONE, EMAIL, GROOM, "测试甲", "测试乙"):
        assert personal not in logged


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("notice", list(Notice))
def test_every_notice_reads_in_both_languages(notice: Notice, locale: str) -> None:
    context = {"receipt_no": "430102-20260302-00001", "bundle": "结婚登记", "accepted_on": "2026-03-02",
               "due_on": "2026-03-23", "step": "婚姻登记", "reason": "户口簿", "hand_in_by": "2026-03-09",
               "later_step": "户口登记", "rating_url": "/ui/cases/x?via=notice#rating"}  # an office's notice of a revoked result names its own later step
    subject, body = render(notice, locale=locale, context=context)
    assert "430102-20260302-00001" in subject and body and "\n" not in subject


def register_flaky(channels: ChannelRegistry) -> None:
    """A notify plugin, as ONEVISIT_NOTIFY_PLUGINS names it."""
    channels.add("flaky", FlakyChannel())


def test_settings_and_plugins_make_the_channels() -> None:
    configured = Settings(notify_smtp_host="127.0.0.1", notify_smtp_port=2525, notify_sms="log",
                          notify_smtp_password=SecretStr("s3cret"), notify_locale="en")
    channels = install_plugins(default_channels(configured), group=NOTIFY_GROUP,
                               configured=["tests.engine.notify.test_notify:register_flaky"])
    assert list(channels.names()) == ["email", "sms", "flaky"] and channels.locale == "en"
    email = channels["email"]
    assert isinstance(email, EmailChannel) and email.port == 2525 and email.password == "s3cret"
    assert list(default_channels(Settings()).names()) == []  # unconfigured: the inbox only
    with pytest.raises(PluginError, match="'flaky' is already registered"):
        install_plugins(channels, group=NOTIFY_GROUP, configured=["tests.engine.notify.test_notify:register_flaky"])
    with pytest.raises(ValueError, match="built in"):
        ChannelRegistry().add("inbox", FlakyChannel())


def test_an_officer_is_reminded_in_their_inbox_and_the_applicant_reads_theirs(session: Session, runtime: Runtime,
                                                                             clock: FixedClock) -> None:
    case = _accept(session, runtime)
    step = case.steps[0]
    officer = decider(step).id
    queue_officer_reminder(session, runtime.channels, case=case, step=step, officer=officer, at=clock.now(),
                           step_name="婚姻登记")
    session.commit()
    [reminder] = inbox(session, recipient=officer)
    assert reminder.subject == f"办理提醒：婚姻登记（回执号 {case.receipt_no}）"
    assert "将于 2026-03-30 到期" in reminder.body
    assert _templates(session, case) == ["case_accepted"]  # the applicant's inbox is their own
    [accepted] = inbox(session, recipient=case.applicant_id)
    assert not mark_read(session, recipient=officer, notification_id=accepted.id, at=clock.now())
    assert mark_read(session, recipient=case.applicant_id, notification_id=accepted.id, at=clock.now())
    session.commit()
    assert inbox(session, recipient=case.applicant_id)[0].read_at == clock.now()
