"""The follow-up gate (engine.governance.followups), on both backends: the rules decide which action
applies in which state and for which role; sight comes before role (NotFound, then Forbidden); a
supervisor reaches a follow-up by its office's region or by its case's; a restarted deadline is
counted from the day of the change; every change is one audit event in the case's chain."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, Followup
from engine.errors import DomainError, Forbidden, IllegalTransition, NotFound, StaleVersion
from engine.governance.followups import (
    FOLLOWUP_RULES,
    FollowupKind,
    FollowupState,
    followup_rule,
    followup_visible,
    list_followups,
    open_followup,
    transition_followup,
)
from engine.machine.states import Actor, Role
from engine.records.audit import verify_audit
from engine.runtime import Runtime
from engine.time.clock import FixedClock, local_date
from tests.engine.machine.test_handover import province_officer, received
from tests.engine.sample_people import applicant, officer

CITY_SUPERVISOR = Actor(id="sup-4301", role=Role.SUPERVISOR, region="430100")
PROVINCE_SUPERVISOR = Actor(id="sup-43", role=Role.SUPERVISOR, region="430000")
FAR_SUPERVISOR = Actor(id="sup-4302", role=Role.SUPERVISOR, region="430200")


def test_every_kind_opens_once_and_each_action_has_one_rule_per_state() -> None:
    for kind in FollowupKind:
        assert followup_rule(kind, "open", None).target is FollowupState.OPEN
        seen: set[tuple[str, FollowupState | None]] = set()
        for rule in (r for r in FOLLOWUP_RULES if r.kind is kind):
            for source in rule.sources:
                assert (rule.action, source) not in seen, f"two rules for {kind} {rule.action} from {source}"
                seen.add((rule.action, source))
    with pytest.raises(IllegalTransition) as unknown:
        followup_rule(FollowupKind.POST_CHECK, "appeal", FollowupState.OPEN)
    assert unknown.value.field == "action"
    with pytest.raises(IllegalTransition):  # answered already: the hotline reopens, nobody answers twice
        followup_rule(FollowupKind.COMPLAINT, "answer", FollowupState.CLOSED)


def _province_complaint(session: Session, runtime: Runtime) -> tuple[Case, Followup]:
    """A complaint about a 芙蓉区 case whose office is the province's (so its region is 430000)."""
    case = received(session, runtime)
    followup = open_followup(session, runtime, case=case, kind=FollowupKind.COMPLAINT, working_days=5,
                             region="430000", office="11@430000", department="11", source_ref="T-1")
    session.commit()
    return case, followup


def test_a_supervisor_reaches_a_follow_up_by_its_case_region_too(session: Session, runtime: Runtime) -> None:
    case, followup = _province_complaint(session, runtime)
    assert followup_visible(CITY_SUPERVISOR, followup, case)  # the case is the city's
    assert followup_visible(PROVINCE_SUPERVISOR, followup, case)  # the office is the province's
    assert not followup_visible(FAR_SUPERVISOR, followup, case)
    assert followup_visible(province_officer("11"), followup, case)
    assert not followup_visible(officer("11"), followup, case)  # a district office is not the province's
    assert followup_visible(applicant(case.applicant_id), followup, case)
    session.expunge_all()
    # The lists say the same in SQL.
    for who, expected in ((CITY_SUPERVISOR, [followup.id]), (PROVINCE_SUPERVISOR, [followup.id]),
                          (FAR_SUPERVISOR, []), (province_officer("11"), [followup.id]), (officer("11"), []),
                          (applicant(case.applicant_id), [followup.id]), (applicant("x"), [])):
        assert [f.id for f in list_followups(session, actor=who)] == expected, who


def test_sight_comes_before_role_and_versions_guard_changes(session: Session, runtime: Runtime) -> None:
    case, followup = _province_complaint(session, runtime)
    with pytest.raises(NotFound):  # out of sight: it does not exist for them
        transition_followup(session, runtime, case=case, followup=followup, action="answer", actor=officer("11"))
    with pytest.raises(Forbidden):  # in sight, not theirs to do
        transition_followup(session, runtime, case=case, followup=followup, action="answer",
                            actor=CITY_SUPERVISOR)
    with pytest.raises(StaleVersion) as stale:
        transition_followup(session, runtime, case=case, followup=followup, action="answer",
                            actor=province_officer("11"), expected_version=3)
    assert stale.value.field == "version"
    with pytest.raises(Forbidden):  # an officer cannot open one: only the engine and the hotline do
        open_followup(session, runtime, case=case, kind=FollowupKind.COMPLAINT, working_days=5,
                      region="430102", office=None, department=None, actor=officer("11"))
    with pytest.raises(DomainError) as too_long:
        list_followups(session, actor=CITY_SUPERVISOR, limit=10_000)
    assert too_long.value.field == "limit"


def test_a_restarted_deadline_counts_from_the_day_of_the_change(session: Session, runtime: Runtime,
                                                                 clock: FixedClock) -> None:
    case, followup = _province_complaint(session, runtime)
    first_due = followup.due_on
    transition_followup(session, runtime, case=case, followup=followup, action="answer",
                        actor=province_officer("11"))
    session.commit()
    assert (followup.state, followup.outcome) == ("closed", "answered")
    clock.advance(days=20)
    transition_followup(session, runtime, case=case, followup=followup, action="reopen", actor=CITY_SUPERVISOR,
                        restart_working_days=5)
    session.commit()
    renewed = runtime.calendar.add_working_days(local_date(clock.now()), 5)
    assert (followup.state, followup.outcome, followup.closed_at, followup.due_on) == ("open", "", None, renewed)
    assert renewed > first_due
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                            AuditEvent.action.like("followup.%"))
                                  .order_by(AuditEvent.seq)))
    assert [e.action for e in events] == ["followup.complaint.open", "followup.complaint.answer",
                                          "followup.complaint.reopen"]
    assert events[-1].payload["due_on"] == renewed.isoformat() and events[-1].payload["working_days"] == 5
    assert events[-1].actor_id == CITY_SUPERVISOR.id
    verify_audit(session, case_id=case.id)
