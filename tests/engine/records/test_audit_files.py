"""``audit verify --files`` (issue 12): every file an audit event lists is re-hashed in the file
store; a file changed on disk or gone is a problem naming the case, the material and the file,
a purged one is not; and the same through the ``onevisit`` command, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.cli import main
from engine.db.models import Case, CaseFile
from engine.db.session import make_engine, make_sessionmaker, migrate
from engine.documents.files import MaterialHandIn, stage_files
from engine.documents.inspection import Upload
from engine.documents.storage import LocalFileStore
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import SYSTEM
from engine.records.audit import Tamper, append_event, verify_audit
from engine.runtime import Runtime, publish_bundles
from engine.settings import get_settings
from tests.engine.documents.test_inspection import image, pdf
from tests.engine.machine.test_eligibility import MOTHER, newborn_answers
from tests.engine.sample_people import CLERK

RECORD = "新生儿出生医学记录"
CERTIFICATE = "中华人民共和国结婚证"
NOTICE = "出生医学证明签发知情告知书"


def case_with_files(session: Session, runtime: Runtime) -> tuple[Case, dict[str, tuple[str, str]]]:
    """A newborn case accepted at the window with three files: {file id: (sha256, material)}."""
    def staged(material: str, *uploads: Upload) -> tuple[str, ...]:
        views = stage_files(session, runtime, actor=CLERK, bundle_id="newborn", material=material,
                            uploads=list(uploads))
        return tuple(v.id for v in views)

    record = staged(RECORD, Upload("a.pdf", pdf(2)), Upload("b.png", image("PNG")))
    certificate = staged(CERTIFICATE, Upload("c.jpg", image("JPEG")))
    case = accept_case(session, runtime, bundle_id="newborn", applicant=Applicant(MOTHER, "person"),
                       answers=newborn_answers(), actor=CLERK, region="430102", materials={
                           RECORD: MaterialHandIn(files=record, check="accepted"),
                           CERTIFICATE: MaterialHandIn(files=certificate, check="accepted"),
                           NOTICE: MaterialHandIn(deferred_until=date(2026, 3, 9))})
    rows = session.scalars(select(CaseFile).where(CaseFile.case_id == case.id).order_by(CaseFile.id)).all()
    return case, {r.id: (r.sha256, r.material) for r in rows}


def overwrite(store: LocalFileStore, sha256: str, data: bytes) -> None:
    """What an intruder with the disk would do: replace a stored file's bytes."""
    path = store.path_of(sha256)
    path.chmod(0o640)
    path.write_bytes(data)


def test_intact_files_verify(session: Session, runtime: Runtime) -> None:
    case_with_files(session, runtime)
    report = verify_audit(session, files=runtime.files)
    assert report.ok, [p.line() for p in report.problems]


def test_a_file_altered_on_disk_is_named_with_its_case_and_material(session: Session, runtime: Runtime) -> None:
    case, files = case_with_files(session, runtime)
    assert isinstance(runtime.files, LocalFileStore)
    file_id, (sha256, material) = next(iter(files.items()))
    overwrite(runtime.files, sha256, b"%PDF-1.7 forged")
    assert verify_audit(session).ok  # without the store the files are not looked at
    [problem] = verify_audit(session, files=runtime.files).problems
    assert (problem.kind, problem.case_id, problem.receipt_no, problem.seq) == (
        Tamper.FILE_ALTERED, case.id, case.receipt_no, 1)
    assert f"file {file_id} of material {material!r}" in problem.detail
    assert problem.line().startswith(f"case {case.id} ({case.receipt_no}): file_altered: ")


def test_a_file_gone_from_the_store_is_missing_unless_purged(session: Session, runtime: Runtime) -> None:
    case, files = case_with_files(session, runtime)
    gone = [(file_id, sha256) for file_id, (sha256, _) in list(files.items())[:2]]
    for _, sha256 in gone:
        runtime.files.delete(sha256)
    report = verify_audit(session, files=runtime.files)
    assert sorted((p.kind, p.case_id) for p in report.problems) == [(Tamper.FILE_MISSING, case.id)] * 2
    assert {file_id for file_id, _ in gone} == {
        next(i for i in files if i in p.detail) for p in report.problems}
    # a retention purge that records what it removed: those files are no longer expected
    locked = session.get(Case, case.id)
    assert locked is not None
    append_event(session, case=locked, actor=SYSTEM, action="case.purge_files", at=runtime.clock.now(),
                 payload={"purged": [{"id": file_id, "sha256": sha256} for file_id, sha256 in gone]})
    session.commit()
    assert verify_audit(session, files=runtime.files).ok


@pytest.fixture
def file_db(tmp_path: Path, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, LocalFileStore]]:
    """A SQLite database file with a case whose files are in the default folder beside it."""
    for name in ("ONEVISIT_DATA_DIR", "ONEVISIT_STORAGE_DIR", "ONEVISIT_STORAGE", "ONEVISIT_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'onevisit.db'}"
    engine = make_engine(url)
    migrate(engine)
    store = LocalFileStore(tmp_path / "files")
    runtime.files = store
    with make_sessionmaker(engine)() as session:
        publish_bundles(session, runtime)
        case_with_files(session, runtime)
    engine.dispose()
    yield url, store
    get_settings.cache_clear()


def test_the_command_re_hashes_the_files_with_files(capsys: pytest.CaptureFixture[str],
                                                    file_db: tuple[str, LocalFileStore]) -> None:
    url, store = file_db
    assert main(["audit", "verify", "--files", "--db", url]) == 0
    assert "audit chain OK" in capsys.readouterr().out
    sha256 = next(p.name for p in store.root.rglob("*") if p.is_file())
    overwrite(store, sha256, b"\x89PNG forged")
    assert main(["audit", "verify", "--db", url]) == 0  # without --files: the chain alone
    capsys.readouterr()
    assert main(["audit", "verify", "--files", "--db", url]) == 1
    out, err = capsys.readouterr()
    assert "BROKEN (1 problem(s))" in out and "files re-hashed" in out
    assert "file_altered" in err and "of material" in err
