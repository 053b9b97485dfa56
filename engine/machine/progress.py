"""Moving a case forward after any change: releases, skips, cascades, case state, clocks.

``settle`` is called inside the transaction that changed a step, with the case row locked.
It loops until nothing changes, so a completion that releases a step that is skipped that
releases another is handled in one call. Because the case is locked, two parallel steps that
finish at the same moment are settled one after the other and their join is released once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from engine.time.calendar import TimeUnit
from engine.time.clock import local_date
from engine.db.models import Case, OutboxMessage, Step
from engine.runtime import Runtime
from engine.spec.models import BundleSpec, OnStepRejected, StepKind, StepSpec
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

class Readiness(Enum):
    """Whether a pending step may start now, must wait for its prerequisites, or never can."""

    WAIT = "wait"
    GO = "go"
    FAIL = "fail"


def _state(step: Step) -> StepState:
    return StepState(step.state)


def _readiness(spec: StepSpec, by_key: dict[str, list[Step]]) -> tuple[Readiness, str]:
    """Whether a pending step may start, must wait, or can never start (and why)."""
    for dep in spec.depends_on:
        states = [_state(s) for s in by_key[dep]]
        if any(s in STEP_FAILED for s in states):
            return Readiness.FAIL, f"prerequisite {dep} was {next(s for s in states if s in STEP_FAILED).value}"
        if not all(s in STEP_SATISFIED for s in states):
            return Readiness.WAIT, ""
    if spec.depends_on_any:
        states = [_state(s) for dep in spec.depends_on_any for s in by_key[dep]]
        if not any(s is StepState.DONE for s in states):
            if not all(s in STEP_TERMINAL for s in states):
                return Readiness.WAIT, ""
            if any(s in STEP_FAILED for s in states):
                return Readiness.FAIL, f"no alternative of {', '.join(spec.depends_on_any)} succeeded"
    return Readiness.GO, ""


def count_days(runtime: Runtime, unit: TimeUnit, start: date, end: date) -> int:
    """Days of ``unit`` in (start, end]: how long a stopped clock was stopped."""
    if unit is TimeUnit.WORKING_DAYS:
        return runtime.calendar.working_days_between(start, end)
    return max(0, (end - start).days)


def start_step_clock(runtime: Runtime, step: Step, spec: StepSpec, today: date) -> None:
    """(Re)start a step's clock: it counts from the working day after ``today``."""
    deadline = runtime.calendar.due(today, spec.time_limit.amount, spec.time_limit.unit)
    step.clock_start_on = today
    step.clock_stopped_on = None
    step.due_on = deadline.due_on
    step.due_provisional = deadline.provisional


def set_case_due(runtime: Runtime, case: Case, spec: BundleSpec) -> None:
    limit = spec.time_limit
    deadline = runtime.calendar.due(case.accepted_on, limit.amount + case.paused_days, limit.unit)
    case.due_on = deadline.due_on
    case.due_provisional = deadline.provisional


def _release(session: Session, runtime: Runtime, case: Case, step: Step, spec: StepSpec, at: datetime) -> None:
    today = local_date(at)
    transition_step(session, case=case, step=step, action="release", actor=SYSTEM, at=at)
    start_step_clock(runtime, step, spec, today)
    if spec.min_wait is not None:
        step.not_before = today + timedelta(days=spec.min_wait.calendar_days)
    if spec.kind is StepKind.AUTOMATED:
        session.add(
            OutboxMessage(
                topic="run_step",
                case_id=case.id,
                step_id=step.id,
                payload={"handler": spec.handler, "step": step.step_key},
                created_at=at,
                available_at=at,
            )
        )


def close_step(session: Session, *, case: Case, step: Step, action: str, at: datetime, reason: str) -> None:
    """Close an open step on the engine's own authority, with a reason: skip or cancel it, or
    reject an automated step whose check failed (the gate sets ``closed_at`` and ``reason``)."""
    transition_step(session, case=case, step=step, action=action, actor=SYSTEM, at=at, reason=reason)


def settle(session: Session, runtime: Runtime, *, case: Case, spec: BundleSpec, at: datetime) -> None:
    """Propagate the consequences of the last change until the case is consistent again."""
    steps: Sequence[Step] = case.steps
    by_key: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        by_key[step.step_key].append(step)
    changed = True
    while changed and CaseState(case.state) in CASE_OPEN:
        changed = _skip_untaken_alternatives(session, case, spec, by_key, at)
        if spec.on_step_rejected is OnStepRejected.REJECT_CASE and any(
            _state(s) is StepState.REJECTED for s in steps
        ):
            _reject_case(session, case, steps, at)
            break
        for step in steps:
            if _state(step) is not StepState.PENDING:
                continue
            step_spec = spec.step(step.step_key)
            readiness, why = _readiness(step_spec, by_key)
            if readiness is Readiness.FAIL:
                close_step(session, case=case, step=step, action="cancel", at=at, reason=why)
                changed = True
            elif readiness is Readiness.GO:
                _release(session, runtime, case, step, step_spec, at)
                changed = True
    _update_case_clock(runtime, case, spec, at)
    _update_case_state(session, case, steps, at)


def _skip_untaken_alternatives(
    session: Session, case: Case, spec: BundleSpec, by_key: dict[str, list[Step]], at: datetime
) -> bool:
    changed = False
    for step_spec in spec.steps:
        group = step_spec.depends_on_any
        taken = [k for k in group if any(_state(s) is StepState.DONE for s in by_key[k])]
        if not taken:
            continue
        for key in group:
            for other in by_key[key]:
                state = _state(other)
                if state in STEP_OPEN:
                    close_step(session, case=case, step=other, action="skip", at=at,
                               reason=f"alternative {taken[0]} was taken")
                    changed = True
    return changed


def _reject_case(session: Session, case: Case, steps: Sequence[Step], at: datetime) -> None:
    rejected = next(s for s in steps if _state(s) is StepState.REJECTED)
    for step in steps:
        if _state(step) in STEP_OPEN:
            close_step(session, case=case, step=step, action="cancel", at=at,
                       reason=f"case rejected: step {rejected.step_key} was rejected")
    transition_case(session, case=case, action="reject", actor=SYSTEM, at=at,
                    payload={"step": rejected.step_key, "reason": rejected.reason})


def _update_case_clock(runtime: Runtime, case: Case, spec: BundleSpec, at: datetime) -> None:
    """Stop the bundle's clock during 补正 and §45 excluded steps; resume by extending it."""
    today = local_date(at)
    excluded = {s.id for s in spec.steps if s.excluded_from_limit}
    stopped = CaseState(case.state) in CASE_OPEN and any(
        _state(s) is StepState.SUPPLEMENT_REQUESTED or (s.step_key in excluded and _state(s) in STEP_ACTIVE)
        for s in case.steps
    )
    if stopped and case.clock_stopped_on is None:
        case.clock_stopped_on = today
    elif not stopped and case.clock_stopped_on is not None:
        case.paused_days += count_days(runtime, spec.time_limit.unit, case.clock_stopped_on, today)
        case.clock_stopped_on = None
        set_case_due(runtime, case, spec)


def _update_case_state(session: Session, case: Case, steps: Sequence[Step], at: datetime) -> None:
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
        transition_case(session, case=case, action=action, actor=SYSTEM, at=at, payload=payload)
