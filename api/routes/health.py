"""Liveness, readiness and Prometheus metrics, for load balancers, orchestrators and monitoring.

``/healthz`` answers 200 while the process answers at all. ``/readyz`` checks the database and
the file store (:mod:`engine.documents.storage`: can files be written?), and reads the background
parts that ``onevisit serve`` records (:mod:`api.background`): 200 when every part is up, 503
naming each part and its one-line error otherwise. ``/metrics`` is the
Prometheus text format (:mod:`api.observability`). None of them needs a token or returns
anything about a person.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api.background import Background, PartStatus, one_line
from api.observability import RequestTimer, metrics_of
from engine.documents.storage import FileStore

router = APIRouter(tags=["operations"])
log = logging.getLogger("onevisit.health")


class PartOut(BaseModel):
    state: Literal["off", "starting", "up", "down"] = Field(examples=["up"])
    since: datetime | None = Field(default=None, description="When the part entered this state.")
    detail: str = Field(default="", description="One line: what the part does, or why it is down.",
                        examples=["pass failed: RuntimeError: …"])
    last_ok_at: datetime | None = Field(default=None, description="When the part was last seen working.")


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    parts: dict[str, PartOut] = Field(
        description="`database` and `storage` (the file store of handed-in documents) always; `prefect` (the "
        "Prefect server) and `flows` (dispatch and sweep) when the process runs background work.",
    )


class LiveOut(BaseModel):
    status: Literal["ok"] = "ok"


def background_of(app: FastAPI) -> Background | None:
    """The background work this app's process runs (``onevisit serve``), if any."""
    background: Background | None = getattr(app.state, "background", None)
    return background


def _database(sessions: sessionmaker[Session]) -> PartOut:
    now = datetime.now(UTC)
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the reason is the answer
        return PartOut(state="down", since=now, detail=one_line(exc))
    return PartOut(state="up", since=now, last_ok_at=now)


def _storage(app: FastAPI) -> PartOut:
    """The file store's state; a change between usable and not is logged once, as one line."""
    now = datetime.now(UTC)
    files: FileStore = app.state.runtime.files
    try:
        problem = files.problem()
    except Exception as exc:  # a store that cannot even say what is wrong is not usable either
        problem = one_line(exc)
    was: str | None = getattr(app.state, "storage_problem", None)
    app.state.storage_problem = problem
    if problem is not None and problem != was:
        log.error("file store (%s) not usable: %s", files.name, problem)
    elif problem is None and was is not None:
        log.info("file store (%s) usable again", files.name)
    if problem is not None:
        return PartOut(state="down", since=now, detail=f"{files.name}: {problem}")
    return PartOut(state="up", since=now, detail=files.name, last_ok_at=now)


def _part(status: PartStatus) -> PartOut:
    return PartOut(state=status.state.value, since=status.since, detail=status.detail, last_ok_at=status.last_ok_at)


@router.get("/healthz", response_model=LiveOut, summary="Liveness",
            responses={200: {"description": "The process answers (it may not be ready; see /readyz)."}})
def healthz() -> LiveOut:
    """200 while the process answers; nothing is checked (restart the process only if this fails)."""
    return LiveOut()


@router.get(
    "/readyz", response_model=ReadyOut, summary="Readiness: database, file store and background work",
    responses={
        200: {"description": "The database answers, files can be stored and every background part is up."},
        503: {"model": ReadyOut, "description": "A part is starting or down; `parts` says which and why."},
    },
)
def readyz(request: Request) -> JSONResponse:
    """The database's, the file store's and each background part's state; 503 when any of them is not up."""
    parts = {"database": _database(request.app.state.sessions), "storage": _storage(request.app)}
    background = background_of(request.app)
    if background is not None:
        parts |= {name: _part(status) for name, status in background.snapshot().items()}
    ready = all(part.state in ("up", "off") for part in parts.values())
    body = ReadyOut(status="ready" if ready else "not_ready", parts=parts)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"description": "Prometheus text format: open and overdue steps, outbox depth and age, dead "
                                    "letters, flow pass durations, request latencies, background parts.",
                     "content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    """Every metric of this process, in the Prometheus text exposition format."""
    return Response(generate_latest(metrics_of(request.app).registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Include these routes and time every request of ``app``."""
    app.router.routes.extend(router.routes)  # as api.app.add_routes does (no per-app rebuild)
    app.add_middleware(RequestTimer, metrics=metrics_of(app))



