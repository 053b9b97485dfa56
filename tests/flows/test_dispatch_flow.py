"""The Prefect flows, run for real (Prefect's local mode) against a real database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.db.models import AuditEvent, Case, OutboxMessage
from engine.machine.intake import Applicant, accept_case
from engine.runtime import publish_bundles
from engine.spec.loader import BundleRegistry
from engine.machine.states import StepState
from flows.context import FlowContext, use_context
from flows.deployments import Schedules, department_limits
from flows.dispatch import _chunks, dispatch_outbox
from flows.sweep import deadline_sweep
from flows.worker import run_worker
from engine.machine.dispatch import Claimed
from tests.conftest import Database
from tests.engine.automated import automated_runtime
from tests.engine.sample_people import CLERK, GROOM

pytestmark = pytest.mark.prefect_server  # its flows run against the run's one Prefect server

NOTHING = {"completed": 0, "refused": 0, "stale": 0, "failed": 0, "dead": 0, "waiting": 0}


def test_dispatch_and_sweep_flows_drive_automated_and_timer_steps(
    db: Database, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = automated_runtime(registry, calendar, clock)
    use_context(FlowContext(db.sessions, runtime))
    try:
        with db.session() as session:
            publish_bundles(session, runtime)
            cases = [
                accept_case(session, runtime, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                            answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
                for _ in range(3)
            ]
        assert dispatch_outbox() == {**NOTHING, "completed": 3}  # one flow run, three steps
        assert dispatch_outbox() == NOTHING  # nothing is run twice
        with db.session() as session:
            for case in (session.get_one(Case, c.id) for c in cases):
                check, publicity, decide = case.steps
                assert check.state == StepState.DONE and check.outputs["verified"] == ["groom_id_number", "groom_name"]
                assert publicity.state == StepState.READY
                assert publicity.not_before == runtime.today() + timedelta(days=5)
            assert all(m.processed_at for m in session.scalars(select(OutboxMessage)))
            completions = session.scalar(select(func.count()).select_from(AuditEvent)
                                         .where(AuditEvent.action == "step.complete"))
            assert completions == 3
        quiet = {"timers_released": 0, "supplements_lapsed": 0, "deferred_reminded": 0, "officers_reminded": 0,
                 "yellow_cards": 0, "red_cards": 0,
                 "cards_resolved": 0}
        assert deadline_sweep() == quiet  # the publicity period is still running
        clock.advance(days=5)
        assert deadline_sweep() == {**quiet, "timers_released": 3}
        with db.session() as session:
            for case in (session.get_one(Case, c.id) for c in cases):
                assert [s.state for s in case.steps] == ["done", "done", "ready"]
    finally:
        use_context(None)


def test_run_worker_runs_the_flows_in_process_until_stopped(
    db: Database, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = automated_runtime(registry, calendar, clock)
    with db.session() as session:
        publish_bundles(session, runtime)
        case = accept_case(session, runtime, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                           answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
    stop = threading.Event()
    passes: list[tuple[str, object]] = []

    def on_pass(part: str, result: object) -> None:
        passes.append((part, result))
        if part == "dispatch" and isinstance(result, dict) and result["completed"]:
            stop.set()

    worker = threading.Thread(target=run_worker, args=(FlowContext(db.sessions, runtime),),
                              kwargs={"stop": stop, "dispatch_every": 0.5, "on_pass": on_pass})
    worker.start()
    worker.join(timeout=600)  # generous: the first flow run of a fresh Prefect home starts its own API
    stop.set()
    worker.join()
    assert ("limits", {"departments": len(registry.catalog.departments)}) in passes
    assert ("dispatch", {**NOTHING, "completed": 1}) in passes, passes
    with db.session() as session:
        assert session.get_one(Case, case.id).steps[0].state == StepState.DONE


def test_work_is_cut_per_department_and_limits_come_from_the_catalog(registry: BundleRegistry) -> None:
    claimed = [Claimed(i, "11" if i % 3 else "31", "b") for i in range(1, 26)]
    chunks = _chunks(claimed, 5)
    assert sorted(len(ids) for department, ids in chunks if department == "11") == [4, 4, 4, 5]
    assert sorted(len(ids) for department, ids in chunks if department == "31") == [4, 4]
    assert sorted(i for _, ids in chunks for i in ids) == list(range(1, 26))
    limits = department_limits(registry.catalog, default=3)
    assert set(limits) == {f"department:{code}" for code in registry.catalog.departments}
    assert set(limits.values()) == {3}
    parameters = Schedules(dispatch_every=5).dispatch_parameters()
    assert parameters["linger_seconds"] > 5  # an idle run waits for the next one
