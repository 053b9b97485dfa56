"""The append-only, hash-chained audit log, and its verification.

Each case has its own chain: an event's hash covers its content and the hash of the case's
previous event. One global chain would make every write in the province queue on one lock;
per-case chains only serialise what is already serialised by the case lock.

A chain only proves it is consistent with itself, and the database's triggers stop only the
application, not the database's owner. :mod:`engine.records.audit_seal` therefore seals the chain heads
periodically under a key kept outside the database, and :func:`verify_audit` checks every
case row against its chain, every chain against its case row, and both against the seals.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ColumnElement, Select, and_, func, select, true, union_all
from sqlalchemy.orm import InstrumentedAttribute, Session

from engine.db.models import AuditEvent, AuditSealEntry, Case
from engine.documents.storage import FileMissing, FileStore, content_hash
from engine.machine.states import Actor

GENESIS = "0" * 64


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


class EventFields(Protocol):
    """The columns of an audit event: an :class:`AuditEvent` or a row selected from its table."""

    @property
    def case_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def step_id(self) -> str | None: ...
    @property
    def actor_id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def from_state(self) -> str | None: ...
    @property
    def to_state(self) -> str | None: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


def _content(event: EventFields) -> dict[str, Any]:
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
    event.hash = event_digest(event)
    case.audit_head = event.hash
    session.add(event)
    return event


def event_digest(event: EventFields) -> str:
    """The hash an event must carry: its content chained to ``event.prev_hash``."""
    return _digest(event.prev_hash, _content(event))


# --- verification ------------------------------------------------------------------------


class Tamper(StrEnum):
    """What kind of damage ``verify_audit`` found."""

    MISSING_CHAIN = "missing_chain"  # a case row without a single audit event
    ORPHAN_CHAIN = "orphan_chain"  # audit events whose case row is gone
    DELETED_CASE = "deleted_case"  # a sealed case whose row and chain are both gone
    SEQUENCE_GAP = "sequence_gap"  # events missing from the start or the middle of a chain
    BROKEN_LINK = "broken_link"  # an event does not carry the hash of the event before it
    HASH_MISMATCH = "hash_mismatch"  # an event's content was edited after it was hashed
    HEAD_MISMATCH = "head_mismatch"  # the case row's head is not the chain's last event
    SEAL_MISMATCH = "seal_mismatch"  # a sealed event is missing or carries another hash now
    SEAL_SIGNATURE = "seal_signature"  # a seal's entries, root or signature were altered
    SEAL_CHAIN = "seal_chain"  # seals missing from the middle, or not linked to the one before
    SEAL_MISSING = "seal_missing"  # fewer seals than the caller knows were made
    UNKNOWN_CASE = "unknown_case"  # the asked-for case has no row, no event and no seal
    FILE_MISSING = "file_missing"  # a file an event lists (not purged) is gone from the file store
    FILE_ALTERED = "file_altered"  # a file an event lists no longer hashes to the hash the event recorded


@dataclass(frozen=True)
class AuditProblem:
    """One finding: about a case (``case_id``) or about a seal (``seal``)."""

    kind: Tamper
    detail: str
    case_id: str | None = None
    receipt_no: str | None = None
    seq: int | None = None
    seal: int | None = None

    def line(self) -> str:
        """``case <id> (<receipt>): <kind>: <detail>``, or ``seal #<n>: …`` for a seal."""
        if self.case_id is not None:
            return f"case {self.case_id} ({self.receipt_no or 'receipt unknown'}): {self.kind}: {self.detail}"
        return f"seal #{self.seal}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class AuditReport:
    """The outcome of :func:`verify_audit`.

    ``seals_verified`` is False when no key was given: seal signatures were then not checked
    (the structural checks and the comparison with the sealed heads still were).
    """

    cases: int
    events: int
    problems: tuple[AuditProblem, ...]
    seals: int = 0
    seals_verified: bool = False
    newest_seal: int | None = None
    unsealed_events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def breaks(self) -> tuple[AuditProblem, ...]:
        """The problems, under the name this report used before it knew about seals."""
        return self.problems


def verify_audit(
    session: Session,
    *,
    key: str | None = None,
    case_id: str | None = None,
    min_seal: int | None = None,
    batch: int = 1000,
    files: FileStore | None = None,
) -> AuditReport:
    """Check every audit chain (or one case's) against its case row and the signed seals.

    Per case: the case row has a chain and the chain has a case row; the chain starts at event 1
    with no gaps, each event links to the one before and matches its hash; the row's head is the
    last event; every event a seal recorded is still there with the sealed hash. Per seal: its
    entries match its Merkle root, it links to the seal before it and (with ``key``) its
    signature is good. ``min_seal``: the newest seal number known from outside the database.

    ``files`` (``audit verify --files``): also re-hash, in that store, every file an event lists
    (payload ``files``: id, material, sha256), except those a later event lists as ``purged`` by
    retention; a file gone or with other content is a problem naming the case, material and file.

    Streams: cases, events and seal entries are read in ranges of case ids holding at most
    about ``batch`` cases or ``20 * batch`` events, whatever the size of the database. Reads one
    snapshot (REPEATABLE READ on PostgreSQL) when the session is not already in a transaction.
    """
    from engine.records.audit_seal import check_seals  # it builds on this module

    own_transaction = not session.in_transaction()
    if own_transaction and session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        scan = _Scan(files)
        if case_id is not None:
            found = scan.check(session, _Window(only=case_id))
            if not found:
                scan.problems.append(AuditProblem(Tamper.UNKNOWN_CASE, "no case row, audit event or seal has this id",
                                                  case_id=case_id))
            seals = check_seals(session, key=key, numbers=scan.seal_numbers, batch=batch)
        else:
            low: str | None = None
            while True:
                high = _next_boundary(session, low, batch)
                scan.check(session, _Window(low=low, high=high))
                if high is None:
                    break
                low = high
            seals = check_seals(session, key=key, batch=batch)
        problems = [*scan.problems, *seals.problems]
        if min_seal is not None and (seals.newest or 0) < min_seal:
            problems.append(AuditProblem(
                Tamper.SEAL_MISSING, f"the newest seal in the database is #{seals.newest or 0}, "
                f"but seal #{min_seal} was made: seals were deleted", seal=min_seal))
        unsealed = 0
        if case_id is None:
            unsealed = session.scalar(select(func.count()).where(AuditEvent.id > seals.newest_mark)) or 0
    except BaseException:
        if own_transaction:
            session.rollback()
        raise
    if own_transaction:
        session.commit()  # read only; unlike a rollback, this leaves the caller's objects loaded
    return AuditReport(cases=scan.cases, events=scan.events, problems=tuple(problems), seals=seals.seals,
                       seals_verified=seals.verified, newest_seal=seals.newest, unsealed_events=unsealed)


@dataclass(frozen=True)
class _Window:
    """Case ids in (low, high] (None: unbounded), or exactly ``only``."""

    low: str | None = None
    high: str | None = None
    only: str | None = None

    def where(self, column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[bool]:
        if self.only is not None:
            return column == self.only
        bounds = [column > self.low] if self.low is not None else []
        if self.high is not None:
            bounds.append(column <= self.high)
        return and_(true(), *bounds)


def _next_boundary(session: Session, low: str | None, batch: int) -> str | None:
    """The next window's upper case id: the smallest of the batch-th case, event and seal entry
    after ``low`` (so no table contributes more than a batch), or None when all three end sooner.

    The database compares the ids, so its collation and ours never disagree.
    """
    def nth(column: InstrumentedAttribute[str], n: int) -> Select[tuple[str | None]]:
        stmt = select(column)
        if low is not None:
            stmt = stmt.where(column > low)
        return select(stmt.order_by(column).offset(n - 1).limit(1).scalar_subquery().label("boundary"))

    candidates = union_all(
        nth(Case.id, batch), nth(AuditEvent.case_id, batch * 20), nth(AuditSealEntry.case_id, batch * 20)
    ).subquery()
    boundary = session.scalar(select(func.min(candidates.c.boundary)))
    return str(boundary) if boundary is not None else None


class _CaseHead(NamedTuple):
    id: str
    receipt_no: str
    audit_seq: int
    audit_head: str


class _SealedHead(NamedTuple):
    seal_number: int
    case_id: str
    receipt_no: str
    seq: int
    hash: str


class _Scan:
    """Checks windows of cases one after the other and keeps the findings."""

    def __init__(self, files: FileStore | None = None) -> None:
        self.cases = 0
        self.events = 0
        self.problems: list[AuditProblem] = []
        self.seal_numbers: set[int] = set()
        self.files = files

    def check(self, session: Session, window: _Window) -> bool:
        """Check every case id in the window; False when the window held nothing at all."""
        rows = {row.id: _CaseHead(*row) for row in session.execute(
            select(Case.id, Case.receipt_no, Case.audit_seq, Case.audit_head).where(window.where(Case.id))
            .order_by(Case.id))}
        chains: dict[str, list[EventFields]] = {}
        for event in session.execute(select(AuditEvent.__table__).where(window.where(AuditEvent.case_id))
                                     .order_by(AuditEvent.case_id, AuditEvent.seq)):
            chains.setdefault(event.case_id, []).append(event)
        sealed: dict[str, list[_SealedHead]] = {}
        for entry in session.execute(
            select(AuditSealEntry.seal_number, AuditSealEntry.case_id, AuditSealEntry.receipt_no, AuditSealEntry.seq,
                   AuditSealEntry.hash)
            .where(window.where(AuditSealEntry.case_id))
            .order_by(AuditSealEntry.case_id, AuditSealEntry.seq, AuditSealEntry.seal_number)
        ):
            sealed.setdefault(entry.case_id, []).append(_SealedHead(*entry))
            self.seal_numbers.add(entry.seal_number)
        self.cases += len(rows)
        self.events += sum(len(chain) for chain in chains.values())
        for case_id in dict.fromkeys([*rows, *chains, *sealed]):
            self.problems.extend(_check_case(case_id, rows.get(case_id), chains.get(case_id, []),
                                             sealed.get(case_id, [])))
            if self.files is not None and case_id in chains:
                receipt = rows[case_id].receipt_no if case_id in rows else _receipt(chains[case_id], [])
                self.problems.extend(_check_files(case_id, receipt, chains[case_id], self.files))
        return bool(rows or chains or sealed)


def _listed(payload: object, key: str) -> list[dict[str, Any]]:
    entries = payload.get(key) if isinstance(payload, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _check_files(case_id: str, receipt: str | None, chain: list[EventFields], store: FileStore) -> list[AuditProblem]:
    """Re-hash every file the case's events list, but those a purge event lists as removed."""
    purged = {str(e.get("id")) for event in chain for e in _listed(event.payload, "purged")}
    found: list[AuditProblem] = []
    checked: set[str] = set()
    for event in chain:
        for entry in _listed(event.payload, "files"):
            file_id, sha256 = str(entry.get("id")), str(entry.get("sha256"))
            if file_id in purged or file_id in checked:
                continue
            checked.add(file_id)
            what = f"file {file_id} of material {entry.get('material')!r} (event {event.seq})"
            try:
                data = store.get(sha256)
            except FileMissing:
                found.append(AuditProblem(Tamper.FILE_MISSING, f"{what} is gone from the file store",
                                          case_id=case_id, receipt_no=receipt, seq=event.seq))
                continue
            if content_hash(data) != sha256:
                found.append(AuditProblem(Tamper.FILE_ALTERED, f"{what} no longer has the content it was recorded "
                                          f"with (sha256 {sha256[:12]}…)", case_id=case_id, receipt_no=receipt,
                                          seq=event.seq))
    return found


def _check_case(
    case_id: str, row: _CaseHead | None, chain: list[EventFields], sealed: list[_SealedHead]
) -> list[AuditProblem]:
    receipt = row.receipt_no if row is not None else _receipt(chain, sealed)
    found: list[AuditProblem] = []

    def problem(kind: Tamper, detail: str, seq: int | None = None) -> None:
        found.append(AuditProblem(kind, detail, case_id=case_id, receipt_no=receipt, seq=seq))

    if row is None and not chain:
        last = max(sealed, key=lambda entry: entry.seq)
        problem(Tamper.DELETED_CASE, f"the case row and its whole audit chain are gone "
                                     f"(seal #{last.seal_number} recorded it at event {last.seq})")
        return found
    if row is None:
        problem(Tamper.ORPHAN_CHAIN, f"{len(chain)} audit events but no case row (the case was deleted)")
    elif not chain:
        upto = f"; seals recorded it up to event {max(e.seq for e in sealed)}" if sealed else ""
        problem(Tamper.MISSING_CHAIN, f"the case has no audit events (its head says {row.audit_seq}){upto}")
        return found
    expected, prev_hash = 1, GENESIS
    for event in chain:
        if event.seq != expected:
            detail = (f"the chain starts at event {event.seq}: events 1–{event.seq - 1} are missing" if expected == 1
                      else f"event {event.seq} follows event {expected - 1}: events in between are missing")
            problem(Tamper.SEQUENCE_GAP, detail, event.seq)
        if event.prev_hash != prev_hash:
            problem(Tamper.BROKEN_LINK, f"event {event.seq} does not carry the hash of the event before it",
                    event.seq)
        if event_digest(event) != event.hash:
            problem(Tamper.HASH_MISMATCH, f"event {event.seq} ({event.action}) does not match its hash: "
                                          "its content was edited", event.seq)
        expected, prev_hash = event.seq + 1, event.hash
    last_event = chain[-1]
    if row is not None and (row.audit_seq != last_event.seq or row.audit_head != last_event.hash):
        detail = (f"the case row's head is event {row.audit_seq} but the chain ends at event {last_event.seq}"
                  if row.audit_seq != last_event.seq
                  else f"the case row's head hash is not the hash of event {last_event.seq}, the chain's last")
        problem(Tamper.HEAD_MISMATCH, detail)
    hashes = {event.seq: event.hash for event in chain}
    missing = [entry for entry in sealed if entry.seq not in hashes]
    altered = [entry for entry in sealed if entry.seq in hashes and hashes[entry.seq] != entry.hash]
    if missing:
        entry = max(missing, key=lambda e: e.seq)
        more = f" ({len(missing) - 1} more sealed events gone)" if len(missing) > 1 else ""
        problem(Tamper.SEAL_MISMATCH, f"event {entry.seq}, sealed in seal #{entry.seal_number}, is gone: "
                                      f"events were cut off or deleted{more}", entry.seq)
    if altered:
        entry = min(altered, key=lambda e: e.seq)
        more = f" ({len(altered) - 1} more sealed events differ)" if len(altered) > 1 else ""
        problem(Tamper.SEAL_MISMATCH, f"event {entry.seq} differs from seal #{entry.seal_number}: "
                                      f"the chain was rewritten at or before it{more}", entry.seq)
    return found


def _receipt(chain: list[EventFields], sealed: list[_SealedHead]) -> str | None:
    """A deleted case's receipt number: from its seals, else from its acceptance event."""
    for entry in sealed:
        if entry.receipt_no:
            return entry.receipt_no
    if chain and chain[0].seq == 1 and isinstance(chain[0].payload, dict):
        receipt: object = chain[0].payload.get("receipt_no")
        return str(receipt) if receipt else None
    return None


def case_history(session: Session, *, case_id: str) -> list[AuditEvent]:
    """A case's events in order."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)))
