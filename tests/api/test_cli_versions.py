"""``onevisit bundles diff``: steps added, removed and changed between two versions of a bundle."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.cli import main
from engine.db.session import make_engine, make_sessionmaker
from engine.runtime import Runtime, publish_bundles
from engine.settings import get_settings
from engine.spec.loader import load_registry
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "spec_v1"

EXTRA_STEP = """\
  - id: certificate_check
    item: 11-JHDJ
    depends_on: [marriage_registration]
    time_limit: {working_days: 1}
"""


@pytest.fixture
def published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[str, Path]]:
    """A database with the fixture bundles' version 1 published, and a folder whose marriage is version 2."""
    url = f"sqlite:///{tmp_path / 'onevisit.db'}"
    monkeypatch.setenv("ONEVISIT_DB", url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    engine = make_engine(url)
    runtime = Runtime(registry=load_registry(V1 / "bundles", V1 / "fields.yaml"), calendar=WorkingCalendar.default(),
                      clock=FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))
    with make_sessionmaker(engine)() as session:
        publish_bundles(session, runtime)
    engine.dispose()
    folder = tmp_path / "bundles"
    shutil.copytree(V1 / "bundles", folder)
    marriage = folder / "marriage.yaml"
    text = marriage.read_text(encoding="utf-8").replace("version: 1", "version: 2", 1)
    marriage.write_text(text.rstrip("\n") + "\n" + EXTRA_STEP, encoding="utf-8")
    yield url, folder
    get_settings.cache_clear()


def test_bundles_diff_lists_the_added_step(capsys: pytest.CaptureFixture[str], published: tuple[str, Path]) -> None:
    url, folder = published
    code = main(["bundles", "diff", "marriage", "1", "2", "--db", url, "--dir", str(folder),
                 "--fields", str(V1 / "fields.yaml")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == ["marriage 1 -> 2", "+ step certificate_check"]
    code = main(["bundles", "diff", "marriage", "1", "2", "--db", url, "--dir", str(folder),
                 "--fields", str(V1 / "fields.yaml"), "--json"])
    out, _ = capsys.readouterr()
    assert json.loads(out) == {"bundle_id": "marriage", "from_version": 1, "to_version": 2,
                               "steps_added": ["certificate_check"], "steps_removed": [], "steps_changed": [],
                               "bundle_keys_changed": []}


def test_bundles_diff_reads_onevisit_bundles_dir(
    capsys: pytest.CaptureFixture[str], published: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, folder = published
    monkeypatch.setenv("ONEVISIT_BUNDLES_DIR", str(folder))
    monkeypatch.setenv("ONEVISIT_FIELDS_FILE", str(V1 / "fields.yaml"))
    get_settings.cache_clear()
    code = main(["bundles", "diff", "marriage", "2", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == ["marriage 2 -> 1", "- step certificate_check"]


def test_bundles_diff_of_an_unknown_version_is_one_line(
    capsys: pytest.CaptureFixture[str], published: tuple[str, Path]
) -> None:
    url, folder = published
    code = main(["bundles", "diff", "marriage", "1", "7", "--db", url, "--dir", str(folder),
                 "--fields", str(V1 / "fields.yaml")])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.splitlines() == ["onevisit: bundle 'marriage' has no version 7 / 事项 marriage 没有版本 7"]


def test_bundles_check_against_a_database_finds_a_version_changed_in_place(
    capsys: pytest.CaptureFixture[str], published: tuple[str, Path]
) -> None:
    url, folder = published
    fields = str(V1 / "fields.yaml")
    # the published folder itself: nothing changed in place
    assert main(["bundles", "check", str(V1 / "bundles"), "--fields", fields, "--db", url]) == 0
    capsys.readouterr()
    # marriage edited but still version 1
    marriage = folder / "marriage.yaml"
    text = marriage.read_text(encoding="utf-8").replace("version: 2", "version: 1", 1)
    marriage.write_text(text, encoding="utf-8")
    assert main(["bundles", "check", str(folder), "--fields", fields, "--db", url]) == 1
    out, err = capsys.readouterr()
    assert "marriage 1 steps=5" in out.splitlines()
    assert (f"{marriage}: bundle 'marriage' version 1 differs from the published version 1 (+ step certificate_check): "
            "give it a new version number / 已发布版本内容被修改，请提高版本号") in err.splitlines()
    assert err.splitlines()[-1] == "onevisit: 1 bundle(s) changed without a new version number"
