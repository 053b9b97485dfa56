"""Uploads: our POST /uploads beside a bare FastAPI endpoint taking the same multipart upload
(figures, not a timed test).

    .venv/bin/python bench/upload.py [--clients 4] [--requests 48] [--big-requests 12] [--rounds 3]

Both servers run under uvicorn on loopback ports, each in its own subprocess (this script with
``--serve``). Ours is the whole API over a fresh SQLite database with the local file store in a
temporary folder: the body limit and the bearer token decided before the body is read, the
multipart parse, each part read up to its material's limit, inspection from the content (type,
pages, bomb checks), the content-addressed store (temp file, fsync, hard link) and the staged
row's commit. The peer receives the same form (``bundle_id``, ``material``, ``files``), reads each
part and writes its bytes to a new file with fsync, nothing else.

A client sends PNG files of about 1 MB and 10 MB (random pixels, so nothing compresses; each
request's bytes differ, so the content-addressed store never skips a write). ``--clients``
threads each hold one connection. Every round runs both servers at each size, the order of the
two alternating from round to round; the figures are the medians over the rounds: throughput
(MB/s of file bytes, requests/s) and latency p50/p99, with the ratio ours/peer.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import FastAPI, File, Form, UploadFile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MB = 1_000_000
MATERIAL = "新生儿出生医学记录"
BUNDLE = "newborn"


# --- the two servers (run with --serve in a subprocess) ---------------------------------------


def serve_ours(port: int, db_url: str, files_dir: Path) -> None:
    import uvicorn

    from api.app import create_app
    from engine.db.session import make_engine, make_sessionmaker
    from engine.documents.storage import LocalFileStore
    from engine.runtime import Runtime
    from engine.spec.loader import load_registry
    from engine.time.calendar import WorkingCalendar

    runtime = Runtime(registry=load_registry(), calendar=WorkingCalendar.default(), files=LocalFileStore(files_dir))
    app = create_app(sessions=make_sessionmaker(make_engine(db_url)), runtime=runtime)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_peer(port: int, files_dir: Path) -> None:
    import uvicorn

    app = FastAPI()

    @app.post("/uploads", status_code=201)
    def upload(bundle_id: Annotated[str, Form()], material: Annotated[str, Form()],
               files: Annotated[list[UploadFile], File()]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for part in files:
            data = part.file.read()
            path = files_dir / uuid.uuid4().hex
            with path.open("wb") as target:
                target.write(data)
                target.flush()
                os.fsync(target.fileno())
            out.append({"id": path.name, "material": material, "filename": part.filename, "size": len(data)})
        return out

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- setting up --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_database(db_url: str) -> str:
    """A migrated database with the bundles published; returns a clerk's bearer token."""
    from datetime import UTC, datetime

    from engine.db.session import make_engine, make_sessionmaker, migrate
    from engine.people.tokens import issue_token
    from engine.runtime import Runtime, publish_bundles
    from engine.spec.loader import load_registry
    from engine.time.calendar import WorkingCalendar

    engine = make_engine(db_url)
    migrate(engine)
    runtime = Runtime(registry=load_registry(), calendar=WorkingCalendar.default())
    with make_sessionmaker(engine)() as session:
        publish_bundles(session, runtime)
        token = issue_token(session, role="clerk", region="430102", label="bench-clerk", now=datetime.now(UTC))
    engine.dispose()
    return token


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, *argv, "--port", str(port)], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{argv[:2]} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{argv[:2]} did not listen on {port} within 60 s")


# --- the files ---------------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def noise_png(size: int) -> tuple[bytes, bytes]:
    """A PNG of random pixels of about ``size`` bytes, split after its header chunk: (head, rest),
    so a unique text chunk can go in between (:func:`unique`)."""
    from PIL import Image

    side = int((size / 3) ** 0.5)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG", compress_level=1)
    data = out.getvalue()
    ihdr_end = 8 + 25  # signature, IHDR (length, type, 13 bytes, CRC)
    return data[:ihdr_end], data[ihdr_end:]


def unique(png: tuple[bytes, bytes]) -> bytes:
    """The PNG with a text chunk of its own: other bytes, another SHA-256, the same image."""
    head, rest = png
    return head + _chunk(b"tEXt", b"nonce\0" + uuid.uuid4().hex.encode()) + rest


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Run:
    mb_per_s: float
    req_per_s: float
    p50_ms: float
    p99_ms: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(url: str, token: str, png: tuple[bytes, bytes], *, clients: int, requests: int) -> Run:
    """``requests`` uploads of one file each, spread over ``clients`` threads, one connection each."""
    bodies = [unique(png) for _ in range(requests)]
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    shares = [bodies[i::clients] for i in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def client(mine: list[bytes]) -> None:
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
            http.get("/openapi.json")  # connect (and build the document) before the clock starts
            barrier.wait()
            for data in mine:
                began = time.perf_counter()
                answer = http.post("/uploads", data={"bundle_id": BUNDLE, "material": MATERIAL},
                                   files=[("files", ("scan.png", data, "image/png"))])
                took = time.perf_counter() - began
                with lock:
                    latencies.append(took)
                    if answer.status_code != 201:
                        failures.append(f"{answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{url}: {len(failures)} uploads failed, first: {failures[0]}")
    sent = sum(len(b) for b in bodies)
    return Run(mb_per_s=sent / MB / wall, req_per_s=requests / wall, p50_ms=percentile(latencies, 0.5) * 1000,
               p99_ms=percentile(latencies, 0.99) * 1000)


def medians(runs: list[Run]) -> Run:
    return Run(*(statistics.median(getattr(r, name) for r in runs) for name in ("mb_per_s", "req_per_s", "p50_ms",
                                                                                 "p99_ms")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=48, help="uploads of the 1 MB file per round and server")
    parser.add_argument("--big-requests", type=int, default=12, help="uploads of the 10 MB file per round and server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=["ours", "peer"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--db")
    parser.add_argument("--files", type=Path)
    args = parser.parse_args()
    if args.serve == "ours":
        serve_ours(args.port, args.db, args.files)
        return
    if args.serve == "peer":
        serve_peer(args.port, args.files)
        return

    with tempfile.TemporaryDirectory(prefix="onevisit-bench-upload-") as folder:
        root = Path(folder)
        db_url = f"sqlite:///{root / 'onevisit.db'}"
        token = prepare_database(db_url)
        for name in ("ours-files", "peer-files"):
            (root / name).mkdir()
        ours_port, peer_port = free_port(), free_port()
        servers = [start(["--serve", "ours", "--db", db_url, "--files", str(root / "ours-files")], ours_port),
                   start(["--serve", "peer", "--files", str(root / "peer-files")], peer_port)]
        try:
            urls = {"ours": f"http://127.0.0.1:{ours_port}", "peer": f"http://127.0.0.1:{peer_port}"}
            files = {"1 MB": (noise_png(1 * MB), args.requests), "10 MB": (noise_png(10 * MB), args.big_requests)}
            print("files: " + ", ".join(f"{label} = {len(unique(png)):,} bytes" for label, (png, _) in files.items())
                  + f"; {args.clients} clients, {args.rounds} rounds, medians")
            results: dict[tuple[str, str], list[Run]] = {}
            for round_no in range(args.rounds):
                order = ["ours", "peer"] if round_no % 2 == 0 else ["peer", "ours"]
                for label, (png, count) in files.items():
                    for who in order:
                        results.setdefault((label, who), []).append(
                            run(urls[who], token, png, clients=args.clients, requests=count))
            for label in files:
                ours, peer = medians(results[(label, "ours")]), medians(results[(label, "peer")])
                print(f"\n{label} files")
                for name, unit in (("mb_per_s", "MB/s"), ("req_per_s", "req/s"), ("p50_ms", "ms p50"),
                                   ("p99_ms", "ms p99")):
                    a, b = getattr(ours, name), getattr(peer, name)
                    print(f"  {unit:7} ours {a:9.1f}   peer {b:9.1f}   ours/peer {a / b:5.2f}")
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()


if __name__ == "__main__":
    main()
