"""The Prefect flows, run for real in local mode against a real database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.clock import FixedClock
from engine.db.models import Case, OutboxMessage
from engine.intake import Applicant, accept_case
from engine.runtime import publish_bundles
from engine.spec.loader import BundleRegistry
from engine.states import StepState
from flows.context import FlowContext, use_context
from flows.dispatch import bundle_flow, dispatch_outbox
from flows.sweep import deadline_sweep
from tests.conftest import Database
from tests.engine.automated import automated_runtime
from tests.engine.people import CLERK, GROOM


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
        assert bundle_flow("automated_demo").name == "bundle-automated-demo"
        assert dispatch_outbox() == {"automated_demo": 3}
        assert dispatch_outbox() == {}  # nothing is run twice
        with db.session() as session:
            for case in (session.get_one(Case, c.id) for c in cases):
                check, publicity, decide = case.steps
                assert check.state == StepState.DONE and check.outputs["verified"] == ["groom_id_number", "groom_name"]
                assert publicity.state == StepState.READY
                assert publicity.not_before == runtime.today() + timedelta(days=5)
            assert all(m.processed_at for m in session.scalars(select(OutboxMessage)))
        quiet = {"timers_released": 0, "yellow_cards": 0, "red_cards": 0, "cards_resolved": 0}
        assert deadline_sweep() == quiet  # the publicity period is still running
        clock.advance(days=5)
        assert deadline_sweep() == {**quiet, "timers_released": 3}
        with db.session() as session:
            for case in (session.get_one(Case, c.id) for c in cases):
                assert [s.state for s in case.steps] == ["done", "done", "ready"]
    finally:
        use_context(None)
