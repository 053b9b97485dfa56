"""Moving a case forward after any change: releases, skips, cascades, case state, clocks.

``settle`` is called inside the transaction that changed a step, with the case row locked.
It loops until nothing changes, so a completion that releases a step that is skipped that
releases another is handled in one call. Because the case is locked, two parallel steps that
finish at the same moment are settled one after the other and their join is released once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from engine.db.models import Case, Step
from engine.machine.effects import Inputs, lapsed
from engine.runtime import Runtime
from engine.spec.models import BundleSpec, OnStepRejected
from engine.machine.states import (
    CASE_OPEN,
    STEP_ACTIVE,
    STEP_FAILED,
    STEP_OPEN,
    STEP_SATISFIED,
    STEP_TERMINAL,
    STEP_WORKING,
    SYSTEM,
    CaseState,
    StepState,
)
from engine.machine.transitions import transition_case, transition_step
from engine.machine.scope import reads_steps, related, step_scope

class Readiness(Enum):
    """Whether a pending step may start now, must wait for its prerequisites, or never can."""

    WAIT = "wait"
    GO = "go"
    FAIL = "fail"


def _state(step: Step) -> StepState:
    return StepState(step.state)


def _readiness(spec: BundleSpec, step: Step, by_key: dict[str, list[Step]]) -> tuple[Readiness, str]:
    """Whether a pending step may start, must wait, or can never start (and why).

    A prerequisite over the same ``for_each`` list counts only the same entry's instance, so one
    entry's refusal cancels that entry's chain only; any other prerequisite counts every instance.
    """
    step_spec = spec.step(step.step_key)
    for dep in step_spec.depends_on:
        states = [_state(s) for s in related(spec, step, dep, by_key[dep])]
        if any(s in STEP_FAILED for s in states):
            return Readiness.FAIL, f"prerequisite {dep} was {next(s for s in states if s in STEP_FAILED).value}"
        if not all(s in STEP_SATISFIED for s in states):
            return Readiness.WAIT, ""
    if step_spec.depends_on_any:
        states = [_state(s) for dep in step_spec.depends_on_any for s in related(spec, step, dep, by_key[dep])]
        if not any(s is StepState.DONE for s in states):
            if not all(s in STEP_TERMINAL for s in states):
                return Readiness.WAIT, ""
            if any(s in STEP_FAILED for s in states):
                return Readiness.FAIL, f"no alternative of {', '.join(step_spec.depends_on_any)} succeeded"
    return Readiness.GO, ""


def _release(session: Session, runtime: Runtime, *, case: Case, step: Step, at: datetime) -> None:
    """Release a step whose prerequisites are met (the gate starts its clock and queues it if automated)."""
    transition_step(session, runtime, case=case, step=step, action="release", actor=SYSTEM, at=at)


def _close(session: Session, runtime: Runtime, *, case: Case, step: Step, action: str, at: datetime,
           reason: str) -> None:
    """Skip or cancel an open step on the engine's own authority, with a reason."""
    transition_step(session, runtime, case=case, step=step, action=action, actor=SYSTEM, at=at,
                    inputs=Inputs(reason=reason))


def settle(session: Session, runtime: Runtime, *, case: Case, spec: BundleSpec, at: datetime) -> None:
    """Propagate the consequences of the last change until the case is consistent again."""
    steps: Sequence[Step] = case.steps
    by_key: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        by_key[step.step_key].append(step)
    changed = True
    while changed and CaseState(case.state) in CASE_OPEN:
        changed = _skip_untaken_alternatives(session, runtime, case=case, spec=spec, by_key=by_key, at=at)
        if spec.on_step_rejected is OnStepRejected.REJECT_CASE and any(_failed_itself(s) for s in steps):
            _reject_case(session, runtime, case=case, steps=steps, at=at)
            break
        for step in steps:
            if _state(step) is not StepState.PENDING:
                continue
            readiness, why = _readiness(spec, step, by_key)
            if readiness is Readiness.FAIL:
                _close(session, runtime, case=case, step=step, action="cancel", at=at, reason=why)
                changed = True
            elif readiness is Readiness.GO:
                condition = spec.step(step.step_key).when
                if reads_steps(condition) and condition is not None and not condition.evaluate(
                    step_scope(spec, case.answers, step, by_key)
                ):
                    # decided now, on the outputs of the steps before it (intake could not)
                    _close(session, runtime, case=case, step=step, action="skip", at=at, reason="condition not met")
                else:
                    _release(session, runtime, case=case, step=step, at=at)
                changed = True
    _update_case_clock(session, runtime, case=case, spec=spec, at=at)
    _update_case_state(session, runtime, case=case, steps=steps, at=at)


def _skip_untaken_alternatives(
    session: Session, runtime: Runtime, *, case: Case, spec: BundleSpec, by_key: dict[str, list[Step]], at: datetime
) -> bool:
    changed = False
    for step_spec in spec.steps:
        group = step_spec.depends_on_any
        for key in group:
            for other in by_key[key]:
                if _state(other) not in STEP_OPEN:
                    continue
                # an alternative over the same list is taken entry by entry
                taken = [k for k in group if k != key
                         and any(_state(s) is StepState.DONE for s in related(spec, other, k, by_key[k]))]
                if taken:
                    _close(session, runtime, case=case, step=other, action="skip", at=at,
                           reason=f"alternative {taken[0]} was taken")
                    changed = True
    return changed


def _failed_itself(step: Step) -> bool:
    """A step that failed on its own account, not because a prerequisite failed: refused, or
    withdrawn because its 补正 window passed (逾期未补正，视为撤回) — under ``reject_case`` either
    ends the whole case, since the bundle can no longer be completed."""
    return _state(step) is StepState.REJECTED or lapsed(step)


def _reject_case(session: Session, runtime: Runtime, *, case: Case, steps: Sequence[Step], at: datetime) -> None:
    rejected = next(s for s in steps if _failed_itself(s))
    how = "was rejected" if _state(rejected) is StepState.REJECTED else "was deemed withdrawn"
    for step in steps:
        if _state(step) in STEP_OPEN:
            _close(session, runtime, case=case, step=step, action="cancel", at=at,
                   reason=f"case rejected: step {rejected.step_key} {how}")
    transition_case(session, runtime, case=case, action="reject", actor=SYSTEM, at=at,
                    payload={"step": rejected.step_key, "reason": rejected.reason})


def _update_case_clock(session: Session, runtime: Runtime, *, case: Case, spec: BundleSpec, at: datetime) -> None:
    """Stop the bundle's clock during 补正, and while a §45 excluded step runs with no counted step
    running beside it; resume it (moving the due date) after."""
    stopped = CaseState(case.state) in CASE_OPEN and clock_held(case.steps, spec)
    if stopped and case.clock_stopped_on is None:
        transition_case(session, runtime, case=case, action="stop_clock", actor=SYSTEM, at=at)
    elif not stopped and case.clock_stopped_on is not None and CaseState(case.state) in CASE_OPEN:
        transition_case(session, runtime, case=case, action="resume_clock", actor=SYSTEM, at=at)


def clock_held(steps: Sequence[Step], spec: BundleSpec) -> bool:
    """Whether the bundle's clock stands still: a step awaits 补正 (§32), or a §45 excluded step
    (hearing, expert review, publicity) runs while no counted step runs beside it — counted work
    in parallel keeps the clock running, since that time is not spent only on the excluded step."""
    excluded = {s.id for s in spec.steps if s.excluded_from_limit}
    active = [s for s in steps if _state(s) in STEP_ACTIVE]
    if any(_state(s) is StepState.SUPPLEMENT_REQUESTED for s in active):
        return True
    return any(s.step_key in excluded for s in active) and all(s.step_key in excluded for s in active)


def _update_case_state(session: Session, runtime: Runtime, *, case: Case, steps: Sequence[Step], at: datetime) -> None:
    state = CaseState(case.state)
    if state not in CASE_OPEN:
        return
    states = [_state(s) for s in steps]
    action: str | None = None
    payload: dict[str, Any] = {}
    if all(s in STEP_TERMINAL for s in states):
        done = sum(s is StepState.DONE for s in states)
        failed = sum(s in STEP_FAILED for s in states)
        action = "complete" if not failed else ("partially_complete" if done else "reject")
        payload = {"done": done, "failed": failed}
    elif StepState.SUPPLEMENT_REQUESTED in states:
        action = "await_supplement" if state is not CaseState.SUPPLEMENT_REQUESTED else None
    elif state is CaseState.SUPPLEMENT_REQUESTED or (
        state is CaseState.ACCEPTED
        and any(s in STEP_WORKING or s in {StepState.DONE, StepState.REJECTED} for s in states)
    ):
        action = "progress"
    if action is not None:
        transition_case(session, runtime, case=case, action=action, actor=SYSTEM, at=at, payload=payload)
