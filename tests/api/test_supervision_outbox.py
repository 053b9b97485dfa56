"""Issue 8: a dead letter (an automated step that stopped retrying) shows on the supervision page,
with its receipt, step, office and last error — never silently stuck."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.machine.dispatch import MAX_ATTEMPTS, drain_outbox, outbox_health
from engine.machine.handlers import HandlerContext
from engine.spec.loader import BundleRegistry
from engine.people.tokens import issue_token
from tests.conftest import Database
from tests.engine.machine.test_dispatch import new_case, with_check


def test_a_dead_letter_shows_on_the_supervision_page(
    db: Database, session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    def down(_ctx: HandlerContext) -> dict[str, Any]:
        raise TimeoutError("民政 interface timed out")

    runtime = with_check(registry, calendar, clock, down)
    case = new_case(session, runtime)
    supervisor = issue_token(session, role="supervisor", region="430100", label="监察员", now=clock.now())
    client = TestClient(create_app(sessions=db.sessions, runtime=runtime))
    headers = {"Authorization": f"Bearer {supervisor}"}
    page = client.get("/ui/supervision", headers=headers)
    assert page.status_code == 200 and 'id="dead-letters"' not in page.text
    assert '<b id="outbox-due">1</b>' in page.text  # waiting for its first run
    for _ in range(MAX_ATTEMPTS):
        drain_outbox(session, runtime)
        clock.advance(hours=2)
    assert outbox_health(session, runtime).dead == 1
    page = client.get("/ui/supervision", headers=headers)
    assert page.status_code == 200 and 'id="dead-letters"' in page.text
    assert case.receipt_no in page.text and "TimeoutError: 民政 interface timed out" in page.text
    assert f">{MAX_ATTEMPTS}<" in page.text
    # Another region's supervisor does not see it.
    other = issue_token(session, role="supervisor", region="430200", label="监察员 2", now=clock.now())
    elsewhere = client.get("/ui/supervision", headers={"Authorization": f"Bearer {other}"})
    assert elsewhere.status_code == 200 and 'id="dead-letters"' not in elsewhere.text
