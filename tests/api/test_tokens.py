"""Issue 7.6: demo tokens are one expiring set per database, never logged; `onevisit token`
issues with an expiry, lists without the token text, and revokes."""

from __future__ import annotations

import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from api.cli import _show_demo_tokens
from api.server import DEMO_SCOPES, demo_tokens
from engine.time.clock import FixedClock
from engine.db.models import ApiToken
from engine.db.session import make_engine, make_sessionmaker
from engine.errors import DomainError
from engine.runtime import Runtime
from engine.people.tokens import DEMO_LABEL, authenticate, issue_token, list_tokens, parse_expiry
from tests.api.test_cli import run, sqlite_url
from tests.conftest import Database


def test_loading_the_demo_again_revokes_the_previous_demo_set(db: Database, runtime: Runtime, clock: FixedClock,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with db.session() as session:
        own = issue_token(session, role="admin", label="ops", now=clock.now())
        first = demo_tokens(session, runtime)
        second = demo_tokens(session, runtime)
        now = clock.now()
        assert first.keys() == second.keys() == DEMO_SCOPES.keys()
        assert all(authenticate(session, token=t, now=now) is None for t in first.values())
        assert all(authenticate(session, token=t, now=now) is not None for t in second.values())
        assert authenticate(session, token=own, now=now) is not None  # only demo tokens are revoked
        admins = [t for t in list_tokens(session, now=now) if t.role == "admin"]
        assert sorted(t.label for t in admins) == sorted([f"{DEMO_LABEL}admin", "ops"])
        # they expire after ONEVISIT_DEMO_TOKEN_DAYS (default 7)
        later = now + timedelta(days=7, seconds=1)
        assert all(authenticate(session, token=t, now=later) is None for t in second.values())
        assert authenticate(session, token=second["admin"], now=now + timedelta(days=6)) is not None
    for token in (*first.values(), *second.values(), own):
        assert token not in caplog.text


def test_the_demo_label_is_reserved(db: Database, clock: FixedClock) -> None:
    with db.session() as session, pytest.raises(DomainError) as refused:
        issue_token(session, role="admin", label="demo:admin", now=clock.now())
    assert refused.value.field == "label"


def test_demo_tokens_go_to_a_private_file_not_to_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _show_demo_tokens({"admin": "secret-admin-token"}, tmp_path / "data")
    out, _ = capsys.readouterr()  # captured: not a terminal, as under systemd or docker
    assert "secret-admin-token" not in out and "demo-tokens.txt" in out
    path = tmp_path / "data" / "demo-tokens.txt"
    assert "secret-admin-token" in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_token_issue_list_and_revoke(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "tokens.db")
    code, out, err = run(capsys, "token", "issue", "clerk", "--region", "430102", "--label", "窗口 07",
                         "--expires", "30d", "--db", url)
    assert code == 0, err
    token = out.strip()
    code, out, err = run(capsys, "token", "supervisor", "--region", "430100", "--db", url)  # the short form
    assert code == 0, err
    sessions = make_sessionmaker(make_engine(url))
    now = datetime.now(UTC)
    with sessions() as session:
        actor = authenticate(session, token=token, now=now)
        assert actor is not None and actor.label == "窗口 07"
        row = session.scalars(select(ApiToken).where(ApiToken.id == actor.id)).one()
        assert row.expires_at is not None and timedelta(days=29) < row.expires_at - now <= timedelta(days=30)
    code, out, err = run(capsys, "token", "list", "--db", url)
    assert code == 0 and actor.id in out and "窗口 07" in out and token not in out
    assert len(out.strip().splitlines()) == 3  # a header and two tokens
    code, out, err = run(capsys, "token", "revoke", actor.id, "--db", url)
    assert code == 0 and actor.id in out
    with sessions() as session:
        assert authenticate(session, token=token, now=now) is None
    code, out, _ = run(capsys, "token", "list", "--db", url)
    assert actor.id not in out
    code, out, _ = run(capsys, "token", "list", "--all", "--db", url)
    assert actor.id in out and "revoked" in out
    code, out, err = run(capsys, "token", "revoke", "0" * 32, "--db", url)
    assert code == 1 and "no such token" in err
    code, out, err = run(capsys, "token", "issue", "admin", "--expires", "soon", "--db", url)
    assert code == 1 and "expires" in err and out == ""


def test_expiry_parsing() -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert parse_expiry("12h", now=now) == now + timedelta(hours=12)
    assert parse_expiry("2w", now=now) == now + timedelta(weeks=2)
    assert parse_expiry("never", now=now) is None
    assert parse_expiry("2027-01-31", now=now) == datetime(2027, 1, 31, tzinfo=UTC)
    with pytest.raises(DomainError):
        parse_expiry("-3d", now=now)
