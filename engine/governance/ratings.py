"""好差评 (国办发〔2019〕51号): the applicant rates a finished case once (一事一评) and each decided
step once, five levels with reasons from a fixed list per level group and a short comment.

:func:`rate` locks the case, asks :func:`engine.machine.access.authorize` (``Access.RATE_CASE``:
the applicant; a window recording a rating given there), stores the :class:`~engine.db.models.Rating`
for the office rated and appends one audit event on the case. A bad rating (level ≤ 2) opens a
rectification (:mod:`engine.governance.rectification`) for the responsible office in the same
transaction. The caller commits (:func:`engine.machine.unit_of_work.in_transaction`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Case, Rating, Step
from engine.errors import Conflict, DomainError, IllegalTransition, NotFound
from engine.machine.access import Access, Target, authorize, refusal
from engine.machine.handover import receiving_window
from engine.machine.states import Actor, CaseState, Role, StepState
from engine.machine.unit_of_work import load_case
from engine.records.audit import append_event
from engine.runtime import Runtime
from engine.time.clock import local_date

__all__ = ["BAD_AT_MOST", "CHANNELS", "LEVELS", "MAX_COMMENT", "REASONS", "RATABLE_CASE_STATES",
           "RATABLE_STEP_STATES", "RatingChoices", "case_ratings", "rate", "rating_choices"]

LEVELS: Mapping[int, str] = MappingProxyType({
    5: "very satisfied / 非常满意", 4: "satisfied / 满意", 3: "fairly satisfied / 基本满意",
    2: "dissatisfied / 不满意", 1: "very dissatisfied / 非常不满意",
})
"""The five levels of 好差评, best first: the one table pages, notices and the API show."""

BAD_AT_MOST = 2
"""A rating of this level or below is 差评 and opens a rectification."""

_GOOD = ("quick / 办事效率高", "friendly service / 服务态度好", "clear requirements / 材料要求清楚",
         "one visit was enough / 只跑一次", "online service worked / 网上办理便捷")
_BAD = ("slow / 办事效率低", "unfriendly service / 服务态度差", "unclear requirements / 材料要求不清",
        "had to come several times / 多次跑动", "online service failed / 网上办理不畅", "other / 其他")
REASONS: Mapping[int, tuple[str, ...]] = MappingProxyType({5: _GOOD, 4: _GOOD, 3: _GOOD + _BAD, 2: _BAD, 1: _BAD})
"""The reasons one may choose at each level (good ones for 4–5, bad ones for 1–2, either for 3)."""

MAX_COMMENT = 500
MAX_REASONS = 6
CHANNELS = ("web", "api", "notice", "window")
RATABLE_CASE_STATES = frozenset({CaseState.COMPLETED, CaseState.PARTIALLY_COMPLETED, CaseState.REJECTED})
"""A case is rated once it is decided; not open, not withdrawn (nothing was done to rate)."""
RATABLE_STEP_STATES = frozenset({StepState.DONE, StepState.REJECTED})


def default_channel(actor: Actor) -> str:
    """Where a rating comes from when the caller does not say: a window's pad for a clerk, else the API."""
    return "window" if actor.role is Role.CLERK else "api"


def _check(level: int, reasons: Sequence[str], comment: str, channel: str, actor: Actor) -> tuple[list[str], str]:
    """The rating as given, checked before any work (bilingual, naming the field)."""
    if level not in LEVELS:
        raise DomainError("level must be 1 to 5 / 评价等级须为1至5", field="level")
    if len(reasons) > MAX_REASONS:
        raise DomainError(f"at most {MAX_REASONS} reasons / 评价理由至多{MAX_REASONS}项", field="reasons")
    allowed = REASONS[level]
    picked = list(dict.fromkeys(reasons))
    for reason in picked:
        if reason not in allowed:
            raise DomainError(f"reason {reason[:40]!r} is not one of level {level}'s / 所选理由不适用于该评价等级",
                              field="reasons")
    text = comment.strip()
    if len(text) > MAX_COMMENT:
        raise DomainError(f"the comment is at most {MAX_COMMENT} characters / 评价内容不超过{MAX_COMMENT}字",
                          field="comment")
    if channel not in CHANNELS:
        raise DomainError(f"channel must be one of {', '.join(CHANNELS)} / 评价渠道无效", field="channel")
    if (channel == "window") != (actor.role is Role.CLERK):
        raise DomainError("a window records ratings through the window channel only / 窗口代录评价须选择窗口渠道",
                          field="channel")
    return picked, text


def _existing(session: Session, case: Case, step: Step | None) -> Rating | None:
    stmt = select(Rating).where(Rating.case_id == case.id)
    stmt = stmt.where(Rating.step_id == step.id) if step is not None else stmt.where(Rating.step_id.is_(None))
    return session.scalar(stmt)


def _office_of(case: Case, step: Step | None, session: Session) -> tuple[str | None, str | None, str]:
    """The office rated (``<dept>@<region>``), its department and region. A step: its office. The
    case: the office of its worst-rated step, else the receiving window's region (no office)."""
    if step is None:
        worst = session.scalars(select(Rating).where(Rating.case_id == case.id, Rating.step_id.is_not(None))
                                .order_by(Rating.level, Rating.rated_at)).first()
        if worst is not None:
            return worst.office, worst.department, worst.region
        return None, None, receiving_window(case)
    region = step.office.split("@", 1)[1] if step.office else (step.decided_in or case.region)
    return step.office, step.department, region


def rate(
    session: Session,
    runtime: Runtime,
    *,
    case_id: str,
    actor: Actor,
    level: int,
    reasons: Sequence[str] = (),
    comment: str = "",
    channel: str | None = None,
    step_id: str | None = None,
) -> Rating:
    """Rate case ``case_id`` (``step_id`` None: 一事一评) or one of its decided steps, once; a bad
    rating opens a rectification. Conflict (409) names the first rating when one exists."""
    from engine.governance.rectification import open_rectification

    channel = channel or default_channel(actor)
    picked, text = _check(level, reasons, comment, channel, actor)
    case = load_case(session, case_id)
    step: Step | None = None
    if step_id is not None:
        step = next((s for s in case.steps if s.id == step_id), None)
        if step is None:
            raise NotFound(f"no step {step_id}", field="step_id")
    authorize(actor, Access.RATE_CASE, Target(case=case))
    if case.state not in RATABLE_CASE_STATES:
        raise IllegalTransition(f"a case that is {case.state} cannot be rated / 办件尚未办结（或已撤回），不能评价",
                                field="case_id")
    if step is not None and step.state not in RATABLE_STEP_STATES:
        raise IllegalTransition(f"a step that is {step.state} cannot be rated / 该事项未办结，不能评价",
                                field="step_id")
    first = _existing(session, case, step)
    if first is not None:
        what = "step" if step is not None else "case"
        raise Conflict(f"this {what} was rated already (rating {first.id}, {first.rated_on.isoformat()}) / "
                       f"已评价过（评价编号 {first.id}），一事一评", field="step_id" if step is not None else "case_id")
    office, department, region = _office_of(case, step, session)
    at = runtime.clock.now()
    rating = Rating(case_id=case.id, step_id=step.id if step is not None else None, rater=actor.id, level=level,
                    reasons=picked, comment=text, channel=channel, office=office, department=department,
                    region=region, rated_at=at, rated_on=local_date(at))
    session.add(rating)
    session.flush()
    append_event(session, case=case, actor=actor, action="rating.rated", at=at, step_id=rating.step_id,
                 payload={"rating": rating.id, "level": level, "reasons": picked, "channel": channel,
                          "office": office, "comment_chars": len(text)})
    if level <= BAD_AT_MOST:
        open_rectification(session, runtime, case=case, rating=rating, step=step)
    return rating


def case_ratings(session: Session, *, case_id: str, actor: Actor) -> list[Rating]:
    """The ratings of a case, for those who see it (the case first, then its steps')."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}", field="case_id")
    authorize(actor, Access.SEE_CASE, Target(case=case))
    rows = session.scalars(select(Rating).where(Rating.case_id == case_id).order_by(Rating.id))
    return sorted(rows, key=lambda r: (r.step_id is not None, r.id))


@dataclass(frozen=True, slots=True)
class RatingChoices:
    """What ``actor`` may still rate of a case (the progress page's form): the case as a whole, and
    its decided steps not rated yet; and the ratings given so far."""

    case: bool
    steps: tuple[str, ...]
    given: tuple[Rating, ...]

    @property
    def any(self) -> bool:
        return self.case or bool(self.steps)


def rating_choices(session: Session, *, case: Case, actor: Actor) -> RatingChoices:
    """:func:`rate`'s rules, asked before the form is shown: nothing for whoever may not rate the
    case (not its applicant, nor a window holding it) or while it is open or withdrawn."""
    given = tuple(sorted(session.scalars(select(Rating).where(Rating.case_id == case.id)),
                         key=lambda r: (r.step_id is not None, r.id)))
    if refusal(actor, Access.RATE_CASE, Target(case=case)) is not None or case.state not in RATABLE_CASE_STATES:
        return RatingChoices(case=False, steps=(), given=given)
    rated = {r.step_id for r in given}
    steps = tuple(s.id for s in sorted(case.steps, key=lambda s: s.position)
                  if s.state in RATABLE_STEP_STATES and s.id not in rated)
    return RatingChoices(case=None not in rated, steps=steps, given=given)
