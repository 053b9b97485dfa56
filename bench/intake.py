"""Intake in process: accepting a marriage case through the engine (validation, prefill, waivers,
routing, clocks, the audit chain, one transaction) against bare SQLAlchemy inserting the same
rows (the case, its four steps, its audit events) with no logic at all (the floor)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from bench.common import Figure, median, per_item
from engine.db.models import AuditEvent, Case, Step
from engine.db.session import make_sessionmaker
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, Role
from engine.people.identifiers import make_id_number
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import load_registry
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock

CLERK = Actor(id="bench-clerk", role=Role.CLERK, region="430102")


REGIONS = ("430102", "430103", "430104", "430105", "430111", "430112", "430121", "430181")


def answers(i: int) -> tuple[str, dict[str, object]]:
    """The ``i``-th couple: distinct ID numbers, both of age (birth dates wrap every 12,000 days,
    the household region changing with each wrap)."""
    wrap, day = divmod(i, 12_000)
    groom = make_id_number(REGIONS[(2 * wrap) % len(REGIONS)], date(1960, 1, 1) + timedelta(days=day), (2 * i + 1) % 1000)
    bride = make_id_number(REGIONS[(2 * wrap + 1) % len(REGIONS)], date(1962, 1, 1) + timedelta(days=day), (2 * i) % 1000)
    return groom, {
        "groom_name": f"测试{i}", "groom_id_number": groom, "bride_name": f"测试{i}乙", "bride_id_number": bride,
        "applicant_phone": "13800000000", "previously_married": False, "both_hunan_household": True,
        "move_household": True, "receiving_household_type": "family", "register_birth_plan": True,
    }


def run(engine: Engine, *, backend: str, cases: int, rounds: int) -> list[Figure]:
    sessions = make_sessionmaker(engine)
    runtime = Runtime(registry=load_registry(), calendar=WorkingCalendar.default(),
                      clock=FixedClock(datetime(2026, 3, 2, 1, tzinfo=UTC)))
    with sessions() as session:
        publish_bundles(session, runtime)
    counter = iter(range(10**9))

    def ours() -> int:
        with sessions() as session:
            for _ in range(cases):
                applicant_id, form = answers(next(counter))
                accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(applicant_id, "person"),
                            answers=form, actor=CLERK)
        return cases

    def peer() -> int:
        with sessions() as session:
            for _ in range(cases):
                i = next(counter)
                applicant_id, form = answers(i)
                now = datetime.now(UTC)
                case_id = uuid.uuid4().hex
                session.add(Case(id=case_id, receipt_no=f"peer-{i}", bundle_id="marriage", bundle_version=1,
                                 spec_hash="x", applicant_id=applicant_id, applicant_kind="person", region="430102",
                                 state="accepted", answers=form, created_by="peer", accepted_at=now,
                                 accepted_on=now.date(), due_on=now.date()))
                for j in range(4):
                    session.add(Step(id=uuid.uuid4().hex, case_id=case_id, step_key=f"s{j}", position=j, item_code="x",
                                     department="11", kind="human", state="pending"))
                for seq in range(1, 7):
                    session.add(AuditEvent(case_id=case_id, seq=seq, actor_id="peer", role="system", at=now,
                                           action="x", payload={}, prev_hash="0" * 64, hash=f"{case_id}{seq:032d}"))
                session.commit()
        return cases

    ours_ms, peer_ms = [], []
    for _ in range(rounds):
        ours_ms.append(per_item(ours) * 1000)
        peer_ms.append(per_item(peer) * 1000)
    return [Figure(key=f"intake_inprocess_{backend}", label=f"intake in process, marriage ({backend})",
                   ours=median(ours_ms), peer=median(peer_ms), unit="ms/case", better="lower",
                   target="≥ 0.5× the bare insert's throughput")]
