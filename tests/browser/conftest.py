"""End-to-end fixtures: a real uvicorn server on a temporary SQLite database, and Debian's
headless Chromium driven by Python Playwright (never ``playwright install``).

Without ``/usr/bin/chromium`` the browser tests are skipped, unless ``ONEVISIT_REQUIRE_BROWSER=1``
(CI) makes that a failure.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.db.session import make_engine, make_sessionmaker, migrate
from api.demo import load_demo_data, seed_licences
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import load_registry
from engine.people.tokens import issue_token

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# name: (role, subject (a demo person number), department, region)
USERS: dict[str, dict[str, Any]] = {
    "clerk": {"role": "clerk", "region": "430102", "label": "窗口-张"},
    "officer11": {"role": "officer", "department": "11", "region": "430102", "label": "民政-李"},
    "officer09": {"role": "officer", "department": "09", "region": "430102", "label": "公安-王"},
    "applicant": {"role": "applicant", "subject": 1},
    "supervisor": {"role": "supervisor", "region": "430100", "label": "监察-赵"},
}


@dataclass
class LiveServer:
    base_url: str
    sessions: sessionmaker[Session]
    runtime: Runtime
    clock: FixedClock
    tokens: dict[str, str] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium and fonts-noto-cjk to run the browser tests"
        if os.environ.get("ONEVISIT_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """uvicorn in a background thread over a migrated SQLite file with the demo licences and a
    token per user; the runtime's FixedClock is the test's to move."""
    from api.demo import synthetic_person

    path = tmp_path_factory.mktemp("e2e") / "onevisit.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    sessions = make_sessionmaker(engine)
    clock = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # Monday 2 March 2026, 09:00 Beijing
    runtime = Runtime(registry=load_registry(), calendar=WorkingCalendar.default(), clock=clock)
    with sessions() as session:
        publish_bundles(session, runtime)
        seed_licences(session, runtime, load_demo_data(), report=lambda _: None)
        tokens = {}
        for name, user in USERS.items():
            spec = dict(user)
            if "subject" in spec:
                spec["subject"] = synthetic_person(spec["subject"])
            tokens[name] = issue_token(session, now=clock.now(), **spec)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(sessions=sessions, runtime=runtime), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 300  # generous: a loaded CI machine is slow to start a thread's server
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the e2e server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", sessions, runtime, clock, tokens)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
