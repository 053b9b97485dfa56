"""The engine objects a flow run needs, built once per process from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from engine.db.session import make_engine, make_sessionmaker, migrate
from engine.runtime import Runtime, publish_bundles
from engine.settings import get_settings


@dataclass(frozen=True)
class FlowContext:
    sessions: sessionmaker[Session]
    runtime: Runtime


_override: FlowContext | None = None


def use_context(context: FlowContext | None) -> None:
    """Point flows at a given database and runtime (the server and tests do this)."""
    global _override
    _override = context


@lru_cache(maxsize=1)
def _from_settings() -> FlowContext:
    engine = make_engine(get_settings().db)
    migrate(engine)
    context = FlowContext(make_sessionmaker(engine), Runtime.default())
    with context.sessions() as session:
        publish_bundles(session, context.runtime)
    return context


def flow_context() -> FlowContext:
    return _override or _from_settings()
