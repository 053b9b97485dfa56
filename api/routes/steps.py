"""Department work on one step: read it, claim, start, complete, reject, ask for 补正; hand it
back (unclaim) or give it to another officer (reassign).

Every action carries the ``version`` of the step the officer last read; if someone else changed
the step since, the answer is 409 (reload and retry), never a silently lost update. A claimed
step is its assignee's: a colleague's action is a 409 ``claimed_by_another``. A step outside the
caller's scope is a 404, the same answer as for an unknown id. Who may do what is the engine's
to decide (each action asks :func:`engine.machine.access.authorize` under the case lock); the
routes only translate.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import ConfigDict, Field, StringConstraints

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
)
from sqlalchemy.orm import Session, object_session

from engine.db.models import Step
from engine.records.queries import step_detail, step_status
from engine.runtime import Runtime
from engine.machine.permissions import allowed_actions
from engine.machine.states import Actor
from engine.machine.actions import (
    approve_extension,
    claim_step,
    complete_step,
    declare_no_objection,
    raise_objection,
    reassign_step,
    refuse_extension,
    reject_step,
    request_extension,
    request_supplement,
    start_step,
    unclaim_step,
)

router = APIRouter(tags=["steps"])

StepId = Annotated[str, Path(pattern=ID_PATTERN)]
CONFLICT: dict[int | str, dict[str, Any]] = problems(403, 404, 409)
"""Out of scope (404), not the caller's role (403), a stale version or a transition the state forbids (409)."""


def _offered(session: Session, runtime: Runtime, viewer: Actor, step: Step) -> list[str]:
    """What ``viewer`` may do to ``step`` now, with what the case's bundle declares."""
    return allowed_actions(viewer, step, case=step.case, spec=runtime.spec_for(session, step.case))


def action_out(runtime: Runtime, viewer: Actor, step: Step) -> StepActionOut:
    """The step after an action (still in the request's session), with what ``viewer`` may do next."""
    session = object_session(step)
    offered = (_offered(session, runtime, viewer, step) if session is not None
               else allowed_actions(viewer, step, case=step.case))
    return StepActionOut.of_step(step_status(runtime, step, viewer=viewer), case_id=step.case_id,
                                 allowed_actions=offered)


@router.get("/steps/{step_id}", response_model=StepDetailOut, responses=problems(403, 404), summary="A step's record")
def get_step(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId) -> StepDetailOut:
    """The step with only the fields it declares, its materials, its item's elements and the actions
    the caller may take on it now (``status.allowed_actions``). Officers see their own department's
    steps; staff reads are recorded in the access log."""
    detail = step_detail(session, runtime, step_id=step_id, actor=actor)  # the engine decides who sees it
    step = session.get_one(Step, step_id)
    return StepDetailOut.of(detail, allowed_actions=_offered(session, runtime, actor, step))


@router.post("/steps/{step_id}/claim", response_model=StepActionOut, responses=CONFLICT, summary="Claim a ready step")
def claim(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: VersionIn) -> StepActionOut:
    """Take a ready step from the department's worklist."""
    return action_out(runtime, actor, claim_step(session, runtime, step_id=step_id, actor=actor, expected_version=body.version))


@router.post("/steps/{step_id}/start", response_model=StepActionOut, responses=CONFLICT, summary="Start a claimed step")
def start(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: VersionIn) -> StepActionOut:
    """Begin working on a claimed step."""
    return action_out(runtime, actor, start_step(session, runtime, step_id=step_id, actor=actor, expected_version=body.version))


@router.post("/steps/{step_id}/complete", response_model=StepActionOut, responses=CONFLICT, summary="Complete a step")
def complete(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: CompleteIn) -> StepActionOut:
    """Finish the step with its outputs; steps waiting on it are released exactly once."""
    step = complete_step(session, runtime, step_id=step_id, actor=actor, outputs=body.outputs,
                         expected_version=body.version, claim=body.claim)
    return action_out(runtime, actor, step)


@router.post("/steps/{step_id}/reject", response_model=StepActionOut, responses=CONFLICT, summary="Reject a step")
def reject(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: RejectIn) -> StepActionOut:
    """不予许可, with the reason the applicant will read."""
    step = reject_step(session, runtime, step_id=step_id, actor=actor, reason=body.reason, expected_version=body.version)
    return action_out(runtime, actor, step)


@router.post("/steps/{step_id}/request-supplement", response_model=StepActionOut, responses=CONFLICT,
             summary="Ask for supplementary materials (补正)")
def ask_for_supplement(
    session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: RequestSupplementIn
) -> StepActionOut:
    """One notice listing everything missing (一次性告知); the step's clock stops until it arrives."""
    step = request_supplement(session, runtime, step_id=step_id, actor=actor, materials=body.materials, note=body.note,
                              expected_version=body.version)
    return action_out(runtime, actor, step)


HANDOVER = {status: {**answer, "description": description} for (status, answer), description in zip(
    problems(403, 404, 409, 422).items(), (
        "The caller's role may not do this (unclaim: the assignee or a supervisor; reassign: a supervisor or an admin)",
        "No such step for this caller (unknown, or outside the caller's region or department)",
        "Stale version, the step is not claimed, or (unclaim) it is claimed by another officer",
        "Invalid body; for reassign, ``to`` is not an active officer of the step's department in the case's region",
    ), strict=True)}
"""The answers of the hand-over routes (problem+json), described for them."""


class ReassignIn(VersionIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 4, "to": "5c1d8e0b7a6f4e3d2c1b0a9f8e7d6c5b"}]})

    to: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$"),
                  Field(description="The officer's actor id (as the step's ``assigned_to`` shows it)")]


@router.post("/steps/{step_id}/unclaim", response_model=StepActionOut, responses=HANDOVER,
             summary="Hand a claimed step back to the worklist")
def unclaim(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: VersionIn) -> StepActionOut:
    """The assignee hands the step back, or a supervisor of the region (or an admin) takes it off the
    assignee; it is ready to claim again. The audit chain records who did it and from whom."""
    return action_out(runtime, actor, unclaim_step(session, runtime, step_id=step_id, actor=actor,
                                             expected_version=body.version))


@router.post("/steps/{step_id}/reassign", response_model=StepActionOut, responses=HANDOVER,
             summary="Give a claimed step to another officer")
def reassign(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId, body: ReassignIn) -> StepActionOut:
    """A supervisor of the region (or an admin) gives the claimed step to another officer of its
    department; the state stays. The audit chain records who reassigned, from whom and to whom."""
    return action_out(runtime, actor, reassign_step(session, runtime, step_id=step_id, actor=actor, to=body.to,
                                              expected_version=body.version))


# --- time: a wait's declared events, §42 extensions -----------------------------------------------

TIMING = {status: {**answer, "description": description} for (status, answer), description in zip(
    problems(403, 404, 409, 422).items(), (
        "The caller's role may not do this (declarations: the applicant or a clerk; an extension request: the "
        "step's assignee; approval or refusal: a supervisor or an admin)",
        "No such step for this caller (unknown, or outside the caller's case, region or department)",
        "Stale version; the step is not in a state for it; the bundle declares no such event or no maximum "
        "extension; a request is already pending, or none is",
        "Invalid body: no grounds or reason, or more days than the bundle's maximum extension leaves",
    ), strict=True)}
"""The answers of the time routes (problem+json), described for them."""


class ObjectionIn(VersionIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 2, "grounds": "公示的企业研发费用与实际不符"}]})

    grounds: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
                       Field(description="Why the objection is raised (the officer decides on it)")]


class ExtensionIn(VersionIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 4, "days": 10, "reason": "需组织专家现场核查"}]})

    days: Annotated[int, Field(ge=1, le=366, description="Days to add, in the unit of the step's time limit")]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
                      Field(description="Why more time is needed (行政许可法 §42)")]


class RefuseExtensionIn(VersionIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 5, "reason": "理由不充分"}]})

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000),
                      Field(description="Why the request is refused")] = ""


@router.post("/steps/{step_id}/declare-no-objection", response_model=StepActionOut, responses=TIMING,
             summary="Declare no objection: a waiting period ends early")
def no_objection(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId,
                 body: VersionIn) -> StepActionOut:
    """The applicant (or a clerk) declares no objection during a timer step's wait; where the bundle
    declares ``on_no_objection: end_wait`` the wait ends today and the step is done."""
    step = declare_no_objection(session, runtime, step_id=step_id, actor=actor, expected_version=body.version)
    return action_out(runtime, actor, step)


@router.post("/steps/{step_id}/raise-objection", response_model=StepActionOut, responses=TIMING,
             summary="Raise an objection during a waiting period")
def objection(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId,
              body: ObjectionIn) -> StepActionOut:
    """An objection with its grounds (the applicant or a clerk); where the bundle declares
    ``on_objection: officer_decides`` the timer becomes a human step in its department's worklist."""
    step = raise_objection(session, runtime, step_id=step_id, actor=actor, grounds=body.grounds,
                           expected_version=body.version)
    return action_out(runtime, actor, step)


@router.post("/steps/{step_id}/request-extension", response_model=StepActionOut, responses=TIMING,
             summary="Ask for more time (§42 extension)")
def ask_for_extension(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId,
                      body: ExtensionIn) -> StepActionOut:
    """The step's assignee asks for ``days`` more with a reason; it waits for a supervisor's approval,
    within the bundle's maximum extension."""
    step = request_extension(session, runtime, step_id=step_id, actor=actor, days=body.days, reason=body.reason,
                             expected_version=body.version)
    return action_out(runtime, actor, step)


@router.post("/steps/{step_id}/approve-extension", response_model=StepActionOut, responses=TIMING,
             summary="Approve a pending §42 extension")
def grant_extension(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId,
                    body: VersionIn) -> StepActionOut:
    """A supervisor of the region (or an admin) grants the pending request: the step's due date moves,
    recorded from → to in the audit chain."""
    step = approve_extension(session, runtime, step_id=step_id, actor=actor, expected_version=body.version)
    return action_out(runtime, actor, step)


@router.post("/steps/{step_id}/refuse-extension", response_model=StepActionOut, responses=TIMING,
             summary="Refuse a pending §42 extension")
def deny_extension(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId,
                   body: RefuseExtensionIn) -> StepActionOut:
    """A supervisor of the region (or an admin) refuses the pending request; the due date stays."""
    step = refuse_extension(session, runtime, step_id=step_id, actor=actor, reason=body.reason,
                            expected_version=body.version)
    return action_out(runtime, actor, step)
