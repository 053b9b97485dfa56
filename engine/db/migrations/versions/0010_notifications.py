"""notifications and notification_attempts: what was told to whom, and each attempt to send it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

``notifications`` has one row per notice per recipient channel (engine.notify): the applicant's
inbox (always), an email or an SMS. Its text is rendered once, when the change that causes it
commits; email and SMS rows are sent by the outbox dispatcher (``outbox_id``, topic ``notify``),
and every attempt, failed or not, is a row of ``notification_attempts``.

New tables, so nothing is rebuilt; the key to ``cases`` is ON DELETE RESTRICT like every other.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.frozen_types import UTCDateTime


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'notifications',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('recipient', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('template', sa.String(length=64), nullable=False),
        sa.Column('locale', sa.String(length=8), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('outbox_id', _ID, nullable=True),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.Column('read_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name='fk_notifications_case_id_cases', ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name='fk_notifications_outbox_id_outbox',
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_notifications_recipient', 'notifications', ['recipient', 'created_at'])
    op.create_table(
        'notification_attempts',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('notification_id', _ID, nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'],
                                name='fk_notification_attempts_notification_id', ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('notification_id', 'attempt'),
    )


def downgrade() -> None:
    op.drop_table('notification_attempts')
    op.drop_index('ix_notifications_recipient', table_name='notifications')
    op.drop_table('notifications')
