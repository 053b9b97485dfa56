"""Automated steps through Prefect: one ``onevisit worker`` on a PostgreSQL-backed Prefect server,
beside the naive one-flow-run-per-step baseline, measured in the same run.

    .venv/bin/python bench/prefect_dispatch.py [--cases 100] [--paced-seconds 20] [--baseline-steps 40]

Needs PostgreSQL (``ONEVISIT_TEST_PG`` or 127.0.0.1:5432): it creates and drops its own engine
and Prefect databases and starts its own ``prefect server``. Prints figures and ratios, not
pass/fail:

* backlog throughput: ``--cases`` cases (four automated steps each, in four departments, one
  join and a chain) accepted before the worker starts; steps per second from the first
  completion to the last, through the served ``dispatch-outbox`` deployment;
* latency: cases accepted at a steady pace while the worker runs; time from an automated
  step's release (its ``run_step`` outbox message) to its completion (``closed_at``), p50 and p99;
* baseline: the same steps, one Prefect flow run per step, called in this process (the
  cheapest form of a flow run: no deployment, no process start).

Targets on the two-core reference machine: at least 20 steps/s and 5x the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from engine.db.models import OutboxMessage, Step  # noqa: E402
from engine.db.session import make_engine, make_sessionmaker, migrate  # noqa: E402
from engine.people.identifiers import make_id_number  # noqa: E402
from engine.machine.intake import Applicant, accept_case  # noqa: E402
from engine.runtime import Runtime, publish_bundles  # noqa: E402
from engine.spec.loader import FIELDS_FILE, load_registry  # noqa: E402
from engine.time.calendar import WorkingCalendar  # noqa: E402
from engine.machine.states import Actor, Role  # noqa: E402
from tests.flows.cluster import AUTOMATED_PER_CASE, Cluster, pg_server_url, write_test_bundles  # noqa: E402

CLERK = Actor(id="bench-clerk", role=Role.CLERK, region="430102")


def accept(session: Session, runtime: Runtime, i: int) -> None:
    groom = make_id_number("430102", date(1960, 1, 1) + timedelta(days=i), (2 * i + 1) % 1000)
    accept_case(session, runtime, bundle_id="dist_demo", applicant=Applicant(groom, "person"),
                answers={"groom_name": f"测试{i}", "groom_id_number": groom}, actor=CLERK)


def open_messages(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.processed_at.is_(None))) or 0


def wait_drained(sessions: sessionmaker[Session], *, deadline_seconds: float, cluster: Cluster) -> None:
    deadline = time.monotonic() + deadline_seconds
    while open_messages(sessions) and time.monotonic() < deadline:
        cluster.check_running("worker")
        time.sleep(0.2)
    if open_messages(sessions):
        raise SystemExit(f"outbox not drained within {deadline_seconds:.0f} s\n{cluster.tail('worker')}")


def completion_window(sessions: sessionmaker[Session], since: datetime) -> tuple[int, float]:
    """Automated steps completed since ``since`` and the seconds from the first to the last."""
    with sessions() as session:
        n, first, last = session.execute(
            select(func.count(), func.min(Step.closed_at), func.max(Step.closed_at))
            .where(Step.kind == "automated", Step.closed_at >= since)).one()
    return int(n), (last - first).total_seconds() if n else 0.0


def latencies(sessions: sessionmaker[Session], since: datetime) -> list[float]:
    with sessions() as session:
        # An automated step's release writes its run_step message at the release time.
        rows = session.execute(select(OutboxMessage.created_at, Step.closed_at)
                               .join(Step, Step.id == OutboxMessage.step_id)
                               .where(OutboxMessage.topic == "run_step", OutboxMessage.created_at >= since,
                                      Step.closed_at.is_not(None))).all()
    return sorted((closed - ready).total_seconds() for ready, closed in rows)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def baseline(sessions: sessionmaker[Session], runtime: Runtime, *, steps: int) -> float:
    """Steps per second with one Prefect flow run per step, in this process."""
    from prefect import flow

    from engine.machine.dispatch import pending_message_ids, process_message

    @flow(name="naive-one-step")
    def one_step(message_id: int) -> str:
        with sessions() as session:
            return process_message(session, runtime, message_id=message_id).outcome.value

    with sessions() as session:
        for i in range(-(-steps // AUTOMATED_PER_CASE)):
            accept(session, runtime, 15_000 + i)
    done, began = 0, time.perf_counter()
    while done < steps:
        with sessions() as session:
            due = pending_message_ids(session, runtime, limit=steps - done)
        if not due:
            break
        for message_id in due:
            one_step(message_id)
            done += 1
    return done / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100, help="backlog cases (four automated steps each)")
    parser.add_argument("--paced-seconds", type=float, default=20.0, help="how long cases arrive at a steady pace")
    parser.add_argument("--pace", type=float, default=2.0, help="cases per second while paced")
    parser.add_argument("--baseline-steps", type=int, default=40, help="steps run one flow run each")
    args = parser.parse_args()
    server = pg_server_url()
    if server is None:
        raise SystemExit("needs PostgreSQL (ONEVISIT_TEST_PG or postgresql://postgres@127.0.0.1:5432)")
    workdir = Path(tempfile.mkdtemp(prefix="onevisit-bench-prefect-"))
    cluster = Cluster(workdir, server)
    engine = None
    try:
        engine_url = cluster.create_database("onevisit_bench")
        api = cluster.prefect_server()
        bundles = write_test_bundles(workdir / "bundles")
        engine = make_engine(engine_url, pool_size=10)
        migrate(engine)
        sessions = make_sessionmaker(engine)
        runtime = Runtime(registry=load_registry(bundles, FIELDS_FILE), calendar=WorkingCalendar.default())
        with sessions() as session:
            publish_bundles(session, runtime)
            began = time.perf_counter()
            for i in range(args.cases):
                accept(session, runtime, i)
        steps = args.cases * AUTOMATED_PER_CASE
        print(f"backlog: {args.cases} cases, {steps} automated steps accepted in {time.perf_counter() - began:.1f} s")

        env = cluster.base_env(ONEVISIT_DB=engine_url, ONEVISIT_BUNDLES_DIR=str(bundles))
        backlog_since = datetime.now(UTC)
        started = time.perf_counter()
        cluster.worker("worker", env, "--dispatch-every", "10")
        wait_drained(sessions, deadline_seconds=600, cluster=cluster)
        drained_after = time.perf_counter() - started
        n, window = completion_window(sessions, backlog_since)
        throughput = (n - 1) / window if window else float("nan")
        print(f"worker start to backlog drained: {drained_after:.1f} s, of which the first flow run's start-up "
              f"{drained_after - window:.1f} s (Prefect server {api})")
        print(f"through Prefect, one worker: {n} steps in {window:.1f} s = {throughput:.1f} steps/s")

        paced_since = datetime.now(UTC)
        with sessions() as session:
            i, t0 = args.cases, time.perf_counter()
            while time.perf_counter() - t0 < args.paced_seconds:
                accept(session, runtime, i)
                i += 1
                time.sleep(max(0.0, t0 + (i - args.cases) / args.pace - time.perf_counter()))
        wait_drained(sessions, deadline_seconds=300, cluster=cluster)
        lat = latencies(sessions, paced_since)
        print(f"latency, release to completion ({len(lat)} steps at {args.pace * AUTOMATED_PER_CASE:.0f} "
              f"steps/s offered): p50 {percentile(lat, 0.5):.2f} s, p99 {percentile(lat, 0.99):.2f} s, "
              f"mean {statistics.fmean(lat):.2f} s")
        cluster.kill("worker")
        cluster.processes["worker"].wait(timeout=30)

        os.environ["PREFECT_API_URL"] = api
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        naive = baseline(sessions, runtime, steps=args.baseline_steps)
        print(f"baseline, one flow run per step (in process, same server): {naive:.1f} steps/s")
        print(f"ratio dispatch/baseline: {throughput / naive:.1f}x  "
              f"(targets: >= 20 steps/s {'met' if throughput >= 20 else 'NOT met'}, "
              f">= 5x {'met' if throughput >= 5 * naive else 'NOT met'})")
    finally:
        if engine is not None:
            engine.dispose()
        left = cluster.close()
        if left:
            print(f"processes left behind: {left}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
