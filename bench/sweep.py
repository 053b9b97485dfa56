"""The deadline sweep's cards on many open steps, 1 % of them overdue: the first pass (yellow and
red cards issued), the next pass once those steps are done (their open cards resolved) and the
empty pass (nothing due) — against raw SQL doing the same inserts and updates on a table of the
cards' shape. The data is seeded with plain inserts (this row measures the sweep, not intake)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, insert, text

from bench.common import Figure, median, seconds
from engine.db.models import Case, Step
from engine.db.session import make_sessionmaker
from engine.runtime import Runtime
from engine.spec.loader import load_registry
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.time.supervision import issue_cards, red_cutoff, resolve_cards

TODAY = date(2026, 6, 1)
PEER = "bench_peer_cards"


def seed(engine: Engine, steps: int) -> None:
    """``steps`` open steps in cases of four, every hundredth due 10 days before :data:`TODAY`."""
    now = datetime(2026, 5, 1, 1, tzinfo=UTC)
    cases, rows = [], []
    for c in range(steps // 4):
        case_id = uuid.uuid4().hex
        cases.append({"id": case_id, "receipt_no": f"430102-BENCH-{c:07d}", "bundle_id": "marriage", "bundle_version": 1,
                      "spec_hash": "x", "applicant_id": f"{c:018d}", "applicant_kind": "person", "applicant_name": "",
                      "region": "430102", "state": "in_progress", "version": 0, "answers": {}, "created_by": "bench",
                      "accepted_at": now, "accepted_on": now.date(), "due_on": TODAY + timedelta(days=60),
                      "due_provisional": False, "paused_days": 0, "audit_seq": 0, "audit_head": ""})
        for j in range(4):
            n = 4 * c + j
            rows.append({"id": uuid.uuid4().hex, "case_id": case_id, "step_key": f"s{j}", "instance": 0, "position": j,
                         "receipt_no": cases[-1]["receipt_no"],
                         "item_code": "11-JHDJ", "department": "11", "kind": "human", "state": "ready",
                         "version": 1, "office": "11@430102", "outputs": {}, "entry": {},
                         "due_on": TODAY - timedelta(days=10) if n % 100 == 0 else TODAY + timedelta(days=20)})
    with engine.begin() as conn:
        for start in range(0, len(cases), 2000):
            conn.execute(insert(Case), cases[start:start + 2000])
        for start in range(0, len(rows), 4000):
            conn.execute(insert(Step), rows[start:start + 4000])
        serial = "BIGSERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
        conn.execute(text(f"CREATE TABLE {PEER} (id {serial} PRIMARY KEY, case_id VARCHAR(32), step_id VARCHAR(32), "
                          "colour VARCHAR(8), reason TEXT, region VARCHAR(12), issued_on DATE, resolved_at TIMESTAMP, "
                          "UNIQUE (step_id, colour))"))


def _peer_issue(engine: Engine, red_before: date) -> None:
    with engine.begin() as conn:
        for colour, cutoff in (("yellow", TODAY - timedelta(days=1)), ("red", red_before)):
            conn.execute(text(
                f"INSERT INTO {PEER} (case_id, step_id, colour, reason, region, issued_on) "
                "SELECT s.case_id, s.id, :colour, 'late', c.region, :today FROM steps s JOIN cases c ON c.id = s.case_id "
                "WHERE s.state IN ('ready', 'assigned', 'in_progress') AND s.due_on <= :cutoff "
                "AND s.clock_stopped_on IS NULL ON CONFLICT DO NOTHING"), {"colour": colour, "cutoff": cutoff, "today": TODAY})


def _peer_resolve(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {PEER} SET resolved_at = :now WHERE resolved_at IS NULL AND step_id IN "
                          "(SELECT id FROM steps WHERE state IN ('done', 'rejected', 'skipped', 'cancelled'))"),
                     {"now": datetime(2026, 6, 1, 2, tzinfo=UTC)})


def run(engine: Engine, *, backend: str, steps: int, rounds: int) -> list[Figure]:
    seed(engine, steps)
    sessions = make_sessionmaker(engine)
    clock = FixedClock(datetime(2026, 6, 1, 1, tzinfo=UTC))
    runtime = Runtime(registry=load_registry(), calendar=WorkingCalendar.default(), clock=clock)
    red_before = red_cutoff(runtime.calendar, TODAY, 5)

    def our_pass() -> None:
        with sessions() as session:
            issue_cards(session, runtime, red_after_working_days=5)
            resolve_cards(session, runtime)

    def peer_pass() -> None:
        _peer_issue(engine, red_before)
        _peer_resolve(engine)

    first: tuple[list[float], list[float]] = ([], [])
    following: tuple[list[float], list[float]] = ([], [])
    empty: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        with engine.begin() as conn:  # each round from the same start: overdue steps open, no cards
            conn.execute(text("DELETE FROM cards"))
            conn.execute(text(f"DELETE FROM {PEER}"))
            conn.execute(text("UPDATE steps SET state = 'ready' WHERE due_on < :today"), {"today": TODAY})
        first[0].append(seconds(our_pass) * 1000)
        first[1].append(seconds(peer_pass) * 1000)
        with engine.begin() as conn:  # the offices catch up: the overdue steps are done
            conn.execute(text("UPDATE steps SET state = 'done' WHERE due_on < :today"), {"today": TODAY})
        following[0].append(seconds(our_pass) * 1000)
        following[1].append(seconds(peer_pass) * 1000)
        empty[0].append(seconds(our_pass) * 1000)  # nothing due, every card resolved
        empty[1].append(seconds(peer_pass) * 1000)
    label = f"{steps:,} open steps, 1 % overdue ({backend})"
    return [
        Figure(key=f"sweep_first_pass_{backend}", label=f"sweep, first pass, {label}", ours=median(first[0]),
               peer=median(first[1]), unit="ms", better="lower", target="≤ 3× raw SQL"),
        Figure(key=f"sweep_next_pass_{backend}", label=f"sweep, next pass (open cards resolved), {label}",
               ours=median(following[0]), peer=median(following[1]), unit="ms", better="lower", target="≤ 3× raw SQL"),
        Figure(key=f"sweep_empty_pass_{backend}", label=f"sweep, empty pass, {label}", ours=median(empty[0]),
               peer=median(empty[1]), unit="ms", better="lower", target="≤ 50 ms at 1M open steps"),
    ]
