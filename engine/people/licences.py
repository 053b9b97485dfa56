"""The electronic licence store (电子证照库).

Licences come from two places: the province's licence catalogue (seeded here by the demo and
by adapters) and the platform itself — when a step finishes with a licence output (结婚证,
死亡医学证明, 注销户口证明 …) the licence is stored at once, so later steps of the same case
and later cases of the same holder are prefilled from it and need not supply it again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.db.models import Licence, new_id
from engine.errors import Conflict, DomainError


def valid_licences(
    session: Session, *, holders: Collection[str], types: Collection[str], today: date
) -> dict[tuple[str, str], Licence]:
    """The newest valid licence per (holder, type) among ``holders`` × ``types``, in one query.

    Expired, not-yet-valid and revoked licences are never returned.
    """
    if not holders or not types:
        return {}
    rows = session.scalars(
        select(Licence)
        .where(
            Licence.holder_id.in_(sorted(holders)),
            Licence.type_code.in_(sorted(types)),
            Licence.revoked_at.is_(None),
            Licence.valid_from <= today,
            or_(Licence.valid_to.is_(None), Licence.valid_to >= today),
        )
        .order_by(Licence.valid_from.desc(), Licence.created_at.desc())
    )
    found: dict[tuple[str, str], Licence] = {}
    for licence in rows:
        found.setdefault((licence.holder_id, licence.type_code), licence)
    return found


def store_licence(
    session: Session,
    *,
    type_code: str,
    holder_id: str,
    number: str,
    attributes: Mapping[str, Any],
    issuer: str,
    valid_from: date,
    now: datetime,
    valid_to: date | None = None,
    source_case_id: str | None = None,
    source_step_id: str | None = None,
) -> Licence:
    """Add a licence to the store (in the caller's transaction)."""
    if not holder_id:
        raise DomainError(f"a {type_code} licence needs a holder", field="holder_id")
    licence = Licence(
        id=new_id(), type_code=type_code, holder_id=holder_id, number=number, attributes=dict(attributes),
        issuer=issuer, valid_from=valid_from, valid_to=valid_to, created_at=now,
        source_case_id=source_case_id, source_step_id=source_step_id,
    )
    session.add(licence)
    return licence


def revoke_licence(session: Session, *, licence_id: str, now: datetime) -> None:
    """Revoke a licence: it is never used for prefill or waivers again."""
    licence = session.get(Licence, licence_id)
    if licence is None:
        raise DomainError(f"no licence {licence_id}", field="licence_id")
    licence.revoked_at = now


def issue_step_licences(
    session: Session,
    *,
    case_id: str,
    step_id: str,
    applicant_id: str,
    answers: Mapping[str, Any],
    element: Mapping[str, Any],
    output: Any,
    issuer: str,
    outputs: Mapping[str, Any],
    now: datetime,
    today: date,
) -> list[Licence]:
    """Store the licence a finished step issues, one per holder (both spouses get a 结婚证).

    Attributes come from the fields the bundle maps (``outputs.attributes``) and from what the
    officer entered under the attribute's own name; the number is the officer's or a stable
    one derived from the step, so a re-run never issues a second number.
    """
    if output.licence is None:
        return []
    values = {**answers, **element}
    holders = [str(values[h]) for h in output.holders if values.get(h)] or [applicant_id]
    attributes = {attr: values.get(name) for attr, name in output.attributes.items() if values.get(name) is not None}
    attributes.update({k: v for k, v in outputs.items() if k not in ("number", "result")})
    base = str(outputs.get("number") or f"{output.licence}-{today:%Y%m%d}-{step_id[:8].upper()}")
    numbers = [base] if len(holders) == 1 else [f"{base}-{index + 1}" for index in range(len(holders))]
    # A number already issued is the officer's typo or a reused form, not a bug: say which, and
    # leave the step open. The unique constraint still decides races; the savepoint turns its
    # refusal into the same answer without losing the rest of the transaction.
    if session.scalar(select(Licence.id).where(Licence.type_code == output.licence, Licence.number.in_(numbers))):
        raise _number_taken(output.licence, base)
    issued = [
        Licence(
            id=new_id(), type_code=output.licence, holder_id=holder, number=number, attributes=dict(attributes),
            issuer=issuer, valid_from=today, created_at=now, source_case_id=case_id, source_step_id=step_id,
        )
        for holder, number in zip(holders, numbers, strict=True)
    ]
    try:
        with session.begin_nested():
            session.add_all(issued)
    except IntegrityError:
        raise _number_taken(output.licence, base) from None
    return issued


def _number_taken(type_code: str, number: str) -> Conflict:
    return Conflict(f"certificate number {number} is already used by another {type_code} licence; "
                    "check the number and enter it again", field="outputs.number")
