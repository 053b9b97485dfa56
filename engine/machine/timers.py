"""Timer steps: released by the sweep once their minimum waiting period has passed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Step
from engine.machine.effects import Inputs
from engine.machine.progress import settle
from engine.machine.states import SYSTEM, StepState
from engine.machine.transitions import transition_step
from engine.machine.unit_of_work import in_transaction, load_step
from engine.runtime import Runtime


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
    session.rollback()  # end the read transaction before locking case by case
    released = []
    for step_id in due:

        def work(step_id: str = step_id) -> bool:
            case, step = load_step(session, step_id)
            if step.state != StepState.READY.value:
                return False  # someone else released it meanwhile
            now = runtime.clock.now()
            outputs = {"waited_until": step.not_before.isoformat() if step.not_before else None}
            transition_step(session, runtime, case=case, step=step, action="complete", actor=SYSTEM, at=now,
                            inputs=Inputs(outputs=outputs))
            settle(session, runtime, case=case, spec=runtime.spec_for(session, case), at=now)
            return True

        if in_transaction(session, work):
            released.append(step_id)
    return released
