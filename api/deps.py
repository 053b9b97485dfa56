"""Named dependencies, in the FastAPI full-stack template's style: session, runtime, actor.

``CurrentActor`` reads ``Authorization: Bearer <token>`` and asks :func:`engine.people.tokens.authenticate`
(at the runtime clock's time); a missing, unknown, revoked or expired token is a 401 with
``WWW-Authenticate: Bearer``. The decision is made once per request, before the body is read, by
:class:`api.limits.RequestLimits`, which leaves it on the request scope (:data:`AUTH_STATE`);
``CurrentActor`` only reads it. Accesses about nothing in particular (the supervision desk) are
dependencies too (:func:`require_access`), decided by the engine's rule table like every other
(:mod:`engine.machine.access`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session, sessionmaker

from engine.machine.access import Access, authorize
from engine.runtime import Runtime
from engine.machine.states import Actor
from engine.people.tokens import authenticate

bearer = HTTPBearer(auto_error=False, description="A token issued by engine.people.tokens.issue_token (shown once, stored hashed).")


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


AUTH_STATE = "onevisit_authentication"
"""Key of the request scope's ``state`` under which the request's :class:`Authentication` is kept."""


@dataclass(frozen=True)
class Authentication:
    """Who a request's credentials stand for: an actor, or why there is none (the 401's detail)."""

    actor: Actor | None
    refusal: str = ""
    challenge: str = "Bearer"

    def unauthorized(self) -> HTTPException:
        """The 401 for a request without an actor."""
        return HTTPException(401, self.refusal, headers={"WWW-Authenticate": self.challenge})


def authenticate_bearer(session: Session, runtime: Runtime, authorization: str | None) -> Authentication:
    """Decide an ``Authorization`` header (only ``Bearer`` tokens count)."""
    scheme, token = get_authorization_scheme_param(authorization)
    if not authorization or scheme.lower() != "bearer" or not token:
        return Authentication(None, "a bearer token is required")
    actor = authenticate(session, token=token, now=runtime.clock.now())
    if actor is None:
        return Authentication(None, "the bearer token is unknown, revoked or expired", 'Bearer error="invalid_token"')
    return Authentication(actor)


def decided(request: Request) -> Authentication | None:
    """The authentication :class:`api.limits.RequestLimits` decided for this request, if any."""
    found = request.scope.get("state", {}).get(AUTH_STATE)
    return found if isinstance(found, Authentication) else None


def get_actor(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],  # documents the scheme
) -> Actor:
    """The actor behind the bearer token, or a 401 (decided once, before the body was read)."""
    found = decided(request)
    if found is None:  # an app assembled without the middleware
        found = authenticate_bearer(session, runtime, request.headers.get("authorization"))
    if found.actor is None:
        raise found.unauthorized()
    return found.actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require_access(access: Access) -> Callable[[Actor], Actor]:
    """A dependency admitting only the actors the engine grants ``access`` (403 for the others,
    :func:`engine.machine.access.authorize`)."""

    def check(actor: CurrentActor) -> Actor:
        authorize(actor, access)
        return actor

    return check


SupervisorActor = Annotated[Actor, Depends(require_access(Access.READ_SUPERVISION))]
"""Who may use the supervision desk; its lists are limited to ``list_scope(actor, Access.READ_SUPERVISION)``."""


def depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    """Whether ``call`` is among the dependencies of ``dependant``, however deep."""
    return any(sub.call is call or depends_on(sub, call) for sub in dependant.dependencies)
