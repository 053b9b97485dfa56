"""allowed_actions (issue 9, item 3): the actions offered are exactly those the engine performs.

For every state a desk step can be in and every kind of caller, each action allowed_actions names
succeeds through the engine, and every other desk action is refused — so the pages, which show
allowed_actions, never offer a button the engine would refuse.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import ApiToken, Step
from engine.errors import DomainError
from engine.machine.actions import (
    claim_step,
    complete_step,
    hand_in_supplement,
    reassign_step,
    receive_supplement,
    reject_step,
    request_supplement,
    start_step,
    unclaim_step,
)
from engine.documents.inspection import Upload
from engine.machine.intake import Applicant, accept_case
from engine.machine.permissions import allowed_actions
from engine.machine.states import Actor, Role, StepState
from engine.people.tokens import issue_token
from engine.runtime import Runtime
from tests.engine.documents.test_inspection import image
from tests.engine.sample_people import CLERK, GROOM, another_couple, applicant, marriage_answers

ALICE = Actor(id="officer-alice", role=Role.OFFICER, department="11", region="430102")
BOB = Actor(id="officer-bob", role=Role.OFFICER, department="11", region="430102")
POLICE = Actor(id="officer-police", role=Role.OFFICER, department="12", region="430102")
FAR_OFFICER = Actor(id="officer-far", role=Role.OFFICER, department="11", region="430200")
SUPERVISOR = Actor(id="supervisor-changsha", role=Role.SUPERVISOR, region="430100")
FAR_SUPERVISOR = Actor(id="supervisor-zhuzhou", role=Role.SUPERVISOR, region="430200")
ADMIN = Actor(id="admin", role=Role.ADMIN)
CALLERS = (ALICE, BOB, POLICE, FAR_OFFICER, SUPERVISOR, FAR_SUPERVISOR, ADMIN, CLERK, applicant(GROOM))
GROOM_ID = applicant(GROOM).id
DESK_ACTIONS = ("claim", "unclaim", "reassign", "start", "complete", "reject", "request_supplement", "hand_in_supplement",
                "receive_supplement")
PHOTO = "3张2寸男女双方近期半身免冠合影照片"


def _step_in(session: Session, runtime: Runtime, state: StepState) -> Step:
    """The registration step of a fresh marriage case, brought to ``state`` by ALICE."""
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(**another_couple()), actor=CLERK)
    step = case.steps[0]
    assert step.state == StepState.READY.value and step.department == ALICE.department
    if state is not StepState.READY:
        step = claim_step(session, runtime, step_id=step.id, actor=ALICE)
    if state in (StepState.IN_PROGRESS, StepState.SUPPLEMENT_REQUESTED):
        step = start_step(session, runtime, step_id=step.id, actor=ALICE)
    if state is StepState.SUPPLEMENT_REQUESTED:
        step = request_supplement(session, runtime, step_id=step.id, actor=ALICE, materials=[PHOTO])
    assert step.state == state.value
    return step


def _perform(session: Session, runtime: Runtime, action: str, step_id: str, who: Actor, target: str) -> Callable[[], Step]:
    calls: dict[str, Callable[[], Step]] = {
        "claim": lambda: claim_step(session, runtime, step_id=step_id, actor=who),
        "unclaim": lambda: unclaim_step(session, runtime, step_id=step_id, actor=who),
        "reassign": lambda: reassign_step(session, runtime, step_id=step_id, actor=who, to=target),
        "start": lambda: start_step(session, runtime, step_id=step_id, actor=who),
        "complete": lambda: complete_step(session, runtime, step_id=step_id, actor=who, outputs={}),
        "reject": lambda: reject_step(session, runtime, step_id=step_id, actor=who, reason="不符"),
        "request_supplement": lambda: request_supplement(session, runtime, step_id=step_id, actor=who,
                                                         materials=["户口簿"]),
        # the applicant uploads a photo; a window records the paper original
        "hand_in_supplement": lambda: hand_in_supplement(
            session, runtime, step_id=step_id, actor=who, material=PHOTO, paper=who.role is Role.CLERK,
            uploads=() if who.role is Role.CLERK else [Upload("photo.png", image("PNG"))]),
        "receive_supplement": lambda: receive_supplement(session, runtime, step_id=step_id, actor=who),
    }
    return calls[action]


@pytest.mark.parametrize("state", [StepState.READY, StepState.ASSIGNED, StepState.IN_PROGRESS,
                                   StepState.SUPPLEMENT_REQUESTED])
def test_each_allowed_action_succeeds_and_every_other_is_refused(
    session: Session, runtime: Runtime, state: StepState
) -> None:
    issue_token(session, role="officer", department="11", region="430102", label="carol", now=runtime.clock.now())
    carol = session.scalars(select(ApiToken.id).where(ApiToken.label == "carol")).one()
    for who in CALLERS:
        probe = _step_in(session, runtime, state)
        allowed = allowed_actions(who, probe, case=probe.case)
        assert len(allowed) == len(set(allowed))
        for action in DESK_ACTIONS:
            step = _step_in(session, runtime, state)
            run = _perform(session, runtime, action, step.id, who, carol)
            if action in allowed:
                run()
            else:
                with pytest.raises(DomainError):
                    run()
                session.rollback()


def test_the_expected_buttons(session: Session, runtime: Runtime) -> None:
    """The table stated independently of STEP_RULES."""
    expected = {
        (StepState.READY, ALICE.id): ["claim"],
        (StepState.READY, SUPERVISOR.id): [],
        (StepState.ASSIGNED, ALICE.id): ["unclaim", "start", "complete", "reject", "request_supplement"],
        (StepState.ASSIGNED, BOB.id): [],
        (StepState.ASSIGNED, SUPERVISOR.id): ["unclaim", "reassign"],
        (StepState.ASSIGNED, FAR_SUPERVISOR.id): [],
        (StepState.IN_PROGRESS, ALICE.id): ["unclaim", "complete", "reject", "request_supplement"],
        (StepState.IN_PROGRESS, ADMIN.id): ["unclaim", "reassign"],
        (StepState.SUPPLEMENT_REQUESTED, ALICE.id): [],
        (StepState.SUPPLEMENT_REQUESTED, SUPERVISOR.id): ["reassign"],
        (StepState.SUPPLEMENT_REQUESTED, CLERK.id): ["hand_in_supplement"],
        (StepState.SUPPLEMENT_REQUESTED, GROOM_ID): ["hand_in_supplement"],
        (StepState.SUPPLEMENT_REQUESTED, POLICE.id): [],
    }
    by_id = {who.id: who for who in CALLERS}
    for (state, who), actions in expected.items():
        step = _step_in(session, runtime, state)
        assert allowed_actions(by_id[who], step, case=step.case) == actions, (state, who)
    # once everything asked for is handed in, the step's officer is offered the receipt (§32)
    step = _step_in(session, runtime, StepState.SUPPLEMENT_REQUESTED)
    step = hand_in_supplement(session, runtime, step_id=step.id, actor=CLERK, material=PHOTO, paper=True)
    assert allowed_actions(ALICE, step, case=step.case) == ["receive_supplement"]
    assert allowed_actions(CLERK, step, case=step.case) == ["hand_in_supplement"]  # more may still be handed in
    assert allowed_actions(BOB, step, case=step.case) == []
