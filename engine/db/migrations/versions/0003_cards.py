"""cards: yellow and red cards of the supervision sweep (电子监察)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.frozen_types import UTCDateTime


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('step_id', sa.String(length=32), nullable=True),
    sa.Column('colour', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('department', sa.String(length=8), nullable=True),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('issued_at', UTCDateTime(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('working_days_overdue', sa.Integer(), nullable=False),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['step_id'], ['steps.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('step_id', 'colour', name='uq_cards_step_colour')
    )
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.create_index('ix_cards_case_id', ['case_id'], unique=False)
        # A case gets at most one case-level card of each colour (step-level ones are covered
        # by the unique constraint above; NULL step ids never collide there).
        batch_op.create_index('uq_cards_case_colour', ['case_id', 'colour'], unique=True,
                              postgresql_where=sa.text('step_id IS NULL'), sqlite_where=sa.text('step_id IS NULL'))
        batch_op.create_index('ix_cards_open_region', ['region', 'colour'], unique=False,
                              postgresql_where=sa.text('resolved_at IS NULL'), sqlite_where=sa.text('resolved_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_index('ix_cards_open_region')
        batch_op.drop_index('uq_cards_case_colour')
        batch_op.drop_index('ix_cards_case_id')

    op.drop_table('cards')
