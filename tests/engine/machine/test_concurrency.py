"""Races: parallel steps finishing at the same moment, two officers finishing one step.

The join race needs PostgreSQL (``SELECT … FOR UPDATE`` on the case row is what serialises
two transactions of one case while different cases proceed in parallel); it takes the
``pg_engine`` fixture directly and is skipped, with the reason shown, when conftest found no
PostgreSQL. The same-step race runs on every backend through the ``db`` fixture: on SQLite,
``BEGIN IMMEDIATE`` serialises it.

Every worker thread keeps one session for its whole life, and each worker first opens the
case (loading every step into its session), then acts: its session then holds rows another
thread may change before the lock is taken, which the engine must re-read under the lock.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from engine.records.audit import verify_audit
from engine.time.calendar import TimeUnit, WorkingCalendar
from engine.time.clock import FixedClock
from engine.db.models import AuditEvent, Base, Case, Step
from engine.db.session import make_sessionmaker
from engine.errors import DomainError, IllegalTransition, StaleVersion
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import BUNDLES_DIR, BundleRegistry, load_catalog
from engine.spec.models import BundleSpec, Names, StepSpec, TimeLimit
from engine.machine.states import CaseState, StepState
from engine.machine.actions import claim_step, complete_step
from tests.conftest import BACKENDS, Database, scaled
from tests.engine.sample_people import CLERK, GROOM, officer

requires_pg = pytest.mark.skipif(
    "postgresql" not in BACKENDS,
    reason="no PostgreSQL answered (set ONEVISIT_TEST_PG or run one on 127.0.0.1:5432): "
    "the join race tests the case row lock, which only PostgreSQL takes",
)

CASES = scaled(120, 180)
THREADS = 16
SAME_STEP_CASES = 30
BARRIER_TIMEOUT = 60.0


def race_bundle() -> BundleSpec:
    """``a`` and ``b`` in parallel (two departments), ``c`` joining them."""
    limit = TimeLimit(amount=5, unit=TimeUnit.WORKING_DAYS)
    return BundleSpec(
        id="race", version=1, name=Names(zh="并行测试事项", en="Race bundle"), applicant_kind="person",
        time_limit=TimeLimit(amount=15, unit=TimeUnit.WORKING_DAYS),
        steps=(
            StepSpec(id="a", item="11-JHDJ", time_limit=limit),
            StepSpec(id="b", item="09-HYZK", time_limit=limit),
            StepSpec(id="c", item="23-SYDJ", depends_on=("a", "b"), time_limit=limit),
        ),
    )


def race_runtime() -> Runtime:
    bundle = race_bundle()
    registry = BundleRegistry(catalog=load_catalog(BUNDLES_DIR / "catalog"), fields={}, bundles={bundle.id: bundle})
    return Runtime(registry=registry, calendar=WorkingCalendar.default(),
                   clock=FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))


@dataclass(frozen=True)
class RaceCase:
    id: str
    steps: dict[str, tuple[str, str]]
    """step key -> (step id, department)"""


def accept_cases(session: Session, runtime: Runtime, count: int) -> list[RaceCase]:
    publish_bundles(session, runtime)
    cases = []
    for _ in range(count):
        case = accept_case(session, runtime, bundle_id="race", applicant=Applicant(GROOM, "person"), answers={},
                           actor=CLERK)
        cases.append(RaceCase(case.id, {s.step_key: (s.id, s.department) for s in case.steps}))
    return cases


Work = Callable[[Session, Callable[[], object]], object]
"""What one worker does in a race: given its session and ``go`` (the barrier)."""


def open_case(session: Session, case_id: str) -> list[Step]:
    """The officer opens the case: every step on screen (kept, so the session keeps them)."""
    case = session.get(Case, case_id)
    assert case is not None
    on_screen = list(case.steps)
    session.commit()
    return on_screen


@dataclass
class Workers:
    """A thread pool whose threads each keep one session for their whole life."""

    sessions: sessionmaker[Session]
    local: threading.local = field(default_factory=threading.local)
    opened: list[Session] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self) -> Session:
        session: Session | None = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = self.sessions()
            with self.lock:
                self.opened.append(session)
        return session

    def run_pairs(self, pairs: list[tuple[Work, Work]], threads: int) -> list[tuple[object, object]]:
        """Run the two works of each pair on two threads, sharing a barrier; their results.

        Each work calls ``go()`` (the barrier) right before the call that should race.
        """

        def call(work: Work, barrier: threading.Barrier) -> object:
            session = self.session()
            try:
                return work(session, lambda: barrier.wait(timeout=BARRIER_TIMEOUT))
            except DomainError as exc:
                return exc

        try:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                futures = []
                for first, second in pairs:
                    barrier = threading.Barrier(2)
                    futures.append((pool.submit(call, first, barrier), pool.submit(call, second, barrier)))
                return [(f.result(), g.result()) for f, g in futures]
        finally:
            for session in self.opened:
                session.close()


def history(session: Session, case_ids: list[str]) -> dict[str, list[AuditEvent]]:
    events: dict[str, list[AuditEvent]] = defaultdict(list)
    stmt = select(AuditEvent).where(AuditEvent.case_id.in_(case_ids)).order_by(AuditEvent.case_id, AuditEvent.seq)
    for event in session.scalars(stmt):
        events[event.case_id].append(event)
    return events


def check_no_lost_update(session: Session, case_ids: list[str]) -> None:
    """Every state column and version is exactly what the case's audit events say."""
    events = history(session, case_ids)
    steps = session.scalars(select(Step).where(Step.case_id.in_(case_ids))).all()
    for step in steps:
        own = [e for e in events[step.case_id] if e.step_id == step.id]
        assert len(own) == step.version and own[-1].to_state == step.state, (step.step_key, step.state, own)
    for case in session.scalars(select(Case).where(Case.id.in_(case_ids))):
        own = [e for e in events[case.id] if e.step_id is None]
        assert len(own) == case.version and own[-1].to_state == case.state
        assert len(events[case.id]) == case.audit_seq


@pytest.fixture
def pg_sessions(pg_engine: Engine) -> Iterator[sessionmaker[Session]]:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with pg_engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # audit tables refuse TRUNCATE
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield make_sessionmaker(pg_engine)


@requires_pg
def test_parallel_steps_finishing_together_release_their_join_exactly_once(
    pg_sessions: sessionmaker[Session],
) -> None:
    runtime = race_runtime()
    with pg_sessions() as session:
        cases = accept_cases(session, runtime, CASES)

    def finish(case: RaceCase, key: str) -> Work:
        step_id, department = case.steps[key]

        def work(session: Session, go: Callable[[], object]) -> object:
            actor = officer(department)
            on_screen = open_case(session, case.id)
            step = claim_step(session, runtime, step_id=step_id, actor=actor)
            go()
            done = complete_step(session, runtime, step_id=step_id, actor=actor, outputs={"result": "ok"},
                                 expected_version=step.version)
            del on_screen
            return done

        return work

    pairs = [(finish(case, "a"), finish(case, "b")) for case in cases]
    started = time.perf_counter()
    results = Workers(pg_sessions).run_pairs(pairs, THREADS)
    elapsed = time.perf_counter() - started
    refused = [r for pair in results for r in pair if isinstance(r, DomainError)]
    assert not refused, refused[:5]

    ids = [case.id for case in cases]
    by_id = {case.id: case for case in cases}
    with pg_sessions() as session:
        report = verify_audit(session)
        assert report.ok, report.problems[:5]
        assert report.cases == CASES
        check_no_lost_update(session, ids)
        events = history(session, ids)
        states = {(s.case_id, s.step_key): StepState(s.state) for s in session.scalars(select(Step))}
        wrong: list[str] = []
        for case in session.scalars(select(Case)):
            c_id = by_id[case.id].steps["c"][0]
            seen = (CaseState(case.state), states[(case.id, "a")], states[(case.id, "b")], states[(case.id, "c")])
            releases = [e.seq for e in events[case.id] if e.action == "step.release" and e.step_id == c_id]
            completes = [e.seq for e in events[case.id] if e.action == "step.complete"]
            if seen != (CaseState.IN_PROGRESS, StepState.DONE, StepState.DONE, StepState.READY):
                wrong.append(f"{case.id}: case, a, b, c are {', '.join(x.value for x in seen)}")
            elif len(releases) != 1 or len(completes) != 2 or max(completes) > releases[0]:
                wrong.append(f"{case.id}: join released at {releases}, completions at {completes}")
        assert not wrong, f"{len(wrong)} of {CASES} cases went wrong, e.g. {wrong[:3]}"
    print(f"\n{CASES} cases on {THREADS} threads, both parallel steps completed at once: "
          f"{elapsed:.2f}s for the {2 * CASES} open/claim/complete workers")


def test_two_officers_completing_the_same_step_exactly_one_wins(db: Database) -> None:
    runtime = race_runtime()
    with db.session() as session:
        cases = accept_cases(session, runtime, SAME_STEP_CASES)
        versions = {}
        for case in cases:
            step_id, department = case.steps["a"]
            versions[case.id] = claim_step(session, runtime, step_id=step_id, actor=officer(department)).version

    def complete(case: RaceCase, who: str) -> Work:
        # The assignee completing from two desks (two tabs) at once: only the assignee may complete a
        # claimed step at all (a colleague is refused outright, see tests/engine/machine/test_claims.py).
        step_id, department = case.steps["a"]
        actor = officer(department)

        def work(session: Session, go: Callable[[], object]) -> object:
            open_case(session, case.id)
            go()
            return complete_step(session, runtime, step_id=step_id, actor=actor, outputs={"by": who},
                                 expected_version=versions[case.id])

        return work

    pairs = [(complete(case, "first"), complete(case, "second")) for case in cases]
    results = Workers(db.sessions).run_pairs(pairs, 8)
    for case, pair in zip(cases, results):
        winners = [r for r in pair if not isinstance(r, DomainError)]
        losers = [r for r in pair if isinstance(r, DomainError)]
        assert len(winners) == 1 and len(losers) == 1, f"case {case.id}: {pair}"
        assert isinstance(losers[0], (StaleVersion, IllegalTransition)), losers[0]

    ids = [case.id for case in cases]
    with db.session() as session:
        assert verify_audit(session).ok
        check_no_lost_update(session, ids)
        events = history(session, ids)
        for case in cases:
            step_id, _ = case.steps["a"]
            step = session.get(Step, step_id)
            assert step is not None and step.state == StepState.DONE
            assert step.version == versions[case.id] + 1
            assert sum(e.action == "step.complete" and e.step_id == step_id for e in events[case.id]) == 1
