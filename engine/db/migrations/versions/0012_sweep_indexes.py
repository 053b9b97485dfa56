"""partial indexes for the deadline sweep and the worklist: open steps and cases by due date, waiting timers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

The sweep asks, every pass, for the open steps and cases due before a day and for the timers
whose wait ended (issue 14: parallel sequential scans of every step and case, also closed ones,
since closed steps keep their old due dates). Each of these indexes holds only the rows the
sweep can act on, so an empty pass reads nearly nothing and a busy one reads only the overdue.
A department's open steps by due date serve a worklist page by keyset at any depth.
The predicates are the models' (``engine.db.models``), written out: a migration is frozen.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_ACTIVE_STEP = "state IN ('ready','assigned','in_progress','supplement_requested')"
_OPEN_CASE = "state IN ('accepted','in_progress','supplement_requested')"
_WAITING_TIMER = "kind = 'timer' AND state = 'ready'"


def upgrade() -> None:
    op.create_index('ix_steps_open_department_due', 'steps', ['department', 'due_on'],
                    postgresql_where=sa.text(_ACTIVE_STEP), sqlite_where=sa.text(_ACTIVE_STEP))
    op.create_index('ix_steps_active_due', 'steps', ['due_on'],
                    postgresql_where=sa.text(_ACTIVE_STEP), sqlite_where=sa.text(_ACTIVE_STEP))
    op.create_index('ix_cases_open_due', 'cases', ['due_on'],
                    postgresql_where=sa.text(_OPEN_CASE), sqlite_where=sa.text(_OPEN_CASE))
    op.create_index('ix_steps_waiting_timers', 'steps', ['not_before'],
                    postgresql_where=sa.text(_WAITING_TIMER), sqlite_where=sa.text(_WAITING_TIMER))


def downgrade() -> None:
    op.drop_index('ix_steps_open_department_due', table_name='steps')
    op.drop_index('ix_steps_waiting_timers', table_name='steps')
    op.drop_index('ix_cases_open_due', table_name='cases')
    op.drop_index('ix_steps_active_due', table_name='steps')
