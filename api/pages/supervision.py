"""The supervision desk (电子监察): open and overdue steps by department (a bar chart of them,
inline SVG drawn on the server, no script), by office, rolled up per region level (each region a
link that narrows the desk to it), and the yellow and red cards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.background import PartState
from api.deps import RuntimeDep, SessionDep
from api.pages.common import PageActor, PageRoute, page
from api.schemas import REGION_PATTERN
from api.routes.health import background_of
from api.routes.supervision import report_csv
from engine.governance.office_report import office_report
from engine.db.models import Case
from engine.machine.dispatch import outbox_health
from engine.people.regions import region_name, region_prefix
from engine.records.labels import LEVEL_LABELS
from engine.runtime import Runtime
from engine.time.supervision import (
    DepartmentLoad,
    RegionLoad,
    SupervisionStats,
    desk_names,
    desk_region,
    list_cards,
    supervision_stats,
)

router = APIRouter(route_class=PageRoute)

CHART_WIDTH = 640
LABEL_WIDTH = 190
ROW_HEIGHT = 44
BAR_HEIGHT = 14
TOP = 30
CARDS_SHOWN = 100
PART_NAMES = {"prefect": "Prefect 服务 Prefect server", "flows": "后台流程 flows"}


@dataclass(frozen=True)
class Bar:
    y: float
    width: float
    value: int


LABEL_CHARS = 13
"""Characters of a department's name per label line at the chart's 13px font (190px of label)."""


def label_lines(name: str, *, per_line: int = LABEL_CHARS) -> tuple[str, ...]:
    """A department's name on at most two lines, cut only at the end of the second (the whole name
    is the label's title): 住房和城乡建设局（住房 / 公积金中心） keeps its start."""
    if len(name) <= per_line:
        return (name,)
    second = name[per_line:]
    return name[:per_line], second if len(second) <= per_line else second[:per_line - 1] + "…"


@dataclass(frozen=True)
class ChartRow:
    label: str
    code: str
    y: float
    open: Bar
    overdue: Bar

    @property
    def lines(self) -> tuple[str, ...]:
        return label_lines(self.label)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    bar_area: int
    rows: tuple[ChartRow, ...]
    ticks: tuple[tuple[float, int], ...]


def _scale(value: int) -> tuple[int, int]:
    """(top, step) of an axis holding ``value``: steps of 1, 2 or 5 × 10ⁿ, at most five of them."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if value <= step * factor * 5:
                size = step * factor
                return max(size, -(-value // size) * size), size
        step *= 10


def bar_chart(loads: tuple[DepartmentLoad, ...], names: dict[str, str]) -> Chart:
    """Horizontal bars, open above overdue, one row per department, on a common scale."""
    area = CHART_WIDTH - LABEL_WIDTH - 20
    top, size = _scale(max([1, *(d.open for d in loads), *(d.overdue for d in loads)]))
    scale = area / top
    rows = []
    for index, load in enumerate(loads):
        y = TOP + index * ROW_HEIGHT
        rows.append(ChartRow(
            label=names.get(load.department, load.department), code=load.department, y=y,
            open=Bar(y + 6, load.open * scale, load.open), overdue=Bar(y + 6 + BAR_HEIGHT + 2, load.overdue * scale,
                                                                      load.overdue),
        ))
    ticks = tuple((LABEL_WIDTH + value * scale, value) for value in range(0, top + 1, size))
    return Chart(width=CHART_WIDTH, height=TOP + max(1, len(loads)) * ROW_HEIGHT + 10, label_width=LABEL_WIDTH,
                 bar_area=area, rows=tuple(rows), ticks=ticks)


def _background_problems(request: Request) -> dict[str, Any]:
    """What the banner says when background work (automated steps, timers, cards) is not running."""
    background = background_of(request.app)
    problems = background.problems() if background is not None else []
    return {
        "down": any(part.state is PartState.DOWN for part in problems),
        "parts": [f"{PART_NAMES.get(part.name, part.name)}: {part.state.value} — {part.detail}" for part in problems],
    } if problems else {}


def step_names(session: Session, runtime: Runtime, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The name of each (case id, step key) the desk lists: the service item that case's answers
    chose (:meth:`~engine.spec.models.StepSpec.chosen_item`), read with the spec the case was
    accepted under; one query for the cases."""
    wanted = set(keys)
    if not wanted:
        return {}
    cases = {case.id: case for case in session.scalars(select(Case).where(Case.id.in_({c for c, _ in wanted})))}
    items = runtime.registry.catalog.items
    found: dict[tuple[str, str], str] = {}
    for case_id, key in wanted:
        case = cases.get(case_id)
        step = next((s for s in runtime.spec_for(session, case).steps if s.id == key), None) if case else None
        if case is not None and step is not None:
            code = step.chosen_item(case.answers)
            found[(case_id, key)] = items[code].name if code in items else key
    return found


def rollup_rows(stats: SupervisionStats) -> list[RegionLoad]:
    """The rollup as the page lists it: each region followed by the regions below it (their codes'
    significant prefixes sort that way: 43, 4301, 430102, 430102001, 430104)."""
    return sorted(stats.rollup, key=lambda row: region_prefix(row.region))


@router.get("/supervision/report.csv")
def report(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
           region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None) -> Response:
    """The dashboard's per-office report as CSV (the same as ``GET /supervision/stats.csv``)."""
    return report_csv(session, runtime, region=desk_region(actor, region))


@router.get("/supervision")
def dashboard(
    request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
    colour: Annotated[Literal["", "yellow", "red"], Query()] = "",
    department: Annotated[str, Query(pattern=r"^(\d{2})?$")] = "",
    bundle: Annotated[str, Query(pattern=r"^[a-z0-9_]{0,64}$")] = "",
    since: Annotated[date | None, Query()] = None,
) -> Response:
    """Supervisors (their region, or ``region`` within it: a rollup row drilled into) and admins
    (the access rules decide: :func:`~engine.time.supervision.desk_region`). The cards' list by
    colour, department, bundle and since when; each card leads to its case and step."""
    own = desk_region(actor)
    scope = desk_region(actor, region)
    stats = supervision_stats(session, region=scope, today=runtime.today())
    cards = list_cards(session, region=scope, open_only=True, limit=CARDS_SHOWN, viewer=actor, colour=colour or None,
                       department=department or None, bundle=bundle or None, issued_since=since)
    # 好差评, 情况说明 owed and 12345 per office (the CSV's governance columns), offices with any.
    governance = [row for row in office_report(session, runtime.calendar, region=scope, today=runtime.today())
                  if row.ratings.ratings or row.ratings.rectifications_open or row.unexplained_red_cards
                  or row.complaints.received]
    outbox = outbox_health(session, runtime, region=scope)
    steps = step_names(session, runtime, [(c.case_id, c.step_key) for c in cards if c.step_key]
                       + [(m.case_id, m.step_key) for m in outbox.dead_letters if m.step_key])
    session.rollback()
    names = desk_names(runtime.registry.catalog, stats)
    return page(request, "supervision.html", {
        "stats": stats, "cards": cards, "names": names.departments, "desk": names, "steps": steps,
        "chart": bar_chart(stats.departments, names.departments),
        "open_total": sum(d.open for d in stats.departments),
        "overdue_total": sum(d.overdue for d in stats.departments),
        "background": _background_problems(request), "outbox": outbox, "governance": governance,
        "rollup": rollup_rows(stats), "level_labels": LEVEL_LABELS,
        "card_filters": {"colour": colour, "department": department, "bundle": bundle,
                         "since": since.isoformat() if since else ""},
        "bundle_names": {b.id: b.name.zh for b in runtime.registry},
        # The department worklists cover the reader's own region: link them only there.
        "drilled": scope != own, "own_region": own, "scope": scope,
        "region_name": (names.regions.get(scope) or region_name(scope) or scope) if scope else None,
    }, actor=actor)
