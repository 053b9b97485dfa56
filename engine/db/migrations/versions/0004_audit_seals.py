"""audit seals: signed periodic seals of the chain heads; TRUNCATE refused on the audit tables

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.frozen_types import UTCDateTime


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

SEAL_TABLES = ("audit_seals", "audit_seal_entries")
# Row triggers do not fire on TRUNCATE, so 0001's triggers never stopped `TRUNCATE audit_events`.
TRUNCATE_GUARDED = ("audit_events", *SEAL_TABLES)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table('audit_seal_entries',
    sa.Column('seal_number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('receipt_no', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seal_number', 'position')
    )
    with op.batch_alter_table('audit_seal_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_seal_entries_case', ['case_id', 'seq'], unique=False)

    op.create_table('audit_seals',
    sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('sealed_at', UTCDateTime(), nullable=False),
    sa.Column('event_mark', sa.BigInteger(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('root', sa.String(length=64), nullable=False),
    sa.Column('prev_signature', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('number')
    )
    _append_only()


def _append_only() -> None:
    """Seals are evidence like the events they seal: refuse UPDATE, DELETE and TRUNCATE."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table in SEAL_TABLES:
            op.execute(f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
        for table in TRUNCATE_GUARDED:
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()")
    else:  # SQLite has no TRUNCATE: its DELETE without WHERE fires the row triggers
        for table in SEAL_TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TRUNCATE_GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        for table in SEAL_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    else:
        for table in SEAL_TABLES:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    op.drop_table('audit_seals')
    with op.batch_alter_table('audit_seal_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_seal_entries_case')

    op.drop_table('audit_seal_entries')
