"""The engine objects a flow run needs, built once per process from settings.

A flow process never migrates the database nor publishes bundles: several workers start at
once, a migration is an operator's step (``onevisit db upgrade``), and a case's bundle version
was published before the case could be accepted. It checks that the schema is the one this
code expects and otherwise stops with one line saying what to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from engine.db.session import make_engine, make_sessionmaker, require_current_schema
from engine.runtime import Runtime
from engine.settings import get_settings


@dataclass(frozen=True)
class FlowContext:
    sessions: sessionmaker[Session]
    runtime: Runtime


_override: FlowContext | None = None


def use_context(context: FlowContext | None) -> FlowContext | None:
    """Point flows run in this process at a given database and runtime (embedded mode, tests);
    returns the context used until now (None: the settings')."""
    global _override
    previous, _override = _override, context
    return previous


@lru_cache(maxsize=1)
def _from_settings() -> FlowContext:
    engine = make_engine(get_settings().db)
    require_current_schema(engine)  # raises SchemaOutOfDate: "… run `onevisit db upgrade` first"
    return FlowContext(make_sessionmaker(engine), Runtime.default())


def flow_context() -> FlowContext:
    """The context set by :func:`use_context`, else one built from the ``ONEVISIT_*`` settings."""
    return _override or _from_settings()
