"""Demo data: synthetic people and companies, and one case of each bundle run to completion.

Identifiers are generated with valid checksums; names are clearly fictitious (测试 + a
number). Department work is simulated by officers of each step's department claiming and
completing ready steps, automated steps are run from the outbox, and timers are released by
moving the injected clock forward, exactly as the real flows would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.time.clock import FixedClock
from engine.records.audit import case_history
from engine.db.models import Case, Licence, Step
from engine.machine.dispatch import drain_outbox
from engine.people.identifiers import make_credit_code, make_id_number
from engine.machine.intake import Applicant, accept_case
from engine.people.licences import store_licence
from engine.runtime import Runtime
from engine.machine.routing import deciding_region
from engine.machine.states import CASE_OPEN, Actor, CaseState, Role, StepState
from engine.machine.actions import claim_step, complete_step
from engine.machine.timers import release_due_timers

SCENARIOS = Path(__file__).with_name("demo_scenarios.yaml")

Report = Callable[[str], None]


@dataclass(frozen=True)
class DemoResult:
    bundle_id: str
    receipt_no: str
    state: str
    steps_done: int
    days_taken: int
    skipped: frozenset[str]
    expected_skipped: frozenset[str]

    @property
    def ok(self) -> bool:
        return self.state == CaseState.COMPLETED.value and self.skipped == self.expected_skipped


def synthetic_person(n: int) -> str:
    """The n-th synthetic resident ID (valid checksum, Changsha districts, born 1950-2000)."""
    regions = ["430102", "430103", "430104", "430105", "430111"]
    return make_id_number(regions[n % len(regions)], date(1950 + (n * 7) % 50, 1 + n % 12, 1 + n % 28), n % 1000)


def synthetic_company(n: int) -> str:
    """The n-th synthetic unified social credit code."""
    return make_credit_code("430100", f"MA4L{n:05d}"[:9])


def dated(value: Any, today: date) -> Any:
    """Replace ``{days_ago: N}`` placeholders with the ISO date N days before ``today``: the demo's
    clock moves, and eligibility rules count from the acceptance date (a newborn is born within
    six months of it)."""
    if isinstance(value, dict):
        if set(value) == {"days_ago"}:
            return (today - timedelta(days=int(value["days_ago"]))).isoformat()
        return {k: dated(v, today) for k, v in value.items()}
    if isinstance(value, list):
        return [dated(v, today) for v in value]
    return value


def _expand(value: Any) -> Any:
    """Replace ``{person: N}`` / ``{company: N}`` placeholders with generated identifiers."""
    if isinstance(value, dict):
        if set(value) == {"person"}:
            return synthetic_person(int(value["person"]))
        if set(value) == {"company"}:
            return synthetic_company(int(value["company"]))
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


@dataclass(frozen=True)
class DemoData:
    people: dict[int, dict[str, str]]
    companies: dict[int, dict[str, str]]
    scenarios: dict[str, dict[str, Any]]
    governance: dict[str, Any]


def load_demo_data(path: Path = SCENARIOS) -> DemoData:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return DemoData(
        people={int(k): v for k, v in data["people"].items()},
        companies={int(k): v for k, v in data["companies"].items()},
        scenarios={bundle_id: _expand(s) for bundle_id, s in data["scenarios"].items()},
        governance=_expand(data.get("governance", {})),
    )


def seed_licences(session: Session, runtime: Runtime, data: DemoData, *, report: Report) -> int:
    """Give every synthetic person an ID card and household register, every company a business
    licence (idempotent: an existing licence number is left alone)."""
    now, today = runtime.clock.now(), runtime.today()
    wanted: list[tuple[str, str, str, dict[str, Any]]] = []
    for n, person in data.people.items():
        ident = synthetic_person(n)
        wanted.append(("L2000016", ident, f"ID-{ident[-8:]}", {"name": person["name"], "sex": person["sex"],
                                                                "id_number": ident}))
        wanted.append(("L2000017", ident, f"HK-{ident[-8:]}", {
            "name": person["name"], "household_type": person["household_type"],
            "household_region": person["household_region"]}))
    for n, company in data.companies.items():
        code = synthetic_company(n)
        wanted.append(("L1000001", code, f"YYZZ-{code[-8:]}", {**company, "credit_code": code}))
    existing = {(row.type_code, row.number) for row in session.execute(select(Licence.type_code, Licence.number))}
    added = 0
    for type_code, holder, number, attributes in wanted:
        if (type_code, number) in existing:
            continue
        store_licence(session, type_code=type_code, holder_id=holder, number=number, attributes=attributes,
                      issuer="示例市公安局" if type_code.startswith("L2") else "示例市市场监督管理局",
                      valid_from=today - timedelta(days=3650), valid_to=today + timedelta(days=3650), now=now)
        added += 1
    session.commit()
    report(f"seeded {added} e-licences for {len(data.people)} people and {len(data.companies)} companies")
    return added


def officer_for(step: Step) -> Actor:
    """The demo officer of the step's department at the office release routed it to (where it is
    decided), who may decide it."""
    return Actor(id=f"demo-officer-{step.department}", role=Role.OFFICER, department=step.department,
                 region=deciding_region(step.case, step))


def run_case(session: Session, runtime: Runtime, clock: FixedClock, *, bundle_id: str, scenario: dict[str, Any],
             report: Report) -> DemoResult:
    """Accept one case and simulate every department until it closes."""
    spec = runtime.current_spec(bundle_id)
    applicant = Applicant(scenario["applicant"]["id"], spec.applicant_kind, scenario["applicant"].get("name", ""))
    clerk = Actor(id="demo-clerk", role=Role.CLERK, region="430100")
    case = accept_case(session, runtime, bundle_id=bundle_id, applicant=applicant,
                       answers=dated(scenario["answers"], runtime.today()), actor=clerk,
                       region=scenario.get("region", "430102"))
    intake = case_history(session, case_id=case.id)[0].payload
    report(f"[{bundle_id}] accepted {case.receipt_no}: {len(case.steps)} steps, due {case.due_on}; "
           f"{len(intake.get('prefilled', {}))} fields prefilled, {len(intake.get('waived', []))} materials waived")
    started = clock.now()
    work_off(session, runtime, clock, case=case, report=report)
    done = sum(1 for s in case.steps if s.state == StepState.DONE.value)
    days = (clock.now() - started).days
    skipped = frozenset(s.step_key for s in case.steps if s.state == StepState.SKIPPED.value)
    report(f"[{bundle_id}] {case.state}: {done} steps done in {days} days")
    return DemoResult(bundle_id, case.receipt_no, case.state, done, days, skipped,
                      frozenset(scenario.get("expect_skipped", [])))


def work_off(session: Session, runtime: Runtime, clock: FixedClock, *, case: Case, report: Report) -> None:
    """Simulate every department until ``case`` closes: a day at a time, the officers claim and
    complete what is ready (a commitment step too: an officer reviews what nobody signed), the
    outbox runs the automated steps, the sweep releases the timers."""
    for _ in range(400):  # a bound, not an expectation: every demo case closes in far fewer rounds
        session.refresh(case)
        if CaseState(case.state) not in CASE_OPEN:
            break
        drain_outbox(session, runtime)
        for step_id in release_due_timers(session, runtime):
            report(f"[{case.bundle_id}]   timer released {_key(session, step_id)}")
        ready = session.scalars(
            select(Step).where(Step.case_id == case.id, Step.state == StepState.READY.value, Step.kind != "timer",
                               Step.kind != "automated").order_by(Step.position)
        ).all()
        for step in ready:
            actor = officer_for(step)
            claim_step(session, runtime, step_id=step.id, actor=actor)
            complete_step(session, runtime, step_id=step.id, actor=actor, outputs={"result": "办结"})
            report(f"[{case.bundle_id}]   dept {step.department} completed {step.step_key}"
                   + (f" ({step.instance_label})" if step.instance_label else ""))
        clock.advance(days=1)
    session.refresh(case)


def _key(session: Session, step_id: str) -> str:
    step = session.get(Step, step_id)
    return step.step_key if step else step_id


def run_demo(session: Session, runtime: Runtime, clock: FixedClock, *, report: Report = print,
             bundles: list[str] | None = None, governance: bool = True) -> list[DemoResult]:
    """Seed the demo licences, then run one case of each bundle from intake to completion; with
    every bundle run (and ``governance``), the governance part after them (ratings, commitments,
    a red card's explanation, a complaint: :mod:`api.demo_governance`)."""
    from api.demo_governance import run_governance

    data = load_demo_data()
    scenarios = data.scenarios
    seed_licences(session, runtime, data, report=report)
    results = []
    for spec in runtime.registry:
        if (bundles and spec.id not in bundles) or spec.id not in scenarios:
            continue
        results.append(run_case(session, runtime, clock, bundle_id=spec.id, scenario=scenarios[spec.id], report=report))
    if governance and not bundles:
        run_governance(session, runtime, clock, data=data, results=results, report=report)
    return results


def demo_clock(start: date | None = None) -> FixedClock:
    clock = FixedClock()
    clock.set_local(start or date.today() - timedelta(days=60))
    return clock


