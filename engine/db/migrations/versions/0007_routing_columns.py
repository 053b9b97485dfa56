"""routing: steps.office and steps.decided_in (办理地), cases.received_in (受理地)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Three nullable columns, added with a plain ``ALTER TABLE ADD COLUMN`` on both backends: no table
is rebuilt (``steps`` and ``cases`` are referenced by other tables' keys, see 0006), and existing
rows keep NULL, which the engine reads as "the case's region" (a step routed before offices
existed was decided where its case was) and "received where the case is".
"""
from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

COLUMNS = (
    ("steps", "office", 32),
    ("steps", "decided_in", 12),
    ("cases", "received_in", 12),
)


def upgrade() -> None:
    for table, column, length in COLUMNS:
        op.add_column(table, sa.Column(column, sa.String(length=length), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        raise RuntimeError(f"downgrading revision 0007 needs SQLite 3.35 or later (ALTER TABLE DROP COLUMN); "
                           f"this Python has SQLite {sqlite3.sqlite_version}")
    # Plain DROP COLUMN (no batch rebuild): the tables keep their triggers, indexes and the keys
    # that point at them.
    for table, column, _ in reversed(COLUMNS):
        op.drop_column(table, column)
