"""Distributed mode end to end, on real processes: a PostgreSQL-backed ``prefect server``, two
``onevisit worker`` processes serving the deployments and two API replicas on one engine
database. Fifty cases (25 in the README's quick run) with four automated steps each; one worker is killed with SIGKILL while
it holds claimed messages; every automated step still completes exactly once (audit log),
nothing is left claimed, dead or unprocessed, and no process outlives the test.

Every wait has a generous deadline (minutes): nothing depends on Prefect starting quickly.
"""

from __future__ import annotations

import signal
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, OutboxMessage, Step
from engine.db.session import make_engine, make_sessionmaker
from engine.people.identifiers import make_id_number
from tests.conftest import scaled
from tests.flows.cluster import AUTOMATED_PER_CASE, Cluster, pg_server_url, write_test_bundles

SERVER = pg_server_url()
pytestmark = pytest.mark.skipif(SERVER is None, reason="needs a PostgreSQL server (ONEVISIT_TEST_PG or 127.0.0.1:5432)")

CASES = scaled(25, 35)
LEASE_SECONDS = 8


def automated_done(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Step)
                          .where(Step.kind == "automated", Step.state == "done")) or 0


def held_by(session: Session, prefix: str) -> list[int]:
    session.rollback()
    return list(session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.claimed_by.startswith(prefix), OutboxMessage.processed_at.is_(None),
        OutboxMessage.claimed_until.is_not(None))))


def test_two_workers_and_two_replicas_complete_every_automated_step_once_despite_a_sigkill(tmp_path: Path) -> None:
    assert SERVER is not None
    cluster = Cluster(tmp_path, SERVER)
    began = time.monotonic()

    def phase(what: str) -> None:  # shown with -s: where the minutes go on a loaded machine
        print(f"[{time.monotonic() - began:6.1f} s] {what}")

    engine = None
    try:
        engine_db = cluster.create_database("onevisit_dist")
        cluster.prefect_server()
        phase("prefect server up")
        env = cluster.base_env(ONEVISIT_DB=engine_db, ONEVISIT_BUNDLES_DIR=str(write_test_bundles(tmp_path / "b")))
        cluster.onevisit("db", "upgrade", env=env)  # the one step that migrates
        replicas = [cluster.api_replica("api-1", env), cluster.api_replica("api-2", env)]
        phase("database migrated, two API replicas up")
        token = cluster.onevisit("token", "issue", "clerk", "--region", "430102", "--label", "dist test",
                                 env=env).strip().splitlines()[-1]
        clerk = {"Authorization": f"Bearer {token}"}

        case_ids = []
        with httpx.Client(timeout=60) as client:
            for i in range(CASES):
                groom = make_id_number("430102", date(1990, 1, 1) + timedelta(days=i), (2 * i + 1) % 1000)
                created = client.post(f"{replicas[i % 2]}/cases", headers=clerk, json={
                    "bundle_id": "dist_demo", "applicant": {"id": groom, "kind": "person", "name": f"测试{i}"},
                    "answers": {"groom_name": f"测试{i}", "groom_id_number": groom}})
                assert created.status_code == 201, created.text
                case_ids.append(created.json()["case_id"])

        phase(f"{CASES} cases accepted")
        engine = make_engine(engine_db)
        sessions = make_sessionmaker(engine)
        total = CASES * AUTOMATED_PER_CASE
        # Two workers on the same deployments; small batches so a run holds claims for a while.
        options = ("--dispatch-every", "5", "--sweep-every", "30", "--lease", str(LEASE_SECONDS), "--batch", "20")
        cluster.worker("worker-a", env, *options)
        cluster.worker("worker-b", env, *options)

        killed, held_at_kill = None, []
        deadline = time.monotonic() + 300
        with sessions() as session:
            while killed is None and time.monotonic() < deadline:
                cluster.check_running("worker-a", "worker-b")
                done = automated_done(session)
                assert done < total, "every step finished before a worker could be killed mid-batch"
                for name in ("worker-a", "worker-b"):
                    held = held_by(session, name)
                    if done >= 10 and held:
                        cluster.kill(name, signal.SIGKILL)
                        killed, held_at_kill = name, held
                        break
                time.sleep(0.1)
            assert killed is not None, "no worker claimed work within the deadline\n" + cluster.tail("worker-a")
            phase(f"{killed} killed holding {len(held_at_kill)} claims")

            survivor = "worker-b" if killed == "worker-a" else "worker-a"
            while automated_done(session) < total and time.monotonic() < deadline + 300:
                cluster.check_running(survivor)
                time.sleep(0.5)
            assert automated_done(session) == total, cluster.tail(survivor, 80)
            phase("every automated step done")

            session.rollback()
            steps = list(session.scalars(select(Step).where(Step.kind == "automated")))
            assert len(steps) == total
            events = {step_id: count for step_id, count in session.execute(
                select(AuditEvent.step_id, func.count()).where(AuditEvent.action == "step.complete",
                                                               AuditEvent.step_id.in_([s.id for s in steps]))
                .group_by(AuditEvent.step_id))}
            assert set(events.values()) == {1} and len(events) == total  # exactly once each
            messages = list(session.scalars(select(OutboxMessage)))
            assert len(messages) == total
            assert all(m.processed_at is not None and m.dead_at is None for m in messages)  # nothing stuck
            taken_over = [m for m in messages if "stopped before finishing" in m.last_error]
            assert taken_over and {m.id for m in taken_over} <= set(held_at_kill)
            assert all(m.claimed_by and m.claimed_by.startswith(survivor) for m in taken_over)
            reviews = session.scalars(select(Step.state).where(Step.step_key == "review")).all()
            assert reviews == ["ready"] * CASES  # every case moved on to its officer
            assert session.scalar(select(func.count()).select_from(Case)) == CASES

        # Either replica shows any case (one engine database), and the audit chains are intact.
        with httpx.Client(timeout=60) as client:
            status = client.get(f"{replicas[1]}/cases/{case_ids[0]}", headers=clerk).json()
        assert [s["state"] for s in status["steps"]] == ["done"] * AUTOMATED_PER_CASE + ["ready"]
        assert "audit chain OK" in cluster.onevisit("audit", "verify", env=env)
        assert "nothing stuck" in cluster.onevisit("outbox", env=env)
        phase("checked")
    finally:
        if engine is not None:
            engine.dispose()
        left = cluster.close()
        phase("every process stopped")
    assert left == [], f"processes left behind: {left}"
