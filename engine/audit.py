"""The append-only, hash-chained audit log.

Each case has its own chain: an event's hash covers its content and the hash of the case's
previous event. One global chain would make every write in the province queue on one lock;
per-case chains only serialise what is already serialised by the case lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case
from engine.states import Actor

GENESIS = "0" * 64


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _content(event: AuditEvent) -> dict[str, Any]:
    return {
        "case_id": event.case_id,
        "seq": event.seq,
        "step_id": event.step_id,
        "actor_id": event.actor_id,
        "role": event.role,
        "at": event.at.isoformat(timespec="microseconds"),
        "action": event.action,
        "from": event.from_state,
        "to": event.to_state,
        "payload": event.payload,
    }


def append_event(
    session: Session,
    *,
    case: Case,
    actor: Actor,
    action: str,
    at: datetime,
    step_id: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the case's chain. The caller holds the case lock."""
    case.audit_seq = (case.audit_seq or 0) + 1
    event = AuditEvent(
        case_id=case.id,
        seq=case.audit_seq,
        step_id=step_id,
        actor_id=actor.id,
        role=actor.role.value,
        at=at.astimezone(UTC),
        action=action,
        from_state=from_state,
        to_state=to_state,
        payload=json.loads(json.dumps(payload or {}, default=str)),
        prev_hash=case.audit_head or GENESIS,
    )
    event.hash = _digest(event.prev_hash, _content(event))
    case.audit_head = event.hash
    session.add(event)
    return event


@dataclass(frozen=True)
class ChainBreak:
    case_id: str
    seq: int
    problem: str


@dataclass(frozen=True)
class AuditReport:
    cases: int
    events: int
    breaks: tuple[ChainBreak, ...]

    @property
    def ok(self) -> bool:
        return not self.breaks


def verify_audit(session: Session, *, case_id: str | None = None, batch: int = 5000) -> AuditReport:
    """Re-hash every chain (or one case's) and report each broken link.

    Checks: hashes match content, each event links to its predecessor, sequence numbers have
    no gaps, and the case row's head matches the last event (nothing was cut off the end).
    """
    breaks: list[ChainBreak] = []
    events = 0
    cases = 0
    current: str | None = None
    prev_hash = GENESIS
    expected_seq = 1
    heads = _heads(session, case_id)
    for event in _events(session, case_id, batch):
        events += 1
        if event.case_id != current:
            if current is not None:
                _check_head(current, prev_hash, heads, breaks)
            current, prev_hash, expected_seq = event.case_id, GENESIS, 1
            cases += 1
        if event.seq != expected_seq:
            breaks.append(ChainBreak(event.case_id, event.seq, f"sequence gap: expected {expected_seq}"))
        if event.prev_hash != prev_hash:
            breaks.append(ChainBreak(event.case_id, event.seq, "does not link to the previous event"))
        if _digest(event.prev_hash, _content(event)) != event.hash:
            breaks.append(ChainBreak(event.case_id, event.seq, "content does not match its hash"))
        prev_hash, expected_seq = event.hash, event.seq + 1
    if current is not None:
        _check_head(current, prev_hash, heads, breaks)
    return AuditReport(cases=cases, events=events, breaks=tuple(breaks))


def _heads(session: Session, case_id: str | None) -> dict[str, str]:
    stmt = select(Case.id, Case.audit_head)
    if case_id is not None:
        stmt = stmt.where(Case.id == case_id)
    return {row.id: row.audit_head for row in session.execute(stmt)}


def _check_head(case_id: str, last_hash: str, heads: dict[str, str], breaks: list[ChainBreak]) -> None:
    if heads.get(case_id, last_hash) != last_hash:
        breaks.append(ChainBreak(case_id, 0, "the case's head does not match its last event (events missing)"))


def _events(session: Session, case_id: str | None, batch: int) -> Iterator[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.case_id, AuditEvent.seq)
    if case_id is not None:
        stmt = stmt.where(AuditEvent.case_id == case_id)
    yield from session.scalars(stmt.execution_options(yield_per=batch))


def case_history(session: Session, *, case_id: str) -> list[AuditEvent]:
    """A case's events in order."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)))
