"""Loader checks of a bundle's step graph: handlers, hard dependencies on alternatives, and
warnings when a step's limit or the longest chain of steps exceeds the bundle's limit.

Problems and warnings are bilingual and go through the loader's ``add``/``warn(problem, loc,
step)``, so they name the file, the line and the step like every other spec problem.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from fractions import Fraction

from engine.spec.models import BundleSpec, ClockEvent, StepSpec, TimeLimit
from engine.time.calendar import TimeUnit

Add = Callable[..., None]

# A working week is 5 of 7 calendar days: how a limit in one unit is compared with one in the
# other (an estimate, said so in the warning; holidays make the real span longer).
_PER_CALENDAR_DAY = {TimeUnit.WORKING_DAYS: Fraction(5, 7), TimeUnit.CALENDAR_DAYS: Fraction(1)}


def check_graph(bundle: BundleSpec, *, handlers: Collection[str] | None, add: Add, warn: Add) -> None:
    """Handlers against the registry (when known), hard dependencies on alternatives (refused),
    limits longer than the bundle's (warned)."""
    alternative_of = {dep: s.id for s in bundle.steps for dep in s.depends_on_any}
    for i, step in enumerate(bundle.steps):
        loc: tuple[str | int, ...] = ("steps", i)
        if handlers is not None and step.handler is not None and step.handler not in handlers:
            known = ", ".join(sorted(handlers)) or "none"
            add(f"unknown handler {step.handler!r} (registered: {known}) / 未注册的处理程序 {step.handler!r}",
                loc + ("handler",), step.id)
        for j, dep in enumerate(step.depends_on):
            owner = alternative_of.get(dep)
            if owner is not None and owner != step.id:
                add(f"depends_on {dep!r}, an alternative of step {owner!r} (depends_on_any): it is skipped once "
                    f"another alternative is done, which would release this step; depend on {owner!r} instead / "
                    f"{dep!r} 是步骤 {owner!r} 的备选环节（depends_on_any），另一备选完成后即被跳过，"
                    f"本步骤将随之放行；请改为依赖 {owner!r}", loc + ("depends_on", j), step.id)
        if not step.excluded_from_limit and _exceeds(step.time_limit, bundle.time_limit):
            warn(f"warning: time_limit {_words(step.time_limit)} exceeds the bundle's {_words(bundle.time_limit)} / "
                 f"提示：本环节时限超过事项承诺时限", loc + ("time_limit",), step.id)
    _warn_critical_path(bundle, warn=warn)


def _days(limit: TimeLimit, unit: TimeUnit) -> Fraction:
    """``limit`` counted in ``unit`` (exact when the units agree)."""
    if limit.unit is unit:
        return Fraction(limit.amount)
    return limit.amount / _PER_CALENDAR_DAY[limit.unit] * _PER_CALENDAR_DAY[unit]


def _exceeds(limit: TimeLimit, bundle_limit: TimeLimit) -> bool:
    return _days(limit, bundle_limit.unit) > bundle_limit.amount


def _words(limit: TimeLimit) -> str:
    return f"{limit.amount} {limit.unit.value.replace('_', ' ')}"


def _warn_critical_path(bundle: BundleSpec, *, warn: Add) -> None:
    """The longest chain of counted steps, each starting when its prerequisites allow (all of
    ``depends_on``, the first of ``depends_on_any``); §45-excluded steps count nothing."""
    unit = bundle.time_limit.unit
    steps = {s.id: s for s in bundle.steps}
    finish: dict[str, tuple[Fraction, tuple[str, ...]]] = {}
    begin: dict[str, Fraction] = {}

    def end(step: StepSpec, visiting: frozenset[str]) -> tuple[Fraction, tuple[str, ...]]:
        if step.id in finish:
            return finish[step.id]
        if step.id in visiting:  # a cycle: reported by the loader's own check
            return Fraction(0), ()
        inside = visiting | {step.id}
        start: tuple[Fraction, tuple[str, ...]] = (Fraction(0), ())
        hard = [end(steps[d], inside) for d in step.depends_on if d in steps]
        if hard:
            start = max(hard, key=lambda e: e[0])
        alternatives = [end(steps[d], inside) for d in step.depends_on_any if d in steps]
        if alternatives:
            start = max(start, min(alternatives, key=lambda e: e[0]), key=lambda e: e[0])
        own = Fraction(0) if step.excluded_from_limit else _days(step.time_limit, unit)
        begin[step.id] = start[0]
        finish[step.id] = (start[0] + own, (*start[1], step.id))
        origin = step.clock_from
        if origin is not None and origin.step in steps and not step.excluded_from_limit:
            # The limit counts from another step's event (one limit over phases, or a deadline an
            # earlier step set): the step is due that long after the event, not after its own start.
            other = end(steps[origin.step], inside)
            since = begin[origin.step] if origin.event is ClockEvent.RELEASED else other[0]
            finish[step.id] = (max(start[0], since + own), finish[step.id][1])
        return finish[step.id]

    longest = max((end(s, frozenset()) for s in bundle.steps), key=lambda e: e[0])
    if longest[0] > bundle.time_limit.amount and len(longest[1]) > 1:
        mixed = any(steps[s].time_limit.unit is not unit for s in longest[1] if not steps[s].excluded_from_limit)
        total = f"{'about ' if mixed else ''}{round(float(longest[0]), 1):g} {unit.value.replace('_', ' ')}"
        warn(f"warning: the longest chain of steps ({' -> '.join(longest[1])}) takes {total}, more than the "
             f"bundle's {_words(bundle.time_limit)} / 提示：最长办理链（{' -> '.join(longest[1])}）超过事项承诺时限",
             ("time_limit",), None)
