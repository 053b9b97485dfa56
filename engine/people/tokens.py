"""Bearer tokens: issued once in plain text, stored only as their SHA-256 (DESIGN.md, Security).

A token stands for one actor: its role, and the subject (applicants: the ID number or credit
code they act as), department (officers) and region (clerks, officers, supervisors) that scope
what it may see and do. The actor id written to the audit log is the token's own id, unique
per token; the label (a staff member's name or number) is only for people to read.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.db.models import ApiToken, new_id
from engine.errors import DomainError, NotFound
from engine.people.identifiers import InvalidValue, validate_credit_code, validate_id_number
from engine.machine.states import Actor, Role
from engine.people.validators import validate_region_code

ISSUABLE = frozenset({Role.APPLICANT, Role.CLERK, Role.OFFICER, Role.SUPERVISOR, Role.ADMIN})
REGION_SCOPED = frozenset({Role.CLERK, Role.OFFICER, Role.SUPERVISOR})
DEMO_LABEL = "demo:"
"""Labels of demo tokens start with this; nobody else may use it, so re-issuing the demo set
revokes exactly the demo tokens."""


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _subject(value: str) -> str:
    try:
        return validate_id_number(value)
    except InvalidValue:
        pass
    try:
        return validate_credit_code(value)
    except InvalidValue as exc:
        raise DomainError(f"subject is neither a valid ID number nor a credit code: {exc.message_en}",
                          field="subject") from None


def issue_token(
    session: Session,
    *,
    role: Role | str,
    subject: str | None = None,
    department: str | None = None,
    region: str | None = None,
    label: str = "",
    now: datetime,
    expires_at: datetime | None = None,
    commit: bool = True,
) -> str:
    """Create a token and return its plain text; only its hash is stored, so show it once.

    Applicants need a ``subject``; officers a two-digit ``department``; clerks, officers and
    supervisors a ``region`` (GB/T 2260). Admins are unscoped. Commits, unless ``commit`` is
    false (several tokens issued in one transaction: the caller commits).
    """
    try:
        wanted = Role(role)
    except ValueError:
        raise DomainError(f"unknown role {role!r}", field="role") from None
    if wanted not in ISSUABLE:
        raise DomainError(f"tokens cannot be issued for role {wanted.value}", field="role")
    if wanted is Role.APPLICANT:
        if not subject:
            raise DomainError("an applicant token needs the subject (ID number or credit code)", field="subject")
        subject = _subject(subject)
    if wanted is Role.OFFICER and not (department and len(department) == 2 and department.isdigit()):
        raise DomainError("an officer token needs a two-digit department code", field="department")
    if wanted in REGION_SCOPED and not region:
        raise DomainError(f"a {wanted.value} token needs a region", field="region")
    if region:
        try:
            region = validate_region_code(region)
        except InvalidValue as exc:
            raise DomainError(f"region: {exc.message_en}", field="region") from None
    label = label.strip()
    if label.startswith(DEMO_LABEL):
        raise DomainError(f"labels starting with {DEMO_LABEL!r} are reserved for the demo tokens", field="label")
    return _issue(session, role=wanted, subject=subject, department=department, region=region, label=label,
                  now=now, expires_at=expires_at, commit=commit)


def _issue(
    session: Session, *, role: Role, subject: str | None, department: str | None, region: str | None, label: str,
    now: datetime, expires_at: datetime | None, commit: bool = True,
) -> str:
    wanted = role
    if len(label) > 64:
        raise DomainError("a label is at most 64 characters", field="label")
    if expires_at is not None and expires_at <= now:
        raise DomainError("a token must expire after it is issued", field="expires_at")
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            id=new_id(), token_hash=hash_token(token), role=wanted.value, subject=subject,
            department=department if wanted is Role.OFFICER else None,
            region=region if wanted is not Role.APPLICANT else None,
            label=label, created_at=now, expires_at=expires_at,
        )
    )
    if commit:
        session.commit()
    return token


def reissue_demo_tokens(
    session: Session, *, scopes: Mapping[str, Mapping[str, Any]], now: datetime, valid_for: timedelta
) -> dict[str, str]:
    """Revoke every demo token and issue one per entry of ``scopes`` (name → role, subject,
    department, region), each expiring after ``valid_for``; return name → plain token.

    So a database has at most one valid demo set however often the demo is loaded, and none
    of it outlives ``valid_for``. Commits once.
    """
    session.execute(
        update(ApiToken)
        .where(ApiToken.label.startswith(DEMO_LABEL, autoescape=True), ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    tokens = {}
    for name, scope in scopes.items():
        wanted = Role(scope["role"])
        subject = _subject(scope["subject"]) if wanted is Role.APPLICANT else None
        tokens[name] = _issue(session, role=wanted, subject=subject, department=scope.get("department"),
                              region=scope.get("region"), label=f"{DEMO_LABEL}{name}"[:64], now=now,
                              expires_at=now + valid_for, commit=False)
    session.commit()
    return tokens


@dataclass(frozen=True)
class TokenInfo:
    """What ``onevisit token list`` shows of a token (never the token itself)."""

    id: str
    role: str
    label: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    status: str
    """``valid``, ``expired`` or ``revoked``."""


def list_tokens(session: Session, *, now: datetime, include_ended: bool = False) -> list[TokenInfo]:
    """Tokens, newest first: valid ones (and with ``include_ended`` the expired and revoked)."""
    out = []
    for row in session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id)):
        expired = row.expires_at is not None and row.expires_at <= now
        status = "revoked" if row.revoked_at else "expired" if expired else "valid"
        if status != "valid" and not include_ended:
            continue
        scope = " ".join(f"{k}={v}" for k, v in (("department", row.department), ("region", row.region),
                                                   ("subject", _masked(row.subject))) if v)
        out.append(TokenInfo(id=row.id, role=row.role, label=row.label, scope=scope, created_at=row.created_at,
                             expires_at=row.expires_at, status=status))
    session.rollback()
    return out


def _masked(subject: str | None) -> str | None:
    from engine.people.identifiers import mask_id_number

    return mask_id_number(subject) if subject else None


DURATION = re.compile(r"^(\d{1,5})([hdw])$")


def parse_expiry(text: str, *, now: datetime) -> datetime | None:
    """``30d``, ``12h``, ``2w``, an ISO date or date-time, or ``never`` → the moment a token expires."""
    value = text.strip().lower()
    if value == "never":
        return None
    match = DURATION.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now + {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[unit]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DomainError(f"expires: {text!r} is neither a duration (30d, 12h, 2w), a date nor 'never'",
                          field="expires") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)


def staff_labels(session: Session, actor_ids: Collection[str]) -> dict[str, str]:
    """The labels (窗口-张, 民政-李) of the staff tokens among ``actor_ids``: who claimed a step, as
    colleagues name each other (an applicant's token is never named)."""
    wanted = sorted({i for i in actor_ids if i})
    if not wanted:
        return {}
    rows = session.execute(select(ApiToken.id, ApiToken.label).where(
        ApiToken.id.in_(wanted), ApiToken.role != Role.APPLICANT.value))
    return {token_id: label for token_id, label in rows if label}


def authenticate(session: Session, *, token: str, now: datetime) -> Actor | None:
    """The actor a token stands for, or None when it is unknown, revoked or expired."""
    if not token or len(token) > 512:
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return Actor(
        id=row.id,
        label=row.label,
        role=Role(row.role),
        department=row.department,
        region=row.region,
        subject=row.subject,
    )


def revoke_token(session: Session, *, now: datetime, token: str | None = None, token_id: str | None = None) -> None:
    """Revoke a token given by its plain text or its id; revoking twice is harmless. Commits."""
    if (token is None) == (token_id is None):
        raise DomainError("give exactly one of token or token_id", field="token")
    where = ApiToken.token_hash == hash_token(token) if token is not None else ApiToken.id == token_id
    found = session.scalar(select(ApiToken.id).where(where))
    if found is None:
        session.rollback()
        raise NotFound("no such token", field="token")
    session.execute(update(ApiToken).where(ApiToken.id == found, ApiToken.revoked_at.is_(None)).values(revoked_at=now))
    session.commit()
