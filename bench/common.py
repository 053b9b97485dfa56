"""What the rows share: figures and their ratios, the machine, scratch databases."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, text

from engine.db.session import make_engine, migrate

DEFAULT_PG = os.environ.get("ONEVISIT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Figure:
    """One row's median for ours and for its peer, with how to read them."""

    key: str
    """The JSON key stem: ``<key>_ratio``, ``<key>_ours``, ``<key>_peer``."""
    label: str
    ours: float
    peer: float
    unit: str
    better: Literal["lower", "higher"]
    target: str = ""

    @property
    def ratio(self) -> float:
        """> 1: ours is better (the peer's time / ours, or our throughput / the peer's)."""
        if self.better == "lower":
            return self.peer / self.ours if self.ours else float("inf")
        return self.ours / self.peer if self.peer else float("inf")


def per_item(fn: Callable[[], int]) -> float:
    """Seconds per item of ``fn`` (which returns how many items it did)."""
    start = time.perf_counter()
    count = fn()
    return (time.perf_counter() - start) / max(count, 1)


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def versions() -> dict[str, str]:
    found = {}
    for name in ("sqlalchemy", "fastapi", "pydantic", "prefect", "SpiffWorkflow", "psycopg"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def machine() -> dict[str, object]:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


@contextlib.contextmanager
def scratch_sqlite() -> Iterator[tuple[str, Engine]]:
    """A fresh, migrated SQLite file, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="onevisit-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        migrate(engine)
        try:
            yield url, engine
        finally:
            engine.dispose()


@contextlib.contextmanager
def scratch_pg(url: str = DEFAULT_PG) -> Iterator[tuple[str, Engine]]:
    """A fresh, migrated schema on PostgreSQL, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(scoped)
    try:
        migrate(engine)
        yield scoped, engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pg_available(url: str = DEFAULT_PG) -> bool:
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 — no server: the PostgreSQL rows are skipped, and say so
        return False
