"""foreign keys from outbox, audit_events and licences to cases/steps; steps.context -> entry; drop steps.ready_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

SQLite cannot add a constraint to a table: ``outbox``, ``audit_events`` and ``licences`` are
rebuilt (Alembic batch mode: new table, copy, drop, rename). Nothing references these three, so
the rebuild is safe with ``PRAGMA foreign_keys=ON``; the copy itself checks every row against
its new keys. A rebuild loses the table's triggers and what Alembic's reflection cannot carry
over (the ``WHERE`` of a partial index), so this migration drops them first and re-creates them
exactly as 0001 made them. ``steps`` is referenced (by ``cards`` and now by the three tables
above), so it is not rebuilt: dropping it for the copy would break those references under
``foreign_keys=ON``. Its column rename and drop are plain ``ALTER TABLE`` on both backends
(SQLite >= 3.35), which leave its partial index ``ix_steps_open_department`` and the keys that
point at it untouched.
"""
from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

from engine.db.frozen_types import UTCDateTime


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# (table, name, column, referred table). Every key is ON DELETE RESTRICT, deliberately: cases and
# steps are never deleted by the application, so a delete is an operator's (or an attacker's)
# act, and it must fail rather than take rows with it. CASCADE would make an audit event, the
# evidence of what happened to a case, vanish with the case; SET NULL would cut a licence off
# the case that issued it, or leave an audit event belonging to no case. RESTRICT rather than
# NO ACTION: the check is immediate and cannot be deferred to the end of the transaction.
FOREIGN_KEYS = (
    ("outbox", "fk_outbox_case_id_cases", "case_id", "cases"),
    ("outbox", "fk_outbox_step_id_steps", "step_id", "steps"),
    ("audit_events", "fk_audit_events_case_id_cases", "case_id", "cases"),
    ("licences", "fk_licences_source_case_id_cases", "source_case_id", "cases"),
    ("licences", "fk_licences_source_step_id_steps", "source_step_id", "steps"),
)
TABLES = ("outbox", "audit_events", "licences")

# What a SQLite rebuild would lose, exactly as 0001 created it.
_OUTBOX_PENDING = sa.text('processed_at IS NULL')
_AUDIT_VERBS = ("update", "delete")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _refuse_orphans() -> None:
    """Name the rows a new key would refuse, instead of failing half-way on a bare constraint error.

    Audit events of a missing case are what ``onevisit audit verify`` reports as tampering
    (``orphan_chain``): they are evidence and are not deleted here; the operator decides.
    """
    bind = op.get_bind()
    found = []
    for table, _, column, referred in FOREIGN_KEYS:
        count = bind.execute(sa.text(
            f"SELECT count(*) FROM {table} t WHERE t.{column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {referred} r WHERE r.id = t.{column})")).scalar_one()
        if count:
            found.append(f"{table}.{column}: {count} row(s) name a missing {referred} row")
    if found:
        raise RuntimeError("revision 0006 adds foreign keys, but existing rows would break them ("
                           + "; ".join(found) + "); run `onevisit audit verify`, resolve them, then upgrade again")


def _drop_rebuild_casualties() -> None:
    op.drop_index('ix_outbox_pending', table_name='outbox')
    for verb in _AUDIT_VERBS:
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}")


def _recreate_rebuild_casualties() -> None:
    op.create_index('ix_outbox_pending', 'outbox', ['available_at'], unique=False,
                    postgresql_where=_OUTBOX_PENDING, sqlite_where=_OUTBOX_PENDING)
    # The audit log is evidence: the database itself refuses to change or delete an event.
    for verb in _AUDIT_VERBS:
        op.execute(f"CREATE TRIGGER audit_events_no_{verb} BEFORE {verb.upper()} ON audit_events "
                   "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END")


def _require_sqlite_drop_column() -> None:
    if sqlite3.sqlite_version_info < (3, 35, 0):
        raise RuntimeError(f"revision 0006 needs SQLite 3.35 or later (ALTER TABLE DROP COLUMN); "
                           f"this Python has SQLite {sqlite3.sqlite_version}")


def upgrade() -> None:
    _refuse_orphans()
    if _sqlite():
        _require_sqlite_drop_column()
    # Plain ALTER TABLE on both backends (alembic renders RENAME COLUMN / DROP COLUMN for SQLite).
    op.alter_column('steps', 'context', new_column_name='entry')
    op.drop_column('steps', 'ready_at')

    if _sqlite():
        _drop_rebuild_casualties()
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for fk_table, name, column, referred in FOREIGN_KEYS:
                if fk_table == table:
                    batch_op.create_foreign_key(name, referred, [column], ['id'], ondelete='RESTRICT')
    if _sqlite():
        _recreate_rebuild_casualties()


def downgrade() -> None:
    if _sqlite():
        _drop_rebuild_casualties()
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for fk_table, name, _, _ in FOREIGN_KEYS:
                if fk_table == table:
                    batch_op.drop_constraint(name, type_='foreignkey')
    if _sqlite():
        _recreate_rebuild_casualties()

    op.add_column('steps', sa.Column('ready_at', UTCDateTime(), nullable=True))
    op.alter_column('steps', 'entry', new_column_name='context')
