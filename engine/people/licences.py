"""The electronic licence store (电子证照库).

Licences come from two places: the province's licence catalogue (seeded here by the demo and
by adapters) and the platform itself — when a step finishes with a licence output (结婚证,
死亡医学证明, 注销户口证明 …) the licence is stored at once, so later steps of the same case
and later cases of the same holder are prefilled from it and need not supply it again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
import calendar
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.db.models import Licence, new_id
from engine.errors import Conflict, DomainError, FieldProblem, InvalidApplication


# Built once: the hot paths' statements are bound, not rebuilt per call (building one costs more
# than running it on SQLite).
_VALID_LICENCES = (
    select(Licence)
    .where(
        Licence.holder_id.in_(bindparam("holders", expanding=True)),
        Licence.type_code.in_(bindparam("types", expanding=True)),
        Licence.revoked_at.is_(None),
        Licence.valid_from <= bindparam("today"),
        or_(Licence.valid_to.is_(None), Licence.valid_to >= bindparam("today")),
    )
    .order_by(Licence.valid_from.desc(), Licence.created_at.desc())
)


def valid_licences(
    session: Session, *, holders: Collection[str], types: Collection[str], today: date
) -> dict[tuple[str, str], Licence]:
    """The newest valid licence per (holder, type) among ``holders`` × ``types``, in one query.

    Expired, not-yet-valid and revoked licences are never returned.
    """
    if not holders or not types:
        return {}
    rows = session.scalars(_VALID_LICENCES, {"holders": sorted(holders), "types": sorted(types), "today": today})
    found: dict[tuple[str, str], Licence] = {}
    for licence in rows:
        found.setdefault((licence.holder_id, licence.type_code), licence)
    return found


class LicenceReads:
    """The valid licences one piece of work reads (an intake's prefill, waivers and eligibility
    facts), read once: every holder is fetched with all of ``types``, the licence types the work
    may ask about, so the later asks about the same people are answered without a query. Holders
    not seen yet are fetched when first asked about. Live for one unit of work, before it writes
    a licence: it never sees a licence stored or revoked after its reads."""

    def __init__(self, session: Session, *, today: date, types: Collection[str]) -> None:
        self._session = session
        self._today = today
        self._types = frozenset(types)
        self._holders: set[str] = set()
        self._found: dict[tuple[str, str], Licence] = {}

    def valid(self, *, holders: Collection[str], types: Collection[str]) -> dict[tuple[str, str], Licence]:
        """:func:`valid_licences` of ``holders`` × ``types``, from what was read or one new read."""
        if not holders or not types:
            return {}
        wanted = set(types)
        if not wanted <= self._types:  # a type the work did not announce: read it as asked
            return valid_licences(self._session, holders=holders, types=wanted, today=self._today)
        missing = set(holders) - self._holders
        if missing:
            self._found.update(valid_licences(self._session, holders=missing, types=self._types, today=self._today))
            self._holders |= missing
        return {key: licence for key, licence in self._found.items() if key[0] in holders and key[1] in wanted}


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
    attribute_names: Collection[str] | None = None,
) -> list[Licence]:
    """Store the licence a finished step issues, one per holder (both spouses get a 结婚证).

    Attributes come from the fields the bundle maps (``outputs.attributes``) and from what the
    officer entered under the attribute's own name (refused unless the licence type declares it,
    when ``attribute_names`` are given); the number is the officer's or a stable one derived from
    the step, so a re-run never issues a second number. The validity ends ``valid_for`` after
    today, or on the date entered as ``valid_until_output`` (none: no end).
    """
    if output.licence is None:
        return []
    values = {**answers, **element}
    holders = [str(values[h]) for h in output.holders if values.get(h)] or [applicant_id]
    attributes = {attr: values.get(name) for attr, name in output.attributes.items() if values.get(name) is not None}
    entered = {k: v for k, v in outputs.items() if k not in ("number", "result", output.valid_until_output)}
    if attribute_names is not None:
        check_output_attributes(output.licence, entered, attribute_names)
    attributes.update(entered)
    valid_to = validity_end(output, outputs, today)
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
            issuer=issuer, valid_from=today, valid_to=valid_to, created_at=now, source_case_id=case_id,
            source_step_id=step_id,
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


def check_output_attributes(licence_type: str, entered: Mapping[str, Any], declared: Collection[str]) -> None:
    """Refuse outputs a licence of ``licence_type`` has no attribute for (a typo would otherwise
    land on the certificate unseen)."""
    problems = [
        FieldProblem(f"outputs.{name}", "outputs.unknown_attribute",
                     f"证照 {licence_type} 没有属性 {name}（可填：{'、'.join(declared)}）",
                     f"licence {licence_type} has no attribute {name!r} (declared: {', '.join(declared)})")
        for name in entered if name not in declared
    ]
    if problems:
        raise InvalidApplication(problems)


def validity_end(output: Any, outputs: Mapping[str, Any], today: date) -> date | None:
    """The last valid day of a licence issued today: ``valid_for`` later (the same calendar day;
    29 February becomes 28 February), or the ISO date the officer entered as ``valid_until_output``."""
    if output.valid_for is not None:
        span = output.valid_for
        if span.days is not None:
            return today + timedelta(days=span.days)
        months = today.month - 1 + (span.months or 0) + 12 * (span.years or 0)
        year, month = today.year + months // 12, months % 12 + 1
        last = calendar.monthrange(year, month)[1]
        return date(year, month, min(today.day, last))
    if output.valid_until_output is not None:
        name = output.valid_until_output
        raw = outputs.get(name)
        try:
            end = date.fromisoformat(str(raw))
        except ValueError:
            raise InvalidApplication([FieldProblem(
                f"outputs.{name}", "outputs.valid_until", f"请填写证照有效期截止日期（{name}，格式 YYYY-MM-DD）",
                f"enter the licence's last valid day as {name} (YYYY-MM-DD)")]) from None
        if end < today:
            raise InvalidApplication([FieldProblem(
                f"outputs.{name}", "outputs.valid_until", "有效期截止日期不能早于今天",
                "the last valid day cannot be before today")])
        return end
    return None


def revoke_holder_licences(
    session: Session, *, type_code: str, holder_id: str, now: datetime, today: date, step_id: str | None = None,
) -> list[Licence]:
    """Revoke (注销) every licence of ``type_code`` ``holder_id`` holds that is valid today (except any
    the revoking step ``step_id`` issued itself); return them.

    Revoked licences waive nothing and prefill nothing (:func:`valid_licences` skips them)."""
    session.flush()  # licences issued earlier in this transaction are revoked too
    found = [
        licence for licence in session.scalars(
            select(Licence)
            .where(
                Licence.holder_id == holder_id, Licence.type_code == type_code, Licence.revoked_at.is_(None),
                or_(Licence.valid_to.is_(None), Licence.valid_to >= today),
            )
            .order_by(Licence.number)
        )
        if step_id is None or licence.source_step_id != step_id
    ]
    for licence in found:
        licence.revoked_at = now
    return found


def revoke_step_licences(session: Session, *, step_id: str, now: datetime) -> list[Licence]:
    """Revoke (撤销) every licence step ``step_id`` issued that is not revoked yet; return them (a
    commitment found false: what it was granted on stops being valid)."""
    session.flush()  # licences issued earlier in this transaction are revoked too
    found = list(session.scalars(select(Licence).where(Licence.source_step_id == step_id,
                                                       Licence.revoked_at.is_(None)).order_by(Licence.number)))
    for licence in found:
        licence.revoked_at = now
    return found
