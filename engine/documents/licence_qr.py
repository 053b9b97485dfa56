"""扫码亮证: a licence holder shows an e-licence as a QR code; whoever scans it checks it.

:func:`show_licence` lets the holder alone (an applicant acting as the licence's holder) make a
signed, short-lived token for one licence of theirs that is in force; anyone else asking, for a
licence that exists or not, gets the same :class:`NotFound`. The token (:func:`licence_token`) is
``<payload>.<mac>``, both URL-safe base64 without padding: the payload is the licence's id and the
expiry (Unix seconds) — no name, no ID number — and the MAC is HMAC-SHA256 over it under a key kept
outside the database (the ``licence_qr_key`` setting, :func:`licence_qr_key`).

:func:`verify_licence` is public: a token with a good MAC that has not expired gives the licence
as a checker needs it — type, number, issuer, validity, its status *now* (a licence revoked after
the QR was made reads 已注销), the holder's ID masked (an enterprise's credit code in full: it is
public) and the holder's name as its first character and ``*``. Nothing else: no other attribute,
no address. A forged, damaged, expired or unknown token is one :class:`NotFound` (one message),
so the answer never tells which; each counts as a failure against the client in a
:class:`~engine.records.tracking.TrackLimiter`, past whose limit every look-up is
:class:`~engine.records.tracking.TooManyAttempts`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Licence
from engine.errors import Conflict, NotFound
from engine.machine.states import Actor, Role
from engine.people.identifiers import mask_id_number
from engine.records.tracking import TrackLimiter
from engine.spec.models import Catalog
from engine.time.clock import Clock, local_date

__all__ = [
    "STATUS_LABELS",
    "TOKEN_NOT_FOUND",
    "VERIFY_FAILURES",
    "VERIFY_WINDOW",
    "LicenceStatus",
    "ShownLicence",
    "VerifiedLicence",
    "licence_qr_key",
    "licence_token",
    "page_path",
    "HeldLicence",
    "held_licences",
    "show_licence",
    "verify_limiter",
    "verify_licence",
    "verify_path",
]

LicenceStatus = Literal["valid", "revoked", "expired"]

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "valid": ("有效", "Valid"),
    "revoked": ("已注销", "Revoked"),
    "expired": ("已过期", "Expired"),
}
"""(Chinese, English) of each status, as the verification page's badge reads."""

LICENCE_NOT_FOUND = "No such licence / 未找到该证照"
"""The one answer to an unknown licence id and to a licence that is not the caller's."""

TOKEN_NOT_FOUND = "This code is not valid or has expired; ask the holder to show it again / 该二维码无效或已过期，请持证人重新亮证"
"""The one answer to a forged, damaged, expired or unknown token."""

VERIFY_FAILURES = 10
"""Failed look-ups a client may make within :data:`VERIFY_WINDOW` before it must wait."""

VERIFY_WINDOW = timedelta(minutes=15)

_DOMAIN = b"onevisit licence qr v1\n"
"""Prefixed to every MAC'd payload, so a MAC made for something else under the same key never fits."""

_MAX_TOKEN = 256
"""Longer than any token made here; a longer one is refused before decoding."""


@dataclass(frozen=True)
class ShownLicence:
    """A licence shown as a QR: the token, when it stops working, and where it is checked."""

    licence_id: str
    token: str
    expires_at: datetime
    verify_path: str
    """The public JSON check, ``/verify/licence/{token}``."""
    page_path: str
    """The public page the QR opens, ``/ui/verify/licence/{token}``."""


@dataclass(frozen=True)
class VerifiedLicence:
    """All a checker learns from a token: nothing of the licence beyond these."""

    type_name_zh: str
    type_name_en: str
    number: str
    issuer: str
    valid_from: date
    valid_to: date | None
    status: LicenceStatus
    holder: str
    """The holder's ID number masked (an enterprise's credit code in full)."""
    holder_name: str | None
    """The first character of the holder's name and ``*``; None when the licence names nobody."""
    checked_at: datetime

    @property
    def status_zh(self) -> str:
        return STATUS_LABELS[self.status][0]

    @property
    def status_en(self) -> str:
        return STATUS_LABELS[self.status][1]


def licence_qr_key(secret: SecretStr | None) -> bytes:
    """The HMAC key of the tokens: derived from the setting, or random (for this process's app:
    its QR codes stop verifying after a restart, and replicas must then share a set key)."""
    if secret is None:
        return secrets.token_bytes(32)
    return hashlib.sha256(b"onevisit licence qr\n" + secret.get_secret_value().encode()).digest()


def verify_limiter(clock: Clock) -> TrackLimiter:
    """The failure limiter of :func:`verify_licence` (one per app, on the app's clock)."""
    return TrackLimiter(clock=clock, failures=VERIFY_FAILURES, window=VERIFY_WINDOW)


def verify_path(token: str) -> str:
    """The public JSON check of ``token``."""
    return f"/verify/licence/{token}"


def page_path(token: str) -> str:
    """The public page of ``token`` (what the QR opens)."""
    return f"/ui/verify/licence/{token}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _DOMAIN + payload, hashlib.sha256).digest()


def licence_token(*, licence_id: str, holder_id: str, now: datetime, key: bytes, ttl_seconds: int) -> str:
    """A token for ``licence_id`` valid ``ttl_seconds`` from ``now``.

    ``holder_id`` is checked to be given (the caller has matched it against the licence) but
    never put into the token: the payload is the licence id and the expiry only.
    """
    if ttl_seconds < 1:
        raise ValueError("ttl_seconds must be positive")
    if not licence_id or "." in licence_id or not holder_id:
        raise ValueError("a licence id (without dots) and its holder are required")
    expires = int(now.timestamp()) + ttl_seconds
    payload = f"{licence_id}.{expires}".encode()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def _opened(token: str, *, key: bytes, now: datetime) -> str | None:
    """The licence id of a genuine token that has not expired, else None (whatever was wrong)."""
    if not token or len(token) > _MAX_TOKEN or not token.isascii():
        return None
    encoded, _, signature = token.partition(".")
    try:
        payload, given = _unb64(encoded), _unb64(signature)
    except (binascii.Error, ValueError):
        return None
    # The MAC first, compared in constant time: nothing in the payload is trusted before it.
    if not hmac.compare_digest(_mac(key, payload), given):
        return None
    licence_id, _, expiry = payload.decode("utf-8", "replace").rpartition(".")
    if not licence_id or not expiry.isdigit() or now.timestamp() >= int(expiry):
        return None
    return licence_id


def _status(licence: Licence, today: date) -> LicenceStatus:
    if licence.revoked_at is not None:
        return "revoked"
    if licence.valid_to is not None and licence.valid_to < today:
        return "expired"
    return "valid"


def show_licence(
    session: Session, *, actor: Actor, licence_id: str, now: datetime, key: bytes, ttl_seconds: int
) -> ShownLicence:
    """The holder's QR token for their licence ``licence_id``, valid ``ttl_seconds``.

    Raises :class:`NotFound` (field ``licence_id``) for an unknown licence and for one that is not
    the caller's — the same answer, so an id never tells whether it exists — and :class:`Conflict`
    for a licence revoked, expired or not yet in force (nothing worth showing).
    """
    licence = session.get(Licence, licence_id)
    if (licence is None or actor.role != Role.APPLICANT or not actor.subject
            or not hmac.compare_digest(actor.subject.encode(), licence.holder_id.encode())):
        raise NotFound(LICENCE_NOT_FOUND, field="licence_id")
    today = local_date(now)
    status = _status(licence, today)
    if status == "revoked":
        raise Conflict("This licence has been revoked and cannot be shown / 该证照已注销，不能亮证", field="licence_id")
    if status == "expired":
        raise Conflict("This licence has expired and cannot be shown / 该证照已过期，不能亮证", field="licence_id")
    if licence.valid_from > today:
        raise Conflict("This licence is not in force yet / 该证照尚未生效，不能亮证", field="licence_id")
    token = licence_token(licence_id=licence.id, holder_id=licence.holder_id, now=now, key=key,
                          ttl_seconds=ttl_seconds)
    expires_at = datetime.fromtimestamp(int(now.timestamp()) + ttl_seconds, UTC)
    return ShownLicence(licence_id=licence.id, token=token, expires_at=expires_at, verify_path=verify_path(token),
                        page_path=page_path(token))


def _masked_name(value: object) -> str | None:
    """The first character and one ``*`` (the length is not told either)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[0] + "*"


def verify_licence(
    session: Session, *, token: str, now: datetime, key: bytes, catalog: Catalog,
    limiter: TrackLimiter | None = None, client: str = "",
) -> VerifiedLicence:
    """What a scanned token shows: the licence's type, number, issuer, validity and status now,
    the holder masked (type names from ``catalog``).

    Raises :class:`NotFound` (field ``token``, one message) for a token that is forged, damaged,
    expired or names no licence — each a failure of ``client`` in ``limiter`` — and
    :class:`~engine.records.tracking.TooManyAttempts` once the client failed too often.
    """
    keys = (f"licence-qr:{client}",)
    if limiter is not None:
        limiter.check(keys)
    licence_id = _opened(token, key=key, now=now)
    licence = session.get(Licence, licence_id) if licence_id is not None else None
    if licence is None:
        if limiter is not None:
            limiter.failed(keys)
        raise NotFound(TOKEN_NOT_FOUND, field="token")
    kind = catalog.licences.get(licence.type_code)
    # An enterprise's 统一社会信用代码 is public (it is printed on the licence); a person's ID is not.
    holder = licence.holder_id if kind is not None and kind.holder == "enterprise" else mask_id_number(licence.holder_id)
    return VerifiedLicence(
        type_name_zh=kind.name.zh if kind is not None else licence.type_code,
        type_name_en=kind.name.en if kind is not None else licence.type_code,
        number=licence.number, issuer=licence.issuer, valid_from=licence.valid_from, valid_to=licence.valid_to,
        status=_status(licence, local_date(now)), holder=holder,
        holder_name=_masked_name((licence.attributes or {}).get("name")), checked_at=now,
    )


@dataclass(frozen=True, slots=True)
class HeldLicence:
    """One of the holder's own licences, as their 我的证照 page lists it."""

    licence_id: str
    type_code: str
    type_name_zh: str
    type_name_en: str
    number: str
    issuer: str
    valid_from: date
    valid_to: date | None
    status: LicenceStatus
    showable: bool
    """In force today: it may be shown as a QR code."""


def held_licences(session: Session, *, actor: Actor, catalog: Catalog, today: date, limit: int = 200) -> list[HeldLicence]:
    """The licences the applicant ``actor`` holds (their subject), in force first, then the newest;
    nobody else's (another role: none)."""
    if actor.role is not Role.APPLICANT or not actor.subject:
        return []
    rows = session.scalars(select(Licence).where(Licence.holder_id == actor.subject)
                           .order_by(Licence.valid_from.desc(), Licence.number).limit(limit)).all()
    found = []
    for licence in rows:
        status = _status(licence, today)
        kind = catalog.licences.get(licence.type_code)
        found.append(HeldLicence(
            licence_id=licence.id, type_code=licence.type_code, type_name_zh=kind.name.zh if kind else licence.type_code,
            type_name_en=kind.name.en if kind else licence.type_code, number=licence.number, issuer=licence.issuer,
            valid_from=licence.valid_from, valid_to=licence.valid_to, status=status,
            showable=status == "valid" and licence.valid_from <= today))
    return sorted(found, key=lambda h: not h.showable)
