"""Officer and applicant actions on a running case.

Every function here is one unit of work (:mod:`engine.machine.unit_of_work`): it locks the case, asks
:func:`engine.machine.access.authorize` whether the caller may (outside their sight the case and
step do not exist: :class:`~engine.errors.NotFound`, the same answer as for a missing id), checks the caller's expected version (a stale one is refused,
never silently overwritten), applies one transition through the gate, lets
:func:`engine.machine.progress.settle` propagate it, and commits.

Claimed work is its assignee's (the gate refuses a colleague); the assignee may hand it back
(:func:`unclaim_step`), and a supervisor of the region or an admin may hand it back or give it
to another officer of the department (:func:`reassign_step`), recorded in the audit chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.db.models import ApiToken, Case, Step
from engine.documents.inspection import Inspected, Upload
from engine.errors import DomainError, NotFound, TooEarly
from engine.machine.access import Access, Target, authorize, permits
from engine.machine.effects import Inputs
from engine.machine.material_effects import HandIn
from engine.machine.progress import settle
from engine.machine.states import STEP_OPEN, SYSTEM, Actor, Role, StepState
from engine.machine.transitions import transition_case, transition_step
from engine.machine.unit_of_work import check_version, in_transaction, load_case, load_step
from engine.runtime import Runtime


def _act_on_step(
    session: Session,
    runtime: Runtime,
    *,
    step_id: str,
    actor: Actor,
    action: str,
    expected_version: int | None,
    payload: dict[str, Any] | None = None,
    inputs: Inputs = Inputs(),
    before: Callable[[Case, Step], None] | None = None,
    claim_first: bool = False,
) -> Step:
    def work() -> Step:
        case, step = load_step(session, step_id)
        # first: a stale version must not tell that the step exists
        authorize(actor, Access.ACT_ON_STEP, Target(case=case, step=step), action=action)
        check_version(step, expected_version)
        if before is not None:
            before(case, step)
        now = runtime.clock.now()
        if claim_first and step.state == StepState.READY.value:
            # 即办件: taken and finished in one unit of work, two changes through the gate, two events
            transition_step(session, runtime, case=case, step=step, action="claim", actor=actor, at=now)
        transition_step(session, runtime, case=case, step=step, action=action, actor=actor, at=now, payload=payload,
                        inputs=inputs)
        settle(session, runtime, case=case, spec=runtime.spec_for(session, case), at=now)
        return step

    return in_transaction(session, work)


def claim_step(session: Session, runtime: Runtime, *, step_id: str, actor: Actor, expected_version: int | None = None) -> Step:
    """An officer takes a ready step from the department's worklist."""

    return _act_on_step(session, runtime, step_id=step_id, actor=actor, action="claim", expected_version=expected_version)


def unclaim_step(
    session: Session, runtime: Runtime, *, step_id: str, actor: Actor, expected_version: int | None = None
) -> Step:
    """Hand a claimed step back to the department's worklist: its assignee, or a supervisor of the
    region (or an admin) taking it off them. The audit event records from whom."""

    return _act_on_step(session, runtime, step_id=step_id, actor=actor, action="unclaim",
                        expected_version=expected_version)


def reassign_step(
    session: Session, runtime: Runtime, *, step_id: str, actor: Actor, to: str, expected_version: int | None = None
) -> Step:
    """A supervisor of the region (or an admin) gives a claimed step to another officer: ``to`` is
    that officer's actor id, an active officer token who may act on the step (its department's, at
    an office their region covers: :func:`assignable_officers`). The step keeps its state; the
    audit event records who reassigned, from whom, to whom."""
    target = to.strip()

    def check(case: Case, step: Step) -> None:
        if not target:
            raise DomainError("name the officer to reassign the step to", field="to")
        if target == step.assigned_to:
            raise DomainError("the step is already assigned to that officer", field="to")
        if target not in dict(assignable_officers(session, case=case, step=step, now=runtime.clock.now())):
            raise DomainError(f"no officer {target[:64]!r} of department {step.department} may decide this step",
                              field="to")

    return _act_on_step(session, runtime, step_id=step_id, actor=actor, action="reassign",
                        expected_version=expected_version, inputs=Inputs(assignee=target), before=check)


def assignable_officers(session: Session, *, case: Case, step: Step, now: datetime) -> list[tuple[str, str]]:
    """(actor id, label) of the active officer tokens that may act on ``step`` of ``case`` (its
    department's, at an office their region covers: :data:`engine.machine.access.ACCESS_RULES`):
    whom a supervisor may reassign the step to."""
    rows = session.execute(
        select(ApiToken.id, ApiToken.label, ApiToken.region).where(
            ApiToken.role == Role.OFFICER.value, ApiToken.department == step.department, ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        ).order_by(ApiToken.label, ApiToken.id)
    )
    target = Target(case=case, step=step)
    return [(token_id, label) for token_id, label, region in rows
            if permits(Actor(id=token_id, role=Role.OFFICER, department=step.department, region=region),
                       Access.ACT_ON_STEP, target)]


def start_step(session: Session, runtime: Runtime, *, step_id: str, actor: Actor, expected_version: int | None = None) -> Step:
    """The assignee starts working on a claimed step."""
    return _act_on_step(session, runtime, step_id=step_id, actor=actor, action="start", expected_version=expected_version)


def complete_step(
    session: Session,
    runtime: Runtime,
    *,
    step_id: str,
    actor: Actor,
    outputs: dict[str, Any] | None = None,
    expected_version: int | None = None,
    claim: bool = False,
) -> Step:
    """Finish a step with its outputs; dependents whose prerequisites are all met are released.

    ``claim``: a ready step is first claimed by ``actor`` in the same transaction (即办件, work
    taken from the worklist and finished at once: one lock, one commit, the claim and the
    completion each recorded); a step already claimed is completed as usual (by its assignee)."""

    def not_too_early(_case: Case, step: Step) -> None:
        if step.not_before is not None and runtime.today() < step.not_before:
            raise TooEarly(f"step {step.step_key} has a minimum waiting period until {step.not_before.isoformat()}")

    return _act_on_step(
        session, runtime, step_id=step_id, actor=actor, action="complete", expected_version=expected_version,
        inputs=Inputs(outputs=outputs or {}), before=not_too_early, claim_first=claim,
    )


def reject_step(
    session: Session, runtime: Runtime, *, step_id: str, actor: Actor, reason: str, expected_version: int | None = None
) -> Step:
    """Refuse a step (不予许可) with a reason; its dependents are cancelled."""
    reason = reason.strip()
    if not reason:
        raise DomainError("a rejection needs a reason", field="reason")

    return _act_on_step(
        session, runtime, step_id=step_id, actor=actor, action="reject", expected_version=expected_version,
        inputs=Inputs(reason=reason),
    )


def request_supplement(
    session: Session,
    runtime: Runtime,
    *,
    step_id: str,
    actor: Actor,
    materials: Sequence[str],
    note: str = "",
    expected_version: int | None = None,
) -> Step:
    """补正: ask, in one notice, for everything missing; the step's clock stops (行政许可法 §32) until
    the applicant hands them in (:func:`hand_in_supplement`) and the officer confirms the receipt."""
    wanted = [m.strip() for m in materials if m and m.strip()]
    if not wanted:
        raise DomainError("list at least one missing material", field="materials")

    return _act_on_step(
        session, runtime, step_id=step_id, actor=actor, action="request_supplement",
        expected_version=expected_version, inputs=Inputs(materials=wanted, note=note),
    )


def _stored_first(
    session: Session, runtime: Runtime, *, actor: Actor, target: Callable[[], Target], access: Access, action: str,
    material: str, uploads: Sequence[Upload], named_in_notice: bool = False,
) -> tuple[Inspected, ...]:
    """Inspect and store ``uploads`` before the transaction that references them, once the caller
    may ask for ``action`` at all (nothing of a stranger's is stored); a bad file refuses the
    whole batch, naming the material. The transaction asks again under the case lock."""
    if not uploads:
        return ()
    from engine.documents.files import store_inspected  # the documents layer reads the gate: import late

    try:
        seen = target()
        authorize(actor, access, seen, action=action)
        assert seen.case is not None
        bundle = runtime.spec_for(session, seen.case)
        # A 补正 notice may name a material in the officer's words; it is handed in as files too.
        named = tuple(seen.step.supplement.get("requested", ())) if named_in_notice and seen.step is not None else ()
        return tuple(store_inspected(runtime, bundle=bundle, material=material, uploads=uploads, named=named))
    finally:
        session.rollback()  # a read only: end it before storing takes its time and the lock is taken


def _step_target(session: Session, step_id: str) -> Callable[[], Target]:
    def target() -> Target:
        step = session.get(Step, step_id)
        if step is None:
            raise NotFound(f"no step {step_id}", field="step_id")
        return Target(case=step.case, step=step)

    return target


def hand_in_supplement(
    session: Session,
    runtime: Runtime,
    *,
    step_id: str,
    actor: Actor,
    material: str,
    uploads: Sequence[Upload] = (),
    paper: bool = False,
    expected_version: int | None = None,
) -> Step:
    """补正: the applicant (their own case) or a window hands in files for one material the open
    notice asks for, or a window records the paper original handed in at the counter (``paper``,
    clerks only). The files are inspected and stored before the transaction; one audit event lists
    them with their hashes. Nothing else is ticked: a partial hand-in stays partial, the step
    waits in ``supplement_requested`` with its clock stopped until the officer confirms the
    receipt (:func:`receive_supplement`)."""
    name = material.strip()
    if not name:
        raise DomainError("name the material handed in / 请注明所补材料", field="material")
    files = _stored_first(session, runtime, actor=actor, target=_step_target(session, step_id),
                          access=Access.ACT_ON_STEP, action="hand_in_supplement", material=name, uploads=uploads,
                          named_in_notice=True)
    return _act_on_step(
        session, runtime, step_id=step_id, actor=actor, action="hand_in_supplement", expected_version=expected_version,
        inputs=Inputs(hand_in=HandIn(material=name, files=files, paper=paper)),
    )


def receive_supplement(
    session: Session, runtime: Runtime, *, step_id: str, actor: Actor, expected_version: int | None = None
) -> Step:
    """§32: the step's officer confirms the receipt of the 补正 materials; the step's clock
    restarts today (the application counts as accepted on the day of the confirmation). Refused
    (409, naming them) while a requested material has nothing handed in for this notice."""
    return _act_on_step(session, runtime, step_id=step_id, actor=actor, action="receive_supplement",
                        expected_version=expected_version)


def supply_deferred(
    session: Session,
    runtime: Runtime,
    *,
    case_id: str,
    actor: Actor,
    material: str,
    uploads: Sequence[Upload] = (),
    paper: bool = False,
) -> Case:
    """容缺受理: the applicant (their own case) or a window hands in a material the case was
    accepted without: its files (stored before the transaction; channel online for the
    applicant, window for a clerk) or a window's record of the paper original. The material
    counts as supplied (the steps needing it may complete); one audit event lists the files
    with their hashes."""
    name = material.strip()
    if not name:
        raise DomainError("name the material handed in / 请注明所补材料", field="material")

    def target() -> Target:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case {case_id}", field="case_id")
        return Target(case=case)

    files = _stored_first(session, runtime, actor=actor, target=target, access=Access.ACT_ON_CASE,
                          action="supply_deferred", material=name, uploads=uploads)

    def work() -> Case:
        case = load_case(session, case_id)
        authorize(actor, Access.ACT_ON_CASE, Target(case=case), action="supply_deferred")
        transition_case(session, runtime, case=case, action="supply_deferred", actor=actor, at=runtime.clock.now(),
                        inputs=Inputs(hand_in=HandIn(material=name, files=files, paper=paper)))
        return case

    return in_transaction(session, work)


def declare_no_objection(
    session: Session, runtime: Runtime, *, step_id: str, actor: Actor, expected_version: int | None = None
) -> Step:
    """The applicant (or a clerk for them) declares no objection during a timer's wait: where the
    bundle declares ``on_no_objection: end_wait`` the wait ends today and the step completes."""

    return _act_on_step(
        session, runtime, step_id=step_id, actor=actor, action="end_wait", expected_version=expected_version,
        inputs=Inputs(outputs={"ended_early": "no_objection", "declared_by": actor.id}),
    )


def raise_objection(
    session: Session, runtime: Runtime, *, step_id: str, actor: Actor, grounds: str, expected_version: int | None = None
) -> Step:
    """An objection (with its grounds) is raised during a timer's wait: where the bundle declares
    ``on_objection: officer_decides`` the step becomes a human step in its department's worklist,
    and an officer completes it (the objection fails) or rejects it (it holds)."""
    grounds = grounds.strip()
    if not grounds:
        raise DomainError("an objection needs its grounds / 异议须说明理由", field="grounds")

    return _act_on_step(
        session, runtime, step_id=step_id, actor=actor, action="raise_objection", expected_version=expected_version,
        inputs=Inputs(reason=grounds),
    )


def request_extension(
    session: Session, runtime: Runtime, *, step_id: str, actor: Actor, days: int, reason: str,
    expected_version: int | None = None,
) -> Step:
    """行政许可法 §42: the step's assignee asks for ``days`` more (in the limit's unit) with a reason;
    the request waits for a supervisor's approval, within the bundle's maximum extension."""
    reason = reason.strip()
    if not reason:
        raise DomainError("an extension needs a reason / 延期须说明理由", field="reason")

    return _act_on_step(
        session, runtime, step_id=step_id, actor=actor, action="request_extension",
        expected_version=expected_version, inputs=Inputs(days=days, reason=reason),
    )


def approve_extension(
    session: Session, runtime: Runtime, *, step_id: str, actor: Actor, expected_version: int | None = None
) -> Step:
    """A supervisor of the region (or an admin) grants the pending §42 request: the step's due date
    moves by the days asked; the audit event records it from → to."""

    return _act_on_step(session, runtime, step_id=step_id, actor=actor, action="approve_extension",
                        expected_version=expected_version)


def refuse_extension(
    session: Session, runtime: Runtime, *, step_id: str, actor: Actor, reason: str = "",
    expected_version: int | None = None,
) -> Step:
    """A supervisor of the region (or an admin) refuses the pending §42 request; the due date stays."""

    return _act_on_step(session, runtime, step_id=step_id, actor=actor, action="refuse_extension",
                        expected_version=expected_version, inputs=Inputs(reason=reason.strip()))


def withdraw_case(session: Session, runtime: Runtime, *, case_id: str, actor: Actor, reason: str = "") -> Case:
    """The applicant withdraws (撤回): every open step is cancelled."""

    def work() -> Case:
        case = load_case(session, case_id)
        authorize(actor, Access.ACT_ON_CASE, Target(case=case), action="withdraw")
        now = runtime.clock.now()
        # The gate resumes a stopped clock as the case closes, as on every other close.
        transition_case(session, runtime, case=case, action="withdraw", actor=actor, at=now, payload={"reason": reason})
        for step in case.steps:
            if StepState(step.state) in STEP_OPEN:
                transition_step(session, runtime, case=case, step=step, action="cancel", actor=SYSTEM, at=now,
                                inputs=Inputs(reason="case withdrawn"))
        return case

    return in_transaction(session, work)
