"""Database engines, sessions, migrations and the per-case lock.

PostgreSQL locks the case row (``SELECT … FOR UPDATE``): different cases never wait on each
other. SQLite (embedded default) runs in WAL mode with a busy timeout; it has no row locks, only
one writer at a time, so its transactions behave as follows:

* a transaction starts ``BEGIN DEFERRED``: reads never take the write lock, so pages, lists and
  ``/metrics`` never wait for (or hold up) a writer;
* the first statement that needs a lock (a write, a savepoint, or a ``SELECT … FOR UPDATE`` such
  as :func:`lock_case`) first takes SQLite's write lock: a transaction that has only read so
  far is ended and started again as ``BEGIN IMMEDIATE``, waiting for the busy timeout. Nothing
  is lost (it had only read), and SQLite never has to refuse a late upgrade of a stale read
  snapshot ("database is locked"). What was read before the lock may be older than the lock,
  exactly as under PostgreSQL's READ COMMITTED, which is why locked code re-reads after locking;
* migrations take the write lock at once, so two processes never migrate at the same time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, bindparam, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from engine.db.models import Case, Step
from engine.errors import DomainError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
WRITE_LOCK = "onevisit_sqlite_write_lock"
"""SQLite: execution option asking for ``BEGIN IMMEDIATE``; in ``connection.info``: the
current transaction holds the write lock."""
_LOCKING = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "CREATE", "DROP", "ALTER")


def _needs_write_lock(statement: str, context: Any) -> bool:
    """Whether ``statement`` writes, opens a savepoint, or reads rows FOR UPDATE (SQLite does not render it)."""
    if statement.lstrip()[:9].upper().startswith(_LOCKING):
        return True
    compiled = getattr(context, "compiled", None)
    if compiled is None:
        return False
    if context.isinsert or context.isupdate or context.isdelete:  # e.g. WITH … INSERT
        return True
    return getattr(compiled.statement, "_for_update_arg", None) is not None


def _take_write_lock(connection: Any) -> None:
    """End the read-only SQLite transaction so far and begin again holding the write lock."""
    dbapi = connection.connection.dbapi_connection
    if dbapi.in_transaction:
        dbapi.execute("COMMIT")  # it has only read: nothing to lose
    try:
        dbapi.execute("BEGIN IMMEDIATE")
    except Exception:
        dbapi.execute("BEGIN DEFERRED")  # keep the transaction SQLAlchemy believes open; it rolls back
        raise
    connection.info[WRITE_LOCK] = True


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite files get their folder, WAL and the locking described above."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True,
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            immediate = bool(connection.get_execution_options().get(WRITE_LOCK))
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN DEFERRED")
            connection.info[WRITE_LOCK] = immediate

        @event.listens_for(engine, "before_cursor_execute")
        def _before_execute(connection: Any, _cursor: Any, statement: str, _parameters: Any, context: Any,
                            _executemany: bool) -> None:
            if not connection.info.get(WRITE_LOCK) and _needs_write_lock(statement, context):
                _take_write_lock(connection)

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (Alembic), holding SQLite's write lock throughout."""
    command.upgrade(alembic_config(engine.execution_options(**{WRITE_LOCK: True})), revision)


class SchemaOutOfDate(DomainError):
    """The database's schema is not the one this code expects (only ``onevisit db upgrade`` migrates)."""

    code = "schema_out_of_date"


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is not at this code's head revision.

    Workers and API replicas never migrate: several of them start at once, and a migration
    is an operator's decision (``onevisit db upgrade``), taken once, before they start.
    """
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        found = f"at revision {current}" if current else "empty (no onevisit schema)"
        raise SchemaOutOfDate(f"database {where} is {found}, this onevisit needs revision {head}: "
                              "run `onevisit db upgrade` first")


# populate_existing: a copy this session kept from an earlier transaction is overwritten by the
# row as it is now, under the lock (no second read of it). Built once, bound per call.
_LOCK_CASE = (select(Case).where(Case.id == bindparam("case_id")).with_for_update()
              .execution_options(populate_existing=True))
_LOCK_CASE_OF_STEP = (select(Case).where(Case.id == select(Step.case_id).where(Step.id == bindparam("step_id"))
                                         .scalar_subquery())
                      .with_for_update().execution_options(populate_existing=True))


LIKE_ESCAPE = "/"


def like_literal(text: str) -> str:
    """``text`` for a LIKE pattern with :data:`LIKE_ESCAPE`, its wildcards matched as characters (a
    typed % or _ is a character, not a pattern); the caller adds the pattern's own %."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def lock_case_of_step(session: Session, step_id: str) -> Case | None:
    """:func:`lock_case` for the case a step belongs to, found and locked in one statement."""
    return session.scalars(_LOCK_CASE_OF_STEP, {"step_id": step_id}).one_or_none()


def lock_case(session: Session, case_id: str) -> Case | None:
    """Load a case holding its lock for the rest of the transaction (see module docstring):
    its row lock on PostgreSQL, the write lock on SQLite."""
    return session.scalars(_LOCK_CASE, {"case_id": case_id}).one_or_none()
