"""12345 诉求: hotline complaints about a case, through the follow-up gate (:mod:`engine.governance.followups`).

The 12345 centre delivers a complaint (:func:`receive_complaint`, its integration token is a
supervisor's), idempotently by its ticket number (``Followup.source_ref``): the same ticket again
is the same complaint, the same ticket with another text a conflict. It is linked to a case by
receipt number or by the applicant's ID number, and assigned to the office responsible (a step
named by the hotline, else the step being worked now, else the one decided last), due
``Settings.complaint_working_days`` working days later. The office answers
(:func:`answer_complaint`, closed ``answered``); the hotline reopens an answer the caller rejects
(:func:`reopen_complaint`). :func:`complaint_counts` and :func:`list_complaints` read them, in SQL.

Each change locks the case (:func:`engine.machine.unit_of_work.load_case`), goes through the gate
(one audit event on the case each) and is committed by the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy import case as sql_case
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.db.models import Case, Followup, Step
from engine.errors import Conflict, DomainError, Forbidden, NotFound
from engine.governance.followups import (
    FollowupChange,
    FollowupKind,
    load_followup,
    followup_rule,
    list_followups,
    open_followup,
    transition_followup,
)
from engine.machine.access import region_covers
from engine.machine.states import CASE_OPEN, STEP_OPEN, Actor, StepState
from engine.machine.unit_of_work import load_case
from engine.people.regions import region_prefix
from engine.runtime import Runtime
from engine.settings import get_settings

__all__ = ["MAX_CATEGORY", "MAX_TEXT", "NO_OFFICE", "RECEIVERS", "ComplaintCounts", "answer_complaint",
           "complaint_counts", "list_complaints", "receive_complaint", "reopen_complaint"]

MAX_TEXT = 2000
"""The longest complaint text, answer or reopening reason (characters, after stripping)."""
MAX_CATEGORY = 64
NO_OFFICE = "-"
"""The key of :func:`complaint_counts` for complaints about a case with no office (nothing routed yet)."""
RECEIVERS = followup_rule(FollowupKind.COMPLAINT, "open", None).roles
"""Who may deliver a complaint (the gate's ``open`` rule): the 12345 centre's integration token is a
supervisor's."""

_TICKET = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PHONE_LAST4 = re.compile(r"(?:[0-9]{4})?")
_DECIDED = frozenset({StepState.DONE.value, StepState.REJECTED.value})
_OPEN_STEP = frozenset(s.value for s in STEP_OPEN)
_OPEN_CASE = tuple(s.value for s in CASE_OPEN)
_KIND = FollowupKind.COMPLAINT.value


@dataclass
class ComplaintCounts:
    """One office's complaints: received in all, open now, open past their deadline, closed with an
    answer, reopened at least once."""

    office: str
    received: int = 0
    open: int = 0
    overdue: int = 0
    answered: int = 0
    reopened: int = 0


def _text(value: str, field: str, what: str, chinese: str) -> str:
    text = value.strip()
    if not text:
        raise DomainError(f"{what} is needed / 请填写{chinese}", field=field)
    if len(text) > MAX_TEXT:
        raise DomainError(f"{what} is at most {MAX_TEXT} characters / {chinese}不超过{MAX_TEXT}字", field=field)
    return text


def _check(ticket_no: str, text: str, category: str, caller_phone_last4: str) -> tuple[str, str, str, str]:
    """The delivery as given, checked before any work (bilingual, naming the field)."""
    ticket = ticket_no.strip()
    if not _TICKET.fullmatch(ticket):
        raise DomainError("the ticket number is 1 to 64 letters, digits, '-' or '_' / 工单编号须为1至64位字母、数字、-或_",
                          field="ticket_no")
    body = _text(text, "text", "the complaint", "诉求内容")
    kind = category.strip()
    if len(kind) > MAX_CATEGORY:
        raise DomainError(f"the category is at most {MAX_CATEGORY} characters / 诉求类别不超过{MAX_CATEGORY}字",
                          field="category")
    phone = caller_phone_last4.strip()
    if not _PHONE_LAST4.fullmatch(phone):
        # Only the last four digits are ever kept: a full number is refused, not truncated, so the
        # hotline learns to send no more than that.
        raise DomainError("give only the last 4 digits of the caller's phone, or none / 来电号码仅可提供后4位",
                          field="caller_phone_last4")
    return ticket, body, kind, phone


def _by_ticket(session: Session, ticket: str) -> Followup | None:
    return session.scalar(select(Followup).where(Followup.kind == _KIND, Followup.source_ref == ticket))


def _again(session: Session, existing: Followup, text: str, actor: Actor) -> Followup:
    """A ticket delivered before: the same complaint if the text is the same, else a conflict. A
    ticket received for a case outside the actor's region is only said to be taken."""
    case_region = session.scalar(select(Case.region).where(Case.id == existing.case_id)) or existing.region
    if not (region_covers(actor.region, existing.region) or region_covers(actor.region, case_region)):
        raise Conflict(f"ticket {existing.source_ref} was received elsewhere / 该工单编号已在其他地区登记",
                       field="ticket_no")
    if existing.details.get("text") != text:
        raise Conflict(f"ticket {existing.source_ref} was received with another text (complaint {existing.id}) / "
                       f"该工单已登记（诉求编号 {existing.id}），内容不一致", field="ticket_no")
    return existing


def _find_case(session: Session, actor: Actor, *, receipt_no: str | None, applicant_id: str | None) -> str:
    """The id of the case complained about: by receipt number, else the applicant's newest open case
    in the actor's region, else their newest. A case outside the actor's region is not found (the
    hotline learns nothing of it); the applicant's ID number is never put in a message."""
    if receipt_no is not None and receipt_no.strip():
        receipt = receipt_no.strip()
        row = session.execute(select(Case.id, Case.region, Case.applicant_id)
                              .where(Case.receipt_no == receipt)).one_or_none()
        if (row is None or not region_covers(actor.region, row.region)
                or (applicant_id is not None and applicant_id.strip() and row.applicant_id != applicant_id.strip().upper())):
            raise NotFound(f"no case with receipt number {receipt[:32]} / 未找到该受理编号的办件", field="receipt_no")
        return str(row.id)
    if applicant_id is not None and applicant_id.strip():
        query = select(Case.id).where(Case.applicant_id == applicant_id.strip().upper())
        if actor.region is not None:
            query = query.where(Case.region.startswith(region_prefix(actor.region), autoescape=True))
        newest = session.scalar(query.order_by(sql_case((Case.state.in_(_OPEN_CASE), 0), else_=1),
                                               Case.accepted_at.desc(), Case.receipt_no.desc()).limit(1))
        if newest is None:
            raise NotFound("no case of this applicant / 未找到该申请人的办件", field="applicant_id")
        return newest
    raise DomainError("give the receipt number or the applicant's ID number / 请提供受理编号或申请人证件号码",
                      field="receipt_no")


def _current_step(steps: list[Step]) -> Step | None:
    """The step a complaint is about when the hotline names none: the earliest one being worked
    (open, routed to an office), else the one decided last; None if no step has an office."""
    routed = [s for s in steps if s.office]
    working = [s for s in routed if s.state in _OPEN_STEP]
    if working:
        return min(working, key=lambda s: (s.position, s.instance))
    if not routed:
        return None
    return max(routed, key=lambda s: (s.state in _DECIDED, s.closed_at is not None,
                                      s.closed_at.timestamp() if s.closed_at is not None else 0.0, s.position))


def _responsible(case: Case, step_id: str | None) -> tuple[Step | None, str | None, str | None, str]:
    """The step, office (``<dept>@<region>``), department and region a complaint is assigned to."""
    if step_id is not None:
        step = next((s for s in case.steps if s.id == step_id), None)
        if step is None:
            raise NotFound(f"no step {step_id} in this case / 该办件无此事项", field="step_id")
    else:
        step = _current_step(list(case.steps))
    if step is None:
        return None, None, None, case.region
    # The office's region is where it answers (and where its officers and supervisors see it).
    region = step.office.split("@", 1)[1] if step.office else (step.decided_in or case.region)
    return step, step.office, step.department, region


def receive_complaint(
    session: Session,
    runtime: Runtime,
    *,
    actor: Actor,
    ticket_no: str,
    receipt_no: str | None = None,
    applicant_id: str | None = None,
    text: str,
    category: str = "",
    caller_phone_last4: str = "",
    step_id: str | None = None,
) -> tuple[Followup, bool]:
    """Receive a 12345 complaint (ticket ``ticket_no``) about a case and assign it to the responsible
    office, due ``Settings.complaint_working_days`` working days from today. Returns the complaint
    and whether it is new: the same ticket again is the same complaint (False), also when two
    deliveries race; with another text, Conflict on ``ticket_no``. The case: by ``receipt_no``,
    else the applicant's (``applicant_id``) newest open case in the actor's region, else newest;
    NotFound when there is none or it lies outside the actor's region. Only the hotline
    (a supervisor's or admin's token) or the engine delivers (Forbidden otherwise)."""
    if actor.role not in RECEIVERS:
        raise Forbidden(f"a {actor.role.value} may not receive a 12345 complaint / 无权登记12345诉求")
    ticket, body, kind, phone = _check(ticket_no, text, category, caller_phone_last4)
    existing = _by_ticket(session, ticket)
    if existing is not None:
        return _again(session, existing, body, actor), False
    case = load_case(session, _find_case(session, actor, receipt_no=receipt_no, applicant_id=applicant_id))
    existing = _by_ticket(session, ticket)  # delivered again while we waited for the case's lock
    if existing is not None:
        return _again(session, existing, body, actor), False
    step, office, department, region = _responsible(case, step_id)
    details = {"ticket_no": ticket, "text": body, "category": kind, "caller_phone_last4": phone}

    def effect(change: FollowupChange) -> None:
        change.audit["received_by"] = {"id": actor.id, "role": actor.role.value}

    try:
        with session.begin_nested():
            followup = open_followup(session, runtime, case=case, kind=FollowupKind.COMPLAINT,
                                     working_days=get_settings().complaint_working_days, region=region,
                                     office=office, department=department, step=step, source_ref=ticket,
                                     details=details, actor=actor, effect=effect)
    except IntegrityError:
        # Another delivery of the same ticket (about another case, so not waiting on our lock)
        # committed between our look and our insert: the unique index decided, theirs stands.
        existing = _by_ticket(session, ticket)
        if existing is None:
            raise
        return _again(session, existing, body, actor), False
    return followup, True


def _load(session: Session, followup_id: int) -> tuple[Case, Followup]:
    return load_followup(session, followup_id, kind=FollowupKind.COMPLAINT, missing=f"no complaint {followup_id} / 未找到该诉求")


def answer_complaint(session: Session, runtime: Runtime, *, followup_id: int, actor: Actor, answer: str,
                     expected_version: int | None = None) -> Followup:
    """The responsible office's officer answers complaint ``followup_id`` (closed ``answered``);
    the answer (text, by, at) goes into its details. Outside the officer's department or region the
    complaint does not exist (NotFound)."""
    body = _text(answer, "answer", "the answer", "答复内容")
    case, followup = _load(session, followup_id)

    def effect(change: FollowupChange) -> None:
        change.details["answer"] = {"text": body, "by": actor.id, "at": change.at.isoformat()}

    transition_followup(session, runtime, case=case, followup=followup, action="answer", actor=actor,
                        expected_version=expected_version, effect=effect)
    return followup


def reopen_complaint(session: Session, runtime: Runtime, *, followup_id: int, actor: Actor, reason: str,
                     expected_version: int | None = None) -> Followup:
    """The hotline (a supervisor, an admin, the engine) reopens an answered complaint the caller is
    not satisfied with. The reopening (reason, by, at, the answer rejected) is appended to
    ``details["reopens"]`` and ``details["reopen_count"]`` counts them; the answer is cleared.

    The office gets a new deadline, ``complaint_working_days`` working days from the reopening."""
    body = _text(reason, "reason", "the reason", "重新办理理由")
    case, followup = _load(session, followup_id)

    def effect(change: FollowupChange) -> None:
        previous: list[dict[str, Any]] = list(change.followup.details.get("reopens", []))
        previous.append({"reason": body, "by": actor.id, "at": change.at.isoformat(),
                         "rejected_answer": change.followup.details.get("answer")})
        change.details["reopens"] = previous
        change.details["reopen_count"] = len(previous)
        change.details["answer"] = None

    transition_followup(session, runtime, case=case, followup=followup, action="reopen", actor=actor,
                        expected_version=expected_version, effect=effect,
                        restart_working_days=get_settings().complaint_working_days)
    return followup


def _within(region: str | None) -> list[ColumnElement[bool]]:
    """Complaints whose (office's) region lies within ``region`` (None: everywhere), as SQL."""
    return [] if region is None else [Followup.region.startswith(region_prefix(region), autoescape=True)]


def complaint_counts(session: Session, *, region: str | None, today: date) -> dict[str, ComplaintCounts]:
    """Per office (``<dept>@<region>``; ``"-"`` for none) within ``region`` (None: everywhere):
    complaints received, open, overdue on ``today`` (open, due before it), answered (closed with an
    answer now), reopened (at least once). One grouped query."""
    def count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(sql_case((condition, 1), else_=0)), 0)

    is_open = Followup.closed_at.is_(None)
    reopened = func.coalesce(Followup.details["reopen_count"].as_integer(), 0) > 0
    office = func.coalesce(Followup.office, NO_OFFICE).label("office")
    query = (select(office, func.count(Followup.id), count(is_open), count(and_(is_open, Followup.due_on < today)),
                    count(Followup.outcome == "answered"), count(reopened))
             .where(Followup.kind == _KIND, *_within(region)).group_by(office))
    return {str(key): ComplaintCounts(office=str(key), received=int(received), open=int(opened),
                                      overdue=int(overdue), answered=int(answered), reopened=int(again))
            for key, received, opened, overdue, answered, again in session.execute(query)}


def list_complaints(session: Session, *, actor: Actor, open_only: bool = True, limit: int = 100,
                    offset: int = 0) -> list[Followup]:
    """The complaints ``actor`` sees (an officer: their department's within their region; a
    supervisor or admin: their region's; an applicant: their cases'), open only unless
    ``open_only`` is False, newest first."""
    return list_followups(session, actor=actor, kind=FollowupKind.COMPLAINT, open_only=open_only,
                          newest_first=True, limit=limit, offset=offset)
