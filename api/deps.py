"""Named dependencies, in the FastAPI full-stack template's style: session, runtime, actor.

``CurrentActor`` reads ``Authorization: Bearer <token>`` and asks :func:`engine.tokens.authenticate`
(at the runtime clock's time); a missing, unknown, revoked or expired token is a 401 with
``WWW-Authenticate: Bearer``. Role gates that are only about the role (the supervision desk)
are dependencies too; finer scoping (region, department, own case) is the engine's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import Forbidden
from engine.runtime import Runtime
from engine.states import Actor, Role
from engine.tokens import authenticate

bearer = HTTPBearer(auto_error=False, description="A token issued by engine.tokens.issue_token (shown once, stored hashed).")


def get_db(request: Request) -> Iterator[Session]:
    """One session per request, closed (and any open transaction rolled back) afterwards."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        yield session


def get_runtime(request: Request) -> Runtime:
    """The engine runtime the app was built with (specs, calendar, injected clock)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


SessionDep = Annotated[Session, Depends(get_db)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_actor(
    session: SessionDep,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The actor behind the bearer token, or a 401."""
    if credentials is None:
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    actor = authenticate(session, token=credentials.credentials, now=runtime.clock.now())
    if actor is None:
        raise HTTPException(
            401, "the bearer token is unknown, revoked or expired",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require_roles(*roles: Role) -> Callable[[Actor], Actor]:
    """A dependency admitting only ``roles`` (403 for the others)."""

    def check(actor: CurrentActor) -> Actor:
        if actor.role not in roles:
            raise Forbidden(f"a {actor.role.value} may not use this endpoint")
        return actor

    return check


SupervisorActor = Annotated[Actor, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
