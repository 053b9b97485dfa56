"""Issue 8: API replicas and workers never migrate a shared database; only `onevisit db upgrade`
does. An embedded SQLite database is set up by the command that opens it (one machine)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.server import open_database
from engine.db.models import BundleVersion
from engine.errors import DomainError
from engine.runtime import Runtime, publish_bundles
from tests.api.test_cli import run
from tests.conftest import _PG, fresh_pg_database


@pytest.fixture
def empty_pg() -> Iterator[str]:
    if _PG is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    with fresh_pg_database("onevisit_replica") as url:
        yield url

def test_a_shared_database_is_migrated_only_by_db_upgrade(empty_pg: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DomainError, match="run `onevisit db upgrade` first"):
        open_database(empty_pg)
    code, out, err = run(capsys, "token", "admin", "--db", empty_pg)
    assert code == 1 and "onevisit db upgrade" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, "db", "upgrade", "--db", empty_pg)
    assert code == 0, err
    engine, _ = open_database(empty_pg)
    engine.dispose()


def test_an_embedded_database_is_set_up_by_the_command_that_opens_it(tmp_path: Path) -> None:
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'fresh' / 'onevisit.db'}")
    with sessions() as session:
        assert publish_bundles(session, Runtime.default())
    engine.dispose()


def test_replicas_starting_together_publish_the_bundles_once(tmp_path: Path, registry: object) -> None:
    _, sessions = open_database(f"sqlite:///{tmp_path / 'race.db'}")
    runtime = Runtime.default()
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            with sessions() as session:
                barrier.wait()
                publish_bundles(session, runtime)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(BundleVersion)) == len(list(runtime.registry))
