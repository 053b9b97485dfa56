"""The gate's effects of 告知承诺 (国办发〔2020〕42号), part of the gate like
:mod:`engine.machine.material_effects`: choosing the review path, recording the signed commitment
and revoking what a false one was granted.

* ``check_credit`` — a holder with a serious credit mark in force (信用记录: an earlier commitment
  found false) may not take the commitment path: the step becomes a human step (``kind``
  commitment → human) that an officer reviews normally; the event names the mark.
* ``record_commitment`` — the exact text the applicant signed, its SHA-256, who and when, as a
  :class:`~engine.db.models.Commitment` row; the step's outputs point at it.
* ``revoke_result`` — a failed post-check: the licences the step issued are revoked and its
  result is marked revoked (when, why); the state stays ``done`` (the decision was taken and is
  now withdrawn, 撤销), so the record of what happened stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.db.models import Commitment, CreditMark, Step
from engine.errors import Conflict, IllegalTransition
from engine.people.licences import revoke_step_licences
from engine.spec.models import StepKind

if TYPE_CHECKING:
    from engine.machine.effects import Change

SERIOUS = "serious"
"""The severity of a credit mark that bars its holder from the commitment path while in force."""


@dataclass(frozen=True, slots=True)
class Signed:
    """What the applicant signed: the rendered letter, its hash, its language and template."""

    text: str
    text_hash: str
    locale: str
    template: str


def serious_mark(session: Session, *, holder_id: str, today: date) -> CreditMark | None:
    """The holder's serious credit mark in force on ``today`` (not lifted, not expired), the newest."""
    return session.scalars(
        select(CreditMark).where(CreditMark.holder_id == holder_id, CreditMark.severity == SERIOUS,
                                 CreditMark.lifted_at.is_(None),
                                 or_(CreditMark.expires_on.is_(None), CreditMark.expires_on >= today))
        .order_by(CreditMark.marked_at.desc(), CreditMark.id.desc()).limit(1)
    ).first()


def check_credit(change: Change, step: Step) -> None:
    """A serious mark in force sends the commitment step to normal review (kind → human)."""
    mark = serious_mark(change.session, holder_id=change.case.applicant_id, today=change.today)
    if mark is None:
        return
    step.kind = StepKind.HUMAN.value
    change.details["review_instead"] = {
        "credit_mark": mark.id, "marked_on": mark.marked_at.date().isoformat(),
        "reason": "信用记录有严重失信（虚假承诺），不适用告知承诺，按一般程序审查 / a serious credit mark "
                  "(a false commitment): normal review instead of the commitment"}


def guard_commitment(change: Change, step: Step) -> None:
    """Signing needs the bundle's letter, the letter, and a holder without a serious mark."""
    if change.spec(step).commitment is None:
        raise IllegalTransition(f"step {step.step_key} has no commitment letter in its bundle version: an officer "
                                "reviews it / 该环节未配置告知承诺书，由工作人员审查", field="step_id")
    if change.inputs.commitment is None:
        raise ValueError("sign needs the signed commitment")
    if serious_mark(change.session, holder_id=change.case.applicant_id, today=change.today) is not None:
        raise Conflict("the holder has a serious credit mark: the step goes to normal review / "
                       "申请人有严重失信记录，不适用告知承诺", field="step_id")


def record_commitment(change: Change, step: Step) -> None:
    """Store the signed letter (who, when, the exact text and its hash) and point the step at it."""
    signed = change.inputs.commitment
    assert signed is not None  # the guard saw it
    row = Commitment(case_id=change.case.id, step_id=step.id, signer=change.actor.id,
                     holder_id=change.case.applicant_id, template=signed.template, locale=signed.locale,
                     text=signed.text, text_hash=signed.text_hash, signed_at=change.at)
    change.session.add(row)
    change.session.flush()  # its id goes into the outputs and the event
    record = {"id": row.id, "text_hash": signed.text_hash, "locale": signed.locale,
              "signed_at": change.at.isoformat(), "signed_by": change.actor.role.value}
    step.outputs = {**step.outputs, "commitment": record}
    change.details["commitment"] = record


def revoke_result(change: Change, step: Step) -> None:
    """Revoke the licences the step issued and mark its result revoked (when, why)."""
    revoked = [{"type": l.type_code, "number": l.number, "holder": l.holder_id}
               for l in revoke_step_licences(change.session, step_id=step.id, now=change.at)]
    reason = (change.inputs.reason or "").strip()
    step.outputs = {**step.outputs, "revoked": {"at": change.at.isoformat(), "reason": reason, "licences": revoked}}
    change.details["revoked"] = revoked
    change.details["reason"] = reason
