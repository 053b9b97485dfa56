"""Schemathesis over the OpenAPI document, as an officer, an applicant, a clerk and nobody.

The ``schemathesis run`` command line is pointed at a live server (uvicorn on a loopback port,
its own SQLite database, bearer tokens issued in it) once per caller, with every check on:
no 5xx, no status the document does not list, every body and content type as documented,
schema-valid requests accepted and invalid ones refused, no operation that ignores its
token. Each caller's path parameters are the ids of a case accepted for it, so requests reach
the engine instead of stopping at 404. The seed is fixed and generation deterministic, so CI
sees the same requests every run; the server counts each caller's (at least :data:`MIN_REQUESTS`).

Run on its own: ``.venv/bin/python -m pytest tests/reliability/test_schemathesis.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from api.app import create_app
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.db.models import Step
from engine.db.session import make_engine, make_sessionmaker, migrate
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import load_registry
from engine.people.tokens import issue_token
from tests.conftest import scaled
from tests.engine.sample_people import CLERK, GROOM, another_couple, marriage_answers

SEED = 20260302
MIN_REQUESTS = {"officer": 1000, "applicant": 1000, "clerk": 1000, "anonymous": 50}
"""Requests each caller's run must at least make (a run that stops early fails here); the
coverage phase, the same in every profile, makes most of them."""
# caller: (token scope, examples per operation in each phase, phases); the README's quick run
# takes half the examples of CI's thorough profile (the coverage phase is the same in both)
EVERY_PHASE = "examples,coverage,fuzzing,stateful"
CALLERS: dict[str, tuple[dict[str, str] | None, int, str]] = {
    "officer": ({"role": "officer", "department": "11", "region": "430102"}, scaled(3, 4), EVERY_PHASE),
    "applicant": ({"role": "applicant", "subject": GROOM}, scaled(3, 4), EVERY_PHASE),
    "clerk": ({"role": "clerk", "region": "430102"}, scaled(3, 4), EVERY_PHASE),
    # everything but the bundle catalogue answers nobody with 401 (the others' ignored_auth check
    # drops their tokens too), so the coverage phase would only add a thousand more 401s
    "anonymous": (None, scaled(3, 4), "examples,fuzzing"),
}
# Operations of the process, not of the API: no token, no body, no JSON (Prometheus text).
EXCLUDED = r"^/(healthz|readyz|metrics)$"

CONFIG = """
seed = {seed}  # used if generation is ever made non-deterministic
suppress-health-check = ["too_slow"]

[checks]
enabled = true  # every check schemathesis has

[generation]
max-examples = {examples}
deterministic = true
database = "none"

# The caller's own case and step, so requests reach the engine (not for the supplements, whose
# case and step must belong together: the stateful phase links them from POST /cases).
[[operations]]
include-path = ["/cases/{{case_id}}", "/cases/{{case_id}}/withdraw"]
parameters = {{ case_id = "{case_id}" }}

[[operations]]
include-path-regex = "^/steps/"
parameters = {{ step_id = "{step_id}" }}

# JSON Schema cannot say whether an ID number's check character is right, whether a region
# code exists, which fields a bundle asks for or whether an officer works in a region: a
# schema-valid application can still be refused with 422 naming the field. Only these.
[[operations]]
include-path = ["/cases", "/prefill", "/steps/{{step_id}}/reassign"]
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

# A step_id in the body that is not a step of the case is a 404 naming step_id (the same answer
# as for an unknown id, so nothing is learnt about other cases' steps); when the stateful phase
# pairs a case it just created with a step id seen elsewhere, it reads that 404 as the new case
# having gone missing.
[[operations]]
include-path = "/cases/{{case_id}}/supplements"
checks.ensure_resource_availability.enabled = false
"""


@dataclass
class Counted:
    """The app, counting the HTTP requests it answers."""

    app: Any
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            with self.lock:
                self.requests += 1
        await self.app(scope, receive, send)


@dataclass
class Live:
    url: str
    counted: Counted
    tokens: dict[str, str]
    ids: dict[str, tuple[str, str]]
    """caller → (case id, id of its marriage-registration step)"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    path = tmp_path_factory.mktemp("schemathesis") / "onevisit.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    sessions = make_sessionmaker(engine)
    clock = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    runtime = Runtime(registry=load_registry(), calendar=WorkingCalendar.default(), clock=clock)
    tokens: dict[str, str] = {}
    ids: dict[str, tuple[str, str]] = {}
    with sessions() as session:
        publish_bundles(session, runtime)
        for name, (scope, _, _) in CALLERS.items():
            if scope is not None:
                tokens[name] = issue_token(session, now=clock.now(), label=f"schemathesis-{name}", **scope)
            case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                               answers=marriage_answers(**another_couple()), actor=CLERK)
            step = session.scalars(select(Step.id).where(Step.case_id == case.id,
                                                          Step.step_key == "marriage_registration")).one()
            ids[name] = (case.id, step)
    counted = Counted(create_app(sessions=sessions, runtime=runtime))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(counted, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, name="schemathesis-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 300  # generous: a loaded CI machine is slow to start a thread's server
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    yield Live(f"http://127.0.0.1:{port}", counted, tokens, ids)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _run(live: Live, caller: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    _, examples, phases = CALLERS[caller]
    case_id, step_id = live.ids[caller]
    config = workdir / f"{caller}.toml"
    config.write_text(CONFIG.format(seed=SEED, examples=examples, case_id=case_id, step_id=step_id))
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
               "run", f"{live.url}/openapi.json", "--workers", "1", "--phases", phases,
               "--exclude-path-regex", EXCLUDED, "--warnings", "off"]
    if caller in live.tokens:
        command += ["--header", f"Authorization: Bearer {live.tokens[caller]}"]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"}
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("caller", CALLERS)
def test_every_check_passes_for_the_caller(live: Live, caller: str, tmp_path: Path) -> None:
    """One caller per test, so the run's workers share the callers out (each worker serves its own)."""
    before = live.counted.requests
    done = _run(live, caller, tmp_path)
    made = live.counted.requests - before
    print(f"{caller}: {made} requests, exit {done.returncode}")
    assert done.returncode == 0, f"===== as {caller} =====\n{done.stdout[-20000:]}\n{done.stderr[-5000:]}"
    assert made >= MIN_REQUESTS[caller], made

