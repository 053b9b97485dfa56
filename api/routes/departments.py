"""A department's worklist: its open steps in the caller's region, soonest due first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import DEPARTMENT_PATTERN, WorklistOut
from engine.records.queries import CURSOR_PATTERN, department_worklist
from engine.machine.states import StepState

router = APIRouter(tags=["departments"])


class WorklistQuery(BaseModel):
    """The worklist's filters and page, as query parameters (each one its own parameter in /docs)."""

    state: StepState | None = Field(default=None, description="Only steps in this state (default: every active state)")
    due_within_days: int | None = Field(default=None, ge=0, le=366, description="Due within this many calendar days")
    overdue: bool = Field(default=False, description="Only steps past their due date whose clock runs")
    assigned: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description=(
        "mine: the steps the caller claimed; unassigned: the ones nobody claimed; else an officer's actor id"))
    q: str | None = Field(default=None, min_length=1, max_length=64, description=(
        "A receipt number from its start, or (part of) the applicant's name"))
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    after: str | None = Field(default=None, pattern=CURSOR_PATTERN, description=(
        "The next_after of the page before: the next page by keyset, as quick deep in the list as at its start "
        "(its total is null; with offset 0)"))


@router.get("/departments/{code}/steps", response_model=WorklistOut, responses=problems(403),
            summary="A department's worklist")
def list_steps(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CurrentActor,
    code: Annotated[str, Path(pattern=DEPARTMENT_PATTERN, description="Two-digit department code")],
    query: Annotated[WorklistQuery, Query()],
) -> WorklistOut:
    """Officers of the department (their region), supervisors (their region) and admins. Applicant
    ID numbers are masked."""
    page = department_worklist(
        session, actor=actor, department=code, state=query.state.value if query.state else None,
        due_within_days=query.due_within_days, overdue=query.overdue, today=runtime.today(), limit=query.limit,
        offset=query.offset, after=query.after, assigned=query.assigned, search=query.q,
    )
    department = runtime.registry.catalog.departments.get(code)
    return WorklistOut.of(page, department=code, department_name=department.name.zh if department else "")
