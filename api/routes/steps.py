"""Department work on one step: read it, claim, start, complete, reject, ask for 补正.

Every action carries the ``version`` of the step the officer last read; if someone else changed
the step since, the answer is 409 (reload and retry), never a silently lost update.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import (
    ID_PATTERN,
    CompleteIn,
    RejectIn,
    RequestSupplementIn,
    StepActionOut,
    StepDetailOut,
    VersionIn,
    from_view,
)
from engine.db.models import Step
from engine.queries import check_step_scope, step_detail, step_status
from engine.runtime import Runtime
from engine.work import claim_step, complete_step, reject_step, request_supplement, start_step

router = APIRouter(tags=["steps"])

StepId = Annotated[str, Path(pattern=ID_PATTERN)]
CONFLICT: dict[int | str, dict[str, Any]] = problems(403, 404, 409)
"""Out of scope (404), not the caller's role (403), a stale version or a transition the state forbids (409)."""


def _out(runtime: Runtime, step: Step) -> StepActionOut:
    return StepActionOut.of(step_status(runtime, step), step.case_id)


@router.get("/steps/{step_id}", response_model=StepDetailOut, responses=problems(403, 404), summary="A step's record")
def get_step(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId) -> StepDetailOut:
    """The step with only the fields it declares, its materials and its item's elements. Officers
    see their own department's steps; staff reads are recorded in the access log."""
    return from_view(StepDetailOut, step_detail(session, runtime, step_id=step_id, actor=actor))


@router.post("/steps/{step_id}/claim", response_model=StepActionOut, responses=CONFLICT, summary="Claim a ready step")
def claim(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: VersionIn) -> StepActionOut:
    """Take a ready step from the department's worklist."""
    check_step_scope(session, actor=actor, step_id=step_id)
    return _out(runtime, claim_step(session, runtime, step_id=step_id, actor=actor, expected_version=body.version))


@router.post("/steps/{step_id}/start", response_model=StepActionOut, responses=CONFLICT, summary="Start a claimed step")
def start(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: VersionIn) -> StepActionOut:
    """Begin working on a claimed step."""
    check_step_scope(session, actor=actor, step_id=step_id)
    return _out(runtime, start_step(session, runtime, step_id=step_id, actor=actor, expected_version=body.version))


@router.post("/steps/{step_id}/complete", response_model=StepActionOut, responses=CONFLICT, summary="Complete a step")
def complete(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: CompleteIn) -> StepActionOut:
    """Finish the step with its outputs; steps waiting on it are released exactly once."""
    check_step_scope(session, actor=actor, step_id=step_id)
    step = complete_step(session, runtime, step_id=step_id, actor=actor, outputs=body.outputs,
                         expected_version=body.version)
    return _out(runtime, step)


@router.post("/steps/{step_id}/reject", response_model=StepActionOut, responses=CONFLICT, summary="Reject a step")
def reject(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: RejectIn) -> StepActionOut:
    """不予许可, with the reason the applicant will read."""
    check_step_scope(session, actor=actor, step_id=step_id)
    step = reject_step(session, runtime, step_id=step_id, actor=actor, reason=body.reason, expected_version=body.version)
    return _out(runtime, step)


@router.post("/steps/{step_id}/request-supplement", response_model=StepActionOut, responses=CONFLICT,
             summary="Ask for supplementary materials (补正)")
def ask_for_supplement(
    session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: RequestSupplementIn
) -> StepActionOut:
    """One notice listing everything missing (一次性告知); the step's clock stops until it arrives."""
    check_step_scope(session, actor=actor, step_id=step_id)
    step = request_supplement(session, runtime, step_id=step_id, actor=actor, materials=body.materials, note=body.note,
                              expected_version=body.version)
    return _out(runtime, step)
