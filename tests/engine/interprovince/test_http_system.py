"""跨省通办 over HTTP against a real loopback server that plays another province's system from a
recording (tests/fixtures/interprovince/guangdong_exchange.json): every request the engine makes
must be the recorded one (method, path, headers, JSON body), answered with the recorded response.
The system is configured as a deployment would (``ONEVISIT_INTERPROVINCE_ENDPOINTS``) and driven
by the engine's dispatcher on both backends; the failures (HTTP errors, a body that is not JSON,
a refused connection, a timeout) are errors naming the system, retried by the outbox."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.interprovince.exchange import POLL_EVERY, TRANSFER, transfer_reference
from engine.interprovince.http import HttpProvinceSystem, configured_provinces
from engine.interprovince.systems import TransferError
from engine.machine.dispatch import Outcome, drain_outbox
from engine.machine.states import StepState
from engine.runtime import Runtime
from engine.settings import Settings
from engine.time.clock import FixedClock
from tests.engine.interprovince.test_exchange import WORKER, received, step_of

RECORDING = Path(__file__).parents[2] / "fixtures" / "interprovince" / "guangdong_exchange.json"
TOKEN = "gd-secret-token"


@dataclass
class Replay:
    """The recorded interactions, answered in order; what arrived, and any mismatch."""

    interactions: list[dict[str, Any]]
    values: dict[str, str] = field(default_factory=dict)
    """What the placeholders of the recording (``<reference>``) stand for in this run."""
    served: int = 0
    mismatches: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expected(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
            return self.values.get(value[1:-1], value)
        if isinstance(value, dict):
            return {k: self.expected(v) for k, v in value.items()}
        return value

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with self.lock:
            if self.served >= len(self.interactions):
                self.mismatches.append(f"unrecorded request {method} {path}")
                return 500, b'{"error": "unrecorded"}'
            recorded = self.interactions[self.served]
            self.served += 1
        want = recorded["request"]
        if (method, path) != (want["method"], want["path"]):
            self.mismatches.append(f"expected {want['method']} {want['path']}, got {method} {path}")
        for name, value in self.expected(want["headers"]).items():
            if headers.get(name) != value:
                self.mismatches.append(f"{method} {path}: header {name} was {headers.get(name)!r}, recorded {value!r}")
        if "json" in want:
            got, recorded_body = json.loads(body or b"null"), self.expected(want["json"])
            differ = sorted(k for k in set(got) | set(recorded_body) if got.get(k) != recorded_body.get(k))
            if differ:
                self.mismatches.append(f"{method} {path}: body differs from the recording in {differ}: "
                                       f"{ {k: (got.get(k), recorded_body.get(k)) for k in differ} }")
        response = recorded["response"]
        return response["status"], json.dumps(response["json"], ensure_ascii=False).encode()


@dataclass
class Server:
    url: str
    replay: Replay
    behaviour: dict[str, Any]
    """Set by a test to misbehave: {"status": 503} or {"raw": b"<html>"} or {"sleep": 5}."""


@pytest.fixture
def guangdong_server() -> Iterator[Server]:
    replay = Replay(interactions=json.loads(RECORDING.read_text(encoding="utf-8"))["interactions"])
    behaviour: dict[str, Any] = {}
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if "sleep" in behaviour:
                release.wait(behaviour["sleep"])
            if "status" in behaviour or "raw" in behaviour:
                status, payload = behaviour.get("status", 200), behaviour.get("raw", b"{}")
            else:
                status, payload = replay.answer(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(url=f"http://127.0.0.1:{server.server_port}/gd/api", replay=replay, behaviour=behaviour)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def configured(url: str, *, timeout: float = 30.0) -> HttpProvinceSystem:
    """Guangdong's system as ``ONEVISIT_INTERPROVINCE_ENDPOINTS`` configures it."""
    settings = Settings.model_validate({"interprovince_endpoints": {
        "44": {"name": "广东省一体化政务服务平台", "url": url, "token": TOKEN, "timeout": timeout}}})
    system = configured_provinces(settings.interprovince_endpoints)["44"]
    assert isinstance(system, HttpProvinceSystem)
    return system


def test_the_recorded_exchange_sends_asks_and_takes_the_decision(
    session: Session, runtime: Runtime, clock: FixedClock, guangdong_server: Server
) -> None:
    runtime.provinces.register("44")(configured(guangdong_server.url))
    case = received(session, runtime)
    step = step_of(session, case)
    guangdong_server.replay.values.update(reference=transfer_reference(step), receipt_no=case.receipt_no,
                                         applicant_id=WORKER, sent_on="2026-03-02")

    assert [r.outcome for r in drain_outbox(session, runtime)] == [Outcome.WAITING]
    assert step_of(session, case).outputs[TRANSFER]["remote_reference"] == "GD-2026-000417"
    for outcome in (Outcome.WAITING, Outcome.COMPLETED):
        clock.advance(seconds=POLL_EVERY.total_seconds() + 1)
        assert [r.outcome for r in drain_outbox(session, runtime)] == [outcome]

    assert guangdong_server.replay.mismatches == []
    assert guangdong_server.replay.served == len(guangdong_server.replay.interactions)
    step = step_of(session, case)
    assert step.state == StepState.DONE.value and step.outputs["number"] == "440106-SYDJ-2026-0417"


def test_the_token_is_not_in_the_settings_repr() -> None:
    settings = Settings.model_validate({"interprovince_endpoints": {
        "44": {"name": "广东", "url": "https://gd.example/api", "token": TOKEN}}})
    assert TOKEN not in repr(settings) and TOKEN not in repr(configured_provinces(settings.interprovince_endpoints)["44"])


@pytest.mark.parametrize("endpoints", [{"4": {"name": "x", "url": "https://a"}},
                                       {"44": {"name": "x", "url": "ftp://a"}},
                                       {"44": {"name": "", "url": "https://a"}}])
def test_a_bad_endpoint_setting_is_refused_naming_it(endpoints: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="interprovince_endpoints"):
        Settings.model_validate({"interprovince_endpoints": endpoints})


@pytest.mark.parametrize(("behaviour", "message"), [
    ({"status": 503}, "answered HTTP 503"),
    ({"raw": b"<html>busy</html>"}, "not JSON"),
    ({"raw": b'{"status": "done"}'}, "names no reference"),
    ({"raw": b'["accepted"]'}, "not a JSON object"),
])
def test_a_bad_answer_is_an_error_naming_the_system(guangdong_server: Server, behaviour: dict[str, Any],
                                                     message: str) -> None:
    guangdong_server.behaviour.update(behaviour)
    with pytest.raises(TransferError, match=message) as raised:
        configured(guangdong_server.url).poll("GD-1")
    assert str(raised.value).startswith("广东省一体化政务服务平台") or "reference" in message or "object" in message


def test_a_timeout_and_a_refused_connection_are_errors_naming_the_system(guangdong_server: Server) -> None:
    guangdong_server.behaviour["sleep"] = 60  # released when the test ends
    with pytest.raises(TransferError, match="广东省一体化政务服务平台: GET transfers failed"):
        configured(guangdong_server.url, timeout=0.2).poll("GD-1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(TransferError, match="failed: ConnectionRefusedError"):
            configured(f"http://127.0.0.1:{closed}/gd/api").poll("GD-1")


def test_the_dispatcher_retries_a_failing_system_and_the_step_waits(
    session: Session, runtime: Runtime, clock: FixedClock, guangdong_server: Server
) -> None:
    guangdong_server.behaviour["status"] = 503
    runtime.provinces.register("44")(configured(guangdong_server.url))
    case = received(session, runtime)
    (result,) = drain_outbox(session, runtime)
    assert result.outcome is Outcome.FAILED and "HTTP 503" in result.detail and WORKER not in result.detail
    assert step_of(session, case).state == StepState.READY.value
    assert drain_outbox(session, runtime) == []  # backing off
    clock.advance(seconds=timedelta(days=1).total_seconds())
    guangdong_server.behaviour.clear()
    guangdong_server.replay.values.update(reference=transfer_reference(step_of(session, case)),
                                         receipt_no=case.receipt_no, applicant_id=WORKER, sent_on="2026-03-03")
    assert [r.outcome for r in drain_outbox(session, runtime)] == [Outcome.WAITING]
    assert guangdong_server.replay.mismatches == []
