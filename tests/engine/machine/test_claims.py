"""Claimed work (issue 7, item 8): only the assignee acts on a claimed step.

A colleague of the same department can neither start, complete, reject nor ask for 补正 on a
step someone else claimed; the assignee may hand it back (unclaim), and a supervisor of the
region (or an admin) may hand it back or reassign it to another officer of the department —
each recorded in the case's audit chain with who did it, from whom and to whom.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.records.audit import case_history, verify_audit
from engine.db.models import ApiToken, Case, Step
from engine.errors import ClaimedByAnother, DomainError, Forbidden, IllegalTransition, NotFound, StaleVersion
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from engine.machine.states import Actor, Role
from engine.people.tokens import issue_token, revoke_token
from engine.machine.actions import (
    claim_step,
    complete_step,
    reassign_step,
    reject_step,
    request_supplement,
    start_step,
    unclaim_step,
)
from tests.conftest import Database
from tests.engine.sample_people import CLERK, GROOM, another_couple, marriage_answers

ALICE = Actor(id="officer-alice", role=Role.OFFICER, department="11", region="430102")
BOB = Actor(id="officer-bob", role=Role.OFFICER, department="11", region="430102")  # a colleague without a token
SUPERVISOR = Actor(id="supervisor-changsha", role=Role.SUPERVISOR, region="430100")
FAR_SUPERVISOR = Actor(id="supervisor-zhuzhou", role=Role.SUPERVISOR, region="430200")


def _registration(session: Session, runtime: Runtime) -> tuple[Case, Step]:
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(**another_couple()), actor=CLERK)
    return case, case.steps[0]


def _actions(session: Session, runtime: Runtime, step_id: str, who: Actor) -> dict[str, Callable[[int], Step]]:
    return {
        "start": lambda v: start_step(session, runtime, step_id=step_id, actor=who, expected_version=v),
        "complete": lambda v: complete_step(session, runtime, step_id=step_id, actor=who, outputs={},
                                            expected_version=v),
        "reject": lambda v: reject_step(session, runtime, step_id=step_id, actor=who, reason="不符",
                                        expected_version=v),
        "request_supplement": lambda v: request_supplement(session, runtime, step_id=step_id, actor=who,
                                                           materials=["照片"], expected_version=v),
        "unclaim": lambda v: unclaim_step(session, runtime, step_id=step_id, actor=who, expected_version=v),
    }


@pytest.mark.parametrize("started", [False, True], ids=["assigned", "in_progress"])
def test_a_colleague_cannot_act_on_a_step_someone_else_claimed(session: Session, runtime: Runtime,
                                                               started: bool) -> None:
    _case, step = _registration(session, runtime)
    step = claim_step(session, runtime, step_id=step.id, actor=ALICE)
    if started:
        step = start_step(session, runtime, step_id=step.id, actor=ALICE, expected_version=step.version)
    version, state = step.version, step.state
    for action, call in _actions(session, runtime, step.id, BOB).items():
        if started and action == "start":
            continue
        with pytest.raises(ClaimedByAnother) as refused:
            call(version)
        assert "officer-alice" not in refused.value.message and GROOM not in refused.value.message, action
        session.refresh(step)
        assert (step.state, step.version, step.assigned_to) == (state, version, ALICE.id), action
    # the assignee goes on
    done = complete_step(session, runtime, step_id=step.id, actor=ALICE, outputs={}, expected_version=version)
    assert done.state == "done"


def test_the_assignee_may_hand_a_step_back_and_a_colleague_then_claims_it(session: Session, runtime: Runtime) -> None:
    case, step = _registration(session, runtime)
    step = claim_step(session, runtime, step_id=step.id, actor=ALICE)
    step = unclaim_step(session, runtime, step_id=step.id, actor=ALICE, expected_version=step.version)
    assert (step.state, step.assigned_to) == ("ready", None)
    step = claim_step(session, runtime, step_id=step.id, actor=BOB, expected_version=step.version)
    assert step.assigned_to == BOB.id
    event = next(e for e in case_history(session, case_id=case.id) if e.action == "step.unclaim")
    assert (event.action, event.actor_id, event.from_state, event.to_state) == ("step.unclaim", ALICE.id, "assigned",
                                                                                  "ready")
    assert event.payload["from"] == ALICE.id


def _officer(session: Session, runtime: Runtime, label: str, *, department: str = "11",
             region: str = "430102") -> Actor:
    """An officer with a token (whom a supervisor may reassign work to); the actor id is the token's id."""
    issue_token(session, role="officer", department=department, region=region, label=label, now=runtime.clock.now())
    token_id = session.scalars(select(ApiToken.id).where(ApiToken.label == label)).one()
    return Actor(id=token_id, role=Role.OFFICER, department=department, region=region, label=label)


def test_a_supervisor_reassigns_and_the_audit_records_who_from_whom_to_whom(session: Session,
                                                                             runtime: Runtime) -> None:
    bob = _officer(session, runtime, "bob")
    case, step = _registration(session, runtime)
    step = claim_step(session, runtime, step_id=step.id, actor=ALICE)
    step = start_step(session, runtime, step_id=step.id, actor=ALICE, expected_version=step.version)
    version = step.version
    moved = reassign_step(session, runtime, step_id=step.id, actor=SUPERVISOR, to=bob.id, expected_version=version)
    assert (moved.state, moved.assigned_to, moved.version) == ("in_progress", bob.id, version + 1)
    event = next(e for e in case_history(session, case_id=case.id) if e.action == "step.reassign")
    assert (event.action, event.actor_id, event.role) == ("step.reassign", SUPERVISOR.id, "supervisor")
    assert (event.from_state, event.to_state) == ("in_progress", "in_progress")
    assert (event.payload["from"], event.payload["to"]) == (ALICE.id, bob.id)
    assert verify_audit(session, case_id=case.id).ok
    with pytest.raises(ClaimedByAnother):
        complete_step(session, runtime, step_id=step.id, actor=ALICE, outputs={}, expected_version=moved.version)
    assert complete_step(session, runtime, step_id=step.id, actor=bob, outputs={},
                         expected_version=moved.version).state == "done"


def test_who_may_reassign_and_to_whom(session: Session, runtime: Runtime) -> None:
    bob = _officer(session, runtime, "bob")
    police = _officer(session, runtime, "police", department="09")
    far = _officer(session, runtime, "zhuzhou", region="430200")
    city = _officer(session, runtime, "changsha", region="430100")  # a city-wide officer covers the district
    _case, step = _registration(session, runtime)
    with pytest.raises(IllegalTransition):  # nobody holds it yet
        reassign_step(session, runtime, step_id=step.id, actor=SUPERVISOR, to=bob.id)
    step = claim_step(session, runtime, step_id=step.id, actor=ALICE)
    for who, error in ((bob, Forbidden), (ALICE, Forbidden), (CLERK, Forbidden), (FAR_SUPERVISOR, NotFound)):
        with pytest.raises(error):
            reassign_step(session, runtime, step_id=step.id, actor=who, to=bob.id)
    gone = _officer(session, runtime, "gone")
    revoke_token(session, token_id=gone.id, now=runtime.clock.now())
    for target in (police.id, far.id, gone.id, "bob", "nobody", "", ALICE.id):
        with pytest.raises(DomainError) as refused:
            reassign_step(session, runtime, step_id=step.id, actor=SUPERVISOR, to=target)
        assert refused.value.field == "to", target
    with pytest.raises(NotFound):
        unclaim_step(session, runtime, step_id=step.id, actor=FAR_SUPERVISOR)
    admin = Actor(id="admin", role=Role.ADMIN)
    assert reassign_step(session, runtime, step_id=step.id, actor=admin, to=bob.id).assigned_to == bob.id
    assert reassign_step(session, runtime, step_id=step.id, actor=SUPERVISOR, to=city.id).assigned_to == city.id
    back = unclaim_step(session, runtime, step_id=step.id, actor=SUPERVISOR)
    assert (back.state, back.assigned_to) == ("ready", None)


def test_officers_act_only_within_their_region_and_department(session: Session, runtime: Runtime) -> None:
    _case, step = _registration(session, runtime)
    for stranger in (Actor(id="officer-far", role=Role.OFFICER, department="11", region="430200"),
                     Actor(id="officer-09", role=Role.OFFICER, department="09", region="430102")):
        with pytest.raises(NotFound):
            claim_step(session, runtime, step_id=step.id, actor=stranger)
    session.refresh(step)
    assert step.state == "ready"


# --- the race ----------------------------------------------------------------------------

RACE_CASES = 6
COLLEAGUES = 5


def test_officers_racing_to_complete_a_claimed_step_only_the_assignee_wins(db: Database, runtime: Runtime) -> None:
    """On every backend: for each case, the assignee and five colleagues complete at once."""
    steps: list[tuple[str, int]] = []
    with db.session() as session:
        from engine.runtime import publish_bundles

        publish_bundles(session, runtime)
        for _ in range(RACE_CASES):
            _case, step = _registration(session, runtime)
            claimed = claim_step(session, runtime, step_id=step.id, actor=ALICE)
            steps.append((claimed.id, claimed.version))
    racers = [ALICE] + [Actor(id=f"officer-{n}", role=Role.OFFICER, department="11", region="430102")
                        for n in range(COLLEAGUES)]

    def complete(step_id: str, version: int, who: Actor, barrier: Barrier) -> object:
        with db.session() as session:
            session.get(Step, step_id)  # the officer has the step on screen
            session.commit()
            barrier.wait(timeout=60)
            try:
                return complete_step(session, runtime, step_id=step_id, actor=who, outputs={"certificate_no": who.id},
                                     expected_version=version).assigned_to
            except DomainError as exc:
                return exc

    with ThreadPoolExecutor(max_workers=len(racers)) as pool:
        for step_id, version in steps:
            barrier = Barrier(len(racers))
            results = list(pool.map(lambda who: complete(step_id, version, who, barrier), racers))
            assert results[0] == ALICE.id, results[0]
            for loser in results[1:]:
                assert isinstance(loser, (ClaimedByAnother, StaleVersion, IllegalTransition)), loser
    with db.session() as session:
        assert verify_audit(session).ok
        for step_id, version in steps:
            stored = session.get_one(Step, step_id)
            assert (stored.state, stored.version, stored.outputs["certificate_no"]) == ("done", version + 1, ALICE.id)
            assert [e.actor_id for e in case_history(session, case_id=stored.case_id)
                    if e.action == "step.complete"] == [ALICE.id]


def test_an_officer_takes_and_finishes_a_ready_step_in_one_transaction(session: Session, runtime: Runtime) -> None:
    """即办件: ``complete_step(claim=True)`` claims a ready step for the caller and completes it in one
    unit of work; the chain records both changes, the claim first, and stays intact."""
    case, step = _registration(session, runtime)
    assert step.state == "ready"
    done = complete_step(session, runtime, step_id=step.id, actor=ALICE, outputs={"certificate_no": "J1"},
                         claim=True, expected_version=step.version)
    assert (done.state, done.assigned_to) == ("done", ALICE.id)
    actions = [e.action for e in case_history(session, case_id=case.id) if e.step_id == step.id]
    assert actions[-2:] == ["step.claim", "step.complete"]
    assert verify_audit(session).ok


def test_taking_and_finishing_does_not_take_a_step_someone_else_claimed(session: Session, runtime: Runtime) -> None:
    _case, step = _registration(session, runtime)
    step = claim_step(session, runtime, step_id=step.id, actor=ALICE)
    with pytest.raises(ClaimedByAnother):
        complete_step(session, runtime, step_id=step.id, actor=BOB, outputs={}, claim=True)
    session.refresh(step)
    assert (step.state, step.assigned_to) == ("assigned", ALICE.id)
    # the assignee's own claim=True completes it as usual (nothing to claim)
    assert complete_step(session, runtime, step_id=step.id, actor=ALICE, outputs={}, claim=True).state == "done"
