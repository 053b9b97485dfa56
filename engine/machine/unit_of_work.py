"""The unit of work every action runs in: one transaction holding the case lock.

An action locks its case (:func:`load_step`, :func:`load_case`), reads it and all its steps
fresh after the lock, asks :func:`engine.machine.access.authorize` whether the caller may (outside
their sight the case or step does not exist, the same :class:`~engine.errors.NotFound` as for a
missing id), checks the caller's expected version (:func:`check_version`), and commits or rolls
back as one (:func:`in_transaction`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.db.models import Case, Step
from engine.db.session import lock_case, lock_case_of_step
from engine.errors import NotFound, StaleVersion

T = TypeVar("T")


def in_transaction(session: Session, work: Callable[[], T]) -> T:
    """Run ``work`` and commit, or roll back and re-raise."""
    try:
        result = work()
        session.commit()
        return result
    except BaseException:
        session.rollback()
        raise


_STEPS_OF_CASE = (select(Step).where(Step.case_id == bindparam("case_id")).order_by(Step.position)
                  .execution_options(populate_existing=True))


def _refresh_steps(session: Session, case: Case) -> list[Step]:
    """Re-read every step of a locked case, overwriting what this session remembers of them.

    Sessions keep loaded rows across commits (``expire_on_commit=False``), and ``settle`` and
    ``withdraw_case`` read all sibling steps through ``case.steps``: a copy loaded in an
    earlier transaction, changed since by another session, would otherwise be taken for the
    truth (a join never released, a done step cancelled again).
    """
    steps = list(session.scalars(_STEPS_OF_CASE, {"case_id": case.id}))
    # The same rows are the case's collection: ``case.steps`` is not read a second time.
    set_committed_value(case, "steps", steps)
    return steps


def load_step(session: Session, step_id: str) -> tuple[Case, Step]:
    """The step and its case, with the case locked and it and all its steps read fresh after the lock."""
    case = lock_case_of_step(session, step_id)
    if case is None:
        raise NotFound(f"no step {step_id}", field="step_id")
    step = next(s for s in _refresh_steps(session, case) if s.id == step_id)
    return case, step


def load_case(session: Session, case_id: str) -> Case:
    """The case, locked, with it and all its steps read fresh after the lock."""
    case = lock_case(session, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}", field="case_id")
    _refresh_steps(session, case)
    return case


def check_version(step: Step, expected_version: int | None) -> None:
    if expected_version is not None and step.version != expected_version:
        raise StaleVersion(
            f"step was changed by someone else (version {step.version}, you had {expected_version}); reload it",
            field="version",
        )
