"""`onevisit worker`, `onevisit sweep` and the flows' own context never migrate: on a database
that is not at the current schema they stop with one line saying what to run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from api.cli import main
from engine.db.session import SchemaOutOfDate, make_engine, migrate, require_current_schema


def test_a_database_behind_the_code_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    migrate(engine, "0003")
    with pytest.raises(SchemaOutOfDate) as refused:
        require_current_schema(engine)
    assert "at revision 0003" in refused.value.message and "onevisit db upgrade" in refused.value.message
    for command in (["sweep"], ["outbox"], ["outbox", "retry", "1"]):
        assert main([*command, "--db", url]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "run `onevisit db upgrade` first" in err, err
    with engine.connect() as conn:  # nothing was migrated behind the operator's back
        assert conn.execute(text("select version_num from alembic_version")).scalar() == "0003"
    engine.dispose()


def test_onevisit_sweep_runs_one_pass_and_says_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    capsys.readouterr()
    assert main(["sweep", "--db", url]) == 0
    assert capsys.readouterr().out == (
        "sweep: released 0 timer step(s); lapsed 0 补正 window(s); issued 0 yellow and 0 red card(s); resolved 0 card(s)\n")


def test_onevisit_worker_needs_a_prefect_server(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from engine.settings import get_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    before = os.environ.get("ONEVISIT_DB")  # `--db` reaches the flow-run processes through it
    try:
        with temporary_settings(updates={PREFECT_API_URL: None}):
            assert main(["worker", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 1
    finally:
        if before is None:
            os.environ.pop("ONEVISIT_DB", None)
        else:
            os.environ["ONEVISIT_DB"] = before
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("onevisit: PREFECT_API_URL is not set") and err.count("\n") == 1
