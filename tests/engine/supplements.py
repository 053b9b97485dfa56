"""补正 in the engine's flow, for tests about what follows it (clocks, extensions, documents): a
window records the paper original of every material the step's notice asks for, then the step's
officer confirms the receipt, which alone restarts the clock (行政许可法 §32)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.db.models import Step
from engine.machine.actions import hand_in_supplement, receive_supplement
from engine.machine.states import Actor
from engine.runtime import Runtime
from tests.engine.sample_people import CLERK, decider


def hand_in_all(session: Session, runtime: Runtime, step: Step, *, window: Actor = CLERK) -> Step:
    """A window records each requested material's paper original (the step stays waiting)."""
    for material in list(step.supplement["requested"]):
        hand_in_supplement(session, runtime, step_id=step.id, actor=window, material=material, paper=True)
    return step


def bring_supplement(session: Session, runtime: Runtime, step: Step, *, officer: Actor | None = None,
                     window: Actor = CLERK) -> Step:
    """Every requested material handed in at the window, and its receipt confirmed by ``officer``
    (default: the step's deciding office's officer, whom the tests' ``work`` helpers assign)."""
    hand_in_all(session, runtime, step, window=window)
    return receive_supplement(session, runtime, step_id=step.id, actor=officer or decider(step))
