"""Retention: the files of closed cases are purged once their material's retention period passed.

A file is expired when its case is closed (completed, partially completed, rejected, withdrawn)
and ``closed_at`` plus the retention days of its material's kind (the bundle's ``retention`` on
the material, days from the setting ``retention_days``; a kind the setting does not name keeps
``default``) lies before ``now``. Per case, one transition through the gate's ``purge_files``
case rule (the engine as actor, the state kept) marks the rows purged and records the files
(id, material, SHA-256, size, pages) in the case's audit trail. After that commit the bytes are
deleted from the file store, content by content, only when no row that is not purged still
references the SHA-256 (the same content handed in for another case, or a material kept longer,
stays). Re-running finds nothing new to mark and deletes only bytes left by a crash between the
commit and the deletion: idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from engine.db.models import Case, CaseFile
from engine.machine.effects import Inputs
from engine.machine.states import CASE_TERMINAL, SYSTEM
from engine.machine.transitions import transition_case
from engine.machine.unit_of_work import in_transaction, load_case
from engine.runtime import Runtime
from engine.spec.models import BundleSpec


@dataclass(frozen=True)
class PurgedCase:
    """One closed case's files whose retention passed (purged, or to be purged in a dry run)."""

    case_id: str
    receipt_no: str
    files: tuple[dict[str, Any], ...]
    """Each file as the audit event records it: id, material, sha256, size, pages."""


@dataclass(frozen=True)
class PurgeReport:
    """What a purge did (or, ``dry_run``, would do)."""

    dry_run: bool
    cases: tuple[PurgedCase, ...] = ()
    deleted: tuple[str, ...] = ()
    """SHA-256 of the contents deleted from the file store."""
    kept: tuple[str, ...] = field(default=())
    """SHA-256 of purged files whose content stays: a row not purged still references it."""

    @property
    def files(self) -> int:
        return sum(len(c.files) for c in self.cases)


def _days(retention_days: Mapping[str, int], kind: str) -> int:
    return retention_days.get(kind, retention_days.get("default", 3650))


def _kind(bundle: BundleSpec | None, material: str) -> str:
    declared = bundle.material(material) if bundle is not None else None
    return getattr(declared, "retention", "default") if declared is not None else "default"


def expired_files(session: Session, runtime: Runtime, *, now: datetime,
                  retention_days: Mapping[str, int]) -> dict[str, list[CaseFile]]:
    """By case id, the files not yet purged of closed cases whose retention period passed."""
    rows = session.execute(
        select(CaseFile, Case).join(Case, Case.id == CaseFile.case_id)
        .where(CaseFile.purged_at.is_(None), Case.closed_at.is_not(None),
               Case.state.in_([s.value for s in CASE_TERMINAL]),
               # no kind is kept less than the shortest configured period: a bound for SQL
               Case.closed_at < now - timedelta(days=min(retention_days.values(), default=1)))
        .order_by(Case.closed_at, Case.id, CaseFile.uploaded_at, CaseFile.id)
    ).all()
    found: dict[str, list[CaseFile]] = {}
    for row, case in rows:
        bundle = runtime.spec_for(session, case)
        assert case.closed_at is not None
        if case.closed_at + timedelta(days=_days(retention_days, _kind(bundle, row.material))) < now:
            found.setdefault(case.id, []).append(row)
    return found


def _entry(row: CaseFile) -> dict[str, Any]:
    from engine.documents.files import file_event_entry

    return file_event_entry(row)


def _still_referenced(session: Session, shas: set[str], *, besides: set[str]) -> set[str]:
    """The contents among ``shas`` a row that is not purged references, rows ``besides`` left out."""
    if not shas:
        return set()
    rows = session.execute(select(CaseFile.id, CaseFile.sha256).where(
        CaseFile.sha256.in_(sorted(shas)), CaseFile.purged_at.is_(None))).all()
    return {sha for file_id, sha in rows if file_id not in besides}


def _delete_unreferenced(session: Session, runtime: Runtime) -> tuple[str, ...]:
    """Delete every content only purged rows reference (those just purged, and any a crash left)."""
    live = aliased(CaseFile)
    unused = ~exists().where(live.sha256 == CaseFile.sha256, live.purged_at.is_(None))
    orphans = sorted(set(session.scalars(select(CaseFile.sha256).where(CaseFile.purged_at.is_not(None), unused))))
    session.rollback()
    deleted = []
    for sha256 in orphans:
        if runtime.files.exists(sha256):
            runtime.files.delete(sha256)
            deleted.append(sha256)
    return tuple(deleted)


def purge_expired_files(session: Session, runtime: Runtime, *, now: datetime, dry_run: bool = False,
                        retention_days: Mapping[str, int] | None = None) -> PurgeReport:
    """Purge the expired files of closed cases (see the module): rows marked and one audit event
    per case, then the contents no row still needs deleted from ``runtime.files``. ``dry_run``
    lists what would be purged and deleted and changes nothing. ``retention_days`` defaults to
    the setting."""
    if retention_days is None:
        from engine.settings import get_settings

        retention_days = get_settings().retention_days
    found = expired_files(session, runtime, now=now, retention_days=retention_days)
    planned = {r.sha256 for rows in found.values() for r in rows}
    kept = _still_referenced(session, planned, besides={r.id for rows in found.values() for r in rows})
    if dry_run:
        receipts = {case_id: receipt for case_id, receipt in
                    session.execute(select(Case.id, Case.receipt_no).where(Case.id.in_(sorted(found))))}
        cases = tuple(PurgedCase(case_id=case_id, receipt_no=receipts[case_id], files=tuple(_entry(r) for r in rows))
                      for case_id, rows in found.items())
        session.rollback()
        return PurgeReport(dry_run=True, cases=cases, deleted=tuple(sorted(planned - kept)), kept=tuple(sorted(kept)))
    plans = [(case_id, [r.id for r in rows]) for case_id, rows in found.items()]
    session.rollback()  # end the read before locking case by case
    done: list[PurgedCase] = []
    for case_id, ids in plans:

        def work(case_id: str = case_id, ids: list[str] = ids) -> PurgedCase | None:
            case = load_case(session, case_id)
            left = list(session.scalars(select(CaseFile.id).where(CaseFile.id.in_(ids), CaseFile.purged_at.is_(None))
                                        .order_by(CaseFile.id)))
            if not left:
                return None  # another pass purged them meanwhile
            transition_case(session, runtime, case=case, action="purge_files", actor=SYSTEM, at=now,
                            inputs=Inputs(files=left))
            rows = session.scalars(select(CaseFile).where(CaseFile.id.in_(left)).order_by(CaseFile.id)).all()
            return PurgedCase(case_id=case.id, receipt_no=case.receipt_no, files=tuple(_entry(r) for r in rows))

        result = in_transaction(session, work)
        if result is not None:
            done.append(result)
    return PurgeReport(dry_run=False, cases=tuple(done), deleted=_delete_unreferenced(session, runtime),
                       kept=tuple(sorted(kept)))
