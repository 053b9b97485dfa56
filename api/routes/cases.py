"""Cases: apply (one form, one receipt), follow, hand in supplementary materials, withdraw, and
hand out the finished case's results (出件)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from sqlalchemy.orm import Session

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import (
    ID_PATTERN,
    CaseCreate,
    CaseOut,
    HandoverIn,
    HandoverOut,
    StepActionOut,
    SupplementIn,
    WithdrawIn,
)
from engine.db.models import Case
from engine.errors import DomainError
from engine.machine.actions import hand_in_supplement, withdraw_case
from engine.machine.handover import hand_over, handover_of
from engine.machine.intake import Applicant, accept_case
from engine.machine.permissions import allowed_actions
from engine.machine.states import Actor
from engine.spec.models import BundleSpec
from engine.records.queries import (
    CaseStatus,
    case_status,
    check_case_scope,
    describe_case,
    step_status,
)

router = APIRouter(tags=["cases"])

CaseId = Annotated[str, Path(pattern=ID_PATTERN, description="The case id (not the receipt number)")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
        description="Optional; recommended for every submission. Retrying with the same key and the same body "
        "returns the same case (never a second one); the same key with a different body is a 409.",
    ),
]


def _case_out(session: Session, status: CaseStatus, case: Case, viewer: Actor, *,
              spec: BundleSpec | None = None) -> CaseOut:
    """The case as ``viewer`` reads it, each step with what ``viewer`` may do to it now (``spec``,
    the case's bundle: with what it declares, such as a wait the applicant may end early), and its
    hand-over once the results went out."""
    return CaseOut.of(status, allowed_actions={step.id: allowed_actions(viewer, step, case=case, spec=spec)
                                               for step in case.steps},
                      handover=handover_of(session, case, viewer=viewer))


@router.post("/cases", status_code=201, response_model=CaseOut, responses=problems(403, 404, 409),
             summary="Apply for a bundle")
def create_case(
    session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, body: CaseCreate,
    idempotency_key: IdempotencyKey = None,
) -> CaseOut:
    """Accept an application: one transaction writes the case and its steps and returns the receipt
    number, the steps with their departments and due dates. Applicants apply for themselves, any
    clerk of the province for anyone in it (无差别受理; the engine decides, before reading anyone's
    data). A retry with the same ``Idempotency-Key`` and body answers with the same case."""
    case = accept_case(
        session, runtime, bundle_id=body.bundle_id,
        applicant=Applicant(id=body.applicant.id, kind=body.applicant.kind, name=body.applicant.name),
        answers=body.answers, actor=actor, region=body.region, idempotency_key=idempotency_key,
        materials=None if body.materials is None else {name: m.hand_in() for name, m in body.materials.items()},
    )
    return _case_out(session, describe_case(session, runtime, case, viewer=actor), case, actor,
                     spec=runtime.spec_for(session, case))


@router.get("/cases/{case_id}", response_model=CaseOut, responses=problems(403, 404), summary="A case and its steps")
def get_case(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, case_id: CaseId) -> CaseOut:
    """The case with every step, its state, due date and what it waits on. Applicants see their
    own cases, clerks and supervisors their region's, officers those their department works on
    (applicant id masked). Each step lists the actions the caller may take on it now. Staff reads are
    recorded in the access log."""
    status = case_status(session, runtime, case_id=case_id, actor=actor)  # the engine decides who sees it
    case = session.get_one(Case, case_id)
    return _case_out(session, status, case, actor, spec=runtime.spec_for(session, case))


@router.post("/cases/{case_id}/supplements", response_model=StepActionOut, responses=problems(403, 404, 409),
             summary="Hand in supplementary materials")
def supplement(
    session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, case_id: CaseId, body: SupplementIn
) -> StepActionOut:
    """补正: a window records the paper originals of the listed materials the step's notice asked
    for (the step waits for the officer's confirmation of receipt, which restarts its clock).
    Uploading files (the applicant's hand-in) comes with the upload forms."""
    check_case_scope(session, actor=actor, case_id=case_id, step_id=body.step_id)
    if not body.materials:
        raise DomainError("list the materials handed in / 请列出所补材料", field="materials")
    version = body.expected_version
    for material in body.materials:
        step = hand_in_supplement(session, runtime, step_id=body.step_id, actor=actor, material=material, paper=True,
                                  expected_version=version)
        version = step.version
    return StepActionOut.of_step(step_status(runtime, step, viewer=actor), case_id=step.case_id,
                                 allowed_actions=allowed_actions(actor, step, case=step.case,
                                                                 spec=runtime.spec_for(session, step.case)))


@router.post("/cases/{case_id}/withdraw", response_model=CaseOut, responses=problems(403, 404, 409),
             summary="Withdraw a case")
def withdraw(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, case_id: CaseId, body: WithdrawIn) -> CaseOut:
    """撤回: every open step is cancelled. The applicant, a clerk of the region or an admin."""
    case = withdraw_case(session, runtime, case_id=case_id, actor=actor, reason=body.reason)
    return _case_out(session, describe_case(session, runtime, case, viewer=actor), case, actor,
                     spec=runtime.spec_for(session, case))


HANDOVER: dict[int | str, dict[str, Any]] = {status: {**answer, "description": description} for (status, answer),
                                             description in zip(problems(403, 404, 409, 422).items(), (
    "Not the caller's act: only a clerk, at the window that received the case (受理地), hands its results out",
    "No such case for this caller (unknown, or outside the caller's region)",
    "The case is not finished (completed or partially completed), or its results were already handed out "
    "(the answer names that hand-over)",
    "Invalid body, naming the field: an agent's name and ID number only and always with an agent, a tracking "
    "number only and always by post, no time in the future or before the case closed",
), strict=True)}
"""The answers of the hand-over route (problem+json), described for it."""


@router.post("/cases/{case_id}/handover", status_code=201, response_model=HandoverOut, responses=HANDOVER,
             summary="Hand out a finished case's results (出件)")
def handover(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, case_id: CaseId,
             body: HandoverIn) -> HandoverOut:
    """出件: the window that received the case records that its results went out, once: to the
    applicant or an agent (whose ID number is checked and only ever shown masked), at the window or
    by post with its tracking number, and when (default now). A second hand-over is a 409 naming
    the first."""
    view = hand_over(session, runtime, case_id=case_id, actor=actor, recipient=body.recipient, method=body.method,
                     agent_name=body.agent_name, agent_id_number=body.agent_id_number, tracking_no=body.tracking_no,
                     handed_at=body.handed_at, note=body.note)
    return HandoverOut.of(view)
