"""What the sweep does as days pass: timer steps are released once their minimum waiting period
has passed, 补正 notices whose hand-in window passed without the materials lapse, and the
applicant is reminded of a 容缺 material a few working days before the date they promised it by.

Both select their candidates in one read, then lock each case and act through the gate with the
engine as actor, re-checking under the lock (an applicant may have handed in meanwhile): a step
is never released or lapsed twice, so passes may overlap or repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Case, DeferredMaterial, Step
from engine.machine.effects import Inputs, supplement_lapsed_on
from engine.machine.material_effects import missing_materials
from engine.machine.progress import settle
from engine.machine.states import SYSTEM, StepState
from engine.machine.transitions import transition_case, transition_step
from engine.machine.unit_of_work import in_transaction, load_case, load_step
from engine.runtime import Runtime
from engine.time.clock import local_date


def _each(session: Session, runtime: Runtime, step_ids: list[str], act: Callable[[Case, Step, datetime], bool]) -> list[str]:
    """Run ``act`` on each step in a unit of work of its own (case locked, settled after); the ids
    of the steps it acted on."""
    session.rollback()  # end the read transaction before locking case by case
    done = []
    for step_id in step_ids:

        def work(step_id: str = step_id) -> bool:
            case, step = load_step(session, step_id)
            now = runtime.clock.now()
            if not act(case, step, now):
                return False
            settle(session, runtime, case=case, spec=runtime.spec_for(session, case), at=now)
            return True

        if in_transaction(session, work):
            done.append(step_id)
    return done


def release_due_timers(session: Session, runtime: Runtime, *, limit: int = 500) -> list[str]:
    """Complete timer steps whose minimum wait has passed; return their step ids."""
    today = runtime.today()
    due = list(
        session.scalars(
            select(Step.id)
            .where(Step.kind == "timer", Step.state == StepState.READY.value, Step.not_before <= today)
            .limit(limit)
        )
    )

    def release(case: Case, step: Step, now: datetime) -> bool:
        if step.state != StepState.READY.value:
            return False  # someone else released it meanwhile
        outputs = {"waited_until": step.not_before.isoformat() if step.not_before else None}
        transition_step(session, runtime, case=case, step=step, action="complete", actor=SYSTEM, at=now,
                        inputs=Inputs(outputs=outputs))
        return True

    return _each(session, runtime, due, release)


def lapse_supplement_windows(session: Session, runtime: Runtime, *, limit: int = 500) -> list[str]:
    """逾期未补正的视为撤回申请: close every step whose 补正 hand-in window (``hand_in_by``, the last
    working day the bundle's ``supplement_window`` gives) ended before today with the materials
    still awaited; return their step ids.

    Each goes through the gate's ``lapse_supplement`` rule (the engine as actor, one audit event
    naming the window) to ``cancelled``, as a withdrawal closes steps; settling then cancels its
    dependents (the same entry's only, for a ``for_each`` chain), resumes the bundle clock the
    notice stopped, and under ``on_step_rejected: reject_case`` rejects the case. A step whose
    notice has no window never lapses."""
    today = runtime.today()
    due = list(
        session.scalars(
            select(Step.id)
            .where(Step.state == StepState.SUPPLEMENT_REQUESTED.value,
                   # ISO dates compare as text; a notice without a window has no hand_in_by (NULL)
                   Step.supplement["hand_in_by"].as_string() < today.isoformat())
            .order_by(Step.id)
            .limit(limit)
        )
    )

    def lapse(case: Case, step: Step, now: datetime) -> bool:
        if supplement_lapsed_on(step, local_date(now)) is None or not missing_materials(session, step):
            return False  # handed in (in time: the receipt waits for the officer), or lapsed by another pass
        transition_step(session, runtime, case=case, step=step, action="lapse_supplement", actor=SYSTEM, at=now)
        return True

    return _each(session, runtime, due, lapse)


def remind_deferred_materials(session: Session, runtime: Runtime, *, days_before: int,
                              limit: int = 500) -> list[tuple[str, str]]:
    """容缺受理: record a reminder for every deferred material not yet supplied nor reminded whose
    promised date is at most ``days_before`` working days away (or already passed); return the
    (case id, material) pairs reminded.

    Each reminder goes through the gate's ``remind_deferred`` case rule (the engine as actor, one
    audit event naming the material and the date; ``reminded_at`` set, so never twice). The
    applicant sees it on the case's progress (``CaseStatus.deferred``); sending it by email or
    SMS comes with the notifications (issue 13): nothing is sent here."""
    today = runtime.today()
    # working days are at most this many calendar days (weekends, the longest holidays): a bound for SQL
    horizon = today + timedelta(days=2 * days_before + 14)
    rows = session.execute(
        select(DeferredMaterial.case_id, DeferredMaterial.material, DeferredMaterial.promised_on)
        .join(Case, Case.id == DeferredMaterial.case_id)
        .where(DeferredMaterial.supplied_at.is_(None), DeferredMaterial.reminded_at.is_(None),
               DeferredMaterial.promised_on <= horizon, Case.closed_at.is_(None))
        .order_by(DeferredMaterial.promised_on, DeferredMaterial.case_id, DeferredMaterial.material)
        .limit(limit)
    ).all()
    due = [(case_id, material) for case_id, material, promised_on in rows
           if promised_on <= today or runtime.calendar.working_days_between(today, promised_on) <= days_before]
    session.rollback()  # end the read transaction before locking case by case
    done = []
    for case_id, material in due:

        def work(case_id: str = case_id, material: str = material) -> bool:
            case = load_case(session, case_id)
            row = session.get(DeferredMaterial, (case_id, material), populate_existing=True)
            if case.closed_at is not None or row is None or row.supplied_at is not None or row.reminded_at is not None:
                return False  # supplied, reminded by another pass, or the case closed meanwhile
            transition_case(session, runtime, case=case, action="remind_deferred", actor=SYSTEM,
                            at=runtime.clock.now(), inputs=Inputs(materials=[material]))
            return True

        if in_transaction(session, work):
            done.append((case_id, material))
    return done
