"""Cards for overdue follow-ups (issue 13.3): a rectification, post-check or complaint past its
due date gets a yellow card, red the configured working days later (one card shown, the red one,
which asks for an explanation), both resolved when the follow-up closes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Card, Case
from engine.governance.followups import FollowupKind, open_followup
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from engine.time.supervision import issue_cards, list_cards, resolve_cards, supervision_stats
from tests.engine.sample_people import CLERK, GROOM, another_couple, marriage_answers


def _case(session: Session, runtime: Runtime) -> Case:
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(**another_couple()), actor=CLERK)


def _after(runtime: Runtime, day: object, working_days: int) -> object:
    current = day
    while runtime.calendar.working_days_between(day, current) < working_days:  # type: ignore[arg-type]
        current += timedelta(days=1)  # type: ignore[operator]
    return current


def test_overdue_followup_yellow_then_red_then_resolved(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = _case(session, runtime)
    step = case.steps[0]
    office = step.office or f"{step.department}@{case.region}"
    followup = open_followup(session, runtime, case=case, kind=FollowupKind.COMPLAINT, working_days=2,
                             region=case.region, office=office, department=step.department, step=step,
                             source_ref="T-1")
    session.commit()
    due = followup.due_on

    clock.set_local(due)
    assert issue_cards(session, runtime, red_after_working_days=3) == []  # due today: not yet late

    clock.set_local(due + timedelta(days=1))
    cards = [c for c in issue_cards(session, runtime, red_after_working_days=3) if c.followup_id == followup.id]
    assert [(c.colour, c.department, c.region, c.case_id) for c in cards] == [
        ("yellow", step.department, case.region, case.id)]
    assert cards[0].step_id is None and cards[0].explanation_state == ""
    shown = [v for v in list_cards(session, region=case.region) if v.followup_id == followup.id]
    assert [(v.colour, v.followup_kind, v.kind_label) for v in shown] == [
        ("yellow", "complaint", "12345 诉求 / complaint")]

    clock.set_local(_after(runtime, due, 3))  # type: ignore[arg-type]
    red = [c for c in issue_cards(session, runtime, red_after_working_days=3) if c.followup_id == followup.id]
    assert [(c.colour, c.explanation_state) for c in red] == [("red", "required")]
    assert issue_cards(session, runtime, red_after_working_days=3) == []  # idempotent
    shown = [v for v in list_cards(session, region=case.region) if v.followup_id == followup.id]
    assert [(v.colour, v.explanation_state) for v in shown] == [("red", "required")]  # its highest only
    stats = supervision_stats(session, region=case.region, today=runtime.today())
    assert any(o.office == office and o.red_cards >= 1 for o in stats.offices)

    # A closed case does not resolve the follow-up's cards; a closed follow-up does.
    resolve_cards(session, runtime)
    rows = session.scalars(select(Card).where(Card.followup_id == followup.id)).all()
    assert all(r.resolved_at is None for r in rows) and len(rows) == 2
    followup.state, followup.closed_at = "closed", runtime.clock.now()
    session.commit()
    assert resolve_cards(session, runtime) >= 2
    session.expire_all()  # the sweep's UPDATE is set-based
    rows = session.scalars(select(Card).where(Card.followup_id == followup.id)).all()
    assert all(r.resolved_at is not None for r in rows)
    assert not [v for v in list_cards(session, region=case.region) if v.followup_id == followup.id]


def test_appealed_followup_is_carded_closed_one_is_not(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = _case(session, runtime)
    step = case.steps[0]
    kwargs = dict(case=case, working_days=1, region=case.region, office=f"{step.department}@{case.region}",
                  department=step.department)
    appealed = open_followup(session, runtime, kind=FollowupKind.COMPLAINT, source_ref="T-2", **kwargs)  # type: ignore[arg-type]
    closed = open_followup(session, runtime, kind=FollowupKind.COMPLAINT, source_ref="T-3", **kwargs)  # type: ignore[arg-type]
    appealed.state = "appealed"
    closed.state, closed.closed_at = "closed", runtime.clock.now()
    session.commit()
    clock.set_local(appealed.due_on + timedelta(days=1))
    carded = {c.followup_id for c in issue_cards(session, runtime, red_after_working_days=3)}
    assert appealed.id in carded and closed.id not in carded
