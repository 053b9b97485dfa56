"""The ``onevisit`` command, run in-process (``api.cli.main``) and once as the console script.

Every database here is a SQLite file under the test's tmp_path; ONEVISIT_DB points there too,
so nothing is ever written into the repository's data/ folder.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from api.cli import main
from engine.db.models import Base
from engine.db.session import alembic_config, make_engine
from engine.settings import get_settings
from engine.spec.loader import BUNDLES_DIR, load_registry

LINE = re.compile(r"^(?P<file>.+\.yaml):(?P<line>\d+): step '(?P<step>[a-z_0-9]+)': (?P<problem>.+)$")

FIELDS = """\
- id: applicant_name
  label: {zh: 申请人姓名, en: Applicant name}
  type: text
"""

BROKEN = """\
id: broken
version: 1
name: {zh: 坏, en: Broken}
applicant_kind: person
time_limit: {working_days: 10}
fields:
  - field: applicant_name
steps:
  - id: first
    item: 99-NOPE
    time_limit: {working_days: 5}
  - id: second
    item: 11-JHDJ
    depends_on: [ghost]
    time_limit: {working_days: 5}
"""


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """ONEVISIT_DB names a file in tmp_path; the cached settings are re-read around each test."""
    url = f"sqlite:///{tmp_path / 'env' / 'onevisit.db'}"
    monkeypatch.setenv("ONEVISIT_DB", url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def onevisit_script() -> str:
    script = shutil.which("onevisit") or str(Path(sys.executable).with_name("onevisit"))
    assert Path(script).exists(), "the onevisit console script is not installed"
    return script


@pytest.fixture
def broken_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bundles"
    shutil.copytree(BUNDLES_DIR / "catalog", directory / "catalog")
    (directory / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "fields.yaml").write_text(FIELDS, encoding="utf-8")
    return directory


# --- bundles check ---------------------------------------------------------------------------


def expected_bundle_lines() -> list[str]:
    return [f"{b.id} {b.version} steps={len(b.steps)}" for b in load_registry()]


def test_bundles_check_prints_one_line_per_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "bundles", "check")
    assert code == 0, err
    lines = out.splitlines()
    assert lines == expected_bundle_lines()
    assert all(re.fullmatch(r"[a-z_0-9]+ \d+ steps=\d+", line) for line in lines)
    assert "marriage 2 steps=4" in lines
    # no problems: stderr holds exactly the loader's warnings (limits longer than the bundle's)
    assert err.splitlines() == [str(w) for w in load_registry().warnings]
    assert all(": warning: " in line for line in err.splitlines())


def test_bundles_check_with_an_explicit_dir(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bundles", "check", str(BUNDLES_DIR))
    assert code == 0
    assert out.splitlines() == expected_bundle_lines()


def test_bundles_check_on_a_broken_dir(capsys: pytest.CaptureFixture[str], broken_dir: Path) -> None:
    fields = broken_dir.parent / "fields.yaml"
    code, out, err = run(capsys, "bundles", "check", str(broken_dir), "--fields", str(fields))
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[-1] == "onevisit: 2 problem(s) found"
    parsed = [LINE.match(line) for line in lines[:-1]]
    assert all(parsed), lines
    path = str(broken_dir / "broken.yaml")
    assert {(m["file"], int(m["line"]), m["step"], m["problem"]) for m in parsed if m} == {
        (path, 10, "first", "unknown service item '99-NOPE'"),
        (path, 14, "second", "unknown dependency 'ghost'"),
    }


def test_bundles_check_reports_problems_of_every_file(capsys: pytest.CaptureFixture[str], broken_dir: Path) -> None:
    (broken_dir / "also_broken.yaml").write_text(
        BROKEN.replace("id: broken", "id: also_broken").replace("time_limit: {working_days: 5}\n  - id: second",
                                                                  "time_limit: {working_days: 0}\n  - id: second"),
        encoding="utf-8",
    )
    (broken_dir / "bad_yaml.yaml").write_text("id: x\nversion: 1: 2\n", encoding="utf-8")
    code, _, err = run(capsys, "bundles", "check", str(broken_dir), "--fields", str(broken_dir.parent / "fields.yaml"))
    assert code == 1
    files = {Path(line.split(":", 1)[0]).name for line in err.splitlines()[:-1]}
    assert files == {"broken.yaml", "also_broken.yaml", "bad_yaml.yaml"}
    assert f"{broken_dir / 'bad_yaml.yaml'}:2: invalid YAML: mapping values are not allowed here" in err.splitlines()


def test_bundles_check_on_a_missing_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "bundles"
    code, out, err = run(capsys, "bundles", "check", str(missing))
    assert code == 1
    assert out == ""
    assert err.splitlines() == [f"onevisit: {missing}: not a directory"]


def test_bundles_check_on_a_missing_fields_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nofields.yaml"
    code, _, err = run(capsys, "bundles", "check", str(BUNDLES_DIR), "--fields", str(missing))
    assert code == 1
    assert str(missing) in err


def test_the_console_script_runs(tmp_path: Path, broken_dir: Path) -> None:
    script = onevisit_script()
    ok = subprocess.run([script, "bundles", "check"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == expected_bundle_lines()
    bad = subprocess.run(
        [script, "bundles", "check", str(broken_dir), "--fields", str(tmp_path / "fields.yaml")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert all(LINE.match(line) for line in bad.stderr.splitlines()[:-1])


# --- db upgrade ---------------------------------------------------------------------------------


def head_revision(url: str) -> tuple[str | None, str]:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    engine = make_engine(url)
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        return current, head or ""
    finally:
        engine.dispose()


def test_db_upgrade_creates_the_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "onevisit.db"
    url = sqlite_url(path)
    code, out, err = run(capsys, "db", "upgrade", "--db", url)
    assert code == 0, err
    assert out.strip() == f"database at revision head: {url}"
    assert path.exists()
    engine = make_engine(url)
    try:
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    current, head = head_revision(url)
    assert current == head
    # running it again is harmless
    assert run(capsys, "db", "upgrade", "--db", url)[0] == 0


def test_db_upgrade_uses_onevisit_db(capsys: pytest.CaptureFixture[str], isolated_settings: str, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0
    assert out.strip() == f"database at revision head: {isolated_settings}"
    assert (tmp_path / "env" / "onevisit.db").exists()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", [["db", "upgrade"], ["audit", "verify"], ["demo", "--bundle", "marriage"]])
@pytest.mark.parametrize("url", ["nosuchdb://x", "not a url at all"])
def test_a_bad_db_url_is_one_line(capsys: pytest.CaptureFixture[str], command: list[str], url: str) -> None:
    code, out, err = run(capsys, *command, "--db", url)
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("onevisit: database: ")


def test_a_missing_driver_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("mysqlclient is installed here")
    code, out, err = run(capsys, "db", "upgrade", "--db", "mysql://user@localhost/onevisit")
    assert code == 1 and out == ""
    assert err.splitlines() == ["onevisit: database: ModuleNotFoundError: No module named 'MySQLdb'"]


def test_an_unusable_sqlite_path_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, out, err = run(capsys, "db", "upgrade", "--db", sqlite_url(blocker / "onevisit.db"))
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("onevisit: database: ")
    assert str(blocker) in lines[0]


def test_a_bad_onevisit_db_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEVISIT_DB", "nosuchdb://x")
    get_settings.cache_clear()
    code, _, err = run(capsys, "db", "upgrade")
    assert code == 1
    assert len(err.splitlines()) == 1 and err.startswith("onevisit: database: ")
    assert "nosuchdb" in err


# --- demo and audit verify ------------------------------------------------------------------


@pytest.fixture
def demo_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "demo.db"
    code, out, err = run(capsys, "demo", "--db", sqlite_url(path), "--bundle", "marriage")
    assert code == 0, err
    return path


def test_demo_runs_a_marriage_case(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    code, out, err = run(capsys, "demo", "--db", sqlite_url(path), "--bundle", "marriage")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "seeded 18 e-licences for 8 people and 2 companies"
    assert re.fullmatch(r"\[marriage\] accepted \d{6}-\d{8}-\d{5}: 4 steps, due \d{4}-\d{2}-\d{2}; "
                        r"3 fields prefilled, 9 materials waived", lines[1])
    assert any(re.fullmatch(r"\[marriage\]   dept 11 completed marriage_registration", line) for line in lines)
    assert any(line.startswith("[marriage] completed: 4 steps done in ") for line in lines)
    assert lines[-1] == "demo: 1 cases, 1 completed as expected"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT bundle_id, state FROM cases").fetchall() == [("marriage", "completed")]


NOT_VERIFIED = "seals not verified (ONEVISIT_AUDIT_KEY is not set)"


@pytest.fixture
def no_audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONEVISIT_AUDIT_KEY", raising=False)
    get_settings.cache_clear()


@pytest.fixture
def audit_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ONEVISIT_AUDIT_KEY", "cli test key")
    get_settings.cache_clear()
    return "cli test key"


def tamper_sqlite(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Run statements as the file's owner would: with the append-only triggers dropped."""
    conn = sqlite3.connect(path)
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        for statement, params in statements:
            conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def demo_case(path: Path) -> tuple[str, str, int]:
    with sqlite3.connect(path) as conn:
        case_id, receipt_no, seq = conn.execute("SELECT id, receipt_no, audit_seq FROM cases").fetchone()
    return case_id, receipt_no, seq


def test_audit_verify_ok(capsys: pytest.CaptureFixture[str], demo_db: Path, no_audit_key: None) -> None:
    code, out, err = run(capsys, "audit", "verify", "--db", sqlite_url(demo_db))
    assert code == 0, err
    assert re.fullmatch(rf"audit chain OK: 1 cases, \d+ events; {re.escape(NOT_VERIFIED)}: 0 seals\n", out)
    assert err == ""


def test_audit_verify_uses_onevisit_db(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                       demo_db: Path) -> None:
    monkeypatch.setenv("ONEVISIT_DB", sqlite_url(demo_db))
    get_settings.cache_clear()
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0
    assert out.startswith("audit chain OK: 1 cases,")


def test_audit_verify_on_an_empty_database(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           no_audit_key: None) -> None:
    code, out, _ = run(capsys, "audit", "verify", "--db", sqlite_url(tmp_path / "empty.db"))
    assert code == 0
    assert out.strip() == f"audit chain OK: 0 cases, 0 events; {NOT_VERIFIED}: 0 seals"


def test_audit_verify_finds_tampering(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    case_id, receipt_no, _ = demo_case(demo_db)
    tamper = "UPDATE audit_events SET payload = json_set(payload, '$.tampered', 1) WHERE case_id = ? AND seq = 2"
    with sqlite3.connect(demo_db) as conn, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute(tamper, (case_id,))
    tamper_sqlite(demo_db, (tamper, (case_id,)))

    code, out, err = run(capsys, "audit", "verify", "--db", sqlite_url(demo_db))
    assert code == 1
    assert len(err.splitlines()) == 1
    assert re.fullmatch(rf"case {case_id} \({receipt_no}\): hash_mismatch: event 2 \([a-z_.]+\) does not match its "
                        r"hash: its content was edited\n", err)
    assert re.fullmatch(r"audit chain BROKEN \(1 problem\(s\)\): 1 cases, \d+ events; .*\n", out)


def test_audit_verify_finds_a_deleted_tail(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    case_id, receipt_no, last = demo_case(demo_db)
    tamper_sqlite(demo_db, ("DELETE FROM audit_events WHERE case_id = ? AND seq = ?", (case_id, last)))
    code, _, err = run(capsys, "audit", "verify", "--db", sqlite_url(demo_db))
    assert code == 1
    assert err.splitlines() == [f"case {case_id} ({receipt_no}): head_mismatch: the case row's head is event {last} "
                                f"but the chain ends at event {last - 1}"]


def test_audit_verify_finds_a_truncated_log(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    case_id, receipt_no, last = demo_case(demo_db)
    tamper_sqlite(demo_db, ("DELETE FROM audit_events", ()))
    code, out, err = run(capsys, "audit", "verify", "--db", sqlite_url(demo_db))
    assert code == 1
    assert err.splitlines() == [f"case {case_id} ({receipt_no}): missing_chain: the case has no audit events "
                                f"(its head says {last})"]
    assert out.startswith("audit chain BROKEN (1 problem(s)): 1 cases, 0 events;")


def test_audit_seal_needs_the_key(capsys: pytest.CaptureFixture[str], demo_db: Path, no_audit_key: None) -> None:
    code, out, err = run(capsys, "audit", "seal", "--db", sqlite_url(demo_db))
    assert code == 1 and out == ""
    assert err.splitlines() == ["onevisit: audit seal: ONEVISIT_AUDIT_KEY is not set (the key that signs seals is "
                                "kept outside the database)"]


def test_audit_seal_then_verify_against_the_seals(capsys: pytest.CaptureFixture[str], demo_db: Path,
                                                  audit_key: str) -> None:
    case_id, receipt_no, last = demo_case(demo_db)
    code, out, err = run(capsys, "audit", "seal", "--db", sqlite_url(demo_db))
    assert code == 0, err
    assert re.fullmatch(r"audit seal #1: 1 chain heads up to event \d+; root [0-9a-f]{64}; signature [0-9a-f]{64}\n",
                        out)
    code, out, _ = run(capsys, "audit", "seal", "--db", sqlite_url(demo_db))
    assert (code, out) == (0, "audit seal: no chain grew since the last seal\n")
    code, out, err = run(capsys, "audit", "verify", "--db", sqlite_url(demo_db), "--min-seal", "1")
    assert code == 0, err
    assert re.fullmatch(r"audit chain OK: 1 cases, \d+ events; 1 seals verified, newest #1, 0 events since\n", out)

    # the case and its whole chain deleted: only the seal remembers it
    tamper_sqlite(demo_db, ("DELETE FROM audit_events WHERE case_id = ?", (case_id,)),
                  ("DELETE FROM steps WHERE case_id = ?", (case_id,)),
                  ("DELETE FROM cases WHERE id = ?", (case_id,)))
    code, out, err = run(capsys, "audit", "verify", "--db", sqlite_url(demo_db), "--min-seal", "2")
    assert code == 1
    assert err.splitlines() == [
        f"case {case_id} ({receipt_no}): deleted_case: the case row and its whole audit chain are gone "
        f"(seal #1 recorded it at event {last})",
        "seal #2: seal_missing: the newest seal in the database is #1, but seal #2 was made: seals were deleted",
    ]
    assert out.startswith("audit chain BROKEN (2 problem(s)): 0 cases, 0 events; 1 seals verified")


def test_audit_verify_one_case(capsys: pytest.CaptureFixture[str], demo_db: Path, audit_key: str) -> None:
    case_id, _, last = demo_case(demo_db)
    code, out, err = run(capsys, "audit", "verify", "--db", sqlite_url(demo_db), "--case", case_id)
    assert code == 0, err
    assert out == f"audit chain OK: 1 cases, {last} events; no seals yet (onevisit audit seal)\n"
    code, out, err = run(capsys, "audit", "verify", "--db", sqlite_url(demo_db), "--case", "nosuchcase")
    assert code == 1
    assert err == "case nosuchcase (receipt unknown): unknown_case: no case row, audit event or seal has this id\n"


def test_db_grant_runtime_needs_postgresql(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "db", "grant-runtime", "onevisit_app", "--db", sqlite_url(tmp_path / "g.db"))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("onevisit: database roles need PostgreSQL")


def test_audit_verify_in_a_subprocess_reports_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [onevisit_script(), "audit", "verify", "--db", "nosuchdb://x"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("onevisit: database: ")


def test_token_prints_a_working_token_stored_hashed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from engine.db.models import ApiToken
    from engine.db.session import make_engine, make_sessionmaker
    from engine.machine.states import Role
    from engine.people.tokens import authenticate

    url = sqlite_url(tmp_path / "tokens.db")
    code, out, err = run(capsys, "token", "officer", "--department", "11", "--region", "430102", "--db", url)
    assert code == 0, err
    token = out.strip()
    sessions = make_sessionmaker(make_engine(url))
    with sessions() as session:
        actor = authenticate(session, token=token, now=datetime.now(UTC))
        assert actor is not None and (actor.role, actor.department, actor.region) == (Role.OFFICER, "11", "430102")
        assert token not in {row.token_hash for row in session.query(ApiToken)}
    code, out, err = run(capsys, "token", "officer", "--db", url)  # an officer needs a department
    assert code == 1 and "department" in err and out == ""


def test_a_bad_setting_is_named_without_a_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.settings import get_settings

    monkeypatch.setenv("ONEVISIT_REGION", "999999")
    get_settings.cache_clear()
    try:
        code, out, err = run(capsys, "demo", "--db", sqlite_url(tmp_path / "x.db"), "--bundle", "marriage")
    finally:
        get_settings.cache_clear()
    assert code == 1
    assert err.strip() == "onevisit: configuration: ONEVISIT_REGION: the first two digits (99) are not a valid province code"


SWEEP_LINE = re.compile(r"sweep: released (?P<timers>\d+) timer step\(s\); lapsed (?P<lapsed>\d+) 补正 window\(s\); "
                        r"issued \d+ yellow and \d+ red card\(s\); resolved \d+ card\(s\)")


def test_sweep_prints_the_lapsed_supplement_windows(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, no_audit_key: None) -> None:
    """A 补正 notice whose hand-in window passed (5 working days from Monday 2 March 2026; the sweep
    runs on the real clock, months later) is closed by the sweep, and the line counts it."""
    from datetime import UTC, datetime

    from engine.db.session import make_sessionmaker
    from engine.machine.actions import claim_step, request_supplement, start_step
    from engine.machine.intake import Applicant, accept_case
    from engine.runtime import Runtime, publish_bundles
    from engine.time.calendar import WorkingCalendar
    from engine.time.clock import FixedClock
    from tests.engine.sample_people import CLERK, GROOM, marriage_answers, officer

    folder = tmp_path / "bundles"
    shutil.copytree(BUNDLES_DIR, folder, ignore=shutil.ignore_patterns("__*"))
    marriage = folder / "marriage.yaml"
    step = "  - id: marriage_registration\n"
    assert step in marriage.read_text(encoding="utf-8")
    marriage.write_text(marriage.read_text(encoding="utf-8").replace(
        step, step + "    supplement_window: {working_days: 5}\n"), encoding="utf-8")
    monkeypatch.setenv("ONEVISIT_BUNDLES_DIR", str(folder))
    get_settings.cache_clear()
    url = sqlite_url(tmp_path / "sweep.db")
    assert run(capsys, "db", "upgrade", "--db", url)[0] == 0

    engine = make_engine(url)
    runtime = Runtime(registry=load_registry(folder), calendar=WorkingCalendar.default(),
                      clock=FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))
    with make_sessionmaker(engine)() as session:
        publish_bundles(session, runtime)
        case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers=marriage_answers(), actor=CLERK)
        registration = next(s for s in case.steps if s.step_key == "marriage_registration")
        desk = officer("11")
        claim_step(session, runtime, step_id=registration.id, actor=desk)
        start_step(session, runtime, step_id=registration.id, actor=desk)
        request_supplement(session, runtime, step_id=registration.id, actor=desk, materials=["合影照片"])
        assert registration.supplement["hand_in_by"] == "2026-03-09"
        registration_id = registration.id
    assert datetime.now(UTC) > datetime(2026, 3, 10, tzinfo=UTC), "the real clock must be past the window"

    code, out, err = run(capsys, "sweep", "--db", url)
    assert code == 0, err
    found = SWEEP_LINE.fullmatch(out.strip())
    assert found and found["lapsed"] == "1", out
    with sqlite3.connect(tmp_path / "sweep.db") as conn:
        assert conn.execute("SELECT state FROM steps WHERE id = ?", (registration_id,)).fetchone() == ("cancelled",)
    code, out, _ = run(capsys, "sweep", "--db", url)  # nothing left to lapse
    again = SWEEP_LINE.fullmatch(out.strip())
    assert code == 0 and again and again["lapsed"] == "0", out
    engine.dispose()
