"""case_files and deferred_materials: the files handed in for a case's materials, and 容缺 promises

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

``case_files`` has one row per file handed in for a material: staged first (``case_id`` NULL,
``staged_by`` the uploader) and linked to its case by intake in the acceptance's transaction,
or handed in later for a 补正 notice (``channel`` supplement, ``notice`` its round). The bytes
live in the file store (engine.documents.storage), addressed by ``sha256``; the row never holds
them. ``deferred_materials`` has one row per material a case was accepted without (容缺受理):
the date the applicant promised it by, when it was reminded of and when it was supplied.

New tables, so nothing is rebuilt. Their keys to ``cases`` and ``steps`` are ON DELETE RESTRICT
like every other (see 0006): a case is never deleted, and the record of what was handed in must
not vanish with one.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.db.frozen_types import UTCDateTime


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_STAGED = sa.text('case_id IS NULL')


def upgrade() -> None:
    op.create_table(
        'case_files',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=True),
        sa.Column('step_id', sa.String(length=32), nullable=True),
        sa.Column('bundle_id', sa.String(length=64), nullable=False),
        sa.Column('material', sa.String(length=200), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('media_type', sa.String(length=64), nullable=False),
        sa.Column('pages', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('uploaded_by', sa.String(length=64), nullable=False),
        sa.Column('uploaded_at', UTCDateTime(), nullable=False),
        sa.Column('staged_by', sa.String(length=64), nullable=False),
        sa.Column('check_state', sa.String(length=16), nullable=False),
        sa.Column('check_reason', sa.Text(), nullable=False),
        sa.Column('checked_by', sa.String(length=64), nullable=True),
        sa.Column('checked_at', UTCDateTime(), nullable=True),
        sa.Column('notice', sa.Integer(), nullable=True),
        sa.Column('purged_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name='fk_case_files_case_id_cases', ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['step_id'], ['steps.id'], name='fk_case_files_step_id_steps', ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_case_files_case_material', 'case_files', ['case_id', 'material'])
    op.create_index('ix_case_files_sha256', 'case_files', ['sha256'])
    op.create_index('ix_case_files_staged', 'case_files', ['staged_by'],
                    postgresql_where=_STAGED, sqlite_where=_STAGED)
    op.create_table(
        'deferred_materials',
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('material', sa.String(length=200), nullable=False),
        sa.Column('promised_on', sa.Date(), nullable=False),
        sa.Column('committed_by', sa.String(length=64), nullable=False),
        sa.Column('committed_at', UTCDateTime(), nullable=False),
        sa.Column('reminded_at', UTCDateTime(), nullable=True),
        sa.Column('supplied_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name='fk_deferred_materials_case_id_cases',
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('case_id', 'material'),
    )
    op.create_index('ix_deferred_materials_due', 'deferred_materials', ['promised_on'],
                    postgresql_where=sa.text('supplied_at IS NULL'), sqlite_where=sa.text('supplied_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_deferred_materials_due', table_name='deferred_materials')
    op.drop_table('deferred_materials')
    op.drop_index('ix_case_files_staged', table_name='case_files')
    op.drop_index('ix_case_files_sha256', table_name='case_files')
    op.drop_index('ix_case_files_case_material', table_name='case_files')
    op.drop_table('case_files')
