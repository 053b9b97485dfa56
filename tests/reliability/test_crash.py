"""Issue 7 (reliability): kill -9 the server during a stream of intakes; nothing is lost or doubled.

Clients send marriage intakes with Idempotency-Keys to a real ``onevisit serve`` process; the
server is killed with SIGKILL twice mid-stream and restarted on the same database; clients retry
what was not acknowledged with the same key and body. Afterwards every key has exactly one case,
every acknowledged case is there with its steps, and every audit chain verifies.

The README's run sends 60 intakes, CI (the thorough profile) 120; for the full run (1,500 intakes):
``ONEVISIT_CRASH_INTAKES=1500 .venv/bin/python -m pytest tests/reliability/test_crash.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from engine.records.audit import verify_audit
from engine.db.models import Case, Step
from engine.db.session import make_engine, make_sessionmaker
from engine.people.validators import make_id_number
from tests.api.test_cli import onevisit_script
from tests.conftest import BACKENDS, fresh_pg_database, scaled
from tests.engine.sample_people import marriage_answers

INTAKES = scaled(60, 90, env="ONEVISIT_CRASH_INTAKES")
CLIENTS = 4
START_DEADLINE = 300.0  # seconds: a loaded CI machine can be slow to import and migrate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
        return
    with fresh_pg_database("onevisit_crash") as url:
        yield url

class Server:
    """``onevisit serve`` in its own process group, killed with SIGKILL on demand."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url, self.workdir, self.port = url, workdir, _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, token: str) -> None:
        env = {**os.environ, "ONEVISIT_DB": self.url, "ONEVISIT_DATA_DIR": str(self.workdir / "data")}
        self.process = subprocess.Popen(
            [onevisit_script(), "serve", "--no-demo", "--no-flows", "--port", str(self.port)],
            cwd=self.workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "serve exited during start-up"
            try:
                if httpx.get(f"{self.base}/bundles", headers={"Authorization": f"Bearer {token}"},
                             timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"serve did not answer within {START_DEADLINE} s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _body(n: int) -> dict[str, Any]:
    groom = make_id_number("430102", date(1980, 1, 1) + timedelta(days=n), 11)
    bride = make_id_number("430104", date(1982, 1, 1) + timedelta(days=n), 22)
    return {"bundle_id": "marriage", "applicant": {"id": groom, "kind": "person", "name": "测试甲"},
            "answers": marriage_answers(groom_id_number=groom, bride_id_number=bride)}


def _issue_clerk_token(url: str, workdir: Path) -> str:
    env = {**os.environ, "ONEVISIT_DB": url}
    subprocess.run([onevisit_script(), "db", "upgrade"], cwd=workdir, env=env, check=True, capture_output=True)
    out = subprocess.run([onevisit_script(), "token", "clerk", "--region", "430102", "--label", "crash clerk"],
                         cwd=workdir, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def test_kill_9_during_intakes_loses_and_doubles_nothing(database_url: str, tmp_path: Path) -> None:
    token = _issue_clerk_token(database_url, tmp_path)
    server = Server(database_url, tmp_path)
    acknowledged: dict[int, str] = {}
    lock = threading.Lock()
    kills = (INTAKES // 3, 2 * INTAKES // 3)

    def send(n: int) -> bool:
        """Send intake ``n``; True when acknowledged (201), False when the server died under it."""
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"crash-{n}"}
        try:
            response = httpx.post(f"{server.base}/cases", json=_body(n), headers=headers, timeout=60)
        except httpx.TransportError:
            return False  # the server died under this request: the client will retry it
        assert response.status_code == 201, response.text  # an answer is always a case, never an error
        with lock:
            case_id = response.json()["case_id"]
            assert acknowledged.setdefault(n, case_id) == case_id, "a retry answered with another case"
        return True

    try:
        server.start(token)
        pending = list(range(INTAKES))
        for kill_at in (*kills, None):
            with ThreadPoolExecutor(CLIENTS) as pool:
                if kill_at is not None:
                    # Kill the server while requests are in flight, once enough have been acknowledged.
                    futures = [pool.submit(send, n) for n in pending]
                    while len(acknowledged) < kill_at and not all(f.done() for f in futures):
                        time.sleep(0.01)
                    server.kill()
                    for f in futures:
                        f.result()
                else:
                    list(pool.map(send, pending))
            pending = [n for n in range(INTAKES) if n not in acknowledged]
            if kill_at is not None:
                server.start(token)
        for _ in range(3):  # the last retries, on a server nobody kills
            pending = [n for n in range(INTAKES) if n not in acknowledged and not send(n)]
        assert not pending, f"{len(pending)} intakes were never acknowledged"
        # Every acknowledged case answers again with the same case on a retry.
        for n in list(acknowledged)[:: max(1, INTAKES // 20)]:
            assert send(n)
    finally:
        server.kill()

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Case)) == INTAKES
            stored = set(session.scalars(select(Case.id)))
            assert stored == set(acknowledged.values())
            cases_with_steps = session.scalar(select(func.count(func.distinct(Step.case_id))))
            assert cases_with_steps == INTAKES
            receipts = list(session.scalars(select(Case.receipt_no)))
            assert len(set(receipts)) == INTAKES
            report = verify_audit(session)
        assert report.ok, report.breaks[:5]
    finally:
        engine.dispose()
