"""Revision 0007: the routing columns ``steps.office``, ``steps.decided_in`` and ``cases.received_in``.

A database at 0006 holding a case with its steps (and the rows of every other table 0006's test
fills) is upgraded: every row keeps its values and the new columns are NULL, which the engine
reads as "decided and received where the case is" (:func:`engine.machine.routing.deciding_region`).
No table is rebuilt, so the triggers and partial indexes are exactly the ones 0006 had; a
downgrade drops the columns and keeps everything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from engine.db.models import Case
from engine.db.session import alembic_config, make_engine, migrate
from engine.machine.routing import deciding_region
from tests.conftest import fresh_pg_database
from tests.engine.db.test_db import current_revision, head, schema_differences
from tests.engine.db.test_migration_0006 import CASE, TABLES, fill_at_0005, rows, schema_objects

NEW_COLUMNS = {("steps", "office"): 32, ("steps", "decided_in"): 12, ("cases", "received_in"): 12}


@pytest.fixture

def engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own (the migrations are the subject, not the shared schema)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'upgrade.db'}")
        yield engine
        engine.dispose()
    else:
        with fresh_pg_database("ov_migration_0007") as url:
            engine = make_engine(url)
            yield engine
            engine.dispose()


def at_0006(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """A database at 0006 with a row in every table 0006 touched (filled with 0005's names, then
    upgraded, which 0006's own test shows keeps them)."""
    migrate(engine, "0005")
    fill_at_0005(engine)
    migrate(engine, "0006")
    return rows(engine)


def with_new_columns(before: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    after = {name: [dict(row) for row in table] for name, table in before.items()}
    for step in after["steps"]:
        step.update(office=None, decided_in=None)
    for case in after["cases"]:
        case["received_in"] = None
    receipts = {case["id"]: case["receipt_no"] for case in after["cases"]}
    for step in after["steps"]:  # revision 0013: each step carries its case's receipt
        step["receipt_no"] = receipts[step["case_id"]]
    for card in after.get("cards", []):  # revision 0011: cards for follow-ups, red-card explanations
        card.update(followup_id=None, explanation_state="", explanation={})
    return after


def test_upgrade_keeps_every_row_and_leaves_the_new_columns_null(engine: Engine) -> None:
    before = at_0006(engine)
    assert [len(before[t]) for t in TABLES] == [1, 2, 2, 3, 2, 1]
    migrate(engine)
    assert current_revision(engine) == head(engine)
    assert rows(engine) == with_new_columns(before)
    assert schema_differences(engine) == []
    columns = {(table, c["name"]): c for table in ("steps", "cases") for c in inspect(engine).get_columns(table)}
    for key, length in NEW_COLUMNS.items():
        assert columns[key]["nullable"] is True
        assert getattr(columns[key]["type"], "length", None) == length


def test_upgrade_keeps_the_triggers_and_partial_indexes(engine: Engine) -> None:
    at_0006(engine)
    objects = schema_objects(engine)
    migrate(engine, "0007")  # later revisions may add tables (and their indexes) of their own
    assert schema_objects(engine) == objects
    with engine.begin() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM audit_events"))


def test_downgrade_to_0006_drops_the_columns_and_keeps_the_rest(engine: Engine) -> None:
    before = at_0006(engine)
    objects = schema_objects(engine)
    migrate(engine)
    with engine.begin() as conn:  # values in the new columns are what a downgrade loses
        conn.execute(text("UPDATE steps SET office = '11@430102', decided_in = '430102'"))
        conn.execute(text("UPDATE cases SET received_in = '430104'"))
    command.downgrade(alembic_config(engine), "0006")
    assert current_revision(engine) == "0006"
    assert rows(engine) == before
    assert schema_objects(engine) == objects
    migrate(engine)
    assert rows(engine) == with_new_columns(before)
    assert schema_differences(engine) == []


def test_an_unrouted_step_is_decided_in_its_case_region(engine: Engine) -> None:
    at_0006(engine)
    migrate(engine)

    with Session(engine) as session:
        case = session.get(Case, CASE)
        assert case is not None and case.received_in is None
        step = case.steps[0]
        assert deciding_region(case, step) == "430102"
        step.decided_in = "430000"
        assert deciding_region(case, step) == "430000"
