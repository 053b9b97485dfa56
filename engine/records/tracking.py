"""一码通办: a case's progress for whoever holds its receipt and a second factor — nothing else.

The receipt (受理回执) carries the receipt number, its short code and a QR code of the public
track URL (:func:`track_url`; never the second factor). Anyone may ask ``track`` with the receipt
number (or short code) and the last four characters of the applicant's ID number / credit code or
of a phone number the application gave. The answer is the bundle's name, the case's state and per
step the item name, state and due date: no name, no ID, no phone, no officer.

A wrong factor and an unknown receipt number are the same :class:`NotFound` (same message, a
comparison of the same cost: :func:`hmac.compare_digest` against a stand-in value), so the answer
never tells whether a receipt number exists. :class:`TrackLimiter` counts failures per client and
per receipt number within a window; past the limit every attempt is :class:`TooManyAttempts`
(with the seconds until the oldest failure leaves the window), the right factor included.
"""

from __future__ import annotations

import hmac
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from engine.db.models import Case
from engine.errors import NotFound
from engine.machine.states import CaseState, StepState
from engine.records.labels import CASE_STATE_LABELS, STEP_STATE_LABELS
from engine.runtime import Runtime
from engine.spec.models import FieldType
from engine.time.clock import Clock

__all__ = [
    "FACTOR_LENGTH",
    "TooManyAttempts",
    "TrackLimiter",
    "TrackStep",
    "TrackView",
    "receipt_from_code",
    "short_code",
    "track",
    "track_url",
]

FACTOR_LENGTH = 4
"""The second factor: the last four characters of the applicant's ID number or of a phone."""

NOT_FOUND_MESSAGE = ("No case matches this receipt number and check code / "
                     "未找到与该回执号和验证码相符的办件")
"""The one answer to an unknown receipt number and to a wrong factor alike."""

_STAND_IN = "\x00" * FACTOR_LENGTH
"""Compared against when there is no case, so an unknown number costs what a wrong factor does."""

_RECEIPT = re.compile(r"^(\d{6})-(\d{8})-(\d{5})$")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_LENGTH = 13  # 19 decimal digits < 32**13


class TooManyAttempts(Exception):
    """Too many failed look-ups from this client or for this receipt number; try again later."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; retry after {retry_after} s / 尝试次数过多，请 {retry_after} 秒后再试")
        self.retry_after = retry_after


class TrackLimiter:
    """Failed look-ups per key (a client, a receipt number) within a sliding window.

    In memory, per process: it slows guessing down (10 000 four-digit factors) without a table;
    several replicas each allow ``failures``. The clock is injected so tests move time.
    """

    MAX_KEYS = 10_000
    """Past this many keys, a failure first sweeps out the expired ones."""

    def __init__(self, *, clock: Clock, failures: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.clock = clock
        self.failures = failures
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._seen.get(key, deque())
        while times and times[0] <= now - self.window.total_seconds():
            times.popleft()
        if not times:
            self._seen.pop(key, None)
        return times

    def check(self, keys: Iterable[str]) -> None:
        """Raise :class:`TooManyAttempts` when any key is at its limit."""
        now = self.clock.now().timestamp()
        with self._lock:
            waits = [times[0] + self.window.total_seconds() - now
                     for times in (self._recent(k, now) for k in keys) if len(times) >= self.failures]
        if waits:
            raise TooManyAttempts(max(1, int(max(waits) + 0.999)))

    def failed(self, keys: Iterable[str]) -> None:
        """Count one failure against every key (and forget the keys whose failures all expired,
        once there are many: a guesser's distinct receipt numbers do not pile up)."""
        now = self.clock.now().timestamp()
        with self._lock:
            if len(self._seen) > self.MAX_KEYS:
                for stale in list(self._seen):
                    self._recent(stale, now)
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._seen[key] = times


@dataclass(frozen=True)
class TrackStep:
    item_name: str
    state: str
    state_label: str
    due_on: date | None


@dataclass(frozen=True)
class TrackView:
    """All the public progress page shows."""

    receipt_no: str
    bundle_name: str
    state: str
    state_label: str
    steps: tuple[TrackStep, ...]


def short_code(receipt_no: str) -> str:
    """The receipt number's short code (13 characters, Crockford base32 of its digits, grouped
    ``XXXX-XXXX-XXXXX``); the receipt number itself when it is not of the usual shape."""
    match = _RECEIPT.match(receipt_no)
    if match is None:
        return receipt_no
    number = int("".join(match.groups()))
    chars = []
    for _ in range(_CODE_LENGTH):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    code = "".join(reversed(chars))
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def receipt_from_code(text: str) -> str:
    """The receipt number a short code stands for; a receipt number (or anything else) unchanged."""
    compact = text.strip().upper().replace("-", "").replace(" ", "")
    if len(compact) != _CODE_LENGTH or _RECEIPT.match(text.strip()):
        return text.strip()
    compact = compact.replace("O", "0").replace("I", "1").replace("L", "1")
    number = 0
    for char in compact:
        digit = _CROCKFORD.find(char)
        if digit < 0:
            return text.strip()
        number = number * 32 + digit
    digits = f"{number:019d}"
    if len(digits) != 19:
        return text.strip()
    return f"{digits[:6]}-{digits[6:14]}-{digits[14:]}"


def track_url(receipt_no: str, *, base: str | None = None) -> str:
    """The public progress page for ``receipt_no`` (what the receipt's QR encodes): the origin
    ``base`` (default: the ``public_url`` setting, else none) + ``/ui/track?receipt_no=…``."""
    path = f"/ui/track?receipt_no={quote(receipt_no, safe='-')}"
    if base is None:
        from engine.settings import public_link

        return public_link(path)
    return base.rstrip("/") + path


def _normalise(factor: str) -> str:
    return factor.strip().upper()


def _factors(case: Case, runtime: Runtime) -> list[str]:
    """What the second factor may be: the last four of the applicant's ID number (or credit code)
    and of every phone number the application's answers give."""
    values = [case.applicant_id]
    fields = runtime.registry.fields
    for name, value in (case.answers or {}).items():
        spec = fields.get(name)
        if spec is not None and spec.type is FieldType.PHONE and isinstance(value, str):
            values.append(value)
    return [_normalise(v)[-FACTOR_LENGTH:] for v in values if len(v.strip()) >= FACTOR_LENGTH]


def _matches(given: str, expected: list[str]) -> bool:
    """Constant time per candidate, every candidate compared (no early exit)."""
    found = False
    for candidate in expected or [_STAND_IN]:
        found |= hmac.compare_digest(given.encode(), candidate.encode())
    return found and bool(expected)


def track(
    session: Session, runtime: Runtime, *, receipt_no: str, factor: str, client: str,
    limiter: TrackLimiter,
) -> TrackView:
    """The progress of the case with ``receipt_no`` (or its short code), given the right ``factor``.

    Raises :class:`TooManyAttempts` when ``client`` or the receipt number has failed too often
    within the limiter's window, and :class:`NotFound` (one message) when the number is unknown
    or the factor wrong — either counts as a failure.
    """
    number = receipt_from_code(receipt_no)
    keys = (f"client:{client}", f"receipt:{number}")
    limiter.check(keys)
    case = session.scalars(
        select(Case).where(Case.receipt_no == number).options(selectinload(Case.steps))).one_or_none()
    expected = _factors(case, runtime) if case is not None else []
    if not _matches(_normalise(factor), expected) or case is None:
        limiter.failed(keys)
        raise NotFound(NOT_FOUND_MESSAGE, field="factor")
    return _view(session, runtime, case)


def _view(session: Session, runtime: Runtime, case: Case) -> TrackView:
    bundle = runtime.spec_for(session, case)
    items = runtime.registry.catalog.items
    steps = []
    for step in sorted(case.steps, key=lambda s: s.position):
        state = StepState(step.state)
        if state is StepState.SKIPPED:
            continue
        item = items.get(step.item_code)
        # the item's name only: a step's instance label may name a person (an heir, a child)
        name = item.name if item is not None else step.item_code
        steps.append(TrackStep(item_name=name, state=state.value, state_label=STEP_STATE_LABELS[state],
                               due_on=step.due_on))
    case_state = CaseState(case.state)
    return TrackView(receipt_no=case.receipt_no, bundle_name=bundle.name.zh, state=case_state.value,
                     state_label=CASE_STATE_LABELS[case_state], steps=tuple(steps))
