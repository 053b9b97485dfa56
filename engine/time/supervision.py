"""Electronic supervision (电子监察): yellow and red cards for overdue work.

The deadline sweep calls :func:`resolve_cards` and :func:`issue_cards` on a schedule. Both are
set-based (one ``INSERT … SELECT`` or ``UPDATE`` per kind of card, whatever the backlog) and
idempotent: a step, or a case at case level, gets at most one card of each colour, enforced by
unique indexes and ``ON CONFLICT DO NOTHING``, so sweeps may overlap or repeat.

- Yellow: an open step (or open case) whose due date has passed while its clock runs
  (``clock_stopped_on`` is null: a 补正 notice or a §45 excluded step stops the clock).
- Red: the same, still open ``red_after_working_days`` working days or more after the due date.
- A card is resolved when its step (or case) is closed; it is never deleted.
- Follow-ups (a rectification, a post-check, a 12345 complaint: ``engine.db.models.Followup``) get
  cards the same way: open or appealed, past ``due_on``, yellow at due and red the same working days
  later; resolved when the follow-up closes (the follow-up gate resolves them too).
- A red card asks the office for an explanation (情况说明): it is issued ``required``
  (:mod:`engine.governance.explanations`).

A step (or a case at case level) shows one card, its highest: once red, its yellow card stays in
the table (the history) but every list and count reads the red one only (:func:`highest_card`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Integer,
    String,
    and_,
    case as when_then,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from engine.time.calendar import WorkingCalendar
from engine.db.models import Card, Case, Followup, Step, UTCDateTime
from engine.errors import DomainError, Forbidden
from engine.people.identifiers import InvalidValue
from engine.people.regions import Level, ancestor_at, canonical_region, level_of, region_name, region_prefix
from engine.people.validators import validate_region_code
from engine.records.queries import in_scope, open_work, overdue_work, work_scope
from engine.machine.access import Access, Target, list_scope, permits, region_covers
from engine.runtime import Runtime
from engine.spec.models import Catalog
from engine.machine.states import CASE_OPEN, CASE_TERMINAL, STEP_ACTIVE, STEP_TERMINAL, Actor

Colour = Literal["yellow", "red"]
COLOURS: tuple[Colour, ...] = ("yellow", "red")
_ACTIVE = [s.value for s in STEP_ACTIVE]
_CASE_OPEN = [s.value for s in CASE_OPEN]
_COLUMNS = ["case_id", "step_id", "colour", "reason", "department", "region", "issued_at", "issued_on",
            "working_days_overdue", "resolved_at", "followup_id", "explanation_state"]
_FOLLOWUP_OPEN = ["open", "appealed"]
FOLLOWUP_KIND_LABELS: dict[str, str] = {
    "rectification": "差评整改 / rectification",
    "post_check": "事中事后核查 / post-check",
    "complaint": "12345 诉求 / complaint",
}
"""What a card names the follow-up it is for, by ``Followup.kind``."""


def _overdue_followups(today: date) -> list[ColumnElement[bool]]:
    return [Followup.state.in_(_FOLLOWUP_OPEN), Followup.closed_at.is_(None), Followup.due_on < today]


def red_cutoff(calendar: WorkingCalendar, today: date, working_days: int) -> date:
    """The latest due date at least ``working_days`` working days before ``today``.

    ``calendar.working_days_between(due, today) >= working_days`` exactly when ``due`` is on or
    before this date, so the red rule becomes one date comparison in SQL.
    """
    if working_days < 1:
        raise DomainError("red_after_working_days must be at least 1", field="red_after_working_days")
    day, seen = today, 0
    while True:
        if calendar.is_working_day(day):
            seen += 1
            if seen == working_days:
                return day - timedelta(days=1)
        day -= timedelta(days=1)


def _overdue_days(session: Session, calendar: WorkingCalendar, today: date) -> dict[date, int]:
    """Working days overdue per distinct due date of the open, overdue steps and cases."""
    step_dues = select(Step.due_on).where(
        Step.state.in_(_ACTIVE), Step.due_on < today, Step.clock_stopped_on.is_(None)
    ).distinct()
    case_dues = select(Case.due_on).where(
        Case.state.in_(_CASE_OPEN), Case.due_on < today, Case.clock_stopped_on.is_(None)
    ).distinct()
    followup_dues = select(Followup.due_on).where(*_overdue_followups(today)).distinct()
    dues = set(session.scalars(step_dues)) | set(session.scalars(case_dues)) | set(session.scalars(followup_dues))
    return {due: calendar.working_days_between(due, today) for due in dues if due is not None}


def _insert(session: Session, rows: Any) -> list[int]:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Card).from_select(_COLUMNS, rows).on_conflict_do_nothing().returning(Card.id)
    return list(session.scalars(stmt))


def _red_reason(working_days: int) -> str:
    return (f"超期 {working_days} 个工作日以上仍未办结 / "
            f"still open {working_days} or more working days after its due date")


def bundle_thresholds(runtime: Runtime, key: str, default: int) -> dict[str, int]:
    """The bundles whose ``supervision.<key>`` differs from ``default`` (the setting): id → days."""
    found = {bundle_id: getattr(spec.supervision, key) for bundle_id, spec in runtime.registry.bundles.items()}
    return {bundle_id: days for bundle_id, days in found.items() if days is not None and days != default}


def _per_bundle(values: dict[str, Any], default: Any, type_: Any) -> ColumnElement[Any]:
    """``default``, or the value of the case's bundle where it has its own (a CASE on the bundle id)."""
    if not values:
        return literal(default, type_)
    return when_then(*((Case.bundle_id == bundle_id, literal(value, type_)) for bundle_id, value in sorted(values.items())),
                    else_=literal(default, type_))


def issue_cards(session: Session, runtime: Runtime, *, red_after_working_days: int = 5) -> list[Card]:
    """Issue the yellow and red cards now due (steps, cases at case level, follow-ups); return only
    the new ones. A red card is issued with its explanation ``required``. Red comes
    ``red_after_working_days`` working days after the due date, or after a bundle's own
    ``supervision.red_after_days`` for its steps and cases. Idempotent; commits."""
    now = runtime.clock.now()
    today = runtime.today()
    own = bundle_thresholds(runtime, "red_after_days", red_after_working_days)
    red_on = {bundle_id: red_cutoff(runtime.calendar, today, days) for bundle_id, days in own.items()}
    cutoffs: dict[Colour, date] = {
        "yellow": today - timedelta(days=1),
        "red": red_cutoff(runtime.calendar, today, red_after_working_days),
    }
    reasons: dict[Colour, str] = {
        "yellow": "超过办理时限 / past its due date",
        "red": _red_reason(red_after_working_days),
    }

    def cutoff(colour: Colour) -> ColumnElement[Any]:
        return _per_bundle(red_on if colour == "red" else {}, cutoffs[colour], Date())

    def reason(colour: Colour) -> ColumnElement[Any]:
        return _per_bundle({b: _red_reason(d) for b, d in own.items()} if colour == "red" else {}, reasons[colour],
                           String())
    try:
        overdue = _overdue_days(session, runtime.calendar, today)
        if not overdue:
            session.commit()
            return []

        def days(column: Any) -> ColumnElement[Any]:
            return when_then(overdue, value=column, else_=0)

        issued_at, issued_on = literal(now, UTCDateTime()), literal(today, Date())
        no_text, no_time, no_id = cast(null(), String()), cast(null(), DateTime()), cast(null(), Integer())
        ids: list[int] = []
        for colour in COLOURS:
            explain = literal("required" if colour == "red" else "")
            steps = (
                select(Step.case_id, Step.id, literal(colour), reason(colour), Step.department, Case.region,
                       issued_at, issued_on, days(Step.due_on), no_time, no_id, explain)
                .join(Case, Case.id == Step.case_id)
                .where(Step.state.in_(_ACTIVE), Step.due_on <= cutoff(colour), Step.clock_stopped_on.is_(None))
            )
            cases = (
                select(Case.id, no_text, literal(colour), reason(colour), no_text, Case.region,
                       issued_at, issued_on, days(Case.due_on), no_time, no_id, explain)
                .where(Case.state.in_(_CASE_OPEN), Case.due_on <= cutoff(colour), Case.clock_stopped_on.is_(None))
            )
            followups = (
                select(Followup.case_id, no_text, literal(colour),
                       literal(f"{reasons[colour]} ({_kind_label()})"), Followup.department, Followup.region,
                       issued_at, issued_on, days(Followup.due_on), no_time, Followup.id, explain)
                .where(*_overdue_followups(today), Followup.due_on <= cutoffs[colour])
            )
            ids += _insert(session, steps) + _insert(session, cases) + _insert(session, followups)
        # This pass's cards are those issued at its moment: one parameter, not a list of every new id
        # (SQLite refuses more than 32,766 parameters).
        cards = list(session.scalars(select(Card).where(Card.issued_at == now, Card.id >= min(ids))
                                     .order_by(Card.id))) if ids else []
        session.commit()
        return cards
    except BaseException:
        session.rollback()
        raise


def _kind_label() -> ColumnElement[str]:
    """The follow-up's kind, bilingual, in SQL (for the card's reason)."""
    return when_then(FOLLOWUP_KIND_LABELS, value=Followup.kind, else_=Followup.kind)


def resolve_cards(session: Session, runtime: Runtime) -> int:
    """Mark the open cards of closed steps, closed cases and closed follow-ups resolved; return how
    many. Commits."""
    # Correlated EXISTS on each card's own step, case or follow-up (by primary key): a semi-join the
    # planners run per open card, instead of materialising every closed step's id (issue 14: an
    # IN list of a million closed steps rescanned for each open card).
    closed_step = select(Step.id).where(Step.id == Card.step_id,
                                        Step.state.in_([s.value for s in STEP_TERMINAL])).exists()
    closed_followup = select(Followup.id).where(Followup.id == Card.followup_id,
                                                Followup.closed_at.is_not(None)).exists()
    closed_case = select(Case.id).where(Case.id == Card.case_id,
                                        Case.state.in_([s.value for s in CASE_TERMINAL])).exists()
    stmt = (
        update(Card)
        .where(
            Card.resolved_at.is_(None),
            or_(
                and_(Card.step_id.is_not(None), closed_step),
                and_(Card.step_id.is_(None), Card.followup_id.is_(None), closed_case),
                and_(Card.followup_id.is_not(None), closed_followup),
            ),
        )
        .values(resolved_at=runtime.clock.now())
        .execution_options(synchronize_session=False)
    )
    try:
        result = session.execute(stmt)
        count = int(getattr(result, "rowcount", 0) or 0)
        session.commit()
        return count
    except BaseException:
        session.rollback()
        raise


@dataclass(frozen=True)
class CardView:
    """A card as the supervision desk lists it."""

    id: int
    colour: str
    case_id: str
    receipt_no: str
    step_id: str | None
    step_key: str | None
    department: str | None
    region: str
    reason: str
    issued_at: datetime
    issued_on: date
    working_days_overdue: int
    resolved_at: datetime | None
    instance_label: str = ""
    """Which list entry of a ``for_each`` step the card is for (the employee, the vehicle), as the
    worklists label it; empty for a single step, a case-level card, or a reader who may not see
    the step in full (:data:`~engine.machine.access.Access.SEE_STEP`)."""
    followup_id: int | None = None
    """The overdue follow-up the card is for (None: a step's or a case's card)."""
    followup_kind: str = ""
    """rectification, post_check or complaint ('' for a step's or a case's card)."""
    kind_label: str = ""
    """What the card is for, bilingual: the follow-up's kind (差评整改 / rectification …), else ''."""
    explanation_state: str = ""
    """A red card's 情况说明: required, submitted, accepted, returned ('' for a yellow card, or a red
    card issued before explanations)."""


def highest_card() -> ColumnElement[bool]:
    """Over ``cards``: the card is its step's (or its case's, at case level) highest, i.e. not a
    yellow card superseded by a red one of the same step (or case)."""
    red = aliased(Card)
    same = or_(
        and_(Card.step_id.is_not(None), red.step_id == Card.step_id),
        and_(Card.step_id.is_(None), red.step_id.is_(None), red.case_id == Card.case_id),
    )
    same = or_(
        and_(Card.followup_id.is_not(None), red.followup_id == Card.followup_id),
        and_(Card.followup_id.is_(None), red.followup_id.is_(None), same),
    )
    superseded = select(red.id).where(red.colour == "red", same).exists()
    return or_(Card.colour != "yellow", ~superseded)


def list_cards(
    session: Session, *, region: str | None, colour: str | None = None, open_only: bool = True, limit: int = 500,
    offset: int = 0, viewer: Actor | None = None, department: str | None = None, bundle: str | None = None,
    issued_since: date | None = None,
) -> list[CardView]:
    """Cards in ``region`` (None: everywhere), newest first; red and yellow unless ``colour``; of
    one ``department``, of one ``bundle``'s cases, issued on or after ``issued_since``. Each
    step (or case) lists its highest card only: a red card hides the same step's yellow one. A
    step's card names its list entry (``instance_label``) when ``viewer`` may see the step in full
    (None: the engine itself, always)."""
    if colour is not None and colour not in COLOURS:
        raise DomainError(f"colour must be one of {', '.join(COLOURS)}", field="colour")
    where = [*_card_scope(region), highest_card()]
    if colour is not None:
        where.append(Card.colour == colour)
    if department is not None:
        where.append(Card.department == department)
    if bundle is not None:
        where.append(Case.bundle_id == bundle)
    if issued_since is not None:
        where.append(Card.issued_on >= issued_since)
    if open_only:
        where.append(Card.resolved_at.is_(None))
    rows = session.execute(
        select(Card, Case, Step, Followup.kind)
        .join(Case, Case.id == Card.case_id)
        .outerjoin(Step, Step.id == Card.step_id)
        .outerjoin(Followup, Followup.id == Card.followup_id)
        .where(*where)
        .order_by(Card.issued_at.desc(), Card.id.desc())
        .limit(limit).offset(offset)
    ).all()
    return [_view(card, case, step, viewer, kind) for card, case, step, kind in rows]


def _view(card: Card, case: Case, step: Step | None, viewer: Actor | None, kind: str | None = None) -> CardView:
    shown = step is not None and (viewer is None or permits(viewer, Access.SEE_STEP, Target(case=case, step=step)))
    return CardView(
        id=card.id, colour=card.colour, case_id=card.case_id, receipt_no=case.receipt_no, step_id=card.step_id,
        step_key=step.step_key if step is not None else None, department=card.department, region=card.region,
        reason=card.reason, issued_at=card.issued_at, issued_on=card.issued_on,
        working_days_overdue=card.working_days_overdue, resolved_at=card.resolved_at,
        instance_label=step.instance_label if shown and step is not None else "",
        followup_id=card.followup_id, followup_kind=kind or "",
        kind_label=FOLLOWUP_KIND_LABELS.get(kind, kind) if kind else "",
        explanation_state=card.explanation_state or "",
    )


def card_counts(cards: Iterable[Card]) -> dict[str, int]:
    """How many of ``cards`` are yellow and red."""
    counts: dict[str, int] = dict.fromkeys(COLOURS, 0)
    for card in cards:
        counts[card.colour] = counts.get(card.colour, 0) + 1
    return counts


@dataclass(frozen=True)
class DepartmentLoad:
    """One department's released open work in a region, as the supervision desk counts it."""

    department: str
    open: int
    """Released open steps (ready, claimed, in progress, awaiting 补正), as the worklist shows them;
    pending steps are nobody's work yet."""
    overdue: int
    """Active steps past their due date whose clock runs."""


@dataclass(frozen=True)
class OfficeLoad:
    """One office's released open work, overdue steps and open step cards within the region."""

    office: str
    """The deciding office, ``<department>@<region>`` (``steps.office``; a step not yet routed, or
    older than routing, counts under its department's office at the case's region)."""
    department: str
    region: str
    """The office's region, canonical (430000, 430100, 430102, 430102001)."""
    level: Level
    open: int
    overdue: int
    yellow_cards: int
    """Open yellow cards of the office's steps (case-level cards belong to no office)."""
    red_cards: int


@dataclass(frozen=True)
class RegionLoad:
    """The offices' work rolled up to one region of one level (province, city, county, township):
    the region's own offices and every office below it. For every region, ``open`` is ``own_open``
    plus the ``open`` of the regions one level down whose ``parent`` it is (likewise overdue and
    cards); a township row holds its villages' offices too."""

    region: str
    level: Level
    parent: str | None
    """The region one level up (None for a province, and for the top rows of a supervisor's region:
    the parent lies outside it)."""
    open: int
    overdue: int
    own_open: int
    """Of ``open``, the work of the offices at this region itself."""
    own_overdue: int
    yellow_cards: int
    red_cards: int


ROLLUP_LEVELS: tuple[Level, ...] = (Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP)
"""The levels the desk rolls the offices up to; a village's offices count in their township."""


@dataclass(frozen=True)
class SupervisionStats:
    """Open and overdue work in ``region`` (None: everywhere) on ``today``: each department's load,
    each office's, their rollup per region level, cases per state and open cards per colour."""

    region: str | None
    today: date
    departments: tuple[DepartmentLoad, ...]
    cases: dict[str, int]
    open_cards: dict[str, int]
    offices: tuple[OfficeLoad, ...] = ()
    """Ordered by region (province first), then department."""
    rollup: tuple[RegionLoad, ...] = ()
    """Ordered by level (province first), then region code."""


def office_of_step() -> ColumnElement[str]:
    """The office a step counts under, in SQL over ``steps`` joined to ``cases``: the office it was
    routed to, else (not yet routed, or older than routing) its department's at the region it is
    decided for (:func:`engine.machine.routing.deciding_region`: the case's, unless routed)."""
    return func.coalesce(Step.office, Step.department.concat("@").concat(func.coalesce(Step.decided_in, Case.region)))


def _card_scope(region: str | None) -> list[ColumnElement[bool]]:
    """Over cards joined to their case and (outer) to their step: a step's card lies where its
    step's work does (:func:`~engine.records.queries.work_scope`, as the counts), a case-level card
    in its case's region."""
    if region is None:
        return []
    # A follow-up's card lies in the follow-up's region (its office's), which the card copies.
    followup = and_(Card.followup_id.is_not(None), Card.region.startswith(region_prefix(region), autoescape=True))
    case_level = and_(Card.step_id.is_(None), Card.followup_id.is_(None), *in_scope(region))
    return [or_(and_(Card.step_id.is_not(None), *work_scope(region)), case_level, followup)]


def supervision_stats(session: Session, *, region: str | None, today: date) -> SupervisionStats:
    """Open and overdue steps per department and per office, their rollup per region level, cases
    per state and open cards (per colour and per office; a step's highest card only), in ``region``.

    Open work is :func:`engine.records.queries.open_work`, the worklists' own predicate, so each
    department's ``open`` is the length of its worklist in ``region`` and ``overdue`` that of the
    worklist filtered to overdue steps; the offices and the rollup split exactly those steps. The
    partial index ``ix_steps_open_department`` serves the count (PostgreSQL and SQLite plans are
    tested). Three grouped statements, whatever the backlog."""
    late = when_then((overdue_work(today), 1), else_=0)
    office = office_of_step()
    loads = session.execute(
        select(Step.department, office, func.count(), func.coalesce(func.sum(late), 0))
        .join(Case, Case.id == Step.case_id)
        .where(*open_work(region))
        .group_by(Step.department, office).order_by(Step.department, office)
    ).all()
    cases = session.execute(select(Case.state, func.count()).where(*in_scope(region)).group_by(Case.state)).all()
    # A step's card counts under its step's office; a case-level card under none.
    # A follow-up's card counts under the follow-up's office.
    card_office = when_then((Card.followup_id.is_not(None), Followup.office), (Card.step_id.is_(None), null()),
                            else_=office)
    cards = session.execute(
        select(Card.colour, card_office, func.count())
        .join(Case, Case.id == Card.case_id).outerjoin(Step, Step.id == Card.step_id)
        .outerjoin(Followup, Followup.id == Card.followup_id)
        .where(Card.resolved_at.is_(None), highest_card(), *_card_scope(region)).group_by(Card.colour, card_office)
    ).all()
    by_department: dict[str, list[int]] = {}
    work: dict[str, list[int]] = {}
    for department, key, count, overdue in loads:
        totals = by_department.setdefault(department, [0, 0])
        totals[0] += int(count)
        totals[1] += int(overdue)
        work[key] = [int(count), int(overdue), 0, 0]
    open_cards: dict[str, int] = dict.fromkeys(COLOURS, 0)
    for colour, key, count in cards:
        open_cards[colour] = open_cards.get(colour, 0) + int(count)
        if key is not None:
            work.setdefault(key, [0, 0, 0, 0])[2 + COLOURS.index(colour)] += int(count)
    offices = sorted((_office_load(key, *numbers) for key, numbers in work.items()),
                     key=lambda o: (o.level.rank, o.region, o.department))
    return SupervisionStats(
        region=region, today=today,
        departments=tuple(DepartmentLoad(department=d, open=n, overdue=o) for d, (n, o) in by_department.items()),
        cases={state: int(n) for state, n in cases},
        open_cards=open_cards,
        offices=tuple(offices),
        rollup=roll_up(offices, within=region),
    )


def _office_load(office: str, open_: int, overdue: int, yellow: int, red: int) -> OfficeLoad:
    department, _, where = office.partition("@")
    region = canonical_region(where)
    return OfficeLoad(office=office, department=department, region=region, level=level_of(region), open=open_,
                      overdue=overdue, yellow_cards=yellow, red_cards=red)


def roll_up(offices: Iterable[OfficeLoad], *, within: str | None = None) -> tuple[RegionLoad, ...]:
    """Each office's numbers added to its region and to every region above it, one row per region of
    each of :data:`ROLLUP_LEVELS` that holds an office (a village's office counts in its township),
    keeping the regions ``within`` covers (None: all). A row whose parent is not kept has none."""
    totals: dict[str, list[int]] = {}
    own: dict[str, list[int]] = {}
    for load in offices:
        numbers = (load.open, load.overdue, load.yellow_cards, load.red_cards)
        depth = min(load.level.rank, Level.TOWNSHIP.rank)
        for level in ROLLUP_LEVELS[: depth + 1]:
            row = totals.setdefault(ancestor_at(load.region, level), [0, 0, 0, 0])
            for index, value in enumerate(numbers):
                row[index] += value
        mine = own.setdefault(ancestor_at(load.region, ROLLUP_LEVELS[depth]), [0, 0])
        mine[0] += load.open
        mine[1] += load.overdue
    kept = {code: numbers for code, numbers in totals.items() if region_covers(within, code)}
    rows = []
    for code, (open_, overdue, yellow, red) in kept.items():
        level = level_of(code)
        parent = ancestor_at(code, ROLLUP_LEVELS[level.rank - 1]) if level.rank else None
        mine = own.get(code, [0, 0])
        rows.append(RegionLoad(
            region=code, level=level, parent=parent if parent in kept else None, open=open_, overdue=overdue,
            own_open=mine[0], own_overdue=mine[1], yellow_cards=yellow, red_cards=red,
        ))
    return tuple(sorted(rows, key=lambda r: (r.level.rank, r.region)))


def desk_region(actor: Actor, region: str | None = None) -> str | None:
    """The region the supervision desk shows ``actor``: their own (the access rules'
    :func:`~engine.machine.access.list_scope`; None for an admin: everywhere), or ``region``, a
    rollup row they drill into, which must be a division code within it (422 / 403 naming the field)."""
    scope = list_scope(actor, Access.READ_SUPERVISION)
    if region is None:
        return scope
    try:
        code = validate_region_code(region)
    except InvalidValue as exc:
        raise DomainError(f"region {region}: {exc.message_en} / {exc.message_zh}", field="region") from None
    if not region_covers(scope, code):
        raise Forbidden(f"region {code} is outside your region {scope} / 不在您的辖区内", field="region")
    return code


@dataclass(frozen=True)
class DeskNames:
    """What the desk calls the departments, offices and regions it counts: the catalog's department
    names, the office directory's names (an office it does not list: the region's name and the
    department's, 芙蓉区民政局) and :func:`engine.people.regions.region_name` (else the code)."""

    departments: dict[str, str]
    offices: dict[str, str]
    regions: dict[str, str]


def desk_names(catalog: Catalog, stats: SupervisionStats) -> DeskNames:
    """The names of everything ``stats`` counts."""
    departments = {code: department.name.zh for code, department in catalog.departments.items()}
    codes = {o.region for o in stats.offices} | {r.region for r in stats.rollup}
    regions = {code: region_name(code) or code for code in sorted(codes)}
    offices = {}
    for load in stats.offices:
        listed = catalog.offices.get(load.office)
        offices[load.office] = listed.name if listed is not None else (
            regions[load.region] + departments.get(load.department, load.department))
    return DeskNames(departments=departments, offices=offices, regions=regions)
