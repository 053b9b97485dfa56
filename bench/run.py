"""Benchmarks: intake, step completion and due-date arithmetic, each beside a peer.

    .venv/bin/python bench/run.py [--cases 300] [--pg postgresql+psycopg://postgres@127.0.0.1/test]

Peers: a bare SQLAlchemy insert of the same rows (case, 4 steps, audit events) without any
engine logic, and a naive day-by-day working-day loop. Figures are printed with the ratio
engine/peer, so a regression shows as a ratio moving, whatever the machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from engine.time.calendar import TimeUnit, WorkingCalendar  # noqa: E402
from engine.time.clock import FixedClock  # noqa: E402
from engine.db.models import AuditEvent, Base, Case, Step  # noqa: E402
from engine.db.session import make_engine, make_sessionmaker, migrate  # noqa: E402
from engine.people.identifiers import make_id_number  # noqa: E402
from engine.machine.intake import Applicant, accept_case  # noqa: E402
from engine.runtime import Runtime, publish_bundles  # noqa: E402
from engine.spec.loader import load_registry  # noqa: E402
from engine.machine.states import Actor, Role  # noqa: E402
from engine.machine.actions import claim_step, complete_step  # noqa: E402

CLERK = Actor(id="bench-clerk", role=Role.CLERK, region="430102")


def timed(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / n


def answers(i: int) -> tuple[str, dict[str, object]]:
    groom = make_id_number("430102", date(1990, 1, 1) + timedelta(days=i), (2 * i + 1) % 1000)
    bride = make_id_number("430104", date(1992, 1, 1) + timedelta(days=i), (2 * i) % 1000)
    return groom, {
        "groom_name": f"测试{i}", "groom_id_number": groom, "bride_name": f"测试{i}乙", "bride_id_number": bride,
        "applicant_phone": "13800000000", "previously_married": False, "both_hunan_household": True,
        "move_household": True, "receiving_household_type": "family", "register_birth_plan": True,
    }


def bench_backend(url: str, cases: int, label: str) -> dict[str, float]:
    engine = make_engine(url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    clock = FixedClock(datetime(2026, 3, 2, 1, tzinfo=UTC))
    runtime = Runtime(registry=load_registry(), calendar=WorkingCalendar.default(), clock=clock)
    with sessions() as session:
        publish_bundles(session, runtime)
    prepared = [answers(i) for i in range(cases)]
    created: list[str] = []

    def intake() -> None:
        with sessions() as session:
            for applicant_id, form in prepared:
                case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(applicant_id, "person"),
                                   answers=form, actor=CLERK)
                created.append(case.steps[0].id)

    def complete() -> None:
        with sessions() as session:
            for step_id in created:
                officer = Actor(id="bench-officer", role=Role.OFFICER, department="11")
                claim_step(session, runtime, step_id=step_id, actor=officer)
                complete_step(session, runtime, step_id=step_id, actor=officer)

    def peer() -> None:
        # The same rows a marriage intake writes (1 case, 4 steps, ~9 audit events), no logic.
        with sessions() as session:
            for i, (applicant_id, form) in enumerate(prepared):
                now = datetime.now(UTC)
                cid = uuid.uuid4().hex
                session.add(Case(id=cid, receipt_no=f"peer-{label}-{i}", bundle_id="marriage", bundle_version=1,
                                 spec_hash="x", applicant_id=applicant_id, applicant_kind="person", region="430102",
                                 state="accepted", answers=form, created_by="peer", accepted_at=now,
                                 accepted_on=now.date(), due_on=now.date()))
                for j in range(4):
                    session.add(Step(id=uuid.uuid4().hex, case_id=cid, step_key=f"s{j}", position=j, item_code="x",
                                     department="11", kind="human", state="pending"))
                for seq in range(1, 10):
                    session.add(AuditEvent(case_id=cid, seq=seq, actor_id="peer", role="system", at=now,
                                           action="x", payload={}, prev_hash="0" * 64, hash="0" * 64))
                session.commit()

    results = {
        "intake": timed(intake, cases),
        "peer_insert": timed(peer, cases),
        "claim+complete": timed(complete, cases) / 2,
    }
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # audit tables refuse TRUNCATE
            conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()
    return results


def bench_calendar() -> dict[str, float]:
    calendar = WorkingCalendar.default()
    starts = [date(2025, 1, 1) + timedelta(days=i) for i in range(700)]

    def engine_due() -> None:
        for start in starts:
            calendar.due(start, 30, TimeUnit.WORKING_DAYS)

    def naive_due() -> None:
        for start in starts:
            day, left = start, 30
            while left:
                day += timedelta(days=1)
                left -= calendar.is_working_day(day)

    engine_due()  # build the year arrays once, outside the timing
    return {"due_30wd": timed(engine_due, len(starts)), "naive_loop": timed(naive_due, len(starts))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="onevisit-bench-"))
    backends = {"sqlite": f"sqlite:///{tmp / 'bench.db'}"}
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:6]}"
        admin = make_engine(args.pg)
        try:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            backends["postgresql"] = f"{args.pg}?options=-csearch_path%3D{schema}"
        except Exception as exc:  # noqa: BLE001
            print(f"postgresql: skipped ({exc.__class__.__name__})")
    print(f"onevisit bench: {args.cases} marriage cases per backend")
    for name, url in backends.items():
        r = bench_backend(url, args.cases, name)
        print(f"  {name:10s} intake {r['intake'] * 1000:7.2f} ms/case ({1 / r['intake']:6.0f} cases/s)   "
              f"peer bare insert {r['peer_insert'] * 1000:6.2f} ms   ratio {r['intake'] / r['peer_insert']:5.1f}x")
        print(f"  {name:10s} claim/complete {r['claim+complete'] * 1000:6.2f} ms/action")
    if "postgresql" in backends:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    c = bench_calendar()
    print(f"  calendar   due(+30 WD) {c['due_30wd'] * 1e6:6.1f} µs   naive day loop {c['naive_loop'] * 1e6:6.1f} µs   "
          f"ratio {c['due_30wd'] / c['naive_loop']:.3f}x")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
