"""Signed seals of the audit chain heads: what a database owner cannot rewrite without the key.

A hash chain only proves that it is consistent with itself. Whoever can write the tables can
delete a case together with its chain, cut events off the end and move ``cases.audit_head``
back, or edit an event and re-hash everything after it: the result is again a consistent chain.
A seal fixes the heads at a point in time. Seal *n* lists the head ``(case, receipt, seq,
hash)`` of every chain that grew since seal *n-1*, stores the RFC 6962 Merkle root of those
entries, links to seal *n-1*'s signature and is signed with HMAC-SHA256 under
``ONEVISIT_AUDIT_KEY``, a key kept in the environment, never in the database. Chains are
append-only, so a sealed event must stay in its chain with its hash forever; ``audit verify``
checks exactly that, and checks the seals themselves.

What a seal cannot show: events appended since the newest seal (the sweep seals every pass),
and the deletion of the newest seals themselves. For the latter keep the seal numbers the
sweep logs somewhere else and pass the newest one to ``audit verify --min-seal``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, text
from sqlalchemy.orm import Session

from engine.records.audit import AuditProblem, Tamper
from engine.db.models import AuditEvent, AuditSeal, AuditSealEntry, Case
from engine.db.session import WRITE_LOCK

logger = logging.getLogger(__name__)

SEAL_GENESIS = "0" * 64
# pg_advisory_xact_lock key: one seal pass at a time (numbers would collide otherwise).
_SEAL_LOCK = 0x0A0D17_5EA1

# The sequence behind audit_events.id: everything allocated so far, committed or not.
_PG_LAST_ID = text("SELECT pg_sequence_last_value(pg_get_serial_sequence('audit_events', 'id')::regclass)")
# Transactions that hold audit_events open for writing: they may still commit an id we saw allocated.
_PG_WRITERS = text(
    "SELECT DISTINCT virtualtransaction FROM pg_locks WHERE locktype = 'relation' "
    "AND relation = 'audit_events'::regclass AND mode = 'RowExclusiveLock' AND granted "
    "AND pid IS DISTINCT FROM pg_backend_pid()"
)
_PG_STILL_WRITING = text(
    "SELECT DISTINCT virtualtransaction FROM pg_locks WHERE locktype = 'relation' "
    "AND relation = 'audit_events'::regclass AND mode = 'RowExclusiveLock' AND virtualtransaction = ANY(:ids)"
)


class SealPending(Exception):
    """Transactions appending audit events did not finish in time; the seal pass made no seal."""


# --- the cryptography ---------------------------------------------------------------------


def key_id(key: str) -> str:
    """A public fingerprint of the key (it reveals nothing about the key): which key signed a seal."""
    return hmac.new(key.encode(), b"onevisit audit key id", hashlib.sha256).hexdigest()[:16]


def leaf_hash(*, case_id: str, receipt_no: str, seq: int, hash: str) -> bytes:
    """RFC 6962 leaf hash of one sealed head: SHA-256(0x00 || canonical JSON)."""
    data = json.dumps([case_id, receipt_no, seq, hash], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(b"\x00" + data.encode()).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleTree:
    """The RFC 6962 (§2.1) Merkle tree hash, computed while leaves stream in.

    The stack holds the roots of the perfect subtrees built so far, largest first (their sizes
    are the binary digits of the leaf count), so a seal of a million heads needs about twenty
    hashes of memory, not a million.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def add(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        size, node = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            _, left = self._stack.pop()
            node, size = _node(left, node), size * 2
        self._stack.append((size, node))
        self.size += 1

    def root(self) -> str:
        """The tree hash (hex); SHA-256 of nothing for an empty tree."""
        if not self._stack:
            return hashlib.sha256(b"").hexdigest()
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = _node(left, node)
        return node.hex()


def _message(seal: AuditSeal) -> bytes:
    fields: dict[str, Any] = {
        "v": 1,
        "number": seal.number,
        "sealed_at": seal.sealed_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "event_mark": seal.event_mark,
        "entries": seal.entries,
        "root": seal.root,
        "prev": seal.prev_signature,
        "key_id": seal.key_id,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def sign_seal(seal: AuditSeal, *, key: str) -> str:
    """HMAC-SHA256 over every column of the seal but the signature itself."""
    return hmac.new(key.encode(), _message(seal), hashlib.sha256).hexdigest()


# --- sealing --------------------------------------------------------------------------------


def seal_audit_heads(
    session: Session, *, key: str, now: datetime, wait_seconds: float = 30.0, batch: int = 1000
) -> AuditSeal | None:
    """Seal the head of every audit chain that grew since the last seal, and commit.

    Returns the new seal, or None when no chain grew. Cheap when little changed: it reads only
    the events appended since the previous seal's ``event_mark``. Commits (the session's own
    transaction too, if one is open). Raises :class:`SealPending`
    (nothing written) if transactions appending events stay open longer than ``wait_seconds``.
    """
    if not key:
        raise ValueError("sealing needs a key (ONEVISIT_AUDIT_KEY)")
    if now.tzinfo is None:
        raise ValueError("naive datetime given; seals are stamped with aware datetimes")
    postgres = session.get_bind().dialect.name == "postgresql"
    if not postgres:  # the whole pass holds SQLite's write lock: one seal pass, no writer in between
        if session.in_transaction():
            session.commit()
        session.connection(execution_options={WRITE_LOCK: True})
    try:
        if postgres:
            session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _SEAL_LOCK})
        mark = _settled_mark(session, postgres=postgres, wait_seconds=wait_seconds)
        previous = session.scalars(select(AuditSeal).order_by(AuditSeal.number.desc()).limit(1)).first()
        since = previous.event_mark if previous is not None else 0
        seal = None
        if mark > since:
            seal = _write_seal(session, key=key, now=now, previous=previous, since=since, mark=mark, batch=batch)
        session.commit()  # also when nothing was written: ends the transaction, keeps the caller's objects
    except BaseException:
        session.rollback()
        raise
    if seal is None:
        return None
    logger.info("audit seal #%d: %d chain heads up to event %d, root %s, signature %s",
                seal.number, seal.entries, seal.event_mark, seal.root, seal.signature)
    return seal


def seal_on_schedule(session: Session, *, key: str | None, now: datetime) -> AuditSeal | None:
    """The periodic pass (end of the deadline sweep): seal if a key is configured.

    Without a key nothing is sealed (``audit verify`` then says seals cannot be checked); a pass
    deferred by long-running writers is logged and left to the next sweep.
    """
    if not key:
        logger.debug("audit seal skipped: ONEVISIT_AUDIT_KEY is not set")
        return None
    try:
        return seal_audit_heads(session, key=key, now=now)
    except SealPending as exc:
        logger.warning("%s; the next sweep seals them", exc)
        return None


def _settled_mark(session: Session, *, postgres: bool, wait_seconds: float) -> int:
    """The highest audit event id below which nothing can still appear.

    SQLite: the pass holds the only write lock (``BEGIN IMMEDIATE``), so every event written is
    committed. PostgreSQL: ids are drawn from a sequence before their transaction commits, so
    a small id may become visible after a larger one. We read the sequence first, then wait
    until every transaction that had audit_events open for writing at that moment has ended:
    any id at or below the mark was drawn by one of those (or by one already over), so after
    the wait each such event is either committed and visible, or never will be. Writers are
    never blocked; only this pass waits.
    """
    if not postgres:
        return int(session.scalar(select(func.max(AuditEvent.id))) or 0)
    mark = int(session.scalar(_PG_LAST_ID) or 0)
    writers = list(session.scalars(_PG_WRITERS))
    deadline = time.monotonic() + wait_seconds
    pause = 0.01
    while writers:
        if time.monotonic() >= deadline:
            raise SealPending(f"audit seal deferred: {len(writers)} transaction(s) appending audit events "
                              f"did not finish within {wait_seconds:g}s")
        time.sleep(pause)
        pause = min(pause * 2, 0.25)
        writers = list(session.scalars(_PG_STILL_WRITING, {"ids": writers}))
    return mark


def _write_seal(
    session: Session, *, key: str, now: datetime, previous: AuditSeal | None, since: int, mark: int, batch: int
) -> AuditSeal | None:
    number = previous.number + 1 if previous is not None else 1
    grown = (
        select(AuditEvent.case_id, func.max(AuditEvent.seq).label("seq"))
        .where(AuditEvent.id > since, AuditEvent.id <= mark)
        .group_by(AuditEvent.case_id)
        .subquery()
    )
    heads = (
        select(AuditEvent.case_id, AuditEvent.seq, AuditEvent.hash, func.coalesce(Case.receipt_no, ""))
        .join(grown, and_(AuditEvent.case_id == grown.c.case_id, AuditEvent.seq == grown.c.seq))
        .outerjoin(Case, Case.id == AuditEvent.case_id)
        .order_by(AuditEvent.case_id)  # any fixed order: entries keep their position
    )
    tree = MerkleTree()
    rows: list[dict[str, Any]] = []
    for case_id, seq, hash_, receipt_no in session.execute(heads.execution_options(yield_per=batch)):
        tree.add(leaf_hash(case_id=case_id, receipt_no=receipt_no, seq=seq, hash=hash_))
        rows.append({"seal_number": number, "position": tree.size - 1, "case_id": case_id,
                     "receipt_no": receipt_no, "seq": seq, "hash": hash_})
        if len(rows) >= batch:
            session.execute(insert(AuditSealEntry), rows)
            rows = []
    if rows:
        session.execute(insert(AuditSealEntry), rows)
    if tree.size == 0:  # only ids of rolled-back transactions in the range
        return None
    seal = AuditSeal(
        number=number, sealed_at=now.astimezone(UTC), event_mark=mark, entries=tree.size, root=tree.root(),
        prev_signature=previous.signature if previous is not None else SEAL_GENESIS, key_id=key_id(key),
        signature="",
    )
    seal.signature = sign_seal(seal, key=key)
    session.add(seal)
    session.flush()
    return seal


# --- checking the seals -------------------------------------------------------------------------


@dataclass
class SealCheck:
    """What :func:`check_seals` found: the seals' own problems and where the newest one stands."""

    seals: int = 0
    verified: bool = False
    newest: int | None = None
    newest_mark: int = 0
    problems: list[AuditProblem] = field(default_factory=list)


def check_seals(
    session: Session, *, key: str | None, numbers: Iterable[int] | None = None, batch: int = 1000
) -> SealCheck:
    """Check every seal (or only ``numbers``): entries against the root, the signature, the chain.

    Without a key the roots and the chain are still checked, but not the signatures, so a
    forger with database access could have rewritten them; ``verified`` tells which it was.
    """
    wanted = sorted(set(numbers)) if numbers is not None else None
    result = SealCheck(verified=bool(key))
    own_key = key_id(key) if key else None
    expected, prev_signature, prev_mark = 1, SEAL_GENESIS, 0
    entries = _entries(session, wanted, batch)
    pending = next(entries, None)
    orphans: dict[int, int] = {}
    for seal in _seals(session, wanted, batch):
        result.seals += 1
        result.newest, result.newest_mark = seal.number, seal.event_mark
        while pending is not None and pending.seal_number < seal.number:
            orphans[pending.seal_number] = orphans.get(pending.seal_number, 0) + 1
            pending = next(entries, None)
        tree, in_order = MerkleTree(), True
        while pending is not None and pending.seal_number == seal.number:
            in_order &= pending.position == tree.size
            tree.add(leaf_hash(case_id=pending.case_id, receipt_no=pending.receipt_no, seq=pending.seq,
                               hash=pending.hash))
            pending = next(entries, None)

        def problem(kind: Tamper, detail: str, number: int = seal.number) -> None:
            result.problems.append(AuditProblem(kind, detail, seal=number))

        if wanted is None:  # the chain of seals only makes sense when reading all of them
            if seal.number != expected:
                gap = f"#{expected}" if seal.number == expected + 1 else f"#{expected}–#{seal.number - 1}"
                problem(Tamper.SEAL_CHAIN, f"seal {gap} before it is missing (deleted)")
            elif seal.prev_signature != prev_signature:
                problem(Tamper.SEAL_CHAIN, f"it does not link to seal #{seal.number - 1} (seals edited or replaced)")
            if seal.event_mark < prev_mark:
                problem(Tamper.SEAL_CHAIN, f"it seals up to event {seal.event_mark}, below seal #{expected - 1}'s "
                                           f"{prev_mark}")
        if tree.size != seal.entries or not in_order or tree.root() != seal.root:
            problem(Tamper.SEAL_SIGNATURE, f"its {tree.size} entries do not match the sealed root over "
                                           f"{seal.entries} (entries edited, added or removed)")
        if key is not None and own_key is not None:
            if seal.key_id != own_key:
                problem(Tamper.SEAL_SIGNATURE, f"signed with another key (key id {seal.key_id}; "
                                               f"ONEVISIT_AUDIT_KEY has {own_key})")
            elif not hmac.compare_digest(sign_seal(seal, key=key), seal.signature):
                problem(Tamper.SEAL_SIGNATURE, "its signature does not match: the seal row was edited or forged")
        expected, prev_signature, prev_mark = seal.number + 1, seal.signature, max(prev_mark, seal.event_mark)
    while pending is not None:
        orphans[pending.seal_number] = orphans.get(pending.seal_number, 0) + 1
        pending = next(entries, None)
    for number, count in sorted(orphans.items()):
        result.problems.append(AuditProblem(
            Tamper.SEAL_CHAIN, f"{count} sealed entries belong to this seal, which is missing (deleted)", seal=number))
    return result


def _seals(session: Session, wanted: list[int] | None, batch: int) -> Iterator[AuditSeal]:
    """Seals in number order, a page at a time."""
    if wanted is not None:
        for start in range(0, len(wanted), batch):
            chunk = wanted[start:start + batch]
            yield from session.scalars(select(AuditSeal).where(AuditSeal.number.in_(chunk))
                                       .order_by(AuditSeal.number))
        return
    last = 0
    while True:
        page = list(session.scalars(select(AuditSeal).where(AuditSeal.number > last)
                                    .order_by(AuditSeal.number).limit(batch)))
        yield from page
        if len(page) < batch:
            return
        last = page[-1].number


def _entries(session: Session, wanted: list[int] | None, batch: int) -> Iterator[Any]:
    """Seal entries in (seal, position) order, streamed."""
    columns = AuditSealEntry.__table__.c
    stmt = select(columns.seal_number, columns.position, columns.case_id, columns.receipt_no, columns.seq,
                  columns.hash).order_by(columns.seal_number, columns.position)
    if wanted is not None:
        for start in range(0, len(wanted), batch):
            chunk = wanted[start:start + batch]
            yield from session.execute(stmt.where(columns.seal_number.in_(chunk)))
        return
    yield from session.execute(stmt.execution_options(yield_per=batch * 10))
