"""Loader checks of a bundle's time keys: minimum waits, 补正 notices and windows, declared timer
events (no objection / objection), §42 extensions and clocks counted from another step's event.

Each problem is bilingual and reported through the loader's ``add(problem, loc, step)``, so it
names the file, the line and the step like every other spec problem.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.spec.models import BundleSpec, ClockEvent, StepKind, StepSpec

Add = Callable[..., None]
DESK = frozenset({StepKind.HUMAN, StepKind.COMMITMENT})


def check_bundle_time(bundle: BundleSpec, *, add: Add) -> None:
    """Bundle-level time keys (a maximum extension must fit some step's limit unit) and the
    steps' ``clock_from``, which names another step of the bundle."""
    for i, step in enumerate(bundle.steps):
        _check_clock_from(bundle, step, ("steps", i), add=add)
    if bundle.max_extension is not None and not any(
        s.time_limit.unit is bundle.max_extension.unit for s in bundle.steps if s.kind in DESK
    ):
        add(f"max_extension counts in {bundle.max_extension.unit}, but no desk step's limit does / "
            "max_extension 的计时单位与任何人工环节的时限不一致", ("max_extension",))


def _waits_for(bundle: BundleSpec, step: StepSpec) -> set[str]:
    """Every step ``step`` waits for, directly or transitively (known ids only)."""
    known = {s.id: s for s in bundle.steps}
    found: set[str] = set()
    todo = [d for d in step.prerequisites if d in known]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(d for d in known[current].prerequisites if d in known)
    return found


def _check_clock_from(bundle: BundleSpec, step: StepSpec, loc: tuple[str | int, ...], *, add: Add) -> None:
    origin = step.clock_from
    if origin is None:
        return
    where = loc + ("clock_from",)
    if origin.step == step.id:
        add("clock_from names the step itself / clock_from 不能指向本环节", where, step.id)
    elif origin.step not in {s.id for s in bundle.steps}:
        add(f"clock_from: unknown step {origin.step!r} / clock_from 指向的环节不存在", where, step.id)
    elif origin.event is ClockEvent.DONE and origin.step not in _waits_for(bundle, step):
        add(f"clock_from: {step.id!r} does not wait for {origin.step!r}, so it may start before that step is done "
            f"/ 本环节不依赖 {origin.step}，无法从其办结之日起算", where, step.id)


def check_step_time(step: StepSpec, loc: tuple[str | int, ...], *, add: Add) -> None:
    """A step's time keys, against its kind and its own limit."""
    sid = step.id
    wait = step.min_wait
    if wait is not None and wait.unit is step.time_limit.unit and wait.amount > step.time_limit.amount:
        add(f"min_wait ({wait.amount} {wait.unit}) outlasts the step's time_limit ({step.time_limit.amount}) / "
            "最短等待期超过了本环节办理时限", loc + ("min_wait",), sid)
    for key in ("on_no_objection", "on_objection"):
        if getattr(step, key) is not None and step.kind is not StepKind.TIMER:
            add(f"{key} is for timer steps (a waiting period), not a {step.kind} step / {key} 仅适用于等待期（timer）环节",
                loc + (key,), sid)
    if step.kind not in DESK:
        if step.supplement_window is not None:
            add(f"supplement_window: a {step.kind} step sends no 补正 notice / 非人工环节不发补正通知",
                loc + ("supplement_window",), sid)
        if step.supplement_notices != 1:
            add(f"supplement_notices: a {step.kind} step sends no 补正 notice / 非人工环节不发补正通知",
                loc + ("supplement_notices",), sid)
        if step.max_extension is not None:
            add(f"max_extension: only an officer's step is extended (§42), not a {step.kind} step / "
                "仅人工环节可延长办理时限", loc + ("max_extension",), sid)
    elif step.max_extension is not None and step.max_extension.unit is not step.time_limit.unit:
        add(f"max_extension counts in {step.max_extension.unit}, the step's time_limit in {step.time_limit.unit} / "
            "延长期限与办理时限的计时单位须一致", loc + ("max_extension",), sid)
