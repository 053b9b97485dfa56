"""情况说明 for red cards, asked of the engine directly, on both backends: a step left open past its
due date and five working days more gets a red card whose explanation is required; its office's
officer submits one, a supervisor returns it (a note required) or accepts it; the history keeps
every round, each change is one audit event on a chain that verifies, and the worklists and the
per-office count of unexplained cards follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Card, Step
from engine.errors import DomainError, Forbidden, IllegalTransition, NotFound
from engine.governance.explanations import (
    EXPLANATION_RULES,
    accept_explanation,
    change_explanation,
    explanation_rule,
    explanations_due,
    return_explanation,
    submit_explanation,
    unexplained_red_cards,
)
from engine.governance.followups import FollowupKind, open_followup
from engine.machine.states import Actor, Role
from engine.records.audit import verify_audit
from engine.runtime import Runtime
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.time.supervision import issue_cards
from tests.engine.machine.test_handover import fresh, received
from tests.engine.sample_people import applicant

RED_AFTER = 5
SUPERVISOR = Actor(id="supervisor-4301", role=Role.SUPERVISOR, region="430100", label="督查 0001")
FAR_SUPERVISOR = Actor(id="supervisor-4304", role=Role.SUPERVISOR, region="430400")


def _red_day(calendar: WorkingCalendar, due: date, working_days: int) -> date:
    day = due
    while calendar.working_days_between(due, day) < working_days:
        day += timedelta(days=1)
    return day


@dataclass
class Carded:
    case_id: str
    step: Step
    office: str
    red: Card
    yellow: Card
    case_red: Card
    """The case's own red card (case level: no department, no office)."""
    followup_red: Card
    """A complaint's red card, for an office of the city (430100)."""

    def officer(self, *, region: str | None = None, department: str | None = None) -> Actor:
        """An officer of the step's office (or of ``department``, at ``region``)."""
        return Actor(id=f"officer-{department or self.step.department}", role=Role.OFFICER,
                     department=department or self.step.department,
                     region=region or self.office.split("@", 1)[1], label="工号 1101")


@pytest.fixture
def carded(session: Session, runtime: Runtime, clock: FixedClock) -> Carded:
    """A 430102 marriage case left untouched until its step is red, and a complaint about it for
    the city's office of the same department, red too."""
    case = received(session, runtime, region="430102")
    step = case.steps[0]
    assert step.office is not None and step.due_on is not None
    city_office = f"{step.department}@430100"
    followup = open_followup(session, runtime, case=case, kind=FollowupKind.COMPLAINT, working_days=2,
                             region="430100", office=city_office, department=step.department, source_ref="T-9")
    session.commit()
    clock.set_local(_red_day(runtime.calendar, step.due_on, RED_AFTER))
    issue_cards(session, runtime, red_after_working_days=RED_AFTER)
    cards = list(session.scalars(select(Card).where(Card.case_id == case.id)))

    def one(**match: object) -> Card:
        found = [c for c in cards if all(getattr(c, k) == v for k, v in match.items())]
        assert len(found) == 1, (match, [(c.colour, c.step_id, c.followup_id) for c in cards])
        return found[0]

    return Carded(
        case_id=case.id, step=step, office=step.office,
        red=one(step_id=step.id, colour="red"), yellow=one(step_id=step.id, colour="yellow"),
        case_red=one(step_id=None, followup_id=None, colour="red"),
        followup_red=one(followup_id=followup.id, colour="red"),
    )


def _events(session: Session, case_id: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action.startswith("card.explanation.")).order_by(AuditEvent.seq)))


def _reload(session: Session, card: Card) -> Card:
    return session.get_one(Card, card.id, populate_existing=True)


def test_the_rule_table() -> None:
    assert {(r.action, tuple(sorted(s.value for s in r.sources)), r.target.value) for r in EXPLANATION_RULES} == {
        ("submit", ("required", "returned"), "submitted"),
        ("accept", ("submitted",), "accepted"),
        ("return", ("submitted",), "returned"),
    }
    assert explanation_rule("submit", "returned").target == "submitted"
    for action, state in [("submit", ""), ("submit", "accepted"), ("accept", "required"), ("return", "returned")]:
        with pytest.raises(IllegalTransition):
            explanation_rule(action, state)
    with pytest.raises(IllegalTransition):
        explanation_rule("withdraw", "submitted")


def test_submit_return_resubmit_accept(session: Session, runtime: Runtime, clock: FixedClock,
                                       carded: Carded) -> None:
    officer = carded.officer()
    red = carded.red
    assert (red.explanation_state, carded.yellow.explanation_state) == ("required", "")
    assert (carded.case_red.explanation_state, carded.followup_red.explanation_state) == ("required", "required")

    # A yellow card asks no explanation.
    with pytest.raises(IllegalTransition):
        submit_explanation(session, runtime, card_id=carded.yellow.id, actor=officer, reason="x", corrective_action="y")
    session.rollback()

    # Bad input names its field.
    for kwargs, field in [(dict(reason=" ", corrective_action="y"), "reason"),
                          (dict(reason="长" * 1001, corrective_action="y"), "reason"),
                          (dict(reason="x", corrective_action=""), "corrective_action"),
                          (dict(reason="x", corrective_action="y", responsible="名" * 65), "responsible")]:
        with pytest.raises(DomainError) as bad:
            submit_explanation(session, runtime, card_id=red.id, actor=officer, **kwargs)
        assert bad.value.field == field and " / " in bad.value.message
        session.rollback()
    with pytest.raises(DomainError) as unknown:
        change_explanation(session, runtime, card_id=red.id, action="submit", actor=officer, reason="x",
                           corrective_action="y", mood="sorry")
    assert unknown.value.field == "mood"
    session.rollback()
    with pytest.raises(NotFound):
        submit_explanation(session, runtime, card_id=10**9, actor=officer, reason="x", corrective_action="y")
    session.rollback()

    first_at = runtime.clock.now()
    submit_explanation(session, runtime, card_id=red.id, actor=officer, reason="  婚姻登记系统升级停机三天  ",
                       corrective_action="增开临时窗口", responsible="张某")
    session.commit()
    red = _reload(session, red)
    assert red.explanation_state == "submitted"
    assert red.explanation["rounds"] == [{"submitted": {
        "by": officer.id, "label": "工号 1101", "at": first_at.isoformat(), "reason": "婚姻登记系统升级停机三天",
        "corrective_action": "增开临时窗口", "responsible": "张某"}, "decision": None}]

    # Submitted: not again, and only a supervisor decides.
    with pytest.raises(IllegalTransition):
        submit_explanation(session, runtime, card_id=red.id, actor=officer, reason="x", corrective_action="y")
    session.rollback()
    with pytest.raises(Forbidden):
        accept_explanation(session, runtime, card_id=red.id, actor=officer)
    session.rollback()

    # Returning needs a note saying why.
    with pytest.raises(DomainError) as no_note:
        return_explanation(session, runtime, card_id=red.id, actor=SUPERVISOR, note="  ")
    assert no_note.value.field == "note"
    session.rollback()
    with pytest.raises(DomainError) as long_note:
        return_explanation(session, runtime, card_id=red.id, actor=SUPERVISOR, note="长" * 1001)
    assert long_note.value.field == "note"
    session.rollback()
    clock.advance(hours=2)
    returned_at = runtime.clock.now()
    return_explanation(session, runtime, card_id=red.id, actor=SUPERVISOR, note="未说明停机审批情况")
    session.commit()
    assert _reload(session, red).explanation_state == "returned"
    with pytest.raises(IllegalTransition):  # nothing submitted to decide on
        accept_explanation(session, runtime, card_id=red.id, actor=SUPERVISOR)
    session.rollback()

    clock.advance(days=1)
    submit_explanation(session, runtime, card_id=red.id, actor=officer, reason="系统升级经省厅批准，停机三天",
                       corrective_action="补办积压件并公告")
    session.commit()
    clock.advance(hours=1)
    accepted_at = runtime.clock.now()
    accept_explanation(session, runtime, card_id=red.id, actor=SUPERVISOR, note="同意")
    session.commit()
    red = _reload(session, red)
    assert red.explanation_state == "accepted"
    with pytest.raises(IllegalTransition):
        submit_explanation(session, runtime, card_id=red.id, actor=officer, reason="x", corrective_action="y")
    session.rollback()
    with pytest.raises(IllegalTransition):
        return_explanation(session, runtime, card_id=red.id, actor=SUPERVISOR, note="再改")
    session.rollback()

    rounds = _reload(session, red).explanation["rounds"]
    assert len(rounds) == 2
    assert rounds[0]["decision"] == {"action": "return", "by": SUPERVISOR.id, "label": SUPERVISOR.label,
                                     "at": returned_at.isoformat(), "note": "未说明停机审批情况"}
    assert rounds[1]["submitted"]["reason"] == "系统升级经省厅批准，停机三天"
    assert rounds[1]["submitted"]["responsible"] == ""
    assert rounds[1]["decision"] == {"action": "accept", "by": SUPERVISOR.id, "label": SUPERVISOR.label,
                                     "at": accepted_at.isoformat(), "note": "同意"}

    # One audit event per change, none for the refusals, on a chain that verifies.
    events = _events(session, carded.case_id)
    assert [(e.action, e.from_state, e.to_state, e.step_id) for e in events] == [
        ("card.explanation.submit", "required", "submitted", carded.step.id),
        ("card.explanation.return", "submitted", "returned", carded.step.id),
        ("card.explanation.submit", "returned", "submitted", carded.step.id),
        ("card.explanation.accept", "submitted", "accepted", carded.step.id),
    ]
    assert [(e.payload["card"], e.payload["colour"], e.payload["from"], e.payload["to"], e.payload["round"])
            for e in events] == [(red.id, "red", "required", "submitted", 1), (red.id, "red", "submitted", "returned", 1),
                                 (red.id, "red", "returned", "submitted", 2), (red.id, "red", "submitted", "accepted", 2)]
    assert events[0].payload["submitted"]["corrective_action"] == "增开临时窗口"
    assert events[1].payload["decision"]["note"] == "未说明停机审批情况"
    assert [e.actor_id for e in events] == [officer.id, SUPERVISOR.id, officer.id, SUPERVISOR.id]
    assert verify_audit(session, case_id=carded.case_id).ok


def test_who_may_explain_and_decide(session: Session, runtime: Runtime, carded: Carded) -> None:
    red = carded.red
    owner = carded.officer()
    kwargs = dict(reason="x", corrective_action="y")
    outsiders = [
        carded.officer(department="99"),  # another department, same region
        carded.officer(region="430405"),  # the department, another county
        applicant(fresh(session, carded.case_id).applicant_id),
        Actor(id="clerk-1", role=Role.CLERK, region="430102"),
        Actor(id="officer-none", role=Role.OFFICER, region="430102"),  # no department
    ]
    for stranger in outsiders:
        with pytest.raises(NotFound) as hidden:
            submit_explanation(session, runtime, card_id=red.id, actor=stranger, **kwargs)
        assert hidden.value.field == "card_id", stranger
        session.rollback()
    # A supervisor sees it but does not explain; one of another city does not see it.
    with pytest.raises(Forbidden):
        submit_explanation(session, runtime, card_id=red.id, actor=SUPERVISOR, **kwargs)
    session.rollback()
    # A case's own card has no department: no officer explains it.
    with pytest.raises(NotFound):
        submit_explanation(session, runtime, card_id=carded.case_red.id, actor=owner, **kwargs)
    session.rollback()
    # The complaint's card is the city office's: the county officer does not see it, the city's does.
    with pytest.raises(NotFound):
        submit_explanation(session, runtime, card_id=carded.followup_red.id, actor=owner, **kwargs)
    session.rollback()
    submit_explanation(session, runtime, card_id=carded.followup_red.id, actor=carded.officer(region="430100"),
                       **kwargs)
    # An officer of the department above the office sees it (the province covers the county).
    submit_explanation(session, runtime, card_id=red.id, actor=carded.officer(region="430000"), **kwargs)
    session.commit()
    with pytest.raises(NotFound):
        accept_explanation(session, runtime, card_id=red.id, actor=FAR_SUPERVISOR)
    session.rollback()
    admin = Actor(id="admin", role=Role.ADMIN)
    accept_explanation(session, runtime, card_id=red.id, actor=admin)
    session.commit()
    assert _reload(session, red).explanation_state == "accepted"
    assert len(_events(session, carded.case_id)) == 3
    assert verify_audit(session, case_id=carded.case_id).ok


def test_worklists_and_unexplained_counts(session: Session, runtime: Runtime, carded: Carded) -> None:
    owner = carded.officer()
    city_officer = carded.officer(region="430100")
    red, followup_red, case_red = carded.red, carded.followup_red, carded.case_red

    def ids(cards: list[Card]) -> list[int]:
        return [c.id for c in cards]

    # An officer's due list: their department's red cards whose office their region covers.
    assert ids(explanations_due(session, actor=owner)) == [red.id]
    assert set(ids(explanations_due(session, actor=city_officer))) == {red.id, followup_red.id}
    assert ids(explanations_due(session, actor=city_officer)) == sorted([red.id, followup_red.id], reverse=True)
    assert explanations_due(session, actor=carded.officer(department="99")) == []
    assert explanations_due(session, actor=carded.officer(region="430405")) == []
    assert explanations_due(session, actor=owner, state="submitted") == []  # not the officer's to act on
    assert explanations_due(session, actor=SUPERVISOR) == []  # nothing submitted yet
    assert explanations_due(session, actor=applicant(fresh(session, carded.case_id).applicant_id)) == []
    with pytest.raises(DomainError) as bad:
        explanations_due(session, actor=owner, state="lost")
    assert bad.value.field == "state"

    assert unexplained_red_cards(session, region="430102") == {carded.office: 1, "-": 1}
    assert unexplained_red_cards(session, region="430100") == {carded.office: 1, "-": 1,
                                                               f"{carded.step.department}@430100": 1}
    assert unexplained_red_cards(session, region="430400") == {}
    assert unexplained_red_cards(session, region="430100", today=runtime.today() - timedelta(days=1)) == {}
    assert sum(unexplained_red_cards(session, region=None).values()) == 3

    submit_explanation(session, runtime, card_id=red.id, actor=owner, reason="x", corrective_action="y")
    session.commit()
    assert explanations_due(session, actor=owner) == []
    assert ids(explanations_due(session, actor=SUPERVISOR)) == [red.id]
    assert ids(explanations_due(session, actor=SUPERVISOR, state="submitted")) == [red.id]
    assert explanations_due(session, actor=SUPERVISOR, state="required") == []
    assert explanations_due(session, actor=FAR_SUPERVISOR) == []
    assert unexplained_red_cards(session, region="430102") == {"-": 1}

    return_explanation(session, runtime, card_id=red.id, actor=SUPERVISOR, note="请补充")
    session.commit()
    assert ids(explanations_due(session, actor=owner)) == [red.id]
    assert ids(explanations_due(session, actor=owner, state="returned")) == [red.id]
    assert explanations_due(session, actor=owner, state="required") == []
    assert explanations_due(session, actor=SUPERVISOR) == []
    assert unexplained_red_cards(session, region="430102") == {carded.office: 1, "-": 1}

    submit_explanation(session, runtime, card_id=red.id, actor=owner, reason="x", corrective_action="y")
    accept_explanation(session, runtime, card_id=red.id, actor=SUPERVISOR)
    session.commit()
    assert explanations_due(session, actor=owner) == [] and explanations_due(session, actor=SUPERVISOR) == []
    assert unexplained_red_cards(session, region="430100") == {"-": 1, f"{carded.step.department}@430100": 1}
    assert case_red.explanation_state == "required"
    assert len(_events(session, carded.case_id)) == 4
    assert verify_audit(session, case_id=carded.case_id).ok


def test_a_resolved_red_card_still_owes_its_explanation(session: Session, runtime: Runtime,
                                                         carded: Carded) -> None:
    red = carded.red
    red.resolved_at = runtime.clock.now()  # as the sweep leaves it once the late step closes
    session.commit()
    assert [c.id for c in explanations_due(session, actor=carded.officer())] == [red.id]
    submit_explanation(session, runtime, card_id=red.id, actor=carded.officer(), reason="x", corrective_action="y")
    session.commit()
    assert _reload(session, red).explanation_state == "submitted"
