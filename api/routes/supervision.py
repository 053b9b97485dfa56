"""The supervision desk (电子监察): cards and load, for supervisors (their region) and admins."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import RuntimeDep, SessionDep, SupervisorActor
from api.errors import problems
from api.schemas import CardOut, StatsOut, from_view
from engine.machine.states import Role
from engine.time.supervision import list_cards, supervision_stats

router = APIRouter(prefix="/supervision", tags=["supervision"])


@router.get("/cards", response_model=list[CardOut], responses=problems(403), summary="Yellow and red cards")
def cards(
    session: SessionDep,
    actor: SupervisorActor,
    colour: Annotated[Literal["yellow", "red"] | None, Query()] = None,
    open_only: Annotated[bool, Query(description="Only cards whose step or case is still open")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[CardOut]:
    """Cards issued by the deadline sweep in the caller's region, newest first."""
    region = None if actor.role is Role.ADMIN else actor.region
    found = list_cards(session, region=region, colour=colour, open_only=open_only, limit=limit, offset=offset)
    return [from_view(CardOut, card) for card in found]


@router.get("/stats", response_model=StatsOut, responses=problems(403), summary="Open and overdue work")
def stats(session: SessionDep, runtime: RuntimeDep, actor: SupervisorActor) -> StatsOut:
    """Open and overdue steps per department, cases per state and open cards, in the caller's region."""
    region = None if actor.role is Role.ADMIN else actor.region
    result = supervision_stats(session, region=region, today=runtime.today())
    names = {code: department.name.zh for code, department in runtime.registry.catalog.departments.items()}
    return StatsOut.of(result, department_names=names)
