"""Retention purge, on both backends with the real local file store: only the files of closed cases
whose retention passed go; content another row still references stays; one audit event per case
lists the purged files; a second run changes nothing; ``onevisit files purge --dry-run`` lists
them and deletes nothing."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, CaseFile
from engine.documents.files import MaterialHandIn, stage_files
from engine.documents.inspection import Upload
from engine.documents.retention import purge_expired_files
from engine.machine.actions import withdraw_case
from engine.machine.intake import Applicant, accept_case
from engine.records.audit import verify_audit
from engine.runtime import Runtime
from engine.settings import get_settings
from engine.time.clock import FixedClock
from tests.engine.documents.test_inspection import image, pdf
from tests.engine.machine.test_eligibility import MOTHER, newborn_answers
from tests.engine.sample_people import CLERK

RECORD = "新生儿出生医学记录"
CERTIFICATE = "中华人民共和国结婚证"
NOTICE = "出生医学证明签发知情告知书"
KEEP = {"default": 30}


def newborn(session: Session, runtime: Runtime, record: bytes, notice: bytes) -> Case:
    """A newborn case accepted at the window with the birth record and the 告知书 scanned."""
    def staged(material: str, data: bytes, name: str) -> tuple[str, ...]:
        views = stage_files(session, runtime, actor=CLERK, bundle_id="newborn", material=material,
                            uploads=[Upload(name, data)])
        return tuple(v.id for v in views)

    return accept_case(session, runtime, bundle_id="newborn", applicant=Applicant(MOTHER, "person", "测试乙"),
                       answers=newborn_answers(), actor=CLERK, region="430102", materials={
                           RECORD: MaterialHandIn(files=staged(RECORD, record, "record.pdf"), check="accepted"),
                           CERTIFICATE: MaterialHandIn(paper=True, check="accepted"),
                           NOTICE: MaterialHandIn(files=staged(NOTICE, notice, "notice.png"), check="accepted")})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_only_expired_files_of_closed_cases_go_and_shared_content_stays(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    shared, record = pdf(3), pdf(1)
    closed = newborn(session, runtime, record, shared)
    still_open = newborn(session, runtime, pdf(2), shared)  # the same 告知书 scanned again: one stored content
    withdraw_case(session, runtime, case_id=closed.id, actor=CLERK, reason="不再需要")
    assert closed.closed_at is not None

    # within the retention period: nothing
    before = purge_expired_files(session, runtime, now=closed.closed_at + timedelta(days=30), retention_days=KEEP)
    assert (before.cases, before.deleted) == ((), ())

    later = closed.closed_at + timedelta(days=31)
    report = purge_expired_files(session, runtime, now=later, retention_days=KEEP)
    assert [c.case_id for c in report.cases] == [closed.id]
    assert sorted(f["material"] for f in report.cases[0].files) == [NOTICE, RECORD]
    assert report.deleted == (sha(record),) and report.kept == (sha(shared),)
    assert not runtime.files.exists(sha(record))
    assert runtime.files.get(sha(shared)) == shared  # the open case still references it
    rows = session.scalars(select(CaseFile).where(CaseFile.case_id == closed.id)).all()
    assert rows and all(r.purged_at is not None for r in rows)
    assert all(r.purged_at is None for r in session.scalars(select(CaseFile).where(CaseFile.case_id == still_open.id)))

    events = session.scalars(select(AuditEvent).where(AuditEvent.case_id == closed.id,
                                                      AuditEvent.action == "case.purge_files")).all()
    assert len(events) == 1 and (events[0].role, events[0].from_state, events[0].to_state) == (
        "system", "withdrawn", "withdrawn")
    assert sorted(f["sha256"] for f in events[0].payload["files"]) == sorted([sha(record), sha(shared)])
    assert verify_audit(session, case_id=closed.id).ok

    # idempotent: nothing more to mark, no second event, nothing deleted
    again = purge_expired_files(session, runtime, now=later + timedelta(days=1), retention_days=KEEP)
    assert (again.cases, again.deleted) == ((), ())
    assert len(session.scalars(select(AuditEvent).where(AuditEvent.action == "case.purge_files")).all()) == 1

    # once the other case closes and expires too, the shared content goes
    withdraw_case(session, runtime, case_id=still_open.id, actor=CLERK)
    assert still_open.closed_at is not None
    last = purge_expired_files(session, runtime, now=still_open.closed_at + timedelta(days=31), retention_days=KEEP)
    assert [c.case_id for c in last.cases] == [still_open.id] and sha(shared) in last.deleted
    assert not runtime.files.exists(sha(shared))


def test_the_cli_dry_run_lists_and_deletes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.db.session import make_engine, make_sessionmaker
    from engine.documents.storage import LocalFileStore
    from engine.runtime import publish_bundles
    from engine.spec.loader import BUNDLES_DIR, load_registry
    from engine.time.calendar import WorkingCalendar
    from tests.api.test_cli import run, sqlite_url

    folder = tmp_path / "bundles"
    shutil.copytree(BUNDLES_DIR, folder, ignore=shutil.ignore_patterns("__*"))
    store = tmp_path / "files"
    for name, value in (("ONEVISIT_BUNDLES_DIR", str(folder)), ("ONEVISIT_STORAGE_DIR", str(store)),
                        ("ONEVISIT_RETENTION_DAYS", '{"default": 1}')):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ONEVISIT_AUDIT_KEY", raising=False)
    get_settings.cache_clear()
    url = sqlite_url(tmp_path / "purge.db")
    assert run(capsys, "db", "upgrade", "--db", url)[0] == 0
    runtime = Runtime(registry=load_registry(folder), calendar=WorkingCalendar.default(),
                      clock=FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)), files=LocalFileStore(store))
    record = pdf(2)
    with make_sessionmaker(make_engine(url))() as session:
        publish_bundles(session, runtime)
        case = newborn(session, runtime, record, image("PNG"))
        withdraw_case(session, runtime, case_id=case.id, actor=CLERK)
        receipt = case.receipt_no
    assert datetime.now(UTC) > datetime(2026, 3, 4, tzinfo=UTC), "the real clock must be past the retention"

    code, out, err = run(capsys, "files", "purge", "--dry-run", "--db", url)
    assert code == 0, err
    assert f"{receipt}: would purge 2 file(s)" in out and "would delete 2 stored content(s)" in out
    assert LocalFileStore(store).exists(sha(record))
    with make_sessionmaker(make_engine(url))() as session:
        assert all(r.purged_at is None for r in session.scalars(select(CaseFile)))
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "case.purge_files")).all() == []
    get_settings.cache_clear()
