"""The flat scope a step's condition is evaluated in, and which entries of a list belong together.

Shared by every condition of a running case (``Condition.evaluate(scope)``): the answers under
their field names, the current ``for_each`` entry under ``entry.<field>``, and the outputs of
finished steps under ``steps.<step_id>.outputs.<name>``. A condition that reads ``steps.*``
cannot be decided at intake, so it is decided when its step becomes releasable
(:func:`engine.machine.progress.settle`).

Steps that iterate the same list join entry by entry: employee 甲's 社保卡 step waits only for
甲's 参保登记, and a rejection of 甲's step cancels 甲's chain only (:func:`same_entry`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.db.models import Step
from engine.machine.states import StepState
from engine.spec.conditions import Condition, fields_of
from engine.spec.models import BundleSpec, StepSpec

ENTRY_PREFIX = "entry."
STEPS_PREFIX = "steps."
OUTPUTS = ".outputs."


def reads_steps(condition: Condition | None) -> bool:
    """Whether the condition reads a step's outputs (so it waits for the step to be releasable)."""
    return condition is not None and any(name.startswith(STEPS_PREFIX) for name in fields_of(condition))


def output_reference(name: str) -> tuple[str, str] | None:
    """``steps.<id>.outputs.<name>`` as (step id, output name); None for any other name."""
    if not name.startswith(STEPS_PREFIX) or OUTPUTS not in name:
        return None
    step_id, _, output = name[len(STEPS_PREFIX):].partition(OUTPUTS)
    return (step_id, output) if step_id and output else None


def same_entry(spec: BundleSpec, one: StepSpec, other_key: str) -> bool:
    """Whether instances of ``one`` and of step ``other_key`` pair entry by entry (both iterate
    the same list, so instance *i* of each works on the list's entry *i*)."""
    return one.for_each is not None and spec.step(other_key).for_each == one.for_each


def related(spec: BundleSpec, step: Step, key: str, instances: Iterable[Step]) -> list[Step]:
    """The instances of step ``key`` that ``step`` depends on: the same entry's when both iterate
    the same list, else every instance."""
    rows = list(instances)
    if same_entry(spec, spec.step(step.step_key), key):
        return [s for s in rows if s.instance == step.instance]
    return rows


def condition_scope(
    answers: Mapping[str, Any], *, entry: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The flat mapping a condition reads: answers, ``entry.<field>``, ``steps.<id>.outputs.<name>``."""
    scope = dict(answers)
    for name, value in (entry or {}).items():
        scope[f"{ENTRY_PREFIX}{name}"] = value
    for step_id, values in (outputs or {}).items():
        for name, value in values.items():
            scope[f"{STEPS_PREFIX}{step_id}{OUTPUTS}{name}"] = value
    return scope


def step_scope(spec: BundleSpec, answers: Mapping[str, Any], step: Step, by_key: Mapping[str, list[Step]]) -> dict[str, Any]:
    """The scope of a running step: its entry and the outputs of the finished steps it may read
    (for a step of the same list, the same entry's instance)."""
    outputs: dict[str, Mapping[str, Any]] = {}
    for key, rows in by_key.items():
        done = [s for s in related(spec, step, key, rows) if s.state == StepState.DONE.value]
        if len(done) == 1:
            outputs[key] = done[0].outputs or {}
    return condition_scope(answers, entry=step.entry, outputs=outputs)
