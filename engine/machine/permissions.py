"""What an actor may do to a step now: the gate's rules, asked of the one access check.

Pages and the JSON step view show exactly these actions, so a button is never offered that the
engine would refuse for who the caller is (a stale version or bad input can still fail). The
answer is the gate actions of :data:`~engine.machine.transitions.STEP_RULES` that the step's state
and kind allow and that :func:`engine.machine.access.refusal` lets the caller ask for (sight,
role, department, office and level, own case, receiving window, assignee), with what the bundle
declares (:func:`~engine.machine.effects.declared_for`) — nothing here restates a rule.

:func:`desks` answers the same way which desks an actor may open (the pages' navigation and
where one lands after login).
"""

from __future__ import annotations

from enum import StrEnum

from engine.db.models import Case, Step
from engine.machine.access import Access, Target, permits, refusal, sole_applicant, start_refusal
from engine.machine.effects import declared_for
from engine.machine.states import Actor, Role, StepState
from engine.machine.transitions import STEP_RULES
from engine.spec.models import BundleSpec, StepKind


def allowed_actions(actor: Actor, step: Step, *, case: Case | None = None, spec: BundleSpec | None = None) -> list[str]:
    """The gate actions ``actor`` may ask for on ``step`` in its current state, in rule order,
    each once. ``case`` is the step's case (default: ``step.case``). ``spec`` (the case's bundle)
    offers the actions the bundle declares (a second 补正 notice, a wait's declared events, a §42
    extension); without it those follow the language's defaults
    (:func:`~engine.machine.effects.declared_for`)."""
    target = Target(case=case if case is not None else step.case, step=step)
    if not permits(actor, Access.SEE_STEP, target):
        return []
    state, kind = StepState(step.state), StepKind(step.kind)
    step_spec = next((s for s in spec.steps if s.id == step.step_key), None) if spec is not None else None
    found: list[str] = []
    for rule in STEP_RULES:
        if rule.action in found or not rule.allows(state) or actor.role not in rule.roles:
            continue
        if rule.kinds is not None and kind not in rule.kinds:
            continue
        if refusal(actor, Access.ACT_ON_STEP, target, action=rule.action) is not None:
            continue
        if not declared_for(rule.effects, step, spec=step_spec, bundle=spec):
            continue
        found.append(rule.action)
    return found


class Desk(StrEnum):
    """A place an actor works from: what the pages link to and where one starts."""

    OWN_CASES = "own_cases"
    """One's own cases (a self-service applicant)."""
    SUPERVISION = "supervision"
    """The supervision desk (电子监察)."""
    INTAKE = "intake"
    """Starting a case: a window's intake, an applicant's online application."""
    WORKLIST = "worklist"
    """One's own department's worklist."""
    LICENCES = "licences"
    """One's own e-licences, to show as a QR code (扫码亮证)."""
    INBOX = "inbox"
    """One's notices (and an officer's office's), about every case."""
    CASE_SEARCH = "case_search"
    """Finding the cases of one's region (办件查询): a window, supervision."""


def desks(actor: Actor) -> list[Desk]:
    """The desks ``actor`` may use, as the access rules answer, their home first: one's own
    cases, the supervision desk, intake, one's department's worklist; then one's licences (an
    applicant) and one's notices (everyone)."""
    found = []
    if sole_applicant(actor) is not None:
        found.append(Desk.OWN_CASES)
    if permits(actor, Access.READ_SUPERVISION):
        found.append(Desk.SUPERVISION)
    if start_refusal(actor) is None:
        found.append(Desk.INTAKE)
    if sole_applicant(actor) is None and permits(actor, Access.FIND_CASES):
        found.append(Desk.CASE_SEARCH)
    if actor.department is not None and permits(actor, Access.READ_WORKLIST, Target(department=actor.department)):
        found.append(Desk.WORKLIST)
    if sole_applicant(actor) is not None:
        found.append(Desk.LICENCES)
    if actor.role is not Role.SYSTEM:
        found.append(Desk.INBOX)
    return found
