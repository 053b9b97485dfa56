"""What an actor may do to a step now: the gate's rules plus the engine's scope rules.

Pages and the JSON step view show exactly these actions, so a button is never offered that the
engine would refuse for who the caller is (a stale version or bad input can still fail). The
answer is derived from :data:`~engine.machine.transitions.STEP_RULES` (state, kind, role,
``assignee_only``) and :func:`~engine.machine.unit_of_work.check_case_access` (region, own case,
own department) — nothing here restates a rule.
"""

from __future__ import annotations

from engine.db.models import Case, Step
from engine.errors import NotFound
from engine.machine.effects import declared_for
from engine.machine.states import Actor, Role, StepState
from engine.machine.transitions import STEP_RULES
from engine.machine.unit_of_work import check_case_access
from engine.spec.models import BundleSpec, StepKind


def allowed_actions(actor: Actor, step: Step, *, case: Case | None = None, spec: BundleSpec | None = None) -> list[str]:
    """The gate actions ``actor`` may ask for on ``step`` in its current state, in rule order,
    each once. ``case`` (the step's case) adds the region/own-case scope; without it only the
    department and assignee rules are applied. ``spec`` (the case's bundle) offers the actions
    the bundle declares (a second 补正 notice, a wait's declared events, a §42 extension); without
    it those follow the language's defaults (:func:`~engine.machine.effects.declared_for`)."""
    if case is not None:
        try:
            check_case_access(actor, case, step)
        except NotFound:
            return []
    if actor.role is Role.OFFICER and actor.department != step.department:
        return []
    state, kind = StepState(step.state), StepKind(step.kind)
    step_spec = next((s for s in spec.steps if s.id == step.step_key), None) if spec is not None else None
    found: list[str] = []
    for rule in STEP_RULES:
        if rule.action in found or not rule.allows(state) or actor.role not in rule.roles:
            continue
        if rule.kinds is not None and kind not in rule.kinds:
            continue
        if rule.assignee_only and step.assigned_to is not None and step.assigned_to != actor.id:
            continue
        if not declared_for(rule.effects, step, spec=step_spec, bundle=spec):
            continue
        found.append(rule.action)
    return found
