"""出件: the receiving window hands out a finished case's results, and records it.

专窗收件 → 分发部门 → 各部门审批 → 专窗统一出件: the window that received the case (受理地,
``cases.received_in``; the case's region for older cases and self-service) follows its progress
and, once the case is finished (completed, or partially completed: its results and licences are
issued), hands the results to the applicant or to an agent (代领人, whose ID number is checked and
only ever shown masked), at the window or by post with a tracking number, and records when.

:func:`hand_over` is one unit of work: the case locked, the caller authorised by the engine's
access table (:func:`engine.machine.access.authorize`, the gate's ``hand_over`` rule naming the
role: a clerk) and at the receiving window itself (a clerk of the applicant's home region who did
not receive the case does not hand it out), then the gate's ``hand_over`` case rule, whose effect
writes the :class:`~engine.db.models.Handover` row and whose one audit event carries it (the ID
masked). A case is handed over once: a second hand-over is refused (409) naming the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.db.models import Case, Handover
from engine.errors import DomainError, Forbidden
from engine.machine.access import Access, Target, authorize, permits, refusal, region_covers
from engine.machine.effects import Inputs
from engine.machine.states import GOVERNMENT_STAFF, Actor, CaseState
from engine.machine.transitions import CASE_RULES, transition_case
from engine.machine.unit_of_work import in_transaction, load_case
from engine.people.identifiers import InvalidValue, mask_id_number, validate_id_number
from engine.runtime import Runtime

__all__ = ["METHODS", "RECIPIENTS", "HandOver", "HandoverView", "hand_over", "handover_of", "may_hand_over",
           "receiving_window"]

RECIPIENTS = {"applicant": ("the applicant", "申请人本人"), "agent": ("an agent", "代领人")}
"""Who receives the results (English, 中文): the applicant (in person, or the post's addressee) or an agent."""
METHODS = {"window": ("at the window", "窗口领取"), "post": ("by post", "邮寄送达")}
"""How the results are handed out (English, 中文)."""
TRACKING_NO = re.compile(r"^[A-Za-z0-9-]{6,40}$")
MAX_NOTE = 500
MAX_NAME = 50


@dataclass(frozen=True, slots=True)
class HandOver:
    """What the window records (the gate's ``hand_over`` effect stores it as given)."""

    recipient: str
    method: str
    handed_at: datetime
    agent_name: str = ""
    agent_id_number: str | None = None
    tracking_no: str | None = None
    note: str = ""

    def audit(self) -> dict[str, Any]:
        """What the audit event records: everything, the agent's ID number masked."""
        return {"recipient": self.recipient, "method": self.method, "handed_at": self.handed_at.isoformat(),
                "agent_name": self.agent_name,
                "agent_id_number": mask_id_number(self.agent_id_number) if self.agent_id_number else None,
                "tracking_no": self.tracking_no, "note": self.note}


@dataclass(frozen=True, slots=True)
class HandoverView:
    """A case's hand-over as a reader of the case sees it (the agent's ID number masked)."""

    case_id: str
    recipient: str
    method: str
    handed_at: datetime
    region: str
    """The region of the window that handed the results out."""
    agent_name: str
    agent_id_number_masked: str | None
    tracking_no: str | None
    note: str
    handed_by: str | None
    """The clerk's actor id, for staff (None for the applicant, who never learns who acted)."""

    @property
    def recipient_label(self) -> str:
        return RECIPIENTS[self.recipient][1] if self.recipient in RECIPIENTS else self.recipient

    @property
    def method_label(self) -> str:
        return METHODS[self.method][1] if self.method in METHODS else self.method


def receiving_window(case: Case) -> str:
    """The region of the window that received the case and hands its results out (受理地)."""
    return case.received_in or case.region


def _clean(*, recipient: str, method: str, agent_name: str, agent_id_number: str | None, tracking_no: str | None,
           note: str, handed_at: datetime | None, now: datetime) -> HandOver:
    """The hand-over as given, checked field by field (bilingual, naming the field)."""
    if recipient not in RECIPIENTS:
        raise DomainError(f"recipient must be one of {', '.join(RECIPIENTS)} / 领取人须为申请人本人或代领人", field="recipient")
    if method not in METHODS:
        raise DomainError(f"method must be one of {', '.join(METHODS)} / 出件方式须为窗口领取或邮寄送达", field="method")
    name, number = agent_name.strip(), (agent_id_number or "").strip() or None
    if recipient == "agent":
        if not name or len(name) > MAX_NAME:
            raise DomainError(f"an agent's name is needed (at most {MAX_NAME} characters) / 请填写代领人姓名",
                              field="agent_name")
        if number is None:
            raise DomainError("an agent's ID number is needed / 请填写代领人身份证号", field="agent_id_number")
        try:
            number = validate_id_number(number, today=now.date())
        except InvalidValue as exc:
            raise DomainError(f"agent's ID number: {exc.message_en} / 代领人身份证号：{exc.message_zh}",
                              field="agent_id_number") from None
    elif name or number:
        field = "agent_name" if name else "agent_id_number"
        raise DomainError("only an agent's name and ID number are recorded / 申请人本人领取无需填写代领人信息", field=field)
    tracking = (tracking_no or "").strip() or None
    if method == "post" and (tracking is None or not TRACKING_NO.fullmatch(tracking)):
        raise DomainError("a posted hand-over needs the tracking number (6-40 letters, digits, -) / 邮寄送达须填写快递单号",
                          field="tracking_no")
    if method == "window" and tracking is not None:
        raise DomainError("a tracking number only goes with post / 窗口领取无需快递单号", field="tracking_no")
    if len(note) > MAX_NOTE:
        raise DomainError(f"the note is longer than {MAX_NOTE} characters / 备注过长", field="note")
    when = handed_at or now
    if when.tzinfo is None:
        raise DomainError("the hand-over time needs its time zone / 出件时间须带时区", field="handed_at")
    if when > now:
        raise DomainError("the results cannot be handed over in the future / 出件时间不能晚于当前时间", field="handed_at")
    return HandOver(recipient=recipient, method=method, handed_at=when, agent_name=name if recipient == "agent" else "",
                    agent_id_number=number, tracking_no=tracking, note=note.strip())


def _check_window(actor: Actor, case: Case) -> None:
    """The access table lets a clerk act on the cases of their region and on those they received;
    the results go out where the case came in, so only the receiving window hands them out."""
    window = receiving_window(case)
    if actor.region is not None and not region_covers(actor.region, window):
        raise Forbidden(f"the results of this case are handed out at the window that received it ({window}) / "
                        f"该件由受理地（{window}）窗口统一出件", field="case_id")


def hand_over(
    session: Session, runtime: Runtime, *, case_id: str, actor: Actor, recipient: str, method: str,
    agent_name: str = "", agent_id_number: str | None = None, tracking_no: str | None = None,
    handed_at: datetime | None = None, note: str = "",
) -> HandoverView:
    """Record that the finished case's results were handed out (see the module): who received them
    (``recipient``: applicant or agent, with the agent's name and ID number), how (``method``:
    window, or post with ``tracking_no``) and when (``handed_at``, default now; not in the future,
    not before the case closed). Returns the record as ``actor`` reads it."""
    now = runtime.clock.now()
    given = _clean(recipient=recipient, method=method, agent_name=agent_name, agent_id_number=agent_id_number,
                   tracking_no=tracking_no, note=note, handed_at=handed_at, now=now)

    def work() -> HandoverView:
        case = load_case(session, case_id)
        authorize(actor, Access.ACT_ON_CASE, Target(case=case), action="hand_over")
        _check_window(actor, case)
        if case.closed_at is not None and given.handed_at < case.closed_at:
            raise DomainError(f"the case closed on {case.closed_at:%Y-%m-%d %H:%M}: its results cannot have been handed "
                              "over before / 出件时间不能早于办结时间", field="handed_at")
        transition_case(session, runtime, case=case, action="hand_over", actor=actor, at=now,
                        inputs=Inputs(handover=given))
        session.flush()
        view = handover_of(session, case, viewer=actor)
        assert view is not None
        return view

    return in_transaction(session, work)


def handover_of(session: Session, case: Case, *, viewer: Actor) -> HandoverView | None:
    """The case's hand-over, if its results were handed out, as ``viewer`` (who may see the case)
    reads it."""
    row = session.get(Handover, case.id)
    if row is None:
        return None
    return HandoverView(
        case_id=row.case_id, recipient=row.recipient, method=row.method, handed_at=row.handed_at, region=row.region,
        agent_name=row.agent_name, agent_id_number_masked=mask_id_number(row.agent_id_number) if row.agent_id_number
        else None, tracking_no=row.tracking_no, note=row.note,
        handed_by=row.handed_by if viewer.role in GOVERNMENT_STAFF else None,
    )


HANDING_STATES = frozenset(state for rule in CASE_RULES if rule.action == "hand_over" for state in rule.sources)
"""The case states in which results are handed out (the gate's ``hand_over`` rule)."""


def may_hand_over(session: Session, actor: Actor, case: Case) -> bool:
    """Whether ``actor`` may record the hand-over of ``case`` now (the pages' form): the case is
    finished and not handed over yet, and the engine would let the actor do it at this window."""
    if case.state is None or CaseState(case.state) not in HANDING_STATES:
        return False
    if refusal(actor, Access.ACT_ON_CASE, Target(case=case), action="hand_over") is not None:
        return False
    if not permits(actor, Access.SEE_CASE, Target(case=case)):
        return False
    if actor.region is not None and not region_covers(actor.region, receiving_window(case)):
        return False
    return session.get(Handover, case.id) is None
