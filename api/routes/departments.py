"""A department's worklist: its open steps in the caller's region, soonest due first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import DEPARTMENT_PATTERN, WorkItemOut, WorklistOut, from_view
from engine.records.queries import department_worklist
from engine.machine.states import StepState

router = APIRouter(tags=["departments"])


@router.get("/departments/{code}/steps", response_model=WorklistOut, responses=problems(403),
            summary="A department's worklist")
def list_steps(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CurrentActor,
    code: Annotated[str, Path(pattern=DEPARTMENT_PATTERN, description="Two-digit department code")],
    state: Annotated[StepState | None, Query(description="Only steps in this state (default: every active state)")] = None,
    due_within_days: Annotated[int | None, Query(ge=0, le=366, description="Due within this many calendar days")] = None,
    overdue: Annotated[bool, Query(description="Only steps past their due date whose clock runs")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> WorklistOut:
    """Officers of the department (their region), supervisors (their region) and admins. Applicant
    ID numbers are masked."""
    page = department_worklist(
        session, actor=actor, department=code, state=state.value if state else None, due_within_days=due_within_days,
        overdue=overdue, today=runtime.today(), limit=limit, offset=offset,
    )
    department = runtime.registry.catalog.departments.get(code)
    return WorklistOut(
        department=code, department_name=department.name.zh if department else "", total=page.total,
        limit=page.limit, offset=page.offset, items=[from_view(WorkItemOut, i) for i in page.items],
    )
