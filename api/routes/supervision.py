"""The supervision desk (电子监察): cards and load, for supervisors (their region) and admins."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from api.deps import RuntimeDep, SessionDep, SupervisorActor
from api.errors import problems
from api.schemas import REGION_PATTERN, CardOut, StatsOut, from_view
from engine.governance.office_report import office_report, office_report_csv
from engine.runtime import Runtime
from engine.time.supervision import desk_names, desk_region, list_cards, supervision_stats

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
    """Cards issued by the deadline sweep in the caller's region, newest first; a step shows its
    highest card only (a red card supersedes its yellow one), and a card of a ``for_each`` step
    names its list entry (``instance_label``)."""
    found = list_cards(session, region=desk_region(actor), colour=colour, open_only=open_only, limit=limit, offset=offset,
                       viewer=actor)
    return [from_view(CardOut, card) for card in found]


@router.get("/stats", response_model=StatsOut, responses=problems(403), summary="Open and overdue work")
def stats(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: SupervisorActor,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN, description=(
        "Only this region, within the caller's (a rollup row's region); a region outside it is 403"))] = None,
) -> StatsOut:
    """Open and overdue steps per department and per office, the offices rolled up per region level
    (province, city, county, township), cases per state and open cards, in the caller's region (or
    ``region`` within it). Open work is what the worklists list: each department's ``open`` is the
    length of its worklist in the region, and steps not yet released are not counted."""
    scope = desk_region(actor, region)
    result = supervision_stats(session, region=scope, today=runtime.today())
    return StatsOut.of(result, names=desk_names(runtime.registry.catalog, result))


@router.get(
    "/stats.csv", response_class=Response, summary="Per-office report: timeliness, cards, ratings, complaints (CSV)",
    responses={200: {"description": "One line per office", "content": {"text/csv": {"schema": {"type": "string"}}}},
               **problems(403)},
)
def stats_csv(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: SupervisorActor,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN, description=(
        "Only this region, within the caller's; a region outside it is 403"))] = None,
) -> Response:
    """Each office in the caller's region (or ``region`` within it), as CSV: its decided steps (how
    many, how many on time, the on-time rate, the average and 90th-percentile working days), its
    yellow and red cards (a step's highest only, resolved ones included) and the red ones whose
    情况说明 it still owes, its 好差评 (ratings, mean level, share satisfied, bad ones, rectifications
    open / overdue / closed, appeals upheld) and its 12345 complaints (received, open, overdue,
    reopened)."""
    return report_csv(session, runtime, region=desk_region(actor, region))


def report_csv(session: Session, runtime: Runtime, *, region: str | None) -> Response:
    """The per-office report of ``region`` as a CSV download (this API's and the dashboard's)."""
    rows = office_report(session, runtime.calendar, region=region, today=runtime.today())
    offices = runtime.registry.catalog.offices
    names = {row.office: listed.name for row in rows if (listed := offices.get(row.office)) is not None}
    return Response(office_report_csv(rows, names=names), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="supervision-stats.csv"'})
