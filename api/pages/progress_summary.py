"""The top of the progress page (办理进度): what the reader must do now, how far the case is, when
the next step is due, what is late and whom to ask — so nobody reads sixteen step cards to learn it.

What the reader "must do" is exactly what the engine lets this reader do and the case waits for:
the step actions :func:`engine.machine.access.allowed_actions` returned for them that only the
applicant's side can take (hand in 补正 materials, sign a commitment), and the 容缺 materials still
to bring while the engine takes them from this reader. Nothing here decides a rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from engine.machine.states import STEP_ACTIVE, StepState
from engine.records.queries import CaseStatus, StepStatus

WAITS_FOR_THE_APPLICANT: Mapping[str, tuple[str, str]] = {
    # action: (Chinese, English) of the to-do, {item} the step's item
    "hand_in_supplement": ("补正「{item}」所需材料", "hand in the materials requested for {item}"),
    "sign": ("签署「{item}」的告知承诺书", "sign the commitment letter of {item}"),
}
FINISHED = frozenset({StepState.DONE.value, StepState.REJECTED.value, StepState.CANCELLED.value})
ACTIVE = frozenset(s.value for s in STEP_ACTIVE)


@dataclass(frozen=True)
class ToDo:
    """One thing the reader must do, where on the page to do it, and by when."""

    zh: str
    en: str
    anchor: str
    due: date | None = None


@dataclass(frozen=True)
class ProgressSummary:
    todo: tuple[ToDo, ...]
    done: int
    total: int
    """The steps the case needs (skipped ones are not counted)."""
    next_due: date | None
    """The earliest due date among the steps being worked on."""
    overdue: tuple[StepStatus, ...]
    """Steps past their due date whose clock runs: the reader may ask their office."""
    active: tuple[StepStatus, ...]
    """The steps being worked on or waiting for someone now (shown open)."""
    finished: tuple[StepStatus, ...]
    waiting: tuple[StepStatus, ...]
    """Steps not released yet (waiting for earlier ones): shown folded, as the finished ones."""


def progress_summary(case: CaseStatus, *, steps: Sequence[StepStatus], actions: Mapping[str, Sequence[str]],
                     may_supply: bool, today: date) -> ProgressSummary:
    """The summary of ``case`` for a reader the engine allows ``actions`` (by step id) and, with
    ``may_supply``, the 容缺 hand-ins; ``steps``: the steps shown (skipped ones left out)."""
    todo = [ToDo(zh.format(item=step.item_name), en.format(item=step.item_name), f"step-{step.id}",
                 step.supplement_due_on if action == "hand_in_supplement" else step.due_on)
            for step in steps for action, (zh, en) in WAITS_FOR_THE_APPLICANT.items()
            if action in actions.get(step.id, ())]
    if may_supply:
        todo += [ToDo(f"补交容缺材料「{d.material}」", f"bring the deferred material {d.material}", "deferred",
                      d.promised_on) for d in case.deferred if not d.supplied]
    active = tuple(s for s in steps if s.state in ACTIVE)
    dues = [s.due_on for s in active if s.due_on is not None]
    overdue = tuple(s for s in active if s.due_on is not None and s.due_on < today
                    and s.state != StepState.SUPPLEMENT_REQUESTED.value)
    return ProgressSummary(
        todo=tuple(sorted(todo, key=lambda t: (t.due is None, t.due or today))),
        done=sum(1 for s in steps if s.state == StepState.DONE.value), total=len(steps),
        next_due=min(dues) if dues else None, overdue=overdue, active=active,
        finished=tuple(s for s in steps if s.state in FINISHED),
        waiting=tuple(s for s in steps if s.state not in ACTIVE and s.state not in FINISHED),
    )
