"""差评整改: a bad rating's rectification, through the follow-up gate (:mod:`engine.governance.followups`).

Opened by :func:`engine.governance.ratings.rate` for the rated office, due
``Settings.rectification_working_days`` working days later. The office's officer rectifies
(:func:`rectify`: measures taken and the 回访 call-back: when, reached or not, the applicant's view)
or appeals (:func:`appeal`); a supervisor upholds the appeal (closed ``appeal_upheld``: the rating
no longer counts against the office) or dismisses it (open again, same deadline):
:func:`decide_appeal`. Each call locks the case and is committed by the caller.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.db.models import Case, Followup, Rating, Step
from engine.errors import DomainError
from engine.governance.followups import FollowupChange, FollowupKind, load_followup, open_followup, transition_followup
from engine.machine.states import Actor
from engine.runtime import Runtime

__all__ = ["MAX_TEXT", "appeal", "decide_appeal", "open_rectification", "rectify"]

MAX_TEXT = 1000


def open_rectification(session: Session, runtime: Runtime, *, case: Case, rating: Rating,
                       step: Step | None) -> Followup:
    """Open the rectification of ``rating`` for its office (the case is locked by the caller)."""
    from engine.settings import get_settings

    return open_followup(session, runtime, case=case, kind=FollowupKind.RECTIFICATION,
                         working_days=get_settings().rectification_working_days, region=rating.region,
                         office=rating.office, department=rating.department, step=step, rating_id=rating.id,
                         details={"level": rating.level, "reasons": list(rating.reasons)})


def _text(value: str, field: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise DomainError(f"{what} is needed / 请填写{field}", field=field)
    if len(text) > MAX_TEXT:
        raise DomainError(f"{what} is at most {MAX_TEXT} characters / 不超过{MAX_TEXT}字", field=field)
    return text


def _load(session: Session, followup_id: int) -> tuple[Case, Followup]:
    return load_followup(session, followup_id, kind=FollowupKind.RECTIFICATION, missing=f"no rectification {followup_id}")


def rectify(session: Session, runtime: Runtime, *, followup_id: int, actor: Actor, measures: str,
            called_at: datetime, reached: bool, applicant_view: str = "",
            expected_version: int | None = None) -> Followup:
    """Close a rectification as ``rectified``: the measures taken and the 回访 call-back record."""
    measures_text = _text(measures, "measures", "the measures taken")
    view = applicant_view.strip()
    if len(view) > MAX_TEXT:
        raise DomainError(f"the applicant's view is at most {MAX_TEXT} characters / 回访意见不超过{MAX_TEXT}字",
                          field="applicant_view")
    if called_at > runtime.clock.now():
        raise DomainError("the call-back cannot be in the future / 回访时间不能晚于当前时间", field="called_at")
    case, followup = _load(session, followup_id)

    def effect(change: FollowupChange) -> None:
        change.details["rectification"] = {"measures": measures_text, "by": actor.id}
        change.details["callback"] = {"called_at": called_at.isoformat(), "reached": reached,
                                      "applicant_view": view}

    transition_followup(session, runtime, case=case, followup=followup, action="rectify", actor=actor,
                        expected_version=expected_version, effect=effect)
    return followup


def appeal(session: Session, runtime: Runtime, *, followup_id: int, actor: Actor, reason: str,
           expected_version: int | None = None) -> Followup:
    """The office contests the bad rating (申诉); a supervisor decides."""
    text = _text(reason, "reason", "the reason")
    case, followup = _load(session, followup_id)

    def effect(change: FollowupChange) -> None:
        change.details["appeal"] = {"reason": text, "by": actor.id, "at": change.at.isoformat()}

    transition_followup(session, runtime, case=case, followup=followup, action="appeal", actor=actor,
                        expected_version=expected_version, effect=effect)
    return followup


def decide_appeal(session: Session, runtime: Runtime, *, followup_id: int, actor: Actor, uphold: bool,
                  note: str = "", expected_version: int | None = None) -> Followup:
    """A supervisor upholds the appeal (closed, the rating no longer counts against the office) or
    dismisses it (the rectification is open again, its deadline unchanged)."""
    text = note.strip()
    if len(text) > MAX_TEXT:
        raise DomainError(f"the note is at most {MAX_TEXT} characters / 不超过{MAX_TEXT}字", field="note")
    case, followup = _load(session, followup_id)

    def effect(change: FollowupChange) -> None:
        change.details["appeal_decision"] = {"upheld": uphold, "note": text, "by": actor.id,
                                             "at": change.at.isoformat()}

    transition_followup(session, runtime, case=case, followup=followup,
                        action="uphold_appeal" if uphold else "dismiss_appeal", actor=actor,
                        expected_version=expected_version, effect=effect)
    return followup
