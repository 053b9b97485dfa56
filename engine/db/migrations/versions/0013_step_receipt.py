"""the case's receipt number on its steps: a worklist page read along one index, at any depth

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

A worklist lists a department's open steps by due date and, within a day, by receipt (first come,
first served). The receipt lived on the case alone, so every page sorted the department's open
steps joined to their cases (issue 14: a keyset page deep in a 1M-step list took 61-150 ms
against ~1 ms for a read along an index). A receipt never changes once the case is accepted, so
each step carries a copy, and the open steps' index by department names the whole order: due
date, receipt, position. The column stays NULL-able in the schema (SQLite would rebuild the
table to add NOT NULL); every row has it after this revision and intake sets it on new steps.
"""
from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_ACTIVE_STEP = "state IN ('ready','assigned','in_progress','supplement_requested')"


def upgrade() -> None:
    op.add_column('steps', sa.Column('receipt_no', sa.String(length=32), nullable=True))
    op.execute("UPDATE steps SET receipt_no = (SELECT cases.receipt_no FROM cases WHERE cases.id = steps.case_id)")
    op.drop_index('ix_steps_open_department_due', table_name='steps')
    op.create_index('ix_steps_open_department_queue', 'steps', ['department', 'due_on', 'receipt_no', 'position'],
                    postgresql_where=sa.text(_ACTIVE_STEP), sqlite_where=sa.text(_ACTIVE_STEP))


def downgrade() -> None:
    op.drop_index('ix_steps_open_department_queue', table_name='steps')
    op.create_index('ix_steps_open_department_due', 'steps', ['department', 'due_on'],
                    postgresql_where=sa.text(_ACTIVE_STEP), sqlite_where=sa.text(_ACTIVE_STEP))
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        raise RuntimeError(f"downgrading revision 0013 needs SQLite 3.35 or later (ALTER TABLE DROP COLUMN); "
                           f"this Python has SQLite {sqlite3.sqlite_version}")
    # Plain DROP COLUMN (no batch rebuild): steps keeps the keys that point at it (see 0007).
    op.drop_column('steps', 'receipt_no')
