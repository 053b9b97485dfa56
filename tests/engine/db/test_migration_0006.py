"""Revision 0006: foreign keys to cases and steps, ``steps.context`` renamed ``entry``, ``ready_at`` gone.

A database at 0005 holding a case with its steps, outbox messages, audit events, a licence and a
card is upgraded: every row survives with its values (the step entries under their new column
name), and on SQLite, where three tables are rebuilt, the triggers and partial indexes are
exactly the ones 0005 had. After the upgrade the keys refuse rows that name no case or step,
and refuse deleting a case that such rows name.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Base, Licence, OutboxMessage
from engine.db.session import alembic_config, make_engine, migrate
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from tests.conftest import Database, fresh_pg_database
from tests.engine.db.test_db import current_revision, head, schema_differences
from tests.engine.sample_people import CLERK, GROOM, marriage_answers

CASE = "c" * 32
STEPS = ("a" * 32, "b" * 32)
TABLES = ("cases", "steps", "outbox", "audit_events", "licences", "cards")
AT = datetime(2026, 3, 2, 1, 0)  # naive UTC, as the columns store it
NEW_KEYS = {
    ("outbox", "fk_outbox_case_id_cases", ("case_id",), "cases"),
    ("outbox", "fk_outbox_step_id_steps", ("step_id",), "steps"),
    ("audit_events", "fk_audit_events_case_id_cases", ("case_id",), "cases"),
    ("licences", "fk_licences_source_case_id_cases", ("source_case_id",), "cases"),
    ("licences", "fk_licences_source_step_id_steps", ("source_step_id",), "steps"),
}


@pytest.fixture
def engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own (the migrations are the subject, not the shared schema)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'upgrade.db'}")
        yield engine
        engine.dispose()
    else:
        with fresh_pg_database("ov_migration_0006") as url:
            engine = make_engine(url)
            yield engine
            engine.dispose()


def fill_at_0005(engine: Engine) -> None:
    """Rows of every table 0006 changes, written with the 0005 column names (no model involved)."""
    tables = MetaData()
    with engine.begin() as conn:
        tables.reflect(conn, only=TABLES)

    def row(table: str, **values: Any) -> dict[str, Any]:
        missing = set(tables.tables[table].columns.keys()) - set(values) - {"id"}
        assert not missing, f"{table}: give every 0005 column a value, {missing} has none"
        return values

    with engine.begin() as conn:
        conn.execute(tables.tables["cases"].insert(), row(
            "cases", id=CASE, receipt_no="R-0006", bundle_id="marriage", bundle_version=1, spec_hash="h" * 64,
            applicant_id="p1", applicant_kind="person", applicant_name="测试甲", region="430102", state="in_progress",
            version=3, answers={"spouse": "p2"}, idempotency_key=None, request_hash=None, created_by="clerk",
            accepted_at=AT, accepted_on=date(2026, 3, 2), due_on=date(2026, 3, 20), due_provisional=False,
            clock_stopped_on=None, paused_days=0, closed_at=None, audit_seq=3, audit_head="3" * 64))
        for position, step_id in enumerate(STEPS):
            conn.execute(tables.tables["steps"].insert(), row(
                "steps", id=step_id, case_id=CASE, step_key="register", instance=position,
                instance_label=f"子女 {position}", position=position, item_code="X1", department="11", kind="human",
                state="ready" if position == 0 else "pending", version=1,
                context={"child": {"name": f"测试{position}", "born": f"2020-01-0{position + 1}"}},
                ready_at=AT if position == 0 else None, clock_start_on=date(2026, 3, 2), clock_stopped_on=None,
                due_on=date(2026, 3, 10), due_provisional=False, not_before=None, assigned_to=None,
                outputs={"result": "ok"}, reason="", supplement={}, closed_at=None))
        conn.execute(tables.tables["outbox"].insert(), [
            row("outbox", topic="run_step", case_id=CASE, step_id=STEPS[0], payload={"handler": "check"},
                created_at=AT, available_at=AT, attempts=1, last_error="timeout", processed_at=None,
                claimed_by="w1", claimed_until=AT, dead_at=None),
            row("outbox", topic="notice", case_id=CASE, step_id=None, payload={"to": "p1"}, created_at=AT,
                available_at=AT, attempts=0, last_error="", processed_at=AT, claimed_by=None, claimed_until=None,
                dead_at=None),
        ])
        conn.execute(tables.tables["audit_events"].insert(), [
            row("audit_events", case_id=CASE, seq=seq, step_id=STEPS[0] if seq == 3 else None, actor_id="clerk",
                role="clerk", at=AT, action=f"action.{seq}", from_state=None, to_state="accepted",
                payload={"seq": seq}, prev_hash=str(seq - 1) * 64, hash=str(seq) * 64)
            for seq in (1, 2, 3)
        ])
        conn.execute(tables.tables["licences"].insert(), [
            row("licences", id="l" * 32, type_code="marriage", holder_id="p1", number="J-1", attributes={"a": 1},
                issuer="民政局", valid_from=date(2026, 3, 2), valid_to=None, revoked_at=None, source_case_id=CASE,
                source_step_id=STEPS[1], created_at=AT),
            row("licences", id="m" * 32, type_code="id_card", holder_id="p1", number="430102", attributes={},
                issuer="公安局", valid_from=date(2020, 1, 1), valid_to=date(2040, 1, 1), revoked_at=None,
                source_case_id=None, source_step_id=None, created_at=AT),
        ])
        conn.execute(tables.tables["cards"].insert(), row(
            "cards", case_id=CASE, step_id=STEPS[0], colour="yellow", reason="overdue", department="11",
            region="430102", issued_at=AT, issued_on=date(2026, 3, 11), working_days_overdue=1, resolved_at=None))


def rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables 0006 touches, in primary-key order (reflected JSON columns decode)."""
    tables = MetaData()
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        tables.reflect(conn, only=TABLES)
        for name in TABLES:
            table = tables.tables[name]
            result = conn.execute(table.select().order_by(*table.primary_key.columns)).mappings()
            found[name] = [dict(row) for row in result]
    return found


def schema_objects(engine: Engine) -> set[tuple[str, ...]]:
    """Triggers and named indexes (with their definitions), foreign-key triggers left out."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return {tuple(r) for r in conn.execute(text(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('trigger', 'index') "
                "AND sql IS NOT NULL"))}
        indexes = conn.execute(text("SELECT 'index', indexname, tablename, indexdef FROM pg_indexes "
                                    "WHERE schemaname = current_schema()"))
        triggers = conn.execute(text(
            "SELECT 'trigger', t.tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"))
        return {tuple(r) for r in [*indexes, *triggers]}


def as_at_head(before: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """What 0006 should make of the 0005 rows: ``context`` renamed ``entry``, ``ready_at`` dropped."""
    steps = [{("entry" if k == "context" else k): v for k, v in step.items() if k != "ready_at"}
             for step in before["steps"]]
    return {**before, "steps": steps}


def test_upgrade_keeps_every_row_and_the_step_entries(engine: Engine) -> None:
    migrate(engine, "0005")
    fill_at_0005(engine)
    before = rows(engine)
    assert [len(before[t]) for t in TABLES] == [1, 2, 2, 3, 2, 1]
    assert before["steps"][0]["ready_at"] is not None  # dropped although it held a value

    migrate(engine, "0006")  # later revisions add columns and tables of their own (their tests show them)
    after = rows(engine)
    assert after == as_at_head(before)
    assert [s["entry"] for s in after["steps"]] == [
        {"child": {"name": "测试0", "born": "2020-01-01"}}, {"child": {"name": "测试1", "born": "2020-01-02"}}]
    migrate(engine)
    assert current_revision(engine) == head(engine)
    assert schema_differences(engine) == []


def test_upgrade_keeps_the_triggers_and_partial_indexes(engine: Engine) -> None:
    migrate(engine, "0005")
    fill_at_0005(engine)
    before = schema_objects(engine)
    migrate(engine, "0006")
    after = schema_objects(engine)
    assert after == before
    names = {o[1] for o in after}
    assert {"ix_outbox_pending", "ix_steps_open_department", "uq_cards_case_colour", "ix_cards_open_region"} <= names
    if engine.dialect.name == "sqlite":
        assert {"audit_events_no_update", "audit_events_no_delete", "audit_seals_no_delete"} <= names
        sql = {o[1]: o[3] for o in after}
        assert sql["ix_outbox_pending"].endswith("WHERE processed_at IS NULL")
        assert "WHERE state IN ('ready','assigned','in_progress','supplement_requested')" in sql[
            "ix_steps_open_department"]
    else:
        assert {"audit_events_no_change", "audit_events_no_truncate"} <= names
    with engine.begin() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM audit_events"))


def test_downgrade_to_0005_keeps_the_rows_and_the_schema_objects(engine: Engine) -> None:
    migrate(engine, "0005")
    fill_at_0005(engine)
    before, objects = rows(engine), schema_objects(engine)
    migrate(engine)
    command.downgrade(alembic_config(engine), "0005")
    assert current_revision(engine) == "0005"
    after = rows(engine)
    for step in before["steps"]:
        step["ready_at"] = None  # the dropped values cannot come back
    assert after == before
    assert schema_objects(engine) == objects
    migrate(engine)
    assert schema_differences(engine) == []


def test_upgrade_names_rows_the_new_keys_would_refuse(engine: Engine) -> None:
    migrate(engine, "0005")
    fill_at_0005(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET case_id = :gone"), {"gone": "0" * 32})
    with pytest.raises(RuntimeError, match=r"outbox\.case_id: 2 row\(s\) name a missing cases row"):
        migrate(engine)
    assert current_revision(engine) == "0005"


# --- the keys at work (the shared, migrated test databases) -------------------------------------


def test_the_head_schema_has_the_keys_the_models_declare(db: Database) -> None:
    found = {(table, fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"], fk["options"].get("ondelete"))
             for table in ("outbox", "audit_events", "licences")
             for fk in inspect(db.engine).get_foreign_keys(table)}
    declared = {(fk.parent.table.name, fk.constraint.name if fk.constraint else None, (fk.parent.name,),
                 fk.column.table.name, fk.ondelete)
                for table in ("outbox", "audit_events", "licences")
                for fk in Base.metadata.tables[table].foreign_keys}
    assert found == declared == {(*key, "RESTRICT") for key in NEW_KEYS}


@pytest.fixture
def case_id(session: Session, runtime: Runtime) -> str:
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(), actor=CLERK)
    return case.id


@pytest.mark.parametrize("kind", ["outbox-case", "outbox-step", "audit-case", "licence-case", "licence-step"])
def test_rows_naming_a_missing_case_or_step_are_refused(session: Session, case_id: str, kind: str) -> None:
    gone, now = "0" * 32, AT.replace(tzinfo=UTC)
    rows: dict[str, object] = {
        "outbox-case": OutboxMessage(topic="run_step", case_id=gone, created_at=now, available_at=now),
        "outbox-step": OutboxMessage(topic="run_step", case_id=case_id, step_id=gone, created_at=now,
                                     available_at=now),
        "audit-case": AuditEvent(case_id=gone, seq=1, actor_id="x", role="clerk", at=now, action="forged",
                                 prev_hash="0" * 64, hash="0" * 64),
        "licence-case": Licence(type_code="x", holder_id="p", number="1", valid_from=now.date(), created_at=now,
                                source_case_id=gone),
        "licence-step": Licence(type_code="x", holder_id="p", number="1", valid_from=now.date(), created_at=now,
                                source_case_id=case_id, source_step_id=gone),
    }
    session.add(rows[kind])
    with pytest.raises(IntegrityError, match="(?i)foreign key"):
        session.commit()
    session.rollback()


def test_a_case_with_audit_events_cannot_be_deleted(db: Database, session: Session, case_id: str) -> None:
    session.commit()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM cards"))  # nothing else stands in the way but the new keys
        conn.execute(text("DELETE FROM outbox"))
        conn.execute(text("DELETE FROM licences"))
        conn.execute(text("DELETE FROM steps WHERE case_id = :id"), {"id": case_id})
    with db.engine.begin() as conn, pytest.raises(IntegrityError, match="(?i)foreign key"):
        conn.execute(text("DELETE FROM cases WHERE id = :id"), {"id": case_id})
    with db.session() as fresh:
        assert fresh.scalar(text("SELECT count(*) FROM audit_events WHERE case_id = :id"), {"id": case_id})
