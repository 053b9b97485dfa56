"""An overloaded server sheds load and recovers (issue 14): with every place taken, a request
waits its queue time and gets 503 problem+json with Retry-After, the probes still answer, and
once a place frees the next request is served; onevisit's app documents the 503 on every
operation and counts what it shed."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from api.overload import LoadShedding
from tests.api.conftest import Api


def _full_app() -> tuple[FastAPI, asyncio.Event, asyncio.Event]:
    app = FastAPI()
    inside, release = asyncio.Event(), asyncio.Event()

    @app.get("/work")
    async def work() -> dict[str, int]:
        inside.set()
        await release.wait()
        return {"done": 1}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(LoadShedding, max_in_flight=1, queue_seconds=0.05)
    return app, inside, release


def test_a_full_server_answers_503_keeps_its_probes_and_recovers() -> None:
    async def scenario() -> None:
        app, inside, release = _full_app()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            first = asyncio.create_task(client.get("/work"))
            await inside.wait()  # the one place is taken
            shed = await client.get("/work")
            assert shed.status_code == 503 and shed.headers["Retry-After"] == "1"
            assert shed.headers["content-type"].startswith("application/problem+json")
            assert shed.json()["errors"][0]["code"] == "overloaded"
            assert (await client.get("/healthz")).status_code == 200  # monitoring sees it
            release.set()
            assert (await first).status_code == 200
            assert (await client.get("/work")).status_code == 200  # recovered

    asyncio.run(scenario())


def test_every_operation_documents_the_503(api: Api) -> None:
    spec = api.get("/openapi.json", None).json()
    from api.overload import PROBES

    for path, item in spec["paths"].items():
        for method, op in item.items():
            if path not in PROBES or path == "/readyz":  # /readyz answers 503 when not ready, its own way
                assert "503" in op["responses"], (method, path)
    metrics = api.get("/metrics", None).text
    assert "onevisit_requests_shed_total" in metrics
