"""Intake over HTTP, closed loop: eight clients each sending ``POST /cases`` (a marriage) as soon as
the last answer came, for a fixed time, against our server and the bare FastAPI + SQLAlchemy peer
(:mod:`bench.peers.servers`), each a real uvicorn process on a loopback port with its own database.
Throughput (requests per second) and the 99th-percentile latency."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine

from bench.common import Figure, median
from bench.intake import answers
from engine.db.session import make_sessionmaker
from engine.people.tokens import issue_token
from engine.runtime import Runtime, publish_bundles

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 8


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A child uvicorn process (dies with us); waits until it answers ``/healthz``."""

    def __init__(self, which: str, db: str, *, startup_seconds: float = 120) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.peers.servers", which, "--db", db, "--port", str(self.port),
             "--parent", str(os.getpid())], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {which} server did not start")
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def closed_loop(url: str, headers: dict[str, str], *, seconds: float, counter: itertools.count[int]) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) of :data:`CLIENTS` closed-loop clients."""
    latencies: list[float] = []
    failures = [0]
    first_failure: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            while time.monotonic() < stop_at:
                with lock:
                    n = next(counter)
                applicant, form = answers(n)
                body = {"bundle_id": "marriage", "applicant": {"id": applicant, "kind": "person", "name": f"测试{n}"},
                        "answers": form}
                start = time.perf_counter()
                response = http.post("/cases", json=body)
                took = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(took)
                    if response.status_code != 201:
                        failures[0] += 1
                        if not first_failure:
                            first_failure.append(f"{response.status_code} {response.text[:300]}")
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    if failures[0]:
        raise RuntimeError(f"{failures[0]} of {len(latencies)} intakes failed at {url}; the first: {first_failure[0]}")
    ordered = sorted(latencies)
    return len(latencies) / elapsed, ordered[max(0, int(0.99 * len(ordered)) - 1)]


def open_loop(url: str, headers: dict[str, str], *, rate: float, seconds: float,
              counter: itertools.count[int]) -> tuple[float, float, float]:
    """Requests sent at a fixed ``rate`` whatever the answers (an open loop, as citizens arrive):
    the p99 latency (ms) of those answered 201, the share shed (503) and the share that failed
    otherwise or timed out (30 s)."""
    total = max(1, int(rate * seconds))
    latencies: list[float] = []
    shed = [0]
    failed = [0]
    lock = threading.Lock()
    began = time.monotonic()

    def send(i: int) -> None:
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        with lock:
            n = next(counter)
        applicant, form = answers(n)
        body = {"bundle_id": "marriage", "applicant": {"id": applicant, "kind": "person", "name": f"测试{n}"},
                "answers": form}
        start = time.perf_counter()
        try:
            response = httpx.post(f"{url}/cases", json=body, headers=headers, timeout=30)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        took = (time.perf_counter() - start) * 1000
        with lock:
            if status == 201:
                latencies.append(took)
            elif status == 503:
                shed[0] += 1
            else:
                failed[0] += 1

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=96) as pool:
        list(pool.map(send, range(total)))
    ordered = sorted(latencies) or [30_000.0]
    return ordered[max(0, int(0.99 * len(ordered)) - 1)], shed[0] / total, failed[0] / total


def run(engine: Engine, *, backend: str, url: str, peer_url: str, seconds: float, rounds: int) -> list[Figure]:
    """Our server on ``url`` (whose schema ``engine`` reaches: it seeds the bundles and a clerk's token)
    beside the bare server on ``peer_url``, closed loop then open loop, ``rounds`` times."""
    with make_sessionmaker(engine)() as session:
        publish_bundles(session, Runtime.default())
        token = issue_token(session, role="clerk", region="430102", label="bench", now=datetime.now(UTC))
    counter = itertools.count(10_000)
    ours, peer = Server("ours", url), Server("bare", peer_url)
    try:
        throughput: tuple[list[float], list[float]] = ([], [])
        p99: tuple[list[float], list[float]] = ([], [])
        for _ in range(rounds):
            rate, tail = closed_loop(ours.url, {"Authorization": f"Bearer {token}"}, seconds=seconds, counter=counter)
            throughput[0].append(rate)
            p99[0].append(tail)
            rate, tail = closed_loop(peer.url, {}, seconds=seconds, counter=counter)
            throughput[1].append(rate)
            p99[1].append(tail)
        # At half the peer's maximum, sent whatever the answers: ours must shed or keep up, never seize up.
        rate = median(throughput[1]) / 2
        loaded: tuple[list[float], list[float]] = ([], [])
        lost: list[float] = []
        sheds: list[float] = []
        for _ in range(rounds):
            tail, shed, failed = open_loop(ours.url, {"Authorization": f"Bearer {token}"}, rate=rate,
                                           seconds=seconds, counter=counter)
            loaded[0].append(tail)
            lost.append(failed)
            sheds.append(shed)
            loaded[1].append(open_loop(peer.url, {}, rate=rate, seconds=seconds, counter=counter)[0])
    finally:
        ours.stop()
        peer.stop()
    return [
        Figure(key=f"intake_http_fixed_rate_p99_{backend}",
               label=f"intake p99 at {rate:.0f} req/s sent open-loop (half the peer's maximum) ({backend})",
               ours=median(loaded[0]), peer=median(loaded[1]), unit="ms", better="lower",
               target=f"p99 ≤ 2× the peer's; ours shed {median(sheds):.1%} (503), failed or timed out {max(lost):.1%}"),
        Figure(key=f"intake_http_{backend}", label=f"intake POST /cases, {CLIENTS} clients closed loop ({backend})",
               ours=median(throughput[0]), peer=median(throughput[1]), unit="req/s", better="higher",
               target="≥ 0.5× the bare peer's throughput"),
        Figure(key=f"intake_http_p99_{backend}", label=f"intake p99 latency, {CLIENTS} clients ({backend})",
               ours=median(p99[0]), peer=median(p99[1]), unit="ms", better="lower", target="p99 ≤ 2× the peer's"),
    ]
