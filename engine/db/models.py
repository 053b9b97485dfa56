"""SQLAlchemy 2 typed tables: the engine's source of truth.

State columns (``Case.state``, ``Step.state``) are written only by :mod:`engine.machine.transitions`.
The audit log and its seals are append-only (database triggers refuse UPDATE, DELETE and, on
PostgreSQL, TRUNCATE; see the migrations).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the engine only stores aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


Json = JSON().with_variant(JSONB(), "postgresql")

OPEN_WORK_STATES = ("ready", "assigned", "in_progress", "supplement_requested")
"""Released open steps (engine.machine.states.STEP_ACTIVE): what worklists and supervision count.
A query matches the partial index ix_steps_open_department by naming exactly these, as literals."""
OPEN_WORK_PREDICATE = "state IN (" + ",".join(f"'{s}'" for s in OPEN_WORK_STATES) + ")"
ACTIVE_STEP_PREDICATE = OPEN_WORK_PREDICATE
"""Steps whose clock runs (``engine.machine.states.STEP_ACTIVE``): what the sweep cards."""
OPEN_CASE_PREDICATE = "state IN ('accepted','in_progress','supplement_requested')"
"""Open cases (``engine.machine.states.CASE_OPEN``)."""
WAITING_TIMER_PREDICATE = "kind = 'timer' AND state = 'ready'"
"""Timers waiting for the end of their minimum wait (``not_before``)."""


def _restrict(target: str, name: str) -> ForeignKey:
    """A key to a case or step that refuses the referred row's deletion (see migration 0006 for why
    RESTRICT: an audit event, an outbox message or a licence never vanishes with its case)."""
    return ForeignKey(target, name=name, ondelete="RESTRICT")


_UOW_ORDER: dict[str, Any] = {"lazy": "raise"}
"""Options of the relationships that exist only for the flush order. SQLAlchemy orders a flush's
INSERTs by relationships, not by foreign keys: without one, an audit event (or an outbox message,
a licence) added in the same flush as its new case or step may be inserted first and be refused
by its key. Code sets the ``*_id`` columns, never these attributes; ``lazy="raise"`` says so."""


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: Json, list[Any]: Json}


class BundleVersion(Base):
    """A published bundle spec snapshot; cases pin the version they started with."""

    __tablename__ = "bundle_versions"
    __table_args__ = (UniqueConstraint("bundle_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bundle_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    spec_hash: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[dict[str, Any]]
    published_at: Mapped[datetime]


class Case(Base):
    """One application for one bundle (一件事), pinned to a bundle version."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_applicant", "applicant_id"),
        Index("ix_cases_state_region", "state", "region"),
        Index("ix_cases_open_due", "due_on", postgresql_where=text(OPEN_CASE_PREDICATE),
              sqlite_where=text(OPEN_CASE_PREDICATE)),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    receipt_no: Mapped[str] = mapped_column(String(32), unique=True)
    bundle_id: Mapped[str] = mapped_column(String(64))
    bundle_version: Mapped[int] = mapped_column(Integer)
    spec_hash: Mapped[str] = mapped_column(String(64))
    applicant_id: Mapped[str] = mapped_column(String(32))
    applicant_kind: Mapped[str] = mapped_column(String(16))
    applicant_name: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(12))
    """The applicant's region (the case's home, its receipt number's prefix)."""
    received_in: Mapped[str | None] = mapped_column(String(12))
    """受理地: the region of the window that received the case (the clerk's); NULL for applicant
    self-service and rows older than revision 0007, read then as ``region``."""
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime]
    accepted_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    clock_stopped_on: Mapped[date | None] = mapped_column(Date)
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None]
    audit_seq: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="")

    steps: Mapped[list[Step]] = relationship(back_populates="case", order_by="Step.position")


class Step(Base):
    """One department step instance of a case (one per element for ``for_each`` steps)."""

    __tablename__ = "steps"
    __table_args__ = (
        UniqueConstraint("case_id", "step_key", "instance"),
        # Worklists and sweeps only ever look at open steps: keep that index small.
        Index(
            "ix_steps_open_department",
            "department",
            "state",
            "due_on",
            postgresql_where=text(OPEN_WORK_PREDICATE),
            sqlite_where=text(OPEN_WORK_PREDICATE),
        ),
        # A worklist page by keyset: a department's open steps in the worklist's order, due date, receipt
        # and position, read along the index at any depth (revision 0013).
        Index("ix_steps_open_department_queue", "department", "due_on", "receipt_no", "position",
              postgresql_where=text(OPEN_WORK_PREDICATE), sqlite_where=text(OPEN_WORK_PREDICATE)),
        # The sweep's: active steps by due date, waiting timers by the end of their wait (revision 0012).
        Index("ix_steps_active_due", "due_on", postgresql_where=text(ACTIVE_STEP_PREDICATE),
              sqlite_where=text(ACTIVE_STEP_PREDICATE)),
        Index("ix_steps_waiting_timers", "not_before", postgresql_where=text(WAITING_TIMER_PREDICATE),
              sqlite_where=text(WAITING_TIMER_PREDICATE)),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    step_key: Mapped[str] = mapped_column(String(64))
    instance: Mapped[int] = mapped_column(Integer, default=0)
    instance_label: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer)
    receipt_no: Mapped[str | None] = mapped_column(String(32))
    """The case's receipt number, copied at intake (it never changes): worklists order and search by
    it without the case. Set on every row (revision 0013 filled the older ones)."""
    item_code: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(8))
    office: Mapped[str | None] = mapped_column(String(32))
    """The deciding office's id, ``<department>@<region>`` (e.g. 11@430102), set when the step is
    released (routed); NULL before, and on rows older than revision 0007."""
    decided_in: Mapped[str | None] = mapped_column(String(12))
    """办理地: the region the step is decided for; NULL means the case's region (ask
    :func:`engine.machine.routing.deciding_region`, never this column directly)."""
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=0)
    entry: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The `for_each` list entry this step instance works on (empty for a single step)."""
    clock_start_on: Mapped[date | None] = mapped_column(Date)
    clock_stopped_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    not_before: Mapped[date | None] = mapped_column(Date)
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    supplement: Mapped[dict[str, Any]] = mapped_column(default=dict)
    closed_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(back_populates="steps")


class AuditEvent(Base):
    """Append-only, hash-chained per case: each event hashes the case's previous event."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(_restrict("cases.id", "fk_audit_events_case_id_cases"))
    seq: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str | None] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    # The sentinel: the chain's hashes are unique, so the unit of work may insert a flush's events in
    # one statement and still match each returned id to its event (SQLite's ROWIDs cannot be matched).
    hash: Mapped[str] = mapped_column(String(64), insert_sentinel=True)

    # Never read or set: it makes the unit of work insert the case before its events (see _UOW_ORDER).
    case: Mapped[Case] = relationship(**_UOW_ORDER)


class OutboxMessage(Base):
    """Work for Prefect to do after a transaction commits (automated steps, notices)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "available_at", postgresql_where=text("processed_at IS NULL"),
              sqlite_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(_restrict("cases.id", "fk_outbox_case_id_cases"))
    step_id: Mapped[str | None] = mapped_column(_restrict("steps.id", "fk_outbox_step_id_steps"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    available_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Failed attempts so far (a handler error, or a worker that stopped holding the claim)."""
    last_error: Mapped[str] = mapped_column(Text, default="")
    processed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    """The dispatcher running the message now; with ``claimed_until``, a lease (see engine/machine/dispatch.py)."""
    claimed_until: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    """Set when the last allowed attempt failed: a dead letter, retried only by a person."""

    # Never read or set: they order the unit of work's inserts (see _UOW_ORDER).
    case: Mapped[Case] = relationship(**_UOW_ORDER)
    step: Mapped[Step | None] = relationship(**_UOW_ORDER)


class ReceiptCounter(Base):
    """Per region and day sequence for human-readable receipt numbers."""

    __tablename__ = "receipt_counters"

    region: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Licence(Base):
    """An electronic licence (电子证照) held by a person or enterprise."""

    __tablename__ = "licences"
    __table_args__ = (
        Index("ix_licences_holder_type", "holder_id", "type_code"),
        UniqueConstraint("type_code", "number"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    type_code: Mapped[str] = mapped_column(String(32))
    holder_id: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    issuer: Mapped[str] = mapped_column(String(200), default="")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None]
    source_case_id: Mapped[str | None] = mapped_column(_restrict("cases.id", "fk_licences_source_case_id_cases"))
    source_step_id: Mapped[str | None] = mapped_column(_restrict("steps.id", "fk_licences_source_step_id_steps"))
    created_at: Mapped[datetime]

    # Never read or set: they order the unit of work's inserts (see _UOW_ORDER).
    source_case: Mapped[Case | None] = relationship(**_UOW_ORDER)
    source_step: Mapped[Step | None] = relationship(**_UOW_ORDER)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str | None] = mapped_column(String(12))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Handover(Base):
    """出件: the results of a finished case handed out at its receiving window, once per case.

    Written only by the gate's ``hand_over`` effect (:mod:`engine.machine.effects`), in the
    transaction of the case's ``case.hand_over`` audit event. ``agent_id_number`` is kept in full
    as the evidence of who collected; every response and log shows it masked."""

    __tablename__ = "handovers"

    case_id: Mapped[str] = mapped_column(_restrict("cases.id", "fk_handovers_case_id_cases"), primary_key=True)
    handed_at: Mapped[datetime]
    """When the results were handed over at the window, or posted."""
    region: Mapped[str] = mapped_column(String(12))
    """The region of the window that handed them out (the clerk's)."""
    handed_by: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(16))
    """``applicant`` (in person, or the addressee of the post) or ``agent`` (代领人)."""
    agent_name: Mapped[str] = mapped_column(String(200), default="")
    agent_id_number: Mapped[str | None] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(16))
    """``window`` (窗口领取) or ``post`` (邮寄送达, with ``tracking_no``)."""
    tracking_no: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


FILE_CHANNELS = ("window", "online", "supplement")
"""How a file reached the case: handed in at the window (a clerk uploaded it), online (the
applicant), or for a 补正 notice (either; ``CaseFile.notice`` names the round)."""

CHECK_STATES = ("pending", "accepted", "returned")
"""A material's check (材料核验): not yet looked at, accepted, or returned with a reason."""


class CaseFile(Base):
    """One file handed in for a material of a case; the bytes live in the file store by ``sha256``.

    Staged before the case exists (``case_id`` NULL, owned by ``staged_by``) and linked by intake
    in the acceptance's transaction (:mod:`engine.documents.files`); or handed in later for a 补正
    notice (``channel`` supplement, ``notice`` its round). ``step_id`` is set when exactly one step
    needs the material; a material several steps need belongs to the case only (step views match
    by material name). ``purged_at``: the retention purge deleted the bytes; the row stays."""

    __tablename__ = "case_files"
    __table_args__ = (
        Index("ix_case_files_case_material", "case_id", "material"),
        Index("ix_case_files_sha256", "sha256"),
        # Intake looks up an actor's staged, not yet linked files: keep that index to those.
        Index("ix_case_files_staged", "staged_by",
              postgresql_where=text("case_id IS NULL"), sqlite_where=text("case_id IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str | None] = mapped_column(_restrict("cases.id", "fk_case_files_case_id_cases"))
    step_id: Mapped[str | None] = mapped_column(_restrict("steps.id", "fk_case_files_step_id_steps"))
    bundle_id: Mapped[str] = mapped_column(String(64))
    """The bundle the file was staged for (its material is one of that bundle's)."""
    material: Mapped[str] = mapped_column(String(200))
    """The material's name as the bundle spec gives it (a step's or the bundle's material)."""
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(64))
    pages: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    """The uploader's file name, cleaned by inspection (no path)."""
    channel: Mapped[str] = mapped_column(String(16))
    """One of :data:`FILE_CHANNELS`."""
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime]
    staged_by: Mapped[str] = mapped_column(String(64))
    """The actor whose hand-in this is: only they may link it to a case."""
    check_state: Mapped[str] = mapped_column(String(16), default="pending")
    """One of :data:`CHECK_STATES`."""
    check_reason: Mapped[str] = mapped_column(Text, default="")
    checked_by: Mapped[str | None] = mapped_column(String(64))
    checked_at: Mapped[datetime | None]
    notice: Mapped[int | None] = mapped_column(Integer)
    """The 补正 notice (its round, 1-based) the file was handed in for; NULL at intake."""
    purged_at: Mapped[datetime | None]

    # Never read or set: they order the unit of work's inserts (see _UOW_ORDER).
    case: Mapped[Case | None] = relationship(**_UOW_ORDER)
    step: Mapped[Step | None] = relationship(**_UOW_ORDER)


class DeferredMaterial(Base):
    """容缺受理: a material the case was accepted without; the applicant promised it by ``promised_on``.

    Written by intake; ``reminded_at`` by the reminder before the date, ``supplied_at`` when the
    material was handed in (the step needing it cannot complete before)."""

    __tablename__ = "deferred_materials"
    __table_args__ = (
        Index("ix_deferred_materials_due", "promised_on",
              postgresql_where=text("supplied_at IS NULL"), sqlite_where=text("supplied_at IS NULL")),
    )

    case_id: Mapped[str] = mapped_column(_restrict("cases.id", "fk_deferred_materials_case_id_cases"),
                                         primary_key=True)
    material: Mapped[str] = mapped_column(String(200), primary_key=True)
    promised_on: Mapped[date] = mapped_column(Date)
    committed_by: Mapped[str] = mapped_column(String(64))
    """Who recorded the promise (the clerk at the window, or the applicant online)."""
    committed_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    supplied_at: Mapped[datetime | None]

    # Never read or set: it orders the unit of work's inserts (see _UOW_ORDER).
    case: Mapped[Case] = relationship(**_UOW_ORDER)


class AccessRecord(Base):
    """A staff read of a full record (ID numbers unmasked): who, what, when."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_case", "case_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String(32))
    step_id: Mapped[str | None] = mapped_column(String(32))
    what: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class Card(Base):
    """A yellow or red card (电子监察) for an overdue step, or for an overdue case (no step).

    A step gets at most one card of each colour, and so does a follow-up, and a case at case level;
    the partial unique index covers the case-level cards, whose ``step_id`` and ``followup_id`` are
    NULL (NULLs never collide).
    """

    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("step_id", "colour", name="uq_cards_step_colour"),
        UniqueConstraint("followup_id", "colour", name="uq_cards_followup_colour"),
        Index("uq_cards_case_colour", "case_id", "colour", unique=True,
              postgresql_where=text("step_id IS NULL AND followup_id IS NULL"),
              sqlite_where=text("step_id IS NULL AND followup_id IS NULL")),
        Index("ix_cards_open_region", "region", "colour",
              postgresql_where=text("resolved_at IS NULL"), sqlite_where=text("resolved_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    step_id: Mapped[str | None] = mapped_column(ForeignKey("steps.id"))
    colour: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text, default="")
    department: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(12))
    issued_at: Mapped[datetime]
    issued_on: Mapped[date] = mapped_column(Date)
    working_days_overdue: Mapped[int] = mapped_column(Integer, default=0)
    resolved_at: Mapped[datetime | None]
    followup_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("followups.id", name="fk_cards_followup_id_followups", ondelete="RESTRICT"))
    """The overdue follow-up (a rectification, a post-check, a complaint) the card is for; NULL for a
    step's or a case's card."""
    explanation_state: Mapped[str] = mapped_column(String(16), default="")
    """A red card's explanation (情况说明): ``required`` when issued, ``submitted`` by the office,
    ``accepted`` or ``returned`` (to submit again) by a supervisor; empty for a yellow card."""
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The explanation in force and its history: who, reason, corrective action, when; the decisions."""


class AuditSeal(Base):
    """A periodic seal of the audit chain heads, signed with a key kept outside the database.

    Seal *n* covers the heads of every chain that grew since seal *n-1* (audit events with ids up
    to ``event_mark``), lists them in ``audit_seal_entries``, stores their Merkle root and is
    chained to seal *n-1* through ``prev_signature``. Append-only like ``audit_events``.
    """

    __tablename__ = "audit_seals"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sealed_at: Mapped[datetime]
    event_mark: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(64))
    prev_signature: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(64))


class AuditSealEntry(Base):
    """One sealed chain head: the case's event ``seq`` had ``hash`` when seal ``seal_number`` was made.

    Entries are written before their seal row (the root is only known once they are all
    streamed), so there is no foreign key; ``audit verify`` checks that every entry has its seal.
    """

    __tablename__ = "audit_seal_entries"
    __table_args__ = (Index("ix_audit_seal_entries_case", "case_id", "seq"),)

    seal_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    case_id: Mapped[str] = mapped_column(String(32))
    receipt_no: Mapped[str] = mapped_column(String(32), default="")
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class Notification(Base):
    """One notice to one recipient on one channel (engine.notify): the applicant's inbox row,
    or an email or SMS, sent through the outbox (``outbox_id``). The text is rendered once."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_recipient", "recipient", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(_restrict("cases.id", "fk_notifications_case_id_cases"))
    recipient: Mapped[str] = mapped_column(String(64))
    """Who it is for: the applicant's id (an officer's id for reminders)."""
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    outbox_id: Mapped[int | None] = mapped_column(_restrict("outbox.id", "fk_notifications_outbox_id_outbox"))
    """The outbox message that sends it (NULL for the inbox, which needs no sending)."""
    sent_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(**_UOW_ORDER)
    outbox: Mapped[OutboxMessage | None] = relationship()
    """Set when the notice is queued (engine.notify.queue); the flush fills ``outbox_id``."""


class NotificationAttempt(Base):
    """One attempt to send a notification over its channel: when, and whether it went."""

    __tablename__ = "notification_attempts"
    __table_args__ = (UniqueConstraint("notification_id", "attempt"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("notifications.id", name="fk_notification_attempts_notification_id", ondelete="RESTRICT"))
    attempt: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str] = mapped_column(Text, default="")


_BIGID = BigInteger().with_variant(Integer, "sqlite")


class Rating(Base):
    """好差评: an applicant's rating of a finished case (一事一评, ``step_id`` NULL) or of one of its
    steps; once each. Five levels, 5 非常满意 … 1 非常不满意 (engine.governance.ratings)."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("step_id", name="uq_ratings_step"),
        Index("uq_ratings_case", "case_id", unique=True,
              postgresql_where=text("step_id IS NULL"), sqlite_where=text("step_id IS NULL")),
        Index("ix_ratings_office", "office", "rated_on"),
    )

    id: Mapped[int] = mapped_column(_BIGID, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(_restrict("cases.id", "fk_ratings_case_id_cases"))
    step_id: Mapped[str | None] = mapped_column(_restrict("steps.id", "fk_ratings_step_id_steps"))
    rater: Mapped[str] = mapped_column(String(64))
    """The actor id of who rated (the applicant's token, or a clerk recording it at the window)."""
    level: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16))
    """Where the rating came from: ``web`` (the progress page), ``api``, ``notice`` (the link in a notice), ``window``."""
    office: Mapped[str | None] = mapped_column(String(32))
    """The office rated: the step's office (a case rating: the receiving window's, ``<dept>@<region>`` or NULL)."""
    department: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(12))
    rated_at: Mapped[datetime]
    rated_on: Mapped[date] = mapped_column(Date)


class Followup(Base):
    """A task that follows a case after the gate's work on it, with its own working-day deadline:
    a rectification of a bad rating (整改), a post-check of a commitment (事中事后核查), a 12345
    hotline complaint (诉求). Its state changes go through engine.governance.followups (one
    audit event on the case each); overdue ones get cards like steps (``cards.followup_id``)."""

    __tablename__ = "followups"
    __table_args__ = (
        UniqueConstraint("kind", "source_ref", name="uq_followups_kind_source_ref"),
        Index("ix_followups_open_due", "due_on",
              postgresql_where=text("closed_at IS NULL"), sqlite_where=text("closed_at IS NULL")),
        Index("ix_followups_office", "office", "state"),
        Index("ix_followups_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(_BIGID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str] = mapped_column(_restrict("cases.id", "fk_followups_case_id_cases"))
    step_id: Mapped[str | None] = mapped_column(_restrict("steps.id", "fk_followups_step_id_steps"))
    rating_id: Mapped[int | None] = mapped_column(
        _BIGID, ForeignKey("ratings.id", name="fk_followups_rating_id_ratings", ondelete="RESTRICT"))
    source_ref: Mapped[str | None] = mapped_column(String(64))
    """An outside reference that makes receiving it idempotent (the 12345 ticket number); NULL otherwise."""
    office: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """What the kind records as it goes (the complaint's text, the rectification's plan and 回访 records,
    the post-check's findings, an appeal); each change's audit event carries what it added."""
    outcome: Mapped[str] = mapped_column(String(32), default="")
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    opened_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    closed_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(**_UOW_ORDER)
    step: Mapped[Step | None] = relationship(**_UOW_ORDER)
    rating: Mapped[Rating | None] = relationship(**_UOW_ORDER)


class Commitment(Base):
    """告知承诺: the commitment an applicant signed for a ``commitment`` step: who, when, and the
    exact text (and its SHA-256) they were shown."""

    __tablename__ = "commitments"
    __table_args__ = (UniqueConstraint("step_id", name="uq_commitments_step"),)

    id: Mapped[int] = mapped_column(_BIGID, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(_restrict("cases.id", "fk_commitments_case_id_cases"))
    step_id: Mapped[str] = mapped_column(_restrict("steps.id", "fk_commitments_step_id_steps"))
    signer: Mapped[str] = mapped_column(String(64))
    """The actor id that signed (the applicant's token, or a clerk for an applicant at the window)."""
    holder_id: Mapped[str] = mapped_column(String(32))
    """Whose promise it is: the case's applicant (ID number or credit code)."""
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]

    case: Mapped[Case] = relationship(**_UOW_ORDER)
    step: Mapped[Step] = relationship(**_UOW_ORDER)


class CreditMark(Base):
    """A mark in the applicant's credit record (信用记录): a false commitment found by a post-check.
    A ``serious`` mark in force keeps its holder off the commitment path (normal review instead)."""

    __tablename__ = "credit_marks"
    __table_args__ = (Index("ix_credit_marks_holder", "holder_id"),)

    id: Mapped[int] = mapped_column(_BIGID, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    case_id: Mapped[str] = mapped_column(_restrict("cases.id", "fk_credit_marks_case_id_cases"))
    followup_id: Mapped[int | None] = mapped_column(
        _BIGID, ForeignKey("followups.id", name="fk_credit_marks_followup_id_followups", ondelete="RESTRICT"))
    marked_at: Mapped[datetime]
    expires_on: Mapped[date | None] = mapped_column(Date)
    lifted_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(**_UOW_ORDER)
    followup: Mapped[Followup | None] = relationship(**_UOW_ORDER)
