"""handovers: the results of a finished case handed out at its receiving window (出件)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

One row per case (the case id is the key), written by the gate's ``hand_over`` effect in the
transaction that appends the case's ``case.hand_over`` audit event. A new table, so nothing is
rebuilt; its key to ``cases`` is ON DELETE RESTRICT like every other (see 0006): a case is never
deleted, and the record of what was handed to whom must not vanish with one.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.frozen_types import UTCDateTime


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'handovers',
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('handed_at', UTCDateTime(), nullable=False),
        sa.Column('region', sa.String(length=12), nullable=False),
        sa.Column('handed_by', sa.String(length=64), nullable=False),
        sa.Column('recipient', sa.String(length=16), nullable=False),
        sa.Column('agent_name', sa.String(length=200), nullable=False),
        sa.Column('agent_id_number', sa.String(length=32), nullable=True),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('tracking_no', sa.String(length=64), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name='fk_handovers_case_id_cases', ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('case_id'),
    )


def downgrade() -> None:
    op.drop_table('handovers')
