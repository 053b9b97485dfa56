"""ratings, followups, commitments, credit_marks; cards for follow-ups and red-card explanations

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Governance (engine.governance): 好差评 ``ratings`` (one per case, one per step); ``followups``,
the tasks with a working-day deadline that follow a case (整改 of a bad rating, 事中事后核查 of a
commitment, 12345 诉求); ``commitments`` (告知承诺: the exact text signed, its hash, who, when);
``credit_marks`` (a false commitment). ``cards`` gains ``followup_id`` (a card for an overdue
follow-up) and the red card's explanation (情况说明); the case-level uniqueness now also excludes
follow-up cards. Existing cards keep their meaning: ``followup_id`` NULL, no explanation asked
(``explanation_state`` empty); red cards issued from now on ask for one.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from engine.db.frozen_types import UTCDateTime


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _restrict(column: str, target: str, name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [target], name=name, ondelete='RESTRICT')


def upgrade() -> None:
    op.create_table(
        'ratings',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('step_id', sa.String(length=32), nullable=True),
        sa.Column('rater', sa.String(length=64), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('reasons', _JSON, nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('office', sa.String(length=32), nullable=True),
        sa.Column('department', sa.String(length=8), nullable=True),
        sa.Column('region', sa.String(length=12), nullable=False),
        sa.Column('rated_at', UTCDateTime(), nullable=False),
        sa.Column('rated_on', sa.Date(), nullable=False),
        _restrict('case_id', 'cases.id', 'fk_ratings_case_id_cases'),
        _restrict('step_id', 'steps.id', 'fk_ratings_step_id_steps'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('step_id', name='uq_ratings_step'),
    )
    op.create_index('uq_ratings_case', 'ratings', ['case_id'], unique=True,
                    postgresql_where=sa.text('step_id IS NULL'), sqlite_where=sa.text('step_id IS NULL'))
    op.create_index('ix_ratings_office', 'ratings', ['office', 'rated_on'])
    op.create_table(
        'followups',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('step_id', sa.String(length=32), nullable=True),
        sa.Column('rating_id', _ID, nullable=True),
        sa.Column('source_ref', sa.String(length=64), nullable=True),
        sa.Column('office', sa.String(length=32), nullable=True),
        sa.Column('department', sa.String(length=8), nullable=True),
        sa.Column('region', sa.String(length=12), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('details', _JSON, nullable=False),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('assigned_to', sa.String(length=64), nullable=True),
        sa.Column('opened_at', UTCDateTime(), nullable=False),
        sa.Column('opened_on', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('closed_at', UTCDateTime(), nullable=True),
        _restrict('case_id', 'cases.id', 'fk_followups_case_id_cases'),
        _restrict('step_id', 'steps.id', 'fk_followups_step_id_steps'),
        _restrict('rating_id', 'ratings.id', 'fk_followups_rating_id_ratings'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'source_ref', name='uq_followups_kind_source_ref'),
    )
    op.create_index('ix_followups_open_due', 'followups', ['due_on'],
                    postgresql_where=sa.text('closed_at IS NULL'), sqlite_where=sa.text('closed_at IS NULL'))
    op.create_index('ix_followups_office', 'followups', ['office', 'state'])
    op.create_index('ix_followups_case', 'followups', ['case_id'])
    op.create_table(
        'commitments',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('step_id', sa.String(length=32), nullable=False),
        sa.Column('signer', sa.String(length=64), nullable=False),
        sa.Column('holder_id', sa.String(length=32), nullable=False),
        sa.Column('template', sa.String(length=64), nullable=False),
        sa.Column('locale', sa.String(length=8), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('text_hash', sa.String(length=64), nullable=False),
        sa.Column('signed_at', UTCDateTime(), nullable=False),
        _restrict('case_id', 'cases.id', 'fk_commitments_case_id_cases'),
        _restrict('step_id', 'steps.id', 'fk_commitments_step_id_steps'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('step_id', name='uq_commitments_step'),
    )
    op.create_table(
        'credit_marks',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('holder_id', sa.String(length=32), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('followup_id', _ID, nullable=True),
        sa.Column('marked_at', UTCDateTime(), nullable=False),
        sa.Column('expires_on', sa.Date(), nullable=True),
        sa.Column('lifted_at', UTCDateTime(), nullable=True),
        _restrict('case_id', 'cases.id', 'fk_credit_marks_case_id_cases'),
        _restrict('followup_id', 'followups.id', 'fk_credit_marks_followup_id_followups'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_credit_marks_holder', 'credit_marks', ['holder_id'])
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('followup_id', _ID, nullable=True))
        batch_op.add_column(sa.Column('explanation_state', sa.String(length=16), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('explanation', _JSON, nullable=False, server_default='{}'))
        batch_op.create_foreign_key('fk_cards_followup_id_followups', 'followups', ['followup_id'], ['id'],
                                    ondelete='RESTRICT')
        batch_op.create_unique_constraint('uq_cards_followup_colour', ['followup_id', 'colour'])
        batch_op.drop_index('uq_cards_case_colour')
        batch_op.create_index('uq_cards_case_colour', ['case_id', 'colour'], unique=True,
                              postgresql_where=sa.text('step_id IS NULL AND followup_id IS NULL'),
                              sqlite_where=sa.text('step_id IS NULL AND followup_id IS NULL'))
    # The defaults only fill existing rows; the model sets both on every insert.
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.alter_column('explanation_state', server_default=None)
        batch_op.alter_column('explanation', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_index('uq_cards_case_colour')
        batch_op.create_index('uq_cards_case_colour', ['case_id', 'colour'], unique=True,
                              postgresql_where=sa.text('step_id IS NULL'), sqlite_where=sa.text('step_id IS NULL'))
        batch_op.drop_constraint('uq_cards_followup_colour', type_='unique')
        batch_op.drop_constraint('fk_cards_followup_id_followups', type_='foreignkey')
        batch_op.drop_column('explanation')
        batch_op.drop_column('explanation_state')
        batch_op.drop_column('followup_id')
    op.drop_index('ix_credit_marks_holder', table_name='credit_marks')
    op.drop_table('credit_marks')
    op.drop_table('commitments')
    op.drop_index('ix_followups_case', table_name='followups')
    op.drop_index('ix_followups_office', table_name='followups')
    op.drop_index('ix_followups_open_due', table_name='followups')
    op.drop_table('followups')
    op.drop_index('ix_ratings_office', table_name='ratings')
    op.drop_index('uq_ratings_case', table_name='ratings')
    op.drop_table('ratings')
