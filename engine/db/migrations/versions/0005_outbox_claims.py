"""outbox claims: a lease per message (claimed_by, claimed_until) and a dead-letter mark

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.frozen_types import UTCDateTime


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('dead_at', UTCDateTime(), nullable=True))
    # Messages that used up their attempts under the old dispatcher were dead letters in all
    # but name (they stayed unprocessed for ever): mark them so they show and can be retried.
    op.execute("UPDATE outbox SET dead_at = available_at WHERE processed_at IS NULL AND attempts >= 8")


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('dead_at')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
