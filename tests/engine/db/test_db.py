"""The schema: migrations match the ORM models, the audit log is append-only, downgrades work."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Base
from engine.db.session import alembic_config, make_engine, migrate
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from tests.conftest import Database
from tests.engine.sample_people import CLERK, GROOM, marriage_answers


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return list(compare_metadata(context, Base.metadata))


def head(engine: Engine) -> str:
    revision = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert revision is not None
    return revision


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrations_match_the_models(db: Database) -> None:
    assert current_revision(db.engine) == head(db.engine)
    assert schema_differences(db.engine) == []


def test_every_model_table_is_migrated(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_the_migration_chain_is_linear() -> None:
    engine = make_engine("sqlite://")
    script = ScriptDirectory.from_config(alembic_config(engine))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    engine.dispose()


# --- the audit log is append-only ---------------------------------------------------------


@pytest.fixture
def audited(session: Session, runtime: Runtime) -> str:
    """A committed case, so audit_events has rows; returns the case id."""
    case = accept_case(
        session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
        answers=marriage_answers(), actor=CLERK,
    )
    return case.id


def audit_rows(session: Session, case_id: str) -> list[tuple[int, str, str]]:
    stmt = select(AuditEvent.seq, AuditEvent.action, AuditEvent.hash).where(AuditEvent.case_id == case_id)
    return [tuple(row) for row in session.execute(stmt.order_by(AuditEvent.seq))]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'case.forged' WHERE case_id = :case_id",
        "UPDATE audit_events SET payload = :payload WHERE case_id = :case_id",
        "DELETE FROM audit_events WHERE case_id = :case_id",
        "DELETE FROM audit_events",
    ],
    ids=["update-action", "update-payload", "delete-case", "delete-all"],
)
def test_the_database_refuses_to_change_the_audit_log(session: Session, audited: str, statement: str) -> None:
    before = audit_rows(session, audited)
    assert len(before) > 1
    params = {"case_id": audited, "payload": '{"forged": true}'}
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement), params)
    session.rollback()
    assert audit_rows(session, audited) == before


def test_the_audit_log_still_accepts_appends(session: Session, audited: str) -> None:
    count = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == audited))
    assert count and count > 1  # acceptance itself appended them; the triggers only stop changes


# --- downgrade and upgrade ------------------------------------------------------------------------


def test_downgrade_to_base_and_upgrade_again_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
    try:
        migrate(engine)
        assert current_revision(engine) == head(engine)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO receipt_counters (region, day, last) VALUES ('430102', '20260302', 1)"))

        command.downgrade(alembic_config(engine), "base")
        assert current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all() == []

        migrate(engine)
        assert current_revision(engine) == head(engine)
        assert schema_differences(engine) == []
        with engine.connect() as conn:
            triggers = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
            assert conn.execute(text("SELECT count(*) FROM receipt_counters")).scalar_one() == 0
        assert {"audit_events_no_update", "audit_events_no_delete"} <= triggers
    finally:
        engine.dispose()


def test_each_revision_downgrades_one_step_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'steps.db'}")
    try:
        config = alembic_config(engine)
        revisions = [r.revision for r in ScriptDirectory.from_config(config).walk_revisions()]  # head first
        migrate(engine)
        for revision, previous in zip(revisions, [*revisions[1:], None]):
            assert current_revision(engine) == revision
            command.downgrade(config, "-1")
            assert current_revision(engine) == previous
        migrate(engine)
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_the_sweep_index_predicates_name_the_states_of_the_engine() -> None:
    """The partial indexes of revision 0012 hold exactly the rows the sweep can act on."""
    import re

    from engine.db.models import ACTIVE_STEP_PREDICATE, OPEN_CASE_PREDICATE
    from engine.machine.states import CASE_OPEN, STEP_ACTIVE

    def named(predicate: str) -> set[str]:
        return set(re.findall(r"'([a-z_]+)'", predicate))

    assert named(ACTIVE_STEP_PREDICATE) == {s.value for s in STEP_ACTIVE}
    assert named(OPEN_CASE_PREDICATE) == {s.value for s in CASE_OPEN}
