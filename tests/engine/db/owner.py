"""A transaction of the database's owner, for tests that tamper with rows the way an attacker would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from tests.conftest import Database


@contextmanager
def owner_transaction(db: Database) -> Iterator[Connection]:
    """One committed transaction with the foreign keys out of the way (the triggers are the caller's).

    Whoever owns the file or the tables can do this, which is why the audit trail is verified by
    its hashes and seals, not trusted because of its keys: SQLite's ``PRAGMA foreign_keys=OFF``
    (only outside a transaction, so before this connection begins one; switched back on before
    the connection returns to the pool), PostgreSQL's ``session_replication_role = replica``
    (every trigger off, the foreign-key ones included, for this transaction only).
    """
    with db.engine.connect() as conn:
        sqlite = db.backend == "sqlite"
        if sqlite:
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SET LOCAL session_replication_role = replica"))
                yield conn
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
