"""Issue 7.3 / DESIGN (Security): no log line at any level carries a full ID number, credit code,
name or token. This scan runs a full scenario — the demo's eleven bundles from intake to completion,
then the API's success and error paths (bad input, a used certificate number, out-of-scope reads,
bad tokens) — with every logger at DEBUG, and greps everything that was logged.

Run on its own: ``.venv/bin/python -m pytest tests/reliability/test_log_pii.py``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from api.demo import demo_clock, load_demo_data, run_demo, synthetic_company, synthetic_person
from engine.people.identifiers import InvalidValue, validate_id_number
from engine.runtime import Runtime
from tests.api.conftest import Api, case_body
from tests.api.conftest import api as api  # noqa: F401 - the fixture, for this folder
from tests.conftest import Database
from tests.engine.sample_people import BRIDE, CHILD, GROOM, another_couple

ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def _secrets_of(data: Any) -> set[str]:
    """Every personal value in the demo data: identifiers and names."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and (key.endswith("name") or key.endswith("id_number") or key == "id"):
                found.add(value)
            found |= _secrets_of(value)
    elif isinstance(data, list):
        for value in data:
            found |= _secrets_of(value)
    return {s for s in found if len(s) >= 2}


def _valid_ids(text: str) -> set[str]:
    out = set()
    for candidate in ID_LIKE.findall(text):
        try:
            out.add(validate_id_number(candidate))
        except InvalidValue:
            pass
    return out


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG — except SQLAlchemy's row dumps (its DEBUG level prints result rows,
    a library debugging switch the product never turns on); its INFO level, the SQL echo an
    operator might enable, is included and must show no parameters."""
    caplog.set_level(logging.DEBUG)
    for name in ("alembic", "onevisit", "httpx", "uvicorn", "fastapi", "prefect"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    for name in ("sqlalchemy", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(logging.INFO)
    return caplog


def test_a_full_scenario_logs_no_personal_data(db: Database, runtime: Runtime, api: Api,
                                               everything_logged: pytest.LogCaptureFixture) -> None:
    data = load_demo_data()
    clock = demo_clock()
    with db.session() as session:
        results = run_demo(session, Runtime(registry=runtime.registry, calendar=runtime.calendar, clock=clock), clock,
                           report=lambda line: None)
    assert all(r.ok for r in results)
    # The API, on its success and error paths.
    created = api.post("/cases", "clerk", case_body())
    assert created.status_code == 201
    case_id = created.json()["case_id"]
    assert api.post("/cases", "clerk", case_body(groom_id_number=GROOM[:-1] + "0")).status_code == 422
    assert api.get(f"/cases/{case_id}", "applicant_other").status_code in (403, 404)
    assert api.get(f"/cases/{case_id}", None, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    step = api.advance(api.step(case_id), "in_progress")
    assert api.post(f"/steps/{step.id}/complete", "officer",
                    {"version": step.version, "outputs": {"number": "PII-1"}}).status_code == 200
    # another couple: the first is married now (双方无配偶 refuses them a second time)
    couple = another_couple()
    second = api.case(**couple)
    step = api.advance(api.step(second.id), "in_progress")
    assert api.post(f"/steps/{step.id}/complete", "officer",
                    {"version": step.version, "outputs": {"number": "PII-1"}}).status_code == 409
    api.post("/prefill", "applicant_own", {"bundle_id": "marriage", "applicant": {"id": GROOM, "kind": "person"},
                                           "answers": {"bride_id_number": BRIDE}})

    logged = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}"
                       for r in everything_logged.records)
    assert everything_logged.records, "the scan must see the log (SQL at DEBUG at least)"
    people = _secrets_of(data.scenarios) | {p["name"] for p in data.people.values()}
    people |= {synthetic_person(n) for n in data.people} | {synthetic_company(n) for n in data.companies}
    people |= {GROOM, BRIDE, CHILD, "测试甲", "测试乙"} | {str(v) for v in couple.values()} | set(api.tokens.values())
    leaked = sorted(s for s in people if s in logged)
    assert not leaked, f"personal data in the log: {[s[:4] + '…' for s in leaked]}"
    assert not _valid_ids(logged)
    assert "parameters hidden" in logged  # the SQL echo was in the scan, without its values


def test_the_log_handler_masks_what_slips_through() -> None:
    """Defence in depth: the handler of `serve` and `worker` masks identifiers and tokens that a
    library message or an exception text might quote."""
    import io

    from api.logs import log_handler

    for log_format in ("text", "json"):
        handler = log_handler(log_format)
        stream = io.StringIO()
        handler.setStream(stream)
        logger = logging.getLogger(f"onevisit.test_mask.{log_format}")
        logger.addHandler(handler)
        logger.propagate = False
        try:
            raise ValueError(f"duplicate key {GROOM} for 91430100MA4L000013")
        except ValueError:
            logger.exception("lookup of %s with Bearer %s failed", BRIDE, "x" * 43)
        logger.removeHandler(handler)
        text = stream.getvalue()
        assert GROOM not in text and BRIDE not in text and "91430100MA4L000013" not in text and "x" * 43 not in text
        assert GROOM[:6] in text and "duplicate key" in text and "[token]" in text
