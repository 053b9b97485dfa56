"""Issue 11, item 5: the supervision desk counts what the worklists list (released steps only),
per department, per office and rolled up per region level (province → city → county → township)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db.models import Case, Step
from engine.machine.actions import claim_step, complete_step, request_supplement, start_step
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, Role
from engine.people.regions import Level, level_of, region_prefix
from engine.records.queries import department_worklist, worklist
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from engine.time.supervision import SupervisionStats, issue_cards, supervision_stats
from tests.engine.sample_people import GROOM, another_couple, marriage_answers

REGIONS = (None, "430000", "430100", "430102", "430104", "430200", "430202")
"""Every scope the scenario is read in: everywhere, the province, two cities, three counties."""


def _clerk(region: str) -> Actor:
    return Actor(id=f"clerk-{region}", role=Role.CLERK, region=region)


def _officer(department: str, region: str) -> Actor:
    return Actor(id=f"officer-{department}-{region}", role=Role.OFFICER, department=department, region=region)


def _marriage(session: Session, runtime: Runtime, region: str) -> Case:
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(**another_couple()), actor=_clerk(region), region=region)


def _finish(session: Session, runtime: Runtime, step: Step) -> None:
    """Claim and complete ``step`` as an officer of the office it is routed to (else of the case's region)."""
    actor = _officer(step.department, (step.office or "").partition("@")[2] or step.case.region)
    claim_step(session, runtime, step_id=step.id, actor=actor)
    complete_step(session, runtime, step_id=step.id, actor=actor)


def _scenario(session: Session, runtime: Runtime) -> list[Case]:
    """Marriage cases in 430102 (three), 430104 (two) and 430202 (one): some just accepted (the
    registration ready, the rest pending), some with the registration done (its dependents
    released), one step claimed, one awaiting 补正."""
    cases = [_marriage(session, runtime, region) for region in
             ("430102", "430102", "430102", "430104", "430104", "430202")]
    for case in (cases[0], cases[3], cases[5]):
        _finish(session, runtime, case.steps[0])
    claim_step(session, runtime, step_id=cases[1].steps[0].id, actor=_officer("11", "430102"))
    waiting = cases[4].steps[0]
    actor = _officer("11", "430104")
    claim_step(session, runtime, step_id=waiting.id, actor=actor)
    start_step(session, runtime, step_id=waiting.id, actor=actor)
    request_supplement(session, runtime, step_id=waiting.id, actor=actor, materials=["合影照片"])
    return cases


def _worklist_length(session: Session, runtime: Runtime, department: str, region: str | None, *,
                     overdue: bool = False) -> int:
    return worklist(session, department=department, region=region, state=None, due_within_days=None, overdue=overdue,
                    today=runtime.today(), limit=1).total


def test_steps_not_yet_released_are_not_counted(session: Session, runtime: Runtime) -> None:
    case = _marriage(session, runtime, "430102")
    states = {(s.department, s.state) for s in case.steps}
    assert ("11", "ready") in states and any(state == "pending" for _, state in states)
    stats = supervision_stats(session, region="430100", today=runtime.today())
    assert [(d.department, d.open) for d in stats.departments] == [("11", 1)]
    assert [(o.office, o.open) for o in stats.offices] == [("11@430102", 1)]
    # The registration done, its dependents are released: now they are open work.
    _finish(session, runtime, case.steps[0])
    released = {s.department for s in case.steps if s.state == "ready"}
    assert released and "11" not in released
    stats = supervision_stats(session, region="430100", today=runtime.today())
    assert {d.department: d.open for d in stats.departments} == {
        department: sum(1 for s in case.steps if s.department == department and s.state == "ready")
        for department in released
    }


def test_every_count_is_the_length_of_its_worklist(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    _scenario(session, runtime)
    clock.set_local(date(2026, 4, 20))  # past every due date: the supplement's step stays on time (clock stopped)
    pending = session.scalar(select(func.count()).select_from(Step).where(Step.state == "pending"))
    assert pending, "the scenario keeps steps waiting on others: they must not count"
    departments = sorted(runtime.registry.catalog.departments)
    for region in REGIONS:
        stats = supervision_stats(session, region=region, today=runtime.today())
        loads = {d.department: d for d in stats.departments}
        for department in departments:
            load = loads.get(department)
            assert (load.open if load else 0) == _worklist_length(session, runtime, department, region), (region, department)
            assert (load.overdue if load else 0) == _worklist_length(
                session, runtime, department, region, overdue=True), (region, department)
        # The offices split the departments' counts exactly.
        by_department: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for office in stats.offices:
            by_department[office.department][0] += office.open
            by_department[office.department][1] += office.overdue
        assert {d: tuple(n) for d, n in by_department.items() if n != [0, 0]} == {
            d.department: (d.open, d.overdue) for d in stats.departments}
    # A supervisor's own worklist of a department (the engine's entry point) has the same length.
    supervisor = Actor(id="supervisor-4301", role=Role.SUPERVISOR, region="430100")
    stats = supervision_stats(session, region="430100", today=runtime.today())
    for load in stats.departments:
        page = department_worklist(session, actor=supervisor, department=load.department, today=runtime.today())
        assert page.total == load.open
    # Every office at a case's region (nothing routed elsewhere yet) is that department's worklist there.
    for office in stats.offices:
        assert office.open == _worklist_length(session, runtime, office.department, office.region), office.office


def _children(stats: SupervisionStats, region: str) -> list[str]:
    return [r.region for r in stats.rollup if r.parent == region]


def test_rollups_add_up_across_levels(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    _scenario(session, runtime)
    clock.set_local(date(2026, 4, 20))
    issue_cards(session, runtime, red_after_working_days=3)
    for region in REGIONS:
        stats = supervision_stats(session, region=region, today=runtime.today())
        rows = {r.region: r for r in stats.rollup}
        assert [r.level for r in stats.rollup] == sorted((r.level for r in stats.rollup), key=lambda level: level.rank)
        assert {r.level for r in stats.rollup} <= {Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP}
        for row in stats.rollup:
            below = [rows[c] for c in _children(stats, row.region)]
            assert row.open == row.own_open + sum(c.open for c in below), row
            assert row.overdue == row.own_overdue + sum(c.overdue for c in below), row
            assert row.yellow_cards >= sum(c.yellow_cards for c in below)
            if row.parent is not None:
                assert row.parent in rows and rows[row.parent].level.rank == row.level.rank - 1
        # Only the supervisor's region and below; its top rows hold all of its offices' work.
        assert all(r.region.startswith(region_prefix(region or "")) for r in stats.rollup)
        total = sum(d.open for d in stats.departments)
        tops = [r for r in stats.rollup if r.parent is None]
        outside = [o for o in stats.offices if not o.region.startswith(region_prefix(region or ""))]
        assert sum(r.open for r in tops) + sum(o.open for o in outside) == total == sum(o.open for o in stats.offices)
        assert sum(r.overdue for r in tops) + sum(o.overdue for o in outside) == sum(d.overdue for d in stats.departments)
        # Every level at or below the supervisor's accounts for the whole total: its rows and the
        # offices above it.
        own_rank = level_of(region).rank if region else 0
        for level in (Level.PROVINCE, Level.CITY, Level.COUNTY)[own_rank:]:
            at = sum(r.open for r in stats.rollup if r.level is level)
            above = sum(o.open for o in stats.offices if o.level.rank < level.rank or o in outside)
            assert at + above == total, (region, level)
        # A step's cards count under its office; the case-level cards under none.
        step_cards = sum(o.yellow_cards + o.red_cards for o in stats.offices)
        assert step_cards <= stats.open_cards["yellow"] + stats.open_cards["red"]
        assert sum(r.yellow_cards + r.red_cards for r in tops) + sum(o.yellow_cards + o.red_cards for o in outside) \
            == step_cards
    everywhere = supervision_stats(session, region=None, today=runtime.today())
    assert sum(o.yellow_cards + o.red_cards for o in everywhere.offices) > 0 and sum(o.overdue for o in everywhere.offices) > 0


def test_a_supervisor_of_430100_sees_its_districts_only(session: Session, runtime: Runtime) -> None:
    _scenario(session, runtime)
    stats = supervision_stats(session, region="430100", today=runtime.today())
    regions = {r.region: r for r in stats.rollup}
    assert {"430102", "430104"} <= set(regions) and not {"430200", "430202"} & set(regions)
    assert "430000" not in regions, "the province row would hold only this city's numbers"
    assert regions["430100"].level is Level.CITY and regions["430100"].parent is None
    assert regions["430102"].parent == "430100"
    assert regions["430100"].open == regions["430102"].open + regions["430104"].open + regions["430100"].own_open
    assert {o.region for o in stats.offices} == {"430102", "430104"}
    assert not any(o.region.startswith("4302") for o in stats.offices)
    # And Zhuzhou's supervisor nothing of Changsha's.
    zhuzhou = supervision_stats(session, region="430200", today=runtime.today())
    assert not any(r.region.startswith("4301") for r in zhuzhou.rollup)
    assert not any(o.region.startswith("4301") for o in zhuzhou.offices)


@pytest.mark.parametrize("days", [0, 30])
def test_overdue_counts_follow_the_clock(session: Session, runtime: Runtime, clock: FixedClock, days: int) -> None:
    case = _marriage(session, runtime, "430104")
    due = case.steps[0].due_on
    assert due is not None
    clock.set_local(due + timedelta(days=days))
    stats = supervision_stats(session, region="430104", today=runtime.today())
    (office,) = stats.offices
    assert (office.office, office.open, office.overdue) == ("11@430104", 1, 1 if days else 0)
    assert [(r.region, r.parent, r.overdue) for r in stats.rollup] == [("430104", None, office.overdue)]
    province = supervision_stats(session, region="430000", today=runtime.today())
    assert [(r.region, r.level, r.parent, r.open, r.own_open) for r in province.rollup] == [
        ("430000", Level.PROVINCE, None, 1, 0), ("430100", Level.CITY, "430000", 1, 0),
        ("430104", Level.COUNTY, "430100", 1, 1)]


# --- routed steps: townships and the province -------------------------------------------


def test_routed_steps_count_under_their_office_and_roll_up_from_the_township(
    session: Session, runtime: Runtime
) -> None:
    township = _marriage(session, runtime, "430102001")  # 文艺路街道
    _finish(session, runtime, township.steps[0])
    _marriage(session, runtime, "430104")
    birth_plan = next(s for s in township.steps if s.step_key == "birth_plan_registration")
    assert (birth_plan.state, birth_plan.office) == ("ready", "23@430102001")  # 生育登记 is decided at township
    stats = supervision_stats(session, region="430100", today=runtime.today())
    offices = {o.office: o for o in stats.offices}
    assert offices["23@430102001"].level is Level.TOWNSHIP and offices["23@430102001"].open == 1
    rows = {r.region: r for r in stats.rollup}
    assert (rows["430102001"].level, rows["430102001"].parent, rows["430102001"].open) == (
        Level.TOWNSHIP, "430102", 1)
    county = rows["430102"]
    assert county.open == county.own_open + rows["430102001"].open
    # Every office's department worklist in the office's region holds the work of that office and
    # of the department's offices below it: a county officer's list includes the township's.
    for office in stats.offices:
        below = sum(o.open for o in stats.offices
                    if o.department == office.department and o.region.startswith(region_prefix(office.region)))
        assert _worklist_length(session, runtime, office.department, office.region) == below, office.office
    # The township's supervisor sees the township only; the neighbouring district's nothing of it.
    street = supervision_stats(session, region="430102001", today=runtime.today())
    assert {r.region for r in street.rollup} == {"430102001"} and {o.office for o in street.offices} == {"23@430102001"}
    assert _worklist_length(session, runtime, "23", "430102001") == 1
    yuelu = supervision_stats(session, region="430104", today=runtime.today())
    assert not any(o.region.startswith("430102") for o in yuelu.offices)


def test_a_province_level_step_counts_at_the_province_not_in_the_city(session: Session, runtime: Runtime) -> None:
    from tests.engine.machine.test_access import _land_use

    _case, step = _land_use(session, runtime, "province")
    assert step.office == "15@430000"  # 用地预审, 省级权限: the province's 自然资源厅
    city = supervision_stats(session, region="430100", today=runtime.today())
    assert "15@430000" not in {o.office for o in city.offices} and "430000" not in {r.region for r in city.rollup}
    assert sum(d.open for d in city.departments if d.department == "15") == _worklist_length(
        session, runtime, "15", "430100")
    province = supervision_stats(session, region="430000", today=runtime.today())
    rows = {r.region: r for r in province.rollup}
    assert rows["430000"].own_open == 1 and rows["430000"].parent is None
    assert rows["430000"].open == 1 + sum(r.open for r in province.rollup if r.parent == "430000")
    assert next(o for o in province.offices if o.office == "15@430000").level is Level.PROVINCE
    assert {d.department: d.open for d in province.departments}["15"] == _worklist_length(session, runtime, "15", "430000")


def test_the_scoped_count_is_served_by_the_open_steps_index(session: Session, runtime: Runtime) -> None:
    """The desk's count in a supervisor's region, like the unscoped one (test_supervision.py), reads
    the partial index ix_steps_open_department (PostgreSQL with sequential scans off; SQLite's plan)."""
    from sqlalchemy import event

    _marriage(session, runtime, "430102")
    captured: list[tuple[str, object]] = []
    bind = session.get_bind()

    def keep(_conn: object, _cursor: object, statement: str, parameters: object, *_args: object) -> None:
        captured.append((statement, parameters))

    event.listen(bind, "before_cursor_execute", keep)
    try:
        supervision_stats(session, region="430100", today=runtime.today())
    finally:
        event.remove(bind, "before_cursor_execute", keep)
    loads, parameters = next(c for c in captured if "GROUP BY steps.department" in c[0])
    connection = session.connection()
    if bind.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql("EXPLAIN " + loads, parameters)  # type: ignore[arg-type]
        plan = "\n".join(str(r[0]) for r in rows)
    else:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + loads, parameters)  # type: ignore[arg-type]
        plan = "\n".join(str(r[-1]) for r in rows)
    session.rollback()
    # either partial index of the open steps (revision 0012 added one by due date): never all steps
    assert "ix_steps_open_department" in plan or "ix_steps_active_due" in plan, plan
