"""Supervision that follows through (issue 13.3): a reminder some working days before the due
date, once; yellow at the due date; red the configured working days later, and then the step
shows its red card only. The clock jumps working days; the thresholds come from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Card, Case
from engine.machine.actions import claim_step, complete_step
from engine.machine.intake import Applicant, accept_case
from engine.notify.queue import inbox
from engine.runtime import Runtime
from engine.settings import get_settings
from engine.spec.loader import BUNDLES_DIR, load_draft
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.time.reminders import REMIND_ACTION, remind_officers
from engine.time.supervision import issue_cards, list_cards, supervision_stats
from flows.context import FlowContext
from flows.sweep import sweep_once
from tests.engine.sample_people import (
    CHILD,
    CLERK,
    GROOM,
    another_couple,
    decider,
    marriage_answers,
    officer,
    post_death_answers,
)


def _case(session: Session, runtime: Runtime) -> Case:
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(**another_couple()), actor=CLERK)


def _day_before(calendar: WorkingCalendar, due: date, working_days: int) -> date:
    """The first day from which ``due`` is at most ``working_days`` working days away."""
    day = due - timedelta(days=3 * working_days + 14)
    while calendar.working_days_between(day, due) > working_days:
        day += timedelta(days=1)
    return day


def _day_after(calendar: WorkingCalendar, due: date, working_days: int) -> date:
    day = due
    while calendar.working_days_between(due, day) < working_days:
        day += timedelta(days=1)
    return day


@pytest.fixture
def thresholds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Remind two working days before the due date, red three working days after it."""
    monkeypatch.setenv("ONEVISIT_REMIND_BEFORE_DAYS", "2")
    monkeypatch.setenv("ONEVISIT_RED_AFTER_DAYS", "3")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_reminder_then_yellow_then_red_one_card_shown(
    session: Session, runtime: Runtime, clock: FixedClock, db: object, thresholds: None
) -> None:
    context = FlowContext(db.sessions, runtime)  # type: ignore[attr-defined]
    case = _case(session, runtime)
    step = case.steps[0]
    step_id, due, office = step.id, step.due_on, step.office or f"{step.department}@{case.region}"
    assert due is not None
    calendar = runtime.calendar

    remind_on = _day_before(calendar, due, 2)
    clock.set_local(remind_on - timedelta(days=1))
    assert sweep_once(context)["officers_reminded"] == 0  # three working days away: not yet
    clock.set_local(remind_on)
    assert sweep_once(context)["officers_reminded"] == 1
    assert sweep_once(context)["officers_reminded"] == 0  # once per step
    clock.set_local(due)
    assert sweep_once(context)["officers_reminded"] == 0
    session.rollback()
    [reminder] = inbox(session, recipient=office)
    assert reminder.template == "officer_reminder" and due.isoformat() in reminder.body
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == REMIND_ACTION)).all()
    assert [(e.step_id, e.payload["due_on"]) for e in events] == [(step_id, due.isoformat())]

    clock.set_local(due + timedelta(days=1))
    sweep_once(context)
    session.rollback()  # read what the sweep's own sessions committed
    assert [(c.colour, c.step_id) for c in list_cards(session, region=None) if c.step_id] == [("yellow", step_id)]

    red_on = _day_after(calendar, due, 3)
    clock.set_local(red_on - timedelta(days=1))
    assert sweep_once(context)["red_cards"] == 0  # the case (due earlier) is red already; the step not yet
    session.rollback()
    assert [c.colour for c in list_cards(session, region=None) if c.step_id] == ["yellow"]
    clock.set_local(red_on)
    assert sweep_once(context)["red_cards"] == 1
    session.rollback()
    shown = [c for c in list_cards(session, region=None, open_only=False) if c.step_id]
    assert [(c.colour, c.working_days_overdue) for c in shown] == [("red", 3)]  # one card, the highest
    assert [c.colour for c in list_cards(session, region=None, colour="yellow") if c.step_id] == []
    assert session.scalar(select(func.count()).select_from(Card).where(Card.step_id == step_id)) == 2  # history
    stats = supervision_stats(session, region=None, today=runtime.today())
    assert [(o.yellow_cards, o.red_cards) for o in stats.offices if o.office == office] == [(0, 1)]
    assert stats.open_cards == {"yellow": 0, "red": 2}


def test_no_reminder_when_turned_off_or_the_clock_is_stopped(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    case = _case(session, runtime)
    due = case.steps[0].due_on
    assert due is not None
    clock.set_local(due)
    assert remind_officers(session, runtime, days_before=0) == []
    clock.set_local(due + timedelta(days=1))  # overdue: cards, not reminders
    assert remind_officers(session, runtime, days_before=2) == []


def test_a_card_of_a_for_each_step_names_its_entry(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = accept_case(session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person", "测试丙"),
                       answers=post_death_answers(death_kind="natural"), actor=CLERK)
    certificate = next(s for s in case.steps if s.step_key == "death_certificate")
    claim_step(session, runtime, step_id=certificate.id, actor=decider(certificate))
    complete_step(session, runtime, step_id=certificate.id, actor=decider(certificate))  # releases the heirs' steps
    per_entry = {s.id: s for s in case.steps if s.instance_label}
    clock.advance(days=90)
    issue_cards(session, runtime)
    cards = [c for c in list_cards(session, region=None) if c.step_id in per_entry]
    assert cards and {c.instance_label for c in cards} == {per_entry[c.step_id].instance_label for c in cards}
    assert {c.instance_label for c in cards} <= {"测试丙", "测试戊"}
    # whoever may see the step in full reads the entry; another department's officer does not
    step = per_entry[cards[0].step_id]
    own = list_cards(session, region=None, viewer=decider(step))
    other = list_cards(session, region=None, viewer=officer("99" if step.department != "99" else "98"))
    assert {c.instance_label for c in own if c.step_id == step.id} == {step.instance_label}
    assert {c.instance_label for c in other if c.step_id == step.id} == {""}


def test_a_bundle_sets_its_own_thresholds(session: Session, runtime: Runtime, clock: FixedClock,
                                          tmp_path: Path) -> None:
    """Marriage reminds four working days ahead and cards red two working days late; post-death
    keeps the settings (remind two ahead, red five late)."""
    text = (BUNDLES_DIR / "marriage.yaml").read_text(encoding="utf-8")
    assert "\nsteps:\n" in text
    text = text.replace("\nsteps:\n", "\nsupervision: {remind_before_days: 4, red_after_days: 2}\nsteps:\n", 1)
    path = tmp_path / "marriage.yaml"
    path.write_text(text, encoding="utf-8")
    strict = runtime.with_draft(load_draft(path, runtime.registry))
    assert strict.registry.bundles["marriage"].supervision.red_after_days == 2
    settings = get_settings()
    case = _case(session, strict)
    step = case.steps[0]
    assert step.due_on is not None
    calendar = strict.calendar

    clock.set_local(_day_before(calendar, step.due_on, 4))
    assert remind_officers(session, strict, days_before=settings.remind_before_days) == [step.id]
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == REMIND_ACTION)).all()
    assert event.payload["days_before"] == 4

    clock.set_local(_day_after(calendar, step.due_on, 2))
    issue_cards(session, strict, red_after_working_days=settings.red_after_days)
    red = [c for c in list_cards(session, region=None) if c.step_id == step.id]
    assert [c.colour for c in red] == ["red"] and "超期 2 个工作日以上" in red[0].reason
    # the same lateness in a bundle without its own thresholds is only yellow
    later = accept_case(session, strict, bundle_id="post_death", applicant=Applicant(CHILD, "person", "测试丁"),
                        answers=post_death_answers(), actor=CLERK)
    other = next(s for s in later.steps if s.due_on is not None and s.state == "ready")
    assert other.due_on is not None
    clock.set_local(_day_after(calendar, other.due_on, 2))
    issue_cards(session, strict, red_after_working_days=settings.red_after_days)
    assert {c.colour for c in list_cards(session, region=None) if c.step_id == other.id} == {"yellow"}
