"""The work ``onevisit serve`` runs beside the API, and a record of how each part is doing.

Two parts run in their own threads:

* ``prefect``: Prefect's API server (:mod:`api.embedded_prefect`), started and owned by this
  process, restarted when it exits; or, when ``PREFECT_API_URL`` names a server, that server,
  checked from time to time;
* ``flows``: the dispatch flow (automated steps) and the deadline sweep (timers, cards), every
  few seconds once the Prefect server answers.

Requests never wait for either. :class:`Background` records each part's state (starting, up,
down, off), since when, and its last error as one line; ``/readyz``, ``/metrics`` and the
supervision dashboard read it, and every change of state is logged once, as one line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from api.embedded_prefect import PrefectServer, PrefectServerError, prefect_home, use_server

log = logging.getLogger("onevisit.background")

PARTS = ("prefect", "flows")


class PartState(StrEnum):
    OFF = "off"
    """Not run by this process (``--no-flows``)."""
    STARTING = "starting"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class PartStatus:
    """One part of the background work as last seen; ``detail`` is one line (an error, or what it did)."""

    name: str
    state: PartState
    since: datetime
    detail: str = ""
    last_ok_at: datetime | None = None


def one_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:240]}" if text else type(exc).__name__


PassObserver = Callable[[str, float, bool], None]
"""Told of every flow pass: the flow's name, its duration in seconds, and whether it succeeded."""


class Background:
    """The state of each background part; safe to read and write from any thread."""

    def __init__(self, *, parts: tuple[str, ...] = PARTS, state: PartState = PartState.STARTING) -> None:
        now = datetime.now(UTC)
        self._lock = threading.Lock()
        self._parts = {name: PartStatus(name, state, now) for name in parts}
        self._threads: list[tuple[threading.Thread, threading.Event]] = []
        self.observers: list[PassObserver] = []

    # --- state -------------------------------------------------------------------------------

    def set(self, name: str, state: PartState, detail: str = "") -> None:
        """Record a part's state; a change of state (or of error) is logged once."""
        now = datetime.now(UTC)
        with self._lock:
            old = self._parts[name]
            changed = old.state is not state or (state is PartState.DOWN and old.detail != detail)
            self._parts[name] = PartStatus(
                name, state, now if old.state is not state else old.since, detail,
                now if state is PartState.UP else old.last_ok_at,
            )
        if not changed:
            return
        if state is PartState.DOWN:
            log.error("background: %s down: %s", name, detail)
        elif state is PartState.UP:
            log.info("background: %s up%s", name, f": {detail}" if detail else "")

    def snapshot(self) -> dict[str, PartStatus]:
        with self._lock:
            return dict(self._parts)

    def ready(self) -> bool:
        """Every part that should run is up."""
        return all(p.state in (PartState.UP, PartState.OFF) for p in self.snapshot().values())

    def problems(self) -> list[PartStatus]:
        """The parts that should run and are not up (starting or down)."""
        return [p for p in self.snapshot().values() if p.state in (PartState.STARTING, PartState.DOWN)]

    def observe_pass(self, flow: str, seconds: float, ok: bool) -> None:
        for observer in self.observers:
            observer(flow, seconds, ok)

    # --- life cycle --------------------------------------------------------------------------

    def spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        """Run ``target(stop)`` in a named daemon thread; :meth:`stop` sets ``stop``."""
        stop = threading.Event()
        thread = threading.Thread(target=target, args=(stop,), name=f"onevisit-{name}", daemon=True)
        self._threads.append((thread, stop))
        thread.start()

    def stop(self, *, timeout: float = 60.0) -> None:
        """Stop the parts, the last started first (the flows before the Prefect server they use).

        The Prefect server child ends with its thread at the latest: the kernel kills it then.
        """
        deadline = time.monotonic() + timeout
        for thread, stop in reversed(self._threads):
            stop.set()
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()


def supervise_prefect(background: Background, *, data_dir: Path, startup_timeout: float,
                      external_url: str | None = None, check_every: float = 10.0) -> Callable[[threading.Event], None]:
    """The ``prefect`` part: own a Prefect server child in ``data_dir``, or check ``external_url``."""

    def external(stop: threading.Event, url: str) -> None:
        import httpx

        while not stop.is_set():
            try:
                httpx.get(f"{url.rstrip('/')}/health", timeout=10.0).raise_for_status()
                background.set("prefect", PartState.UP, f"external server {url}")
            except httpx.HTTPError as exc:
                background.set("prefect", PartState.DOWN, f"external server {url}: {one_line(exc)}")
            stop.wait(check_every)

    def owned(stop: threading.Event) -> None:
        try:
            home = prefect_home(data_dir)
        except PrefectServerError as exc:
            background.set("prefect", PartState.DOWN, str(exc))
            return
        server = PrefectServer(home, startup_timeout=startup_timeout)
        use_server(home, server.api_url)
        backoff = 5.0
        try:
            while not stop.is_set():
                background.set("prefect", PartState.STARTING, f"starting at {server.api_url}")
                try:
                    took = server.start(stop_waiting=stop.is_set)
                except (PrefectServerError, OSError) as exc:
                    if stop.is_set():
                        break
                    background.set("prefect", PartState.DOWN, f"server did not start: {exc}; retrying in {backoff:.0f} s")
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 120.0)
                    continue
                backoff = 5.0
                background.set("prefect", PartState.UP, f"{server.api_url} (started in {took:.0f} s)")
                while not stop.wait(check_every):
                    code = server.exit_code()
                    if code is not None:
                        background.set("prefect", PartState.DOWN,
                                       f"server exited with code {code}: {server.last_log_line()}; restarting")
                        break
                    if server.healthy():
                        background.set("prefect", PartState.UP, server.api_url)
                    else:
                        background.set("prefect", PartState.DOWN, f"server at {server.api_url} does not answer")
        finally:
            server.close()

    def run(stop: threading.Event) -> None:
        try:
            if external_url:
                external(stop, external_url)
            else:
                owned(stop)
        except Exception as exc:  # a bug here must still show on /readyz, not end the thread unseen
            background.set("prefect", PartState.DOWN, f"supervisor failed: {one_line(exc)}")

    return run


def run_flows(background: Background, context: Any, *, dispatch_every: float,
              sweep_every: float) -> Callable[[threading.Event], None]:
    """The ``flows`` part: :func:`flows.worker.run_worker` in this thread once the Prefect server is up.

    ``context`` is a :class:`flows.context.FlowContext` (the server's database and runtime).
    Each pass is timed for ``/metrics`` and recorded: a failed pass marks the part down with
    its one-line reason until a pass succeeds again; a pass that did something is logged.
    """

    def run(stop: threading.Event) -> None:
        from flows.worker import run_worker

        background.set("flows", PartState.STARTING, "waiting for the Prefect server")
        while background.snapshot()["prefect"].state is not PartState.UP:
            if stop.wait(0.5):
                return
        background.set("flows", PartState.UP, f"dispatch every {dispatch_every:g} s, sweep every {sweep_every:g} s")
        last = [time.monotonic(), True]  # end of the previous pass, and whether it succeeded

        def on_pass(part: str, result: Mapping[str, int] | BaseException) -> None:
            now = time.monotonic()
            # passes run back to back; after a failed one the worker waits dispatch_every first
            seconds = max(0.0, now - float(last[0]) - (0.0 if last[1] else dispatch_every))
            ok = not isinstance(result, BaseException)
            last[:] = [now, ok]
            background.observe_pass(part, seconds, ok)
            if isinstance(result, BaseException):
                background.set("flows", PartState.DOWN, f"{part} pass failed: {one_line(result)}")
                return
            background.set("flows", PartState.UP, f"last {part} pass {dict(result)} ({seconds:.1f} s)")
            if any(result.values()) and part != "limits":
                log.info("flows: %s pass %s in %.1f s", part, {k: v for k, v in result.items() if v}, seconds)

        try:
            run_worker(context, stop=stop, dispatch_every=dispatch_every, sweep_every=sweep_every, on_pass=on_pass)
        except Exception as exc:  # run_worker does not raise; if it ever does, say so on /readyz
            background.set("flows", PartState.DOWN, f"worker failed: {one_line(exc)}")

    return run
