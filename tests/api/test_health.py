"""/healthz, /readyz and /metrics, and a background failure on /readyz and the dashboard, on every backend."""

from __future__ import annotations

import inspect
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.background import Background, PartState, supervise_prefect
from api.server import Served, start_background
from engine.db.models import OutboxMessage
from tests.api.conftest import Api, case_body


def samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = api.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_healthz_answers_and_readyz_checks_the_database(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready" and ready.json()["parts"]["database"]["state"] == "up"
    assert ready.json()["parts"]["storage"]["state"] == "up"
    assert set(ready.json()["parts"]) == {"database", "storage"}  # no background work in this process


def test_a_file_store_that_cannot_write_makes_readyz_503_naming_storage(
    api: Api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from engine.documents.storage import LocalFileStore

    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a folder inside a file cannot be created, even by root
    good = api.runtime.files
    api.runtime.files = LocalFileStore(blocker / "files")
    try:
        with caplog.at_level("INFO", logger="onevisit.health"):
            first, second = api.client.get("/readyz"), api.client.get("/readyz")
        for down in (first, second):
            assert down.status_code == 503 and down.json()["status"] == "not_ready"
            assert down.json()["parts"]["database"]["state"] == "up"
            storage = down.json()["parts"]["storage"]
            assert storage["state"] == "down"
            assert storage["detail"].startswith(f"local: cannot write files in {blocker / 'files'}: ")
        logged = [r.getMessage() for r in caplog.records if r.name == "onevisit.health"]
        assert len(logged) == 1 and logged[0].startswith("file store (local) not usable: cannot write files in")
        assert api.get("/bundles", "clerk").status_code == 200  # the API still answers
    finally:
        api.runtime.files = good
    assert api.client.get("/readyz").status_code == 200


def test_metrics_count_open_and_overdue_steps_the_outbox_and_request_latencies(api: Api) -> None:
    case = api.case()
    api.client.get("/readyz")
    before = samples(api)
    assert before[("onevisit_open_steps", (("department", "11"), ("state", "ready")))] >= 1
    assert not any(name == "onevisit_overdue_steps" for name, _ in before)
    assert before[("onevisit_dead_letters", ())] == 0
    assert before[("onevisit_outbox_depth", ())] == 0  # a marriage has no automated step
    latency = ("onevisit_http_request_duration_seconds_count",
               (("method", "GET"), ("route", "/readyz"), ("status", "200")))
    assert before[latency] == 1
    # the route template, never the raw path (ids stay out of the metrics)
    api.get(f"/cases/{case.id}", "clerk")
    assert samples(api)[("onevisit_http_request_duration_seconds_count",
                         (("method", "GET"), ("route", "/cases/{case_id}"), ("status", "200")))] == 1
    api.clock.advance(days=60)
    now = api.clock.now()
    with api.session() as session:  # one waiting message, created a day ago, and one dead letter
        session.add_all([
            OutboxMessage(topic="step.automated", case_id=case.id, created_at=now - timedelta(days=1), available_at=now),
            OutboxMessage(topic="step.automated", case_id=case.id, created_at=now, available_at=now, attempts=8,
                          dead_at=now),
        ])
        session.commit()
    later = samples(api)
    assert later[("onevisit_overdue_steps", (("department", "11"),))] >= 1
    assert later[("onevisit_outbox_depth", ())] == before[("onevisit_outbox_depth", ())] + 1
    assert later[("onevisit_outbox_oldest_age_seconds", ())] >= 86_400
    assert later[("onevisit_dead_letters", ())] == 1


def test_a_background_part_down_shows_on_readyz_and_the_dashboard_while_the_api_answers(api: Api) -> None:
    background = Background()
    api.client.app.state.background = background  # type: ignore[attr-defined]
    starting = api.client.get("/readyz")
    assert starting.status_code == 503 and starting.json()["parts"]["prefect"]["state"] == "starting"
    assert "后台任务正在启动" in api.get("/ui/supervision", "supervisor").text
    background.set("prefect", PartState.DOWN, "server did not start: exited with code 3")
    down = api.client.get("/readyz")
    assert down.status_code == 503 and down.json()["status"] == "not_ready"
    assert down.json()["parts"]["prefect"] == {
        "state": "down", "since": down.json()["parts"]["prefect"]["since"],
        "detail": "server did not start: exited with code 3", "last_ok_at": None,
    }
    page = api.get("/ui/supervision", "supervisor")
    assert page.status_code == 200 and 'id="background-status"' in page.text
    assert "后台任务未运行" in page.text and "exited with code 3" in page.text
    assert api.get("/bundles", "clerk").status_code == 200  # the API still answers
    background.set("prefect", PartState.UP)
    background.set("flows", PartState.UP)
    assert api.client.get("/readyz").status_code == 200
    assert 'id="background-status"' not in api.get("/ui/supervision", "supervisor").text


def test_an_unusable_prefect_home_is_reported_in_one_line_and_the_flows_wait(
    api: Api, tmp_path: Path, caplog: object
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a data folder inside a file cannot be created, even by root
    served = Served(app=api.client.app, sessions=api.db.sessions, runtime=api.runtime)  # type: ignore[arg-type]
    background = start_background(served, data_dir=blocker / "data", dispatch_every=0.2, sweep_every=0.2,
                                  prefect_startup_timeout=5)
    try:
        deadline = time.monotonic() + 60
        while background.snapshot()["prefect"].state is not PartState.DOWN and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = api.client.get("/readyz").json()
        assert ready["status"] == "not_ready"
        assert ready["parts"]["prefect"]["state"] == "down"
        assert ready["parts"]["prefect"]["detail"].startswith(f"cannot use {blocker / 'data' / 'prefect'} as PREFECT_HOME")
        assert ready["parts"]["flows"]["state"] == "starting"  # waiting for the server, not failing
        assert samples(api)[("onevisit_background_up", (("part", "prefect"), ("state", "down")))] == 0
        assert "cannot use" in api.get("/ui/supervision", "supervisor").text
    finally:
        background.stop(timeout=30)


def test_an_external_prefect_server_that_does_not_answer_is_down() -> None:
    background = Background()
    stop = threading.Event()
    run = supervise_prefect(background, data_dir=Path("/nonexistent"), startup_timeout=1,
                            external_url="http://127.0.0.1:9/api", check_every=0.05)
    thread = threading.Thread(target=run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while background.snapshot()["prefect"].state is not PartState.DOWN and time.monotonic() < deadline:
            time.sleep(0.05)
        assert background.snapshot()["prefect"].detail.startswith("external server http://127.0.0.1:9/api: ConnectError")
    finally:
        stop.set()
        thread.join(30)


def test_flow_passes_are_timed_in_the_metrics(api: Api) -> None:
    background = Background()
    from api.observability import metrics_of

    metrics_of(api.client.app).watch_background(background)  # type: ignore[arg-type]
    background.observe_pass("dispatch", 0.3, True)
    background.observe_pass("sweep", 0.2, False)
    found = samples(api)
    assert found[("onevisit_flow_pass_duration_seconds_count", (("flow", "dispatch"), ("outcome", "ok")))] == 1
    assert found[("onevisit_flow_pass_duration_seconds_count", (("flow", "sweep"), ("outcome", "failed")))] == 1
    assert timedelta(0) < timedelta(seconds=found[("onevisit_flow_pass_duration_seconds_sum",
                                                   (("flow", "dispatch"), ("outcome", "ok")))])


def test_no_handler_runs_on_the_event_loop(api: Api) -> None:
    """Every route is a plain function (FastAPI runs it in its thread pool): none can hold up the
    event loop with database work or a lock wait."""
    from fastapi.routing import APIRoute

    def endpoints(routes: list[Any]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # FastAPI's included routers
                yield from endpoints(route.original_router.routes)

    routes = list(endpoints(api.client.app.routes))  # type: ignore[attr-defined]
    from api.pages import steps

    assert len(routes) > 30 and steps.claim in [r.endpoint for r in routes]  # the API's and the pages'
    assert [r.path for r in routes if inspect.iscoroutinefunction(r.endpoint)] == []


def test_a_writer_waiting_for_sqlite_does_not_stall_reads_or_the_server(api: Api) -> None:
    if api.db.backend != "sqlite":
        pytest.skip("only SQLite has a database-wide write lock")
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(api.client.app, host="127.0.0.1", port=0, log_level="error",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    holder = sqlite3.connect(str(api.db.engine.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # someone else holds the write lock
    try:
        result: list[int] = []
        writer = threading.Thread(target=lambda: result.append(httpx.post(
            f"{url}/cases", json=case_body(), headers=api.auth("clerk"), timeout=60).status_code))
        writer.start()
        time.sleep(0.5)
        assert writer.is_alive()  # the intake waits for the lock …
        started = time.monotonic()
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200  # … reads and pages do not
        assert httpx.get(f"{url}/ui/supervision", headers=api.auth("supervisor"), timeout=10).status_code == 200
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 200
        assert time.monotonic() - started < 10
        assert writer.is_alive() and not result
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    writer.join(60)
    assert result == [201]
    server.should_exit = True
    thread.join(30)
