"""SQLite: reads never take the write lock; writes and locked reads take it, never failing on a stale snapshot."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from engine.db.models import ApiToken, Case
from engine.db.session import WRITE_LOCK, lock_case, make_engine, make_sessionmaker, migrate


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    path = tmp_path / "locking.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (n INTEGER)"))
    yield engine, path
    engine.dispose()


def other_writer_can_write(path: Path) -> bool:
    """Whether another connection gets the write lock at once (it waits 0.1 s at most)."""
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO probe VALUES (1)")
        other.execute("COMMIT")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()


def test_a_read_transaction_leaves_the_write_lock_free(sqlite: tuple[Engine, Path]) -> None:
    engine, path = sqlite
    with Session(engine) as session:
        assert session.scalars(select(Case)).all() == []
        assert session.in_transaction()
        assert other_writer_can_write(path)  # a writer commits while the reader's transaction is open
        assert session.connection().info[WRITE_LOCK] is False


def test_a_write_after_reads_takes_the_lock_even_when_another_writer_committed_meanwhile(
    sqlite: tuple[Engine, Path]
) -> None:
    engine, path = sqlite
    with Session(engine) as session:
        session.execute(text("SELECT count(*) FROM probe")).scalar_one()
        assert other_writer_can_write(path)  # the reader's snapshot is now stale
        session.execute(text("INSERT INTO probe VALUES (2)"))  # SQLite alone would say "database is locked"
        assert not other_writer_can_write(path)  # held until commit
        session.commit()
    assert other_writer_can_write(path)
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT n FROM probe")).scalars()) == [1, 1, 2]


def test_lock_case_takes_the_write_lock_and_sees_the_latest_commit(sqlite: tuple[Engine, Path]) -> None:
    engine, path = sqlite
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        assert session.scalars(select(ApiToken)).all() == []
        assert other_writer_can_write(path)
        assert lock_case(session, "no-such-case") is None
        assert session.connection().info[WRITE_LOCK] is True
        assert session.execute(text("SELECT count(*) FROM probe")).scalar_one() == 1  # read fresh after the lock
        assert not other_writer_can_write(path)
        session.rollback()
    assert other_writer_can_write(path)


def test_a_savepoint_after_reads_works(sqlite: tuple[Engine, Path]) -> None:
    engine, path = sqlite
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        assert other_writer_can_write(path)
        with session.begin_nested():
            session.execute(text("INSERT INTO probe VALUES (3)"))
        session.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM probe WHERE n = 3")).scalar_one() == 1
