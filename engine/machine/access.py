"""Who may do what: the one rule table (:data:`ACCESS_RULES`) and the one function that reads it
(:func:`authorize`; :func:`refusal` and :func:`permits` give the same answer without raising).

Every engine action and every read is an :class:`Access`. A :class:`Grant` names the roles that
have it and what must hold between the actor and what is asked about (its :class:`Reach`es, all
of them); the grants of one access add up. What is asked about is a :class:`Target`: a case, a
step of a case, a department's worklist, or a case about to be started.

Levels come with routing: release sends a step to one office, its department's at the division
of the step's deciding level (``11@430102`` a county's, ``15@430000`` the province's), and the
step is decided in that office's region (:func:`engine.machine.routing.deciding_region`; before
release, the case's region). "The officer's region covers where the step is decided" is
therefore "covers the step's deciding region at the step's level": a county officer never
decides a province-level step; a province officer of the department may decide any of its steps
in the province.

Which gate action each role may ask for, in which state, and whether only the step's assignee
may, is the gate's own table (:data:`~engine.machine.transitions.STEP_RULES`,
:data:`~engine.machine.transitions.CASE_RULES`); :func:`authorize` reads it too, so every engine
action refuses a caller for who they are here, inside its locked transaction, before the gate
looks at the state. The answers:

- outside one's sight (a case or step one may not see: :data:`SIGHT`) a :class:`NotFound` naming
  nothing, the same as for an id never issued;
- in sight, but not one's role or not within one's reach: :class:`Forbidden` (403);
- assignee-only work on a step claimed by someone else: :class:`ClaimedByAnother` (409).

:func:`engine.machine.permissions.allowed_actions` offers exactly the gate actions
:func:`refusal` lets through; the read models (:mod:`engine.records.queries`) ask
:func:`permits` and list with :func:`decided_within`, the same rule in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from sqlalchemy import ColumnElement, func, or_

from engine.db.models import Case, Step
from engine.errors import ClaimedByAnother, DomainError, Forbidden, NotFound
from engine.machine.routing import deciding_region
from engine.machine.states import (
    DEPARTMENT_OFFICERS,
    DOCUMENT_READERS,
    GOVERNMENT_STAFF,
    Actor,
    CaseState,
    Role,
    StepState,
)
from engine.machine.transitions import CASE_RULES, STEP_RULES, Rule
from engine.people.regions import region_prefix
from engine.spec.models import StepKind
from engine.records.labels import role_may_not

__all__ = [
    "ACCESS_RULES",
    "SIGHT",
    "Access",
    "Grant",
    "Reach",
    "Target",
    "authorize",
    "claimed_by_another",
    "decided_within",
    "list_scope",
    "permits",
    "refusal",
    "region_covers",
    "sole_applicant",
    "start_refusal",
]


class Access(StrEnum):
    """Something an actor may ask the engine to do or to show."""

    SEE_CASE = "see_case"
    """Read a case (its record, its progress)."""
    SEE_STEP = "see_step"
    """Read a step in full (its fields, materials, results); otherwise only as the case's progress."""
    ACT_ON_STEP = "act_on_step"
    """Ask the gate for an action on a step (the gate's STEP_RULES say which role asks for which)."""
    ACT_ON_CASE = "act_on_case"
    """Ask the gate for an action on a case: withdraw it (CASE_RULES say who)."""
    START_CASE = "start_case"
    """Apply, or ask for a prefilled form, for an applicant in a region."""
    READ_WORKLIST = "read_worklist"
    """List a department's open work."""
    READ_SUPERVISION = "read_supervision"
    """The supervision desk: cards, statistics, the outbox."""
    FIND_CASES = "find_cases"
    """Search the cases of one's region by receipt number or applicant (a window, supervision)."""
    READ_DOCUMENTS = "read_documents"
    """Print a case's receipt and notices (the whole application and every step's result)."""
    SEE_WHO_ACTED = "see_who_acted"
    """The staff behind each audit event and a step's assignee (never shown to applicants)."""
    READ_CASE_FILES = "read_case_files"
    """Read every file handed in for a case (an officer reads only the files of their step's
    materials, as seeing the step: :func:`engine.documents.files.may_read_material`)."""
    CHECK_MATERIAL = "check_material"
    """材料核验: accept a handed-in material, or return it with a reason."""
    RATE_CASE = "rate_case"
    """好差评: rate a finished case or one of its steps (the applicant; a window recording it for them)."""


class Reach(StrEnum):
    """What must hold between an actor and a :class:`Target` for a grant to apply."""

    ANYWHERE = "anywhere"
    OWN_CASE = "own_case"
    """The case is the actor's own: its applicant is the actor's subject."""
    CASE_REGION = "case_region"
    """The actor's region covers the case's region (the applicant's)."""
    RECEIVED = "received"
    """The actor's region covers the region of the window that received the case (受理地)."""
    DEPARTMENT = "department"
    """The step (or the worklist) is the actor's department's."""
    OFFICE = "office"
    """The actor's region covers where the step is decided, at the step's level (its office's region:
    :func:`~engine.machine.routing.deciding_region`)."""
    SOME_STEP = "some_step"
    """The actor may see one of the case's steps (not skipped): an officer sees the cases their
    department works on."""
    REGION = "region"
    """The actor has a region (a staff token without one reaches nothing)."""
    PROVINCE = "province"
    """The case's region lies in the actor's province (无差别受理: any window of the province
    accepts any applicant of the province; the case records it as its 受理地, ``received_in``)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Role ``roles`` have ``access`` where every one of ``reach`` holds."""

    access: Access
    roles: frozenset[Role]
    reach: frozenset[Reach]


def _grant(access: Access, roles: Iterable[Role], *reach: Reach) -> Grant:
    return Grant(access=access, roles=frozenset(roles), reach=frozenset(reach))


EVERYWHERE = frozenset({Role.ADMIN, Role.SYSTEM})
"""The roles every case and step is within (admins read and act across regions; the engine)."""

ACCESS_RULES: tuple[Grant, ...] = (
    # A case: the applicant's own; the region's, for the window and supervision; the receiving
    # window's, for a case it took in for an applicant of another region (异地代收); an officer's
    # (or a supervisor's) whose step in it they may see.
    _grant(Access.SEE_CASE, EVERYWHERE, Reach.ANYWHERE),
    _grant(Access.SEE_CASE, {Role.APPLICANT}, Reach.OWN_CASE),
    _grant(Access.SEE_CASE, {Role.CLERK, Role.SUPERVISOR}, Reach.CASE_REGION),
    _grant(Access.SEE_CASE, {Role.CLERK}, Reach.RECEIVED),
    _grant(Access.SEE_CASE, {Role.OFFICER, Role.SUPERVISOR}, Reach.SOME_STEP),
    # A step in full: as the case, except that an officer sees only their department's steps
    # decided by an office their region covers, and a supervisor also the steps their region's
    # offices decide for cases of other regions.
    _grant(Access.SEE_STEP, EVERYWHERE, Reach.ANYWHERE),
    _grant(Access.SEE_STEP, {Role.APPLICANT}, Reach.OWN_CASE),
    _grant(Access.SEE_STEP, {Role.CLERK, Role.SUPERVISOR}, Reach.CASE_REGION),
    _grant(Access.SEE_STEP, {Role.CLERK}, Reach.RECEIVED),
    _grant(Access.SEE_STEP, {Role.SUPERVISOR}, Reach.OFFICE),
    _grant(Access.SEE_STEP, DEPARTMENT_OFFICERS, Reach.DEPARTMENT, Reach.OFFICE),
    # Acting on a step (which action, in which state, is the gate's): officers decide their
    # department's steps at their office's level or below; supervisors take over the work of the
    # offices of their region; the applicant and the windows that hold the case hand in 补正
    # materials and declare for the applicant.
    _grant(Access.ACT_ON_STEP, EVERYWHERE, Reach.ANYWHERE),
    _grant(Access.ACT_ON_STEP, {Role.APPLICANT}, Reach.OWN_CASE),
    _grant(Access.ACT_ON_STEP, {Role.CLERK}, Reach.CASE_REGION),
    _grant(Access.ACT_ON_STEP, {Role.CLERK}, Reach.RECEIVED),
    _grant(Access.ACT_ON_STEP, {Role.SUPERVISOR}, Reach.OFFICE),
    _grant(Access.ACT_ON_STEP, DEPARTMENT_OFFICERS, Reach.DEPARTMENT, Reach.OFFICE),
    # Withdrawing a case: the applicant, the windows that hold it, an admin (CASE_RULES: who asks).
    _grant(Access.ACT_ON_CASE, EVERYWHERE, Reach.ANYWHERE),
    _grant(Access.ACT_ON_CASE, {Role.APPLICANT}, Reach.OWN_CASE),
    _grant(Access.ACT_ON_CASE, {Role.CLERK}, Reach.CASE_REGION),
    _grant(Access.ACT_ON_CASE, {Role.CLERK}, Reach.RECEIVED),
    # Starting a case: applicants for themselves, clerks for any applicant of their province
    # (无差别受理), admins anywhere.
    _grant(Access.START_CASE, {Role.APPLICANT}, Reach.OWN_CASE),
    _grant(Access.START_CASE, {Role.CLERK}, Reach.PROVINCE),
    _grant(Access.START_CASE, {Role.ADMIN}, Reach.ANYWHERE),
    # Lists, limited to the actor's region (list_scope): the offices' work in it (decided_within).
    _grant(Access.READ_WORKLIST, {Role.ADMIN}, Reach.ANYWHERE),
    _grant(Access.READ_WORKLIST, {Role.SUPERVISOR}, Reach.REGION),
    _grant(Access.READ_WORKLIST, DEPARTMENT_OFFICERS, Reach.DEPARTMENT, Reach.REGION),
    # Finding a case: the windows and supervisors of a region, among the cases they may see.
    _grant(Access.FIND_CASES, {Role.ADMIN}, Reach.ANYWHERE),
    _grant(Access.FIND_CASES, {Role.CLERK, Role.SUPERVISOR}, Reach.REGION),
    _grant(Access.READ_SUPERVISION, {Role.ADMIN}, Reach.ANYWHERE),
    _grant(Access.READ_SUPERVISION, {Role.SUPERVISOR}, Reach.REGION),
    # Of a case one sees: its documents show everything, so not officers, who work from their step.
    _grant(Access.READ_DOCUMENTS, DOCUMENT_READERS, Reach.ANYWHERE),
    _grant(Access.SEE_WHO_ACTED, GOVERNMENT_STAFF | {Role.SYSTEM}, Reach.ANYWHERE),
    # Handed-in files: the whole case's for those who read the whole case (the applicant, the
    # windows holding it, the region's supervisors); a step's officer through SEE_STEP only.
    _grant(Access.READ_CASE_FILES, EVERYWHERE, Reach.ANYWHERE),
    _grant(Access.READ_CASE_FILES, {Role.APPLICANT}, Reach.OWN_CASE),
    _grant(Access.READ_CASE_FILES, {Role.CLERK, Role.SUPERVISOR}, Reach.CASE_REGION),
    _grant(Access.READ_CASE_FILES, {Role.CLERK}, Reach.RECEIVED),
    # Checking a material: the windows holding the case, the officer of a step needing it.
    _grant(Access.CHECK_MATERIAL, EVERYWHERE, Reach.ANYWHERE),
    _grant(Access.CHECK_MATERIAL, {Role.CLERK}, Reach.CASE_REGION),
    _grant(Access.CHECK_MATERIAL, {Role.CLERK}, Reach.RECEIVED),
    _grant(Access.CHECK_MATERIAL, DEPARTMENT_OFFICERS, Reach.DEPARTMENT, Reach.OFFICE),
    # 好差评: the applicant rates their own case; a window holding it records a rating given there.
    _grant(Access.RATE_CASE, {Role.APPLICANT}, Reach.OWN_CASE),
    _grant(Access.RATE_CASE, {Role.CLERK}, Reach.CASE_REGION),
    _grant(Access.RATE_CASE, {Role.CLERK}, Reach.RECEIVED),
)

SIGHT: Mapping[Access, Access] = MappingProxyType({
    Access.ACT_ON_STEP: Access.SEE_STEP,
    Access.ACT_ON_CASE: Access.SEE_CASE,
    Access.READ_DOCUMENTS: Access.SEE_CASE,
    Access.READ_CASE_FILES: Access.SEE_CASE,
    Access.CHECK_MATERIAL: Access.SEE_CASE,
    Access.RATE_CASE: Access.SEE_CASE,
})
"""What one must see before being told one may not do something to it: out of sight, the case
or step does not exist for the caller (NotFound), so a refusal never tells that it exists."""

_GRANTS: Mapping[Access, tuple[Grant, ...]] = MappingProxyType(
    {access: tuple(g for g in ACCESS_RULES if g.access is access) for access in Access})

_WORDS: Mapping[Access, str] = MappingProxyType({
    Access.START_CASE: "start a case / 受理申请", Access.READ_WORKLIST: "read this worklist / 查看该部门待办",
    Access.READ_SUPERVISION: "use the supervision desk / 使用电子监察",
    Access.FIND_CASES: "search the cases / 查询办件", Access.ACT_ON_STEP: "act on this step / 办理该事项",
    Access.ACT_ON_CASE: "act on this case / 办理该办件", Access.READ_DOCUMENTS:
    "print a case's documents: officers work from their own step / 打印办件文书（部门人员仅办理本部门事项）",
    Access.SEE_WHO_ACTED: "see who acted / 查看经办人",
    Access.READ_CASE_FILES: "read this case's files / 查看办件材料", Access.CHECK_MATERIAL:
    "check this material: the windows holding the case or the officer of a step needing it / 核验材料（受理窗口或所需事项的部门）",
    Access.RATE_CASE: "rate this case: its applicant, or a window recording it / 评价办件（申请人本人或窗口代录）",
})


@dataclass(frozen=True, slots=True)
class Target:
    """What an access is about: a ``case`` (and a ``step`` of it); or a ``department``'s
    worklist; or the ``applicant_id`` and ``region`` of a case about to be started."""

    case: Case | None = None
    step: Step | None = None
    department: str | None = None
    applicant_id: str | None = None
    region: str | None = None


NOTHING = Target()
"""The target of an access that is about nothing in particular (the supervision desk)."""


def region_covers(scope: str | None, region: str) -> bool:
    """Whether ``region`` lies within ``scope`` (None: unscoped), at any level: 430000 covers
    430102 and 430102001, 430102 covers 430102001001, not 430103."""
    return scope is None or region.startswith(region_prefix(scope))


def decided_within(scope: str | None) -> list[ColumnElement[bool]]:
    """SQL over steps joined to their cases: the steps decided within ``scope`` (none when
    unscoped), as :func:`~engine.machine.routing.deciding_region` reads them: the region of the
    office the step was routed to, else the case's region. Worklists list, and supervision
    counts, exactly these."""
    if scope is None:
        return []
    return [func.coalesce(Step.decided_in, Case.region).startswith(region_prefix(scope), autoescape=True)]


def cases_within(scope: str | None) -> list[ColumnElement[bool]]:
    """SQL over cases: the cases of ``scope`` as a window of it sees them (none when unscoped):
    the case's region (CASE_REGION) or the region of the window that received it (RECEIVED).
    A list narrows by it; :func:`permits` decides each row."""
    if scope is None:
        return []
    prefix = region_prefix(scope)
    return [or_(Case.region.startswith(prefix, autoescape=True), Case.received_in.startswith(prefix, autoescape=True))]


def _within(actor: Actor, region: str | None) -> bool:
    return actor.region is not None and region is not None and region_covers(actor.region, region)


def _holds(reach: Reach, actor: Actor, target: Target) -> bool:
    case, step = target.case, target.step
    match reach:
        case Reach.ANYWHERE:
            return True
        case Reach.OWN_CASE:
            applicant = case.applicant_id if case is not None else target.applicant_id
            return actor.subject is not None and actor.subject == applicant
        case Reach.CASE_REGION:
            return _within(actor, case.region if case is not None else target.region)
        case Reach.PROVINCE:
            region = case.region if case is not None else target.region
            return actor.region is not None and region is not None and region[:2] == actor.region[:2]
        case Reach.RECEIVED:
            return case is not None and _within(actor, case.received_in or case.region)
        case Reach.DEPARTMENT:
            department = step.department if step is not None else target.department
            return actor.department is not None and actor.department == department
        case Reach.OFFICE:
            return case is not None and step is not None and _within(actor, deciding_region(case, step))
        case Reach.SOME_STEP:
            return case is not None and any(
                permits(actor, Access.SEE_STEP, Target(case=case, step=s))
                for s in case.steps if s.state != StepState.SKIPPED.value)
        case Reach.REGION:
            return actor.region is not None


def _grants_for(actor: Actor, access: Access) -> list[Grant]:
    return [g for g in _GRANTS[access] if actor.role in g.roles]


def permits(actor: Actor, access: Access, target: Target = NOTHING) -> bool:
    """Whether a grant of ``access`` for the actor's role holds for ``target`` (the reach only:
    :func:`refusal` adds sight and the gate's roles)."""
    return any(all(_holds(r, actor, target) for r in g.reach) for g in _grants_for(actor, access))


def _unseen(target: Target) -> NotFound:
    if target.step is not None:
        return NotFound(f"no step {target.step.id}", field="step_id")
    assert target.case is not None
    return NotFound(f"no case {target.case.id}", field="case_id")


_OUT_OF_REACH: Mapping[Reach, tuple[str, str | None]] = MappingProxyType({
    Reach.OWN_CASE: ("applicants may only apply for themselves / 申请人只能为本人申请", "applicant.id"),
    Reach.CASE_REGION: ("region {region} is outside your region {own} / 不在您的辖区内", "region"),
    Reach.RECEIVED: ("region {region} is outside your region {own} / 不在您的辖区内", "region"),
    Reach.PROVINCE: ("region {region} is outside your province ({own}): a window accepts the applicants of its "
                     "province (跨省通办 goes through the other province's system) / 不在本省范围内，跨省办件请走跨省通办",
                     "region"),
    Reach.DEPARTMENT: ("department {department} is not yours ({mine}) / 非本部门事项", None),
    Reach.OFFICE: ("this step is decided by an office your region does not cover / 该事项由您辖区以外的机构办理",
                   None),
    Reach.REGION: ("a staff token without a region reaches nothing / 账号未设定辖区", None),
})


def _out_of_reach(actor: Actor, access: Access, target: Target) -> Forbidden:
    grants = _grants_for(actor, access)
    if not grants:
        en, _, zh = _WORDS.get(access, access.value).partition(" / ")
        return Forbidden(role_may_not(actor.role, en, zh or "进行此操作"))
    failed = next(r for r in sorted(grants[0].reach) if not _holds(r, actor, target))
    message, field = _OUT_OF_REACH[failed]
    region = target.case.region if target.case is not None else target.region
    department = target.step.department if target.step is not None else target.department
    return Forbidden(message.format(region=region, own=actor.region, department=department, mine=actor.department),
                     field=field)


def _step_rules(action: str, step: Step | None) -> list[Rule[StepState]]:
    """The gate's rules for ``action`` that apply to the step's kind and state, as the gate picks
    them before it looks at the role."""
    if step is None:
        return []
    state, kind = StepState(step.state), StepKind(step.kind)
    return [r for r in STEP_RULES if r.action == action and (r.kinds is None or kind in r.kinds) and r.allows(state)]


def _case_rules(action: str, case: Case | None) -> list[Rule[CaseState]]:
    """The gate's rules for ``action`` that apply to the case's state."""
    return [] if case is None else [r for r in CASE_RULES if r.action == action and r.allows(CaseState(case.state))]


def _claimed_by_another(actor: Actor, step: Step, rules: Iterable[Rule[StepState]]) -> bool:
    """Whether ``step`` is claimed by someone else and every one of the gate's ``rules`` letting
    the actor's role ask for the action is for the assignee only."""
    mine = [r for r in rules if actor.role in r.roles]
    return step.assigned_to not in (None, actor.id) and bool(mine) and all(r.assignee_only for r in mine)


def claimed_by_another(actor: Actor, step: Step) -> bool:
    """Whether ``step`` is claimed by someone other than ``actor``, whose role works such a step
    only as its assignee (a colleague of the assignee: the page says only the assignee works it)."""
    kind = StepKind(step.kind)
    return step.assigned_to not in (None, actor.id) and any(
        r.assignee_only and actor.role in r.roles and (r.kinds is None or kind in r.kinds) for r in STEP_RULES)


def refusal(
    actor: Actor, access: Access, target: Target = NOTHING, *, action: str | None = None
) -> DomainError | None:
    """Why ``actor`` may not have ``access`` to ``target`` (None: they may). ``action``, for an
    action on a step or a case, is the gate action asked for.

    In order: out of sight, :class:`NotFound`; a role none of the gate's rules for ``action`` in
    the target's state (and step kind) names, or no grant reaching the target, :class:`Forbidden`;
    assignee-only work on a step someone else claimed, :class:`ClaimedByAnother`. An action the
    state or kind does not allow at all is left to the gate (:class:`IllegalTransition`, 409)."""
    seeing = access in (Access.SEE_CASE, Access.SEE_STEP)
    sight = access if seeing else SIGHT.get(access)
    if sight is not None and not permits(actor, sight, target):
        return _unseen(target)
    if seeing:
        return None
    # The gate's order: an action the step's kind or state does not allow is the gate's to refuse
    # (409); when the gate's rules that do allow it are none of them for the actor's role, a 403.
    step_rules = _step_rules(action, target.step) if action is not None and access is Access.ACT_ON_STEP else []
    case_rules = _case_rules(action, target.case) if action is not None and access is Access.ACT_ON_CASE else []
    gate_roles = [r.roles for r in step_rules] + [r.roles for r in case_rules]
    if gate_roles and not any(actor.role in roles for roles in gate_roles):
        what = "step" if step_rules else "case"
        return Forbidden(role_may_not(actor.role, f"{str(action).replace('_', ' ')} a {what}",
                                      "办理该事项" if what == "step" else "办理该办件"))
    if not permits(actor, access, target):
        return _out_of_reach(actor, access, target)
    if target.step is not None and _claimed_by_another(actor, target.step, step_rules):
        return ClaimedByAnother(
            f"cannot {str(action).replace('_', ' ')}: the step is claimed by another officer; only its assignee may "
            "act on it, or a supervisor may reassign it first"
        )
    return None


def authorize(actor: Actor, access: Access, target: Target = NOTHING, *, action: str | None = None) -> None:
    """Raise :func:`refusal`'s answer, if any: the one check every engine action makes inside its
    locked transaction (and every read before it shows anything)."""
    found = refusal(actor, access, target, action=action)
    if found is not None:
        raise found


def start_refusal(actor: Actor) -> DomainError | None:
    """Why ``actor`` may start no case at all (None: they may start one for someone: an applicant
    for themselves, a clerk for the applicants of their province, an admin for anyone). The intake
    pages ask it before showing a form; :func:`engine.machine.intake.accept_case` still decides
    the applicant and region it is given."""
    return refusal(actor, Access.START_CASE, Target(applicant_id=actor.subject, region=actor.region))


def sole_applicant(actor: Actor) -> str | None:
    """The one applicant ``actor`` may start cases for: their own subject when every
    :data:`Access.START_CASE` grant of their role reaches only their own case (a self-service
    applicant); None when they name the applicant (a window, an admin)."""
    grants = _grants_for(actor, Access.START_CASE)
    return actor.subject if grants and all(Reach.OWN_CASE in g.reach for g in grants) else None


def list_scope(actor: Actor, access: Access, target: Target = NOTHING) -> str | None:
    """The region a list for ``actor`` (a worklist, the supervision desk) is limited to, once
    :func:`authorize` let them have ``access``: None when their grant reaches anywhere."""
    authorize(actor, access, target)
    grants = [g for g in _grants_for(actor, access) if all(_holds(r, actor, target) for r in g.reach)]
    return None if any(Reach.ANYWHERE in g.reach for g in grants) else actor.region
