"""The deadline sweep seals the audit chain heads at the end of each pass, when a key is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from engine.records.audit import verify_audit
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.db.models import AuditSealEntry
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime, publish_bundles
from engine.settings import get_settings
from engine.spec.loader import BundleRegistry
from flows.context import FlowContext, use_context
from flows.sweep import deadline_sweep
from tests.conftest import Database
from tests.engine.sample_people import CLERK, GROOM, marriage_answers

pytestmark = pytest.mark.prefect_server  # its flows run against the run's one Prefect server

KEY = "sweep test key"


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("ONEVISIT_AUDIT_KEY", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_the_sweep_seals_the_audit_heads_only_with_a_key(
    db: Database, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock,
    settings_env: pytest.MonkeyPatch,
) -> None:
    runtime = Runtime(registry=registry, calendar=calendar, clock=clock)
    use_context(FlowContext(db.sessions, runtime))
    try:
        with db.session() as session:
            publish_bundles(session, runtime)
            case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                               answers=marriage_answers(), actor=CLERK)
        quiet = {"timers_released": 0, "supplements_lapsed": 0, "deferred_reminded": 0, "officers_reminded": 0,
                 "yellow_cards": 0, "red_cards": 0,
                 "cards_resolved": 0}
        assert deadline_sweep() == quiet
        with db.session() as session:
            assert session.scalars(select(AuditSealEntry)).all() == []
            assert not verify_audit(session).seals_verified

        settings_env.setenv("ONEVISIT_AUDIT_KEY", KEY)
        get_settings.cache_clear()
        assert deadline_sweep() == quiet  # the counts are unchanged; the seal is logged
        with db.session() as session:
            sealed = session.execute(select(AuditSealEntry.seal_number, AuditSealEntry.case_id, AuditSealEntry.seq))
            assert [tuple(row) for row in sealed] == [(1, case.id, case.audit_seq)]
            report = verify_audit(session, key=KEY)
            assert report.ok and (report.seals, report.unsealed_events) == (1, 0)
    finally:
        use_context(None)
