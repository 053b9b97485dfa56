"""The one gate: every rule of STEP_RULES and CASE_RULES, allowed and refused, on real rows.

Tests arrange a state by writing the column directly (tests are not engine code; the one-gate
rule below covers engine/, api/ and flows/) and then ask the gate for the change.

The gate decides per action: it first looks for a rule of that action whose sources hold the
current state (none: IllegalTransition), then for one of those that lists the actor's role
(none: Forbidden). So "a state no rule allows" means no rule *of that action*.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.records.audit import verify_audit
from engine.time.clock import FixedClock
from engine.db.models import AuditEvent, Case, CaseFile, DeferredMaterial, Step, new_id
from engine.errors import Forbidden, IllegalTransition
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from engine.machine.states import Actor, CaseState, Role, StepState
from engine.machine.effects import Inputs
from engine.machine.handover import HandOver
from engine.documents.inspection import FileKind, Inspected
from engine.machine.commitment_effects import Signed
from engine.machine.material_effects import HandIn
from engine.machine.transitions import CASE_RULES, STEP_RULES, Rule, transition_case, transition_step
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec, Commitment, Names, OnNoObjection, OnObjection, StepKind, TimeLimit
from engine.time.calendar import TimeUnit, WorkingCalendar
from tests.engine.sample_people import CLERK, GROOM, marriage_answers

ROOT = Path(__file__).resolve().parents[3]
DEPARTMENT = "11"  # marriage_registration is a Civil Affairs (民政) step
OTHER_DEPARTMENT = "09"


def state_name(state: Any) -> str:
    return "new" if state is None else state.value


def permitted_cases(rules: tuple[Rule[Any], ...], kind: str) -> list[Any]:
    return [
        pytest.param(rule, source, role, id=f"{kind}-{rule.action}-{state_name(source)}-{role.value}")
        for rule in rules
        for source in sorted(rule.sources, key=state_name)
        for role in sorted(rule.roles)
    ]


def action_sources(rules: tuple[Rule[Any], ...], action: str) -> frozenset[Any]:
    return frozenset().union(*(r.sources for r in rules if r.action == action))


def allowed(rules: tuple[Rule[Any], ...], action: str, state: Any, role: Role) -> bool:
    return any(r.action == action and state in r.sources and role in r.roles for r in rules)


def actor(role: Role, *, department: str = DEPARTMENT, subject: str | None = GROOM) -> Actor:
    return Actor(
        id=f"{role.value}-{department}",
        role=role,
        department=department if role in (Role.OFFICER, Role.SUPERVISOR) else None,
        region="430102",
        subject=subject if role is Role.APPLICANT else None,
    )


def events(session: Session, case_id: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)))


def pending_events(session: Session) -> list[AuditEvent]:
    return [obj for obj in session.new if isinstance(obj, AuditEvent)]


@pytest.fixture
def case(session: Session, runtime: Runtime) -> Case:
    """A real accepted marriage case (committed); its first step is marriage_registration."""
    accepted = accept_case(
        session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
        answers=marriage_answers(), actor=CLERK,
    )
    assert accepted.steps[0].step_key == "marriage_registration"
    assert accepted.steps[0].department == DEPARTMENT
    return accepted


def new_step(case: Case, *, attach: bool) -> Step:
    step = Step(
        id=new_id(), case_id=case.id, step_key="extra_step", instance=0, instance_label="", position=99,
        item_code="11-JHDJ", department=DEPARTMENT, kind="human", entry={}, due_provisional=False,
        outputs={}, reason="", supplement={},
    )
    if attach:
        case.steps.append(step)
    return step


def new_case(clock: FixedClock, runtime: Runtime) -> Case:
    """A case row as intake builds it, before the gate gives it a state."""
    return Case(
        id=new_id(), receipt_no=f"430102-20260302-{new_id()[:5]}", bundle_id="marriage", bundle_version=1,
        spec_hash=runtime.registry.bundles["marriage"].spec_hash, applicant_id=GROOM, applicant_kind="person", applicant_name="测试甲", region="430102",
        answers={}, created_by=CLERK.id, accepted_at=clock.now(), accepted_on=date(2026, 3, 2),
        due_on=date(2026, 3, 23), due_provisional=False, paused_days=0, audit_seq=0, audit_head="",
    )


# --- every permitted change ----------------------------------------------------------------


def assert_recorded(session: Session, case: Case, changed: Case | Step, action: str, rule: Rule[Any], source: Any,
                    who: Actor, *, version: int, before_count: int) -> AuditEvent:
    """``changed`` (a step of ``case``, or the case) is in the rule's target state one version up,
    and the case's chain has exactly one new event, linked to the one before, saying so."""
    assert changed.state == rule.target.value
    assert changed.version == version + 1
    session.flush()
    after = events(session, case.id)
    assert len(after) == before_count + 1
    event = after[-1]
    assert event.seq == case.audit_seq == before_count + 1
    assert event.action == action
    assert event.from_state == (source.value if source is not None else None)
    assert event.to_state == rule.target.value
    assert event.actor_id == who.id
    assert event.role == who.role.value
    assert event.prev_hash == (after[-2].hash if len(after) > 1 else "0" * 64)
    assert case.audit_head == event.hash
    return event


@pytest.fixture
def runtime(registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock) -> Runtime:
    """The real bundles, but marriage_registration declares the time keys the guarded rules need
    (a wait a no-objection ends, an objection procedure, a §42 maximum extension, a commitment
    letter), so every rule of
    the table can be tried on the one real case; a bundle file may not declare them on a human
    step (the loader refuses), the model does not mind."""
    marriage = registry.bundles["marriage"]
    steps = tuple(
        s.model_copy(update={"on_no_objection": OnNoObjection.END_WAIT, "on_objection": OnObjection.OFFICER_DECIDES,
                             "max_extension": TimeLimit(amount=10, unit=TimeUnit.WORKING_DAYS),
                             "commitment": PROMISE})
        if s.id == "marriage_registration" else s
        for s in marriage.steps
    )
    timed = BundleSpec.model_validate({**marriage.model_dump(), "steps": [s.model_dump() for s in steps]})
    custom = BundleRegistry(catalog=registry.catalog, fields=registry.fields,
                            bundles={**registry.bundles, "marriage": timed})
    return Runtime(registry=custom, calendar=calendar, clock=clock)


PROMISE = Commitment(conditions=(Names(zh="所报信息真实", en="the information is true"),),
                     consequence=Names(zh="虚假承诺将被撤销", en="a false one is revoked"))

GUARD_INPUTS = {
    "request_extension": Inputs(days=5, reason="需现场核查"),
    "raise_objection": Inputs(reason="公示对象信息有误"),
    "send_away": Inputs(transfer={"province": "44", "remote_reference": "44-000001"}),
    "receive_refusal": Inputs(reason="不符合条件"),
    "sign": Inputs(outputs={}, commitment=Signed(text="承诺书", text_hash="c" * 64, locale="zh", template="letter")),
    "revoke_result": Inputs(reason="核查不实"),
}
"""What the rules whose effects have guards need as input (the rest need nothing)."""


def arrange_guards(step: Step, rule: Rule[StepState]) -> Inputs:
    """Meet the guards of ``rule``'s effects on ``step``; the inputs to give it."""
    if rule.action in ("approve_extension", "refuse_extension"):
        step.outputs = {"extension": {"pending": {"days": 5, "reason": "需现场核查", "by": "officer-11", "at": "x"}}}
    if rule.action == "lapse_supplement":  # a hand-in window that ended before today (Monday 2 March)
        step.supplement = {"requested": ["户口簿"], "hand_in_by": "2026-02-27"}
    if rule.action == "send_away":  # routed to another province (跨省通办)
        step.decided_in = "440305"
    if rule.action in ("receive_decision", "receive_refusal"):  # sent there before
        step.outputs = {"transfer": {"province": "44", "remote_reference": "44-000001"}}
    if rule.action == "hand_in_supplement":  # a notice asking for 户口簿
        step.supplement = {"requested": ["户口簿"], "notices": 1}
    if rule.action == "receive_supplement":  # everything asked for was handed in
        step.supplement = {"requested": ["户口簿"], "notices": 1, "handed_in": {"户口簿": [{"paper": True}]}}
    return GUARD_INPUTS.get(rule.action, Inputs())


SCAN = Inspected(filename="hukou.pdf", kind=FileKind.PDF, media_type="application/pdf", size=3, pages=1,
                 sha256="a" * 64)


def hand_in_for(role: Role) -> HandIn:
    """A window records the paper original; anyone else hands in a (stored) file."""
    return HandIn(material="户口簿", paper=True) if role is Role.CLERK else HandIn(material="户口簿", files=(SCAN,))


def arrange_case_guards(session: Session, case: Case, rule: Rule[CaseState], role: Role, clock: FixedClock) -> Inputs:
    """Meet the guards of the case ``rule``'s effects; the inputs to give it."""
    if rule.action in ("supply_deferred", "remind_deferred"):  # 容缺: a material promised for later
        session.add(DeferredMaterial(case_id=case.id, material="户口簿", promised_on=date(2026, 3, 9),
                                     committed_by=CLERK.id, committed_at=clock.now()))
        session.flush()
        return Inputs(hand_in=hand_in_for(role)) if rule.action == "supply_deferred" else Inputs(materials=["户口簿"])
    if rule.action == "purge_files":  # a file of the closed case
        row = CaseFile(case_id=case.id, bundle_id=case.bundle_id, material="户口簿", sha256="b" * 64, size=3,
                       media_type="application/pdf", pages=1, filename="hukou.pdf", channel="window",
                       uploaded_by=CLERK.id, uploaded_at=clock.now(), staged_by=CLERK.id)
        session.add(row)
        session.flush()
        return Inputs(files=[row.id])
    if rule.action == "hand_over":
        return Inputs(handover=HandOver(recipient="applicant", method="window", handed_at=clock.now()))
    return Inputs()


@pytest.mark.parametrize(("rule", "source", "role"), permitted_cases(STEP_RULES, "step"))
def test_step_rule_permits(
    session: Session, runtime: Runtime, case: Case, clock: FixedClock, rule: Rule[StepState], source: StepState | None, role: Role
) -> None:
    if source is None:
        step = new_step(case, attach=True)
        before_count = case.audit_seq  # no query yet: it would flush a step without a state
    else:
        step = case.steps[0]
        step.state = source.value
        before_count = len(events(session, case.id))
        assert before_count == case.audit_seq
    if rule.kinds is not None:
        step.kind = sorted(rule.kinds)[0]  # a kind the rule is for (officers: human; dispatch: automated)
    version = step.version or 0
    who = actor(role)
    inputs = arrange_guards(step, rule)
    if rule.action == "hand_in_supplement":
        inputs = Inputs(hand_in=hand_in_for(role))

    result = transition_step(session, runtime, case=case, step=step, action=rule.action, actor=who, at=clock.now(),
                             payload={"note": "test"}, inputs=inputs)

    assert result is rule.target
    event = assert_recorded(session, case, step, f"step.{rule.action}", rule, source, who,
                            version=version, before_count=before_count)
    assert event.step_id == step.id
    assert event.payload["step"] == step.step_key and event.payload["note"] == "test"
    session.commit()
    assert verify_audit(session, case_id=case.id).ok


@pytest.mark.parametrize(("rule", "source", "role"), permitted_cases(CASE_RULES, "case"))
def test_case_rule_permits(
    session: Session, runtime: Runtime, case: Case, clock: FixedClock, rule: Rule[CaseState], source: CaseState | None, role: Role
) -> None:
    if source is None:
        target_case = new_case(clock, runtime)
        session.add(target_case)
        before_count = 0
    else:
        target_case = case
        target_case.state = source.value
        before_count = len(events(session, case.id))
        assert before_count == case.audit_seq
    if rule.action == "resume_clock":
        target_case.clock_stopped_on = target_case.accepted_on  # a clock that was stopped, to resume
    version = target_case.version or 0
    who = actor(role)
    inputs = arrange_case_guards(session, target_case, rule, role, clock)

    result = transition_case(session, runtime, case=target_case, action=rule.action, actor=who, at=clock.now(),
                             payload={"reason": "test"}, inputs=inputs)

    assert result is rule.target
    event = assert_recorded(session, target_case, target_case, f"case.{rule.action}", rule, source, who,
                            version=version, before_count=before_count)
    assert event.step_id is None
    # the caller's payload, and what the rule's effects changed (the clock: written out by hand)
    effect_details = {"accept": {"due"}, "stop_clock": {"clock_stopped_on"}, "resume_clock": {"paused_days", "due"},
                      "hand_over": {"handover"}, "supply_deferred": {"deferred", "files"},
                      "remind_deferred": {"reminded"}, "purge_files": {"files", "purged"}}
    assert event.payload["reason"] == "test"
    assert set(event.payload) - {"reason"} == effect_details.get(rule.action, set())
    session.commit()
    assert verify_audit(session, case_id=target_case.id).ok


# --- refused: the state ------------------------------------------------------------------------


def assert_refused_step(session: Session, runtime: Runtime, case: Case, step: Step, error: type[Exception], action: str,
                        who: Actor, clock: FixedClock) -> None:
    state, version, seq, head = step.state, step.version, case.audit_seq, case.audit_head
    with pytest.raises(error):
        transition_step(session, runtime, case=case, step=step, action=action, actor=who, at=clock.now())
    assert (step.state, step.version) == (state, version), f"{action} by {who.role} changed the step"
    assert (case.audit_seq, case.audit_head) == (seq, head)
    assert pending_events(session) == []


def assert_refused_case(session: Session, runtime: Runtime, case: Case, error: type[Exception], action: str, who: Actor,
                        clock: FixedClock) -> None:
    state, version, seq, head = case.state, case.version, case.audit_seq, case.audit_head
    with pytest.raises(error):
        transition_case(session, runtime, case=case, action=action, actor=who, at=clock.now())
    assert (case.state, case.version) == (state, version), f"{action} by {who.role} changed the case"
    assert (case.audit_seq, case.audit_head) == (seq, head)
    assert pending_events(session) == []


@pytest.mark.parametrize("action", sorted({r.action for r in STEP_RULES}))
def test_step_action_from_a_state_no_rule_allows(session: Session, runtime: Runtime, case: Case, clock: FixedClock, action: str) -> None:
    sources = action_sources(STEP_RULES, action)
    refused = [s for s in [None, *StepState] if s not in sources]
    assert refused, f"every state allows {action}"
    for state in refused:
        if state is None:
            step = new_step(case, attach=False)  # transient: nothing to flush
        else:
            step = case.steps[0]
            step.state = state.value
        for role in Role:
            assert_refused_step(session, runtime, case, step, IllegalTransition, action, actor(role), clock)
    session.flush()
    assert len(events(session, case.id)) == case.audit_seq


@pytest.mark.parametrize("action", sorted({r.action for r in CASE_RULES}))
def test_case_action_from_a_state_no_rule_allows(session: Session, runtime: Runtime, case: Case, clock: FixedClock, action: str) -> None:
    sources = action_sources(CASE_RULES, action)
    refused = [s for s in [None, *CaseState] if s not in sources]
    assert refused, f"every state allows {action}"
    for state in refused:
        if state is None:
            target = new_case(clock, runtime)  # transient: nothing to flush
        else:
            target = case
            target.state = state.value
        for role in Role:
            assert_refused_case(session, runtime, target, IllegalTransition, action, actor(role), clock)


def test_the_state_tables_cover_every_state() -> None:
    """Sanity for the tables above: each state is the source or target of some rule."""
    assert {r.target for r in STEP_RULES} | set().union(*(r.sources for r in STEP_RULES)) >= set(StepState)
    assert {r.target for r in CASE_RULES} | set().union(*(r.sources for r in CASE_RULES)) >= set(CaseState)


def test_unknown_action_is_illegal(session: Session, runtime: Runtime, case: Case, clock: FixedClock) -> None:
    assert_refused_step(session, runtime, case, case.steps[0], IllegalTransition, "teleport", actor(Role.SYSTEM), clock)
    assert_refused_case(session, runtime, case, IllegalTransition, "teleport", actor(Role.SYSTEM), clock)


def test_terminal_states_allow_nothing(session: Session, runtime: Runtime, case: Case, clock: FixedClock) -> None:
    step = case.steps[0]
    for terminal in (StepState.DONE, StepState.REJECTED, StepState.SKIPPED, StepState.CANCELLED):
        step.state = terminal.value
        for action in {r.action for r in STEP_RULES}:
            for role in Role:
                assert_refused_step(session, runtime, case, step, IllegalTransition, action, actor(role), clock)


# --- refused: the actor -------------------------------------------------------------------------


@pytest.mark.parametrize("rule", STEP_RULES, ids=lambda r: f"{r.action}-{sorted(map(state_name, r.sources))}")
def test_step_rule_refuses_other_roles(session: Session, runtime: Runtime, case: Case, clock: FixedClock, rule: Rule[StepState]) -> None:
    checked = 0
    for source in rule.sources:
        step = new_step(case, attach=False) if source is None else case.steps[0]
        if source is not None:
            step.state = source.value
        step.kind = sorted(rule.kinds)[0] if rule.kinds else "human"
        for role in Role:
            if role in rule.roles or allowed(STEP_RULES, rule.action, source, role):
                continue
            assert_refused_step(session, runtime, case, step, Forbidden, rule.action, actor(role), clock)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("rule", CASE_RULES, ids=lambda r: f"{r.action}-{sorted(map(state_name, r.sources))}")
def test_case_rule_refuses_other_roles(session: Session, runtime: Runtime, case: Case, clock: FixedClock, rule: Rule[CaseState]) -> None:
    checked = 0
    for source in rule.sources:
        target = new_case(clock, runtime) if source is None else case
        if source is not None:
            target.state = source.value
        for role in Role:
            if role in rule.roles or allowed(CASE_RULES, rule.action, source, role):
                continue
            assert_refused_case(session, runtime, target, Forbidden, rule.action, actor(role), clock)
            checked += 1
    assert checked > 0


OFFICER_RULES = [r for r in STEP_RULES if Role.OFFICER in r.roles]


def test_officer_rules_exist() -> None:
    assert {r.action for r in OFFICER_RULES} >= {"claim", "start", "complete", "reject", "request_supplement"}


@pytest.mark.parametrize("rule", OFFICER_RULES, ids=lambda r: f"{r.action}-{sorted(map(state_name, r.sources))}")
def test_officer_of_another_department_is_forbidden(
    session: Session, runtime: Runtime, case: Case, clock: FixedClock, rule: Rule[StepState]
) -> None:
    step = case.steps[0]
    stranger = actor(Role.OFFICER, department=OTHER_DEPARTMENT)
    nobody = Actor(id="officer-nowhere", role=Role.OFFICER)  # an officer token without a department
    for source in rule.sources:
        assert source is not None  # officers never create steps
        step.state = source.value
        assert_refused_step(session, runtime, case, step, Forbidden, rule.action, stranger, clock)
        assert_refused_step(session, runtime, case, step, Forbidden, rule.action, nobody, clock)
        # the same change by the step's own department goes through
    step.state = next(s for s in rule.sources if s is not None).value
    transition_step(session, runtime, case=case, step=step, action=rule.action, actor=actor(Role.OFFICER), at=clock.now(),
                    inputs=arrange_guards(step, rule))
    assert step.state == rule.target.value


# --- a real walk through the gate ---------------------------------------------------------------


def test_a_step_walks_through_the_gate(session: Session, runtime: Runtime, case: Case, clock: FixedClock) -> None:
    step = case.steps[0]
    assert step.state == StepState.READY.value
    officer = actor(Role.OFFICER)
    walk = [
        ("claim", officer, StepState.ASSIGNED),
        ("unclaim", actor(Role.SUPERVISOR), StepState.READY),
        ("claim", officer, StepState.ASSIGNED),
        ("start", officer, StepState.IN_PROGRESS),
        ("request_supplement", officer, StepState.SUPPLEMENT_REQUESTED),
        ("hand_in_supplement", actor(Role.CLERK), StepState.SUPPLEMENT_REQUESTED),
        ("receive_supplement", officer, StepState.IN_PROGRESS),
        ("complete", officer, StepState.DONE),
    ]
    given = {"request_supplement": Inputs(materials=["照片"]),
             "hand_in_supplement": Inputs(hand_in=HandIn(material="照片", paper=True))}
    version = step.version
    for action, who, expected in walk:
        clock.advance(hours=1)
        assert transition_step(session, runtime, case=case, step=step, action=action, actor=who, at=clock.now(),
                               inputs=given.get(action, Inputs())) is expected
    assert step.version == version + len(walk)
    session.commit()
    trail = [(e.action, e.from_state, e.to_state) for e in events(session, case.id) if e.step_id == step.id]
    assert trail[-len(walk):] == [
        ("step.claim", "ready", "assigned"),
        ("step.unclaim", "assigned", "ready"),
        ("step.claim", "ready", "assigned"),
        ("step.start", "assigned", "in_progress"),
        ("step.request_supplement", "in_progress", "supplement_requested"),
        ("step.hand_in_supplement", "supplement_requested", "supplement_requested"),
        ("step.receive_supplement", "supplement_requested", "in_progress"),
        ("step.complete", "in_progress", "done"),
    ]
    assert verify_audit(session, case_id=case.id).ok
    # and from done there is no way back
    for action in {r.action for r in STEP_RULES}:
        assert_refused_step(session, runtime, case, step, IllegalTransition, action, actor(Role.SYSTEM), clock)


# --- the rule table, stated independently of STEP_RULES / CASE_RULES ---------------------------

SYSTEM_ACTOR_FOR_EFFECTS = Actor(id="onevisit", role=Role.SYSTEM)
OFFICER, LEADS_, SYSTEM_, DESK_, WORKING_ = "officer", "admin supervisor", "system", "commitment human", "assigned in_progress"
OPEN_STEP = "assigned in_progress pending ready supplement_requested"
OPEN_CASE = "accepted in_progress supplement_requested"

# (action, from-states, to-state, roles, kinds, assignee only); "" from-states: the entity is new,
# "*" kinds: every kind. Written out by hand from docs/architecture.md, not derived from the rules.
EXPECTED_STEP_TABLE = {
    ("create", "", "pending", SYSTEM_, "*", False),
    ("release", "pending", "ready", SYSTEM_, "human timer", False),
    ("release", "pending", "ready", SYSTEM_, "commitment", False),
    ("release", "pending", "ready", SYSTEM_, "automated", False),
    ("claim", "ready", "assigned", OFFICER, DESK_, False),
    ("unclaim", WORKING_, "ready", OFFICER, DESK_, True),
    ("unclaim", WORKING_, "ready", LEADS_, DESK_, False),
    ("reassign", "assigned", "assigned", LEADS_, DESK_, False),
    ("reassign", "in_progress", "in_progress", LEADS_, DESK_, False),
    ("reassign", "supplement_requested", "supplement_requested", LEADS_, DESK_, False),
    ("start", "assigned", "in_progress", OFFICER, DESK_, True),
    ("start", "ready", "in_progress", SYSTEM_, "automated", False),
    ("complete", WORKING_, "done", OFFICER, DESK_, True),
    ("complete", "in_progress ready", "done", SYSTEM_, "automated timer", False),
    ("reject", WORKING_, "rejected", OFFICER, DESK_, True),
    ("reject", "in_progress", "rejected", SYSTEM_, "automated", False),
    ("request_supplement", WORKING_, "supplement_requested", OFFICER, DESK_, True),
    ("hand_in_supplement", "supplement_requested", "supplement_requested", "applicant clerk", DESK_, False),
    ("receive_supplement", "supplement_requested", "in_progress", OFFICER, DESK_, True),
    ("lapse_supplement", "supplement_requested", "cancelled", SYSTEM_, DESK_, False),
    ("end_wait", "ready", "done", "applicant clerk", "timer", False),
    ("raise_objection", "ready", "ready", "applicant clerk", "timer", False),
    ("request_extension", "assigned", "assigned", OFFICER, DESK_, True),
    ("request_extension", "in_progress", "in_progress", OFFICER, DESK_, True),
    ("approve_extension", "assigned", "assigned", LEADS_, DESK_, False),
    ("approve_extension", "in_progress", "in_progress", LEADS_, DESK_, False),
    ("refuse_extension", "assigned", "assigned", LEADS_, DESK_, False),
    ("refuse_extension", "in_progress", "in_progress", LEADS_, DESK_, False),
    ("send_away", "ready", "in_progress", SYSTEM_, DESK_, False),
    ("receive_decision", "in_progress", "done", SYSTEM_, DESK_, False),
    ("receive_refusal", "in_progress", "rejected", SYSTEM_, DESK_, False),
    ("sign", "ready", "done", "applicant clerk", "commitment", False),
    ("review_instead", "ready", "ready", SYSTEM_, "commitment", False),
    ("revoke_result", "done", "done", SYSTEM_, "commitment", False),
    ("skip", OPEN_STEP, "skipped", SYSTEM_, "*", False),
    ("cancel", OPEN_STEP, "cancelled", SYSTEM_, "*", False),
}
EXPECTED_CASE_TABLE = {
    ("accept", "", "accepted", "admin applicant clerk system", "*", False),
    ("progress", "accepted supplement_requested", "in_progress", SYSTEM_, "*", False),
    ("await_supplement", "accepted in_progress", "supplement_requested", SYSTEM_, "*", False),
    ("stop_clock", "accepted", "accepted", SYSTEM_, "*", False),
    ("stop_clock", "in_progress", "in_progress", SYSTEM_, "*", False),
    ("stop_clock", "supplement_requested", "supplement_requested", SYSTEM_, "*", False),
    ("resume_clock", "accepted", "accepted", SYSTEM_, "*", False),
    ("resume_clock", "in_progress", "in_progress", SYSTEM_, "*", False),
    ("resume_clock", "supplement_requested", "supplement_requested", SYSTEM_, "*", False),
    ("complete", OPEN_CASE, "completed", SYSTEM_, "*", False),
    ("partially_complete", OPEN_CASE, "partially_completed", SYSTEM_, "*", False),
    ("reject", OPEN_CASE, "rejected", SYSTEM_, "*", False),
    ("withdraw", OPEN_CASE, "withdrawn", "admin applicant clerk", "*", False),
    ("hand_over", "completed", "completed", "clerk", "*", False),
    ("hand_over", "partially_completed", "partially_completed", "clerk", "*", False),
    ("supply_deferred", "accepted", "accepted", "applicant clerk", "*", False),
    ("supply_deferred", "in_progress", "in_progress", "applicant clerk", "*", False),
    ("supply_deferred", "supplement_requested", "supplement_requested", "applicant clerk", "*", False),
    ("remind_deferred", "accepted", "accepted", SYSTEM_, "*", False),
    ("remind_deferred", "in_progress", "in_progress", SYSTEM_, "*", False),
    ("remind_deferred", "supplement_requested", "supplement_requested", SYSTEM_, "*", False),
    *(("purge_files", closed, closed, SYSTEM_, "*", False)
      for closed in ("completed", "partially_completed", "rejected", "withdrawn")),
}


def as_table(rules: tuple[Rule[Any], ...]) -> set[tuple[str, str, str, str, str, bool]]:
    def words(values: Any) -> str:
        return " ".join(sorted(str(v) for v in values))

    return {
        (r.action, words(s for s in r.sources if s is not None), str(r.target), words(r.roles),
         "*" if r.kinds is None else words(r.kinds), r.assignee_only)
        for r in rules
    }


def test_the_step_rules_are_the_documented_table() -> None:
    assert len(STEP_RULES) == len(EXPECTED_STEP_TABLE)  # no rule twice
    assert as_table(STEP_RULES) == EXPECTED_STEP_TABLE


def test_the_case_rules_are_the_documented_table() -> None:
    assert len(CASE_RULES) == len(EXPECTED_CASE_TABLE)
    assert as_table(CASE_RULES) == EXPECTED_CASE_TABLE


# (action, kinds) -> effects, written out by hand from docs/architecture.md ("*": every kind the action has)
EXPECTED_STEP_EFFECTS = {
    ("create", "*"): set(), ("start", "*"): set(),
    ("release", "human timer"): {"route", "start_clock", "queue_transfer"},
    ("release", "commitment"): {"check_credit", "route", "start_clock", "queue_transfer"},
    ("sign", "*"): {"record_commitment", "record_outputs", "revoke_licences", "close"},
    ("review_instead", "*"): {"check_credit"}, ("revoke_result", "*"): {"revoke_result"},
    ("release", "automated"): {"route", "start_clock", "queue_run"},
    ("request_supplement", "*"): {"request_materials", "stop_clock"},
    ("hand_in_supplement", "*"): {"hand_in_material"},
    ("receive_supplement", "*"): {"receive_materials", "restart_clock", "lapse_extension"},
    ("lapse_supplement", "*"): {"lapse_supplement", "close"},
    ("claim", "*"): {"assign"}, ("reassign", "*"): {"assign"}, ("unclaim", "*"): {"unassign"},
    ("complete", "commitment human"): {"check_deferred", "record_outputs", "revoke_licences", "close"},
    ("complete", "automated timer"): {"record_outputs", "revoke_licences", "close"},
    ("reject", "*"): {"close", "set_reason"}, ("skip", "*"): {"close", "set_reason"},
    ("cancel", "*"): {"close", "set_reason"},
    ("end_wait", "*"): {"end_wait", "record_outputs", "revoke_licences", "close"},
    ("raise_objection", "*"): {"to_desk"},
    ("request_extension", "*"): {"request_extension"}, ("approve_extension", "*"): {"extend_limit"},
    ("refuse_extension", "*"): {"refuse_extension"},
    ("send_away", "*"): {"send_away"},
    ("receive_decision", "*"): {"remote_decision", "record_outputs", "revoke_licences", "close"},
    ("receive_refusal", "*"): {"remote_decision", "close", "set_reason"},
}
CLOSING = {"resume_clock", "close"}
EXPECTED_CASE_EFFECTS = {
    ("accept", "*"): {"start_clock"}, ("progress", "*"): set(), ("await_supplement", "*"): set(),
    ("stop_clock", "*"): {"stop_clock"}, ("resume_clock", "*"): {"resume_clock"},
    ("complete", "*"): CLOSING, ("partially_complete", "*"): CLOSING, ("reject", "*"): CLOSING,
    ("withdraw", "*"): CLOSING, ("hand_over", "*"): {"hand_over"},
    ("supply_deferred", "*"): {"supply_deferred"}, ("remind_deferred", "*"): {"remind_deferred"},
    ("purge_files", "*"): {"purge_files"},
}


def test_rules_declare_the_documented_effects() -> None:
    for rules, expected in ((STEP_RULES, EXPECTED_STEP_EFFECTS), (CASE_RULES, EXPECTED_CASE_EFFECTS)):
        assert {r.action for r in rules} == {action for action, _ in expected}
        for rule in rules:
            kinds = " ".join(sorted(rule.kinds)) if rule.kinds is not None else "*"
            wanted = expected.get((rule.action, kinds), expected.get((rule.action, "*")))
            assert {str(e) for e in rule.effects} == wanted, rule


def test_the_gate_applies_the_declared_effects_in_its_one_event(
    session: Session, runtime: Runtime, case: Case, clock: FixedClock
) -> None:
    step = case.steps[0]
    step.state = StepState.IN_PROGRESS.value
    step.assigned_to = None
    transition_step(session, runtime, case=case, step=step, action="reject", actor=actor(Role.OFFICER), at=clock.now(),
                    inputs=Inputs(reason="材料不符"))
    assert step.reason == "材料不符" and step.closed_at is not None
    event = events(session, case.id)[-1]
    assert (event.action, event.payload["reason"]) == ("step.reject", "材料不符")
    transition_case(session, runtime, case=case, action="withdraw", actor=actor(Role.CLERK), at=clock.now())
    assert case.closed_at is not None


def test_claim_and_unclaim_record_the_assignee(session: Session, runtime: Runtime, case: Case, clock: FixedClock) -> None:
    step = case.steps[0]
    step.state = StepState.READY.value
    officer = actor(Role.OFFICER)
    transition_step(session, runtime, case=case, step=step, action="claim", actor=officer, at=clock.now())
    assert step.assigned_to == officer.id and events(session, case.id)[-1].payload["to"] == officer.id
    transition_step(session, runtime, case=case, step=step, action="unclaim", actor=officer, at=clock.now())
    assert step.assigned_to is None and events(session, case.id)[-1].payload["from"] == officer.id


def test_the_gate_refuses_inputs_a_rule_does_not_declare(session: Session, runtime: Runtime, case: Case, clock: FixedClock) -> None:
    step = case.steps[0]
    step.state = StepState.PENDING.value
    with pytest.raises(ValueError, match="sets no reason"):
        transition_step(session, runtime, case=case, step=step, action="release", actor=SYSTEM_ACTOR_FOR_EFFECTS,
                        at=clock.now(), inputs=Inputs(reason="why"))
    with pytest.raises(ValueError, match="assigns nobody"):
        transition_step(session, runtime, case=case, step=step, action="release", actor=SYSTEM_ACTOR_FOR_EFFECTS,
                        at=clock.now(), inputs=Inputs(assignee="someone"))
    assert step.state == StepState.PENDING.value and not step.reason


def test_rules_are_typed_with_the_state_and_kind_enums() -> None:
    for rule in STEP_RULES:
        assert isinstance(rule.target, StepState)
        assert all(s is None or isinstance(s, StepState) for s in rule.sources)
        assert rule.kinds is None or all(isinstance(k, StepKind) for k in rule.kinds)
    for case_rule in CASE_RULES:
        assert isinstance(case_rule.target, CaseState)
        assert all(s is None or isinstance(s, CaseState) for s in case_rule.sources)


# --- the one-gate rule ---------------------------------------------------------------------------

STATE_WRITES = [
    re.compile(r"\.state\s*=[^=]"),
    # the gate's effects: no caller closes a step or case, sets a reason or assignee, moves a clock or
    # due date, routes a step to its office, stores outputs or a 补正 notice, queues an outbox message or
    # issues a licence
    re.compile(r"\b(?:step|case|entity|s|other)\.(?:closed_at|reason|assigned_to|outputs|supplement|due_on|kind"
               r"|due_provisional|clock_start_on|clock_stopped_on|not_before|paused_days|office|decided_in)\s*[+-]?=[^=]"),
    re.compile(r"(?<!class )\b(?:OutboxMessage|Handover)\(|\bissue_step_licences\(|\brevoke_(?:holder|step)_licences\("),
    re.compile(r"setattr\([^)]*['\"]state['\"]"),
    re.compile(r"\.values\([^)]*\bstate\s*="),
]
GATE = {ROOT / "engine" / "machine" / "transitions.py", ROOT / "engine" / "machine" / "effects.py",
        ROOT / "engine" / "machine" / "material_effects.py", ROOT / "engine" / "machine" / "commitment_effects.py",
        ROOT / "engine" / "governance" / "followups.py"}
"""The gate: the rules and the effects they declare (those on handed-in materials and of 告知承诺 in their own modules),
and the follow-ups' gate (a rectification, a post-check, a complaint: their own small rule table)."""
ISSUER = ROOT / "engine" / "people" / "licences.py"
"""Defines the licence issuing and revoking the gate's effects call (their own definitions match the pattern)."""


def test_only_the_gate_writes_state() -> None:
    sources = sorted(p for folder in ("engine", "api", "flows") for p in (ROOT / folder).rglob("*.py"))
    assert GATE <= set(sources) and ROOT / "engine" / "machine" / "actions.py" in sources
    offenders = []
    gate_writes = 0
    for path in sources:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if any(p.search(code) for p in STATE_WRITES):
                if path in GATE:
                    gate_writes += 1
                elif not (path == ISSUER and code.lstrip().startswith(("def issue_step_licences(",
                                                                       "def revoke_holder_licences(",
                                                                       "def revoke_step_licences("))):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "state written outside the gates (engine/machine/transitions.py, effects.py; engine/governance/followups.py):\n" + "\n".join(offenders)
    # the patterns do find the gate's own writes of the state and of each effect
    assert gate_writes == 46


def test_the_pattern_catches_writes_and_not_comparisons() -> None:
    catches = ["step.state = 'done'", "case.state=x", "s.state  =  y", "update(Step).values(state='done')",
               "setattr(step, 'state', 'done')", "step.due_on = x", "case.paused_days += 2",
               "session.add(OutboxMessage(topic='x'))", "issue_step_licences(session)", "step.outputs = {}", "step.kind = 'human'",
               "revoke_holder_licences(session, type_code='L2000016')"]
    ignores = ["if step.state == 'done':", "step.state != x", "x = step.state", "Step.state.in_(open)",
               "old = step.due_on", "if case.clock_stopped_on is None:"]
    for line in catches:
        assert any(p.search(line) for p in STATE_WRITES), line
    for line in ignores:
        assert not any(p.search(line) for p in STATE_WRITES), line


@pytest.mark.parametrize("kind", ["timer", "automated"])
@pytest.mark.parametrize("action", ["claim", "start", "complete", "reject", "request_supplement"])
def test_officers_do_not_work_machine_steps(session: Session, runtime: Runtime, case: Case, clock: FixedClock, kind: str,
                                            action: str) -> None:
    step = case.steps[0]
    step.kind = kind
    step.state = StepState.READY.value if action == "claim" else StepState.ASSIGNED.value
    with pytest.raises((IllegalTransition, Forbidden)):
        transition_step(session, runtime, case=case, step=step, action=action, actor=actor(Role.OFFICER), at=clock.now())
    assert step.state in (StepState.READY.value, StepState.ASSIGNED.value)


def test_claiming_a_timer_says_why(session: Session, runtime: Runtime, case: Case, clock: FixedClock) -> None:
    step = case.steps[0]
    step.kind = "timer"
    with pytest.raises(IllegalTransition, match="a timer step: the engine does it, not an officer"):
        transition_step(session, runtime, case=case, step=step, action="claim", actor=actor(Role.OFFICER), at=clock.now())


def test_the_engine_does_not_complete_desk_steps(session: Session, runtime: Runtime, case: Case, clock: FixedClock) -> None:
    step = case.steps[0]
    assert step.kind == "human" and step.state == StepState.READY.value
    with pytest.raises(IllegalTransition):
        transition_step(session, runtime, case=case, step=step, action="complete", actor=actor(Role.SYSTEM), at=clock.now())
