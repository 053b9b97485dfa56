"""The engine in process: an 8-step fork/join bundle (a first step, six in parallel, a last one
waiting for all six), every step taken and completed by its office's officer in one committed
transaction (``complete_step(claim=True)``, 即办: as Spiff runs and saves a task at once) —
against SpiffWorkflow working off the same process as BPMN, serialised to the same database after
every step (:mod:`bench.peers.spiff`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select

from api.demo import officer_for
from bench.common import Figure, median, per_item
from bench.peers.spiff import SpiffPeer
from engine.db.models import Step
from engine.db.session import make_sessionmaker
from engine.machine.actions import complete_step
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, Role
from engine.people.identifiers import make_id_number
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import load_registry
from engine.spec.models import BundleSpec, Names, StepSpec, TimeLimit
from engine.time.calendar import TimeUnit, WorkingCalendar
from engine.time.clock import FixedClock

CLERK = Actor(id="bench-clerk", role=Role.CLERK, region="430102")
ITEMS = ("11-JHDJ", "09-HYZK", "09-FQTK", "23-SYDJ", "11-HHZM", "09-HKZX", "14-YLZT", "36-ZZCB")


def forkjoin(steps: int = 8) -> BundleSpec:
    """``steps`` steps: the first, ``steps - 2`` in parallel behind it, the last waiting for them."""
    limit = TimeLimit(amount=20, unit=TimeUnit.WORKING_DAYS)
    middle = [f"s{i}" for i in range(1, steps - 1)]
    specs = [StepSpec(id="s0", item=ITEMS[0], time_limit=limit)]
    specs += [StepSpec(id=key, item=ITEMS[i % len(ITEMS)], depends_on=("s0",), time_limit=limit)
              for i, key in enumerate(middle, start=1)]
    specs.append(StepSpec(id=f"s{steps - 1}", item=ITEMS[-1], depends_on=tuple(middle), time_limit=limit))
    return BundleSpec(id="bench_forkjoin", version=1, name=Names(zh="分叉汇合", en="Fork and join"),
                      applicant_kind="person", time_limit=TimeLimit(amount=60, unit=TimeUnit.WORKING_DAYS),
                      steps=tuple(specs))


class OurFlow:
    """Accepts a fork/join case and works it off through the engine's actions."""

    def __init__(self, engine: Engine, *, steps: int = 8) -> None:
        self.sessions = make_sessionmaker(engine)
        clock = FixedClock(datetime(2026, 3, 2, 1, tzinfo=UTC))
        base = Runtime(registry=load_registry(), calendar=WorkingCalendar.default(), clock=clock)
        self.runtime = base.with_draft(forkjoin(steps))
        with self.sessions() as session:
            publish_bundles(session, base)
        self.count = 0

    def run_case(self) -> int:
        self.count += 1
        applicant = make_id_number("430102", date(1980, 1, 1) + timedelta(days=self.count % 9000), self.count % 997)
        done = 0
        with self.sessions() as session:
            case = accept_case(session, self.runtime, bundle_id="bench_forkjoin", applicant=Applicant(applicant, "person"),
                               answers={}, actor=CLERK)
            case_id = case.id
            while True:
                ready = session.scalars(select(Step).where(Step.case_id == case_id, Step.state == "ready")
                                        .order_by(Step.position)).all()
                if not ready:
                    break
                for step in ready:
                    officer = officer_for(step)
                    # 即办: taken and finished in one transaction, as Spiff's task.run() is one save
                    complete_step(session, self.runtime, step_id=step.id, actor=officer, claim=True)
                    done += 1
        return done


def run(engine: Engine, *, backend: str, cases: int, rounds: int) -> list[Figure]:
    """ms per case for ours and Spiff, interleaved per round; and our per-step cost at 60 vs 6 steps."""
    ours, peer = OurFlow(engine), SpiffPeer(engine)
    small, large = OurFlow(engine, steps=6), OurFlow(engine, steps=60)
    ours_ms: list[float] = []
    peer_ms: list[float] = []
    growth: list[float] = []
    for _ in range(rounds):
        ours_ms.append(per_item(lambda: sum(1 for _ in range(cases) if ours.run_case())) * 1000)
        peer_ms.append(per_item(lambda: sum(1 for _ in range(cases) if peer.run_case())) * 1000)
        per_small = per_item(lambda: sum(small.run_case() for _ in range(max(1, cases // 4))))
        per_large = per_item(lambda: sum(large.run_case() for _ in range(max(1, cases // 20))))
        growth.append(per_large / per_small)
    return [
        Figure(key=f"spiff_forkjoin_{backend}", label=f"engine, 8-step fork/join, per case ({backend})",
               ours=median(ours_ms), peer=median(peer_ms), unit="ms/case", better="lower",
               target="ours ≥ 5× faster than SpiffWorkflow"),
        Figure(key=f"step_cost_60_vs_6_{backend}", label=f"per-step cost, 60 steps vs 6 ({backend})",
               ours=median(growth), peer=1.0, unit="× of the 6-step cost", better="lower", target="≤ 1.2×"),
    ]
