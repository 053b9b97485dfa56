"""Memory of `onevisit serve`: idle, and after 2,000 intakes over HTTP (figures, not a timed test).

    .venv/bin/python bench/serve_memory.py [--intakes 2000] [--clients 4] [--bundle marriage]

Starts a real ``onevisit serve`` (demo data, a fresh SQLite database in a temporary folder, its
own Prefect server child) on a loopback port, waits for ``/readyz``, and prints the resident
memory (RSS, and USS: what the process alone holds) of ``serve`` and of its Prefect server:
idle, right after the intakes, and once the background flows have drained the outbox. Then it
stops ``serve`` with SIGTERM and checks that no Prefect process is left.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.demo import load_demo_data  # noqa: E402

MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory(process: psutil.Process) -> tuple[float, float]:
    """(RSS, USS) in MB."""
    info = process.memory_full_info()
    return info.rss / MB, info.uss / MB


def snapshot(serve: psutil.Process) -> dict[str, tuple[float, float]]:
    found = {"serve": memory(serve)}
    for child in serve.children(recursive=True):
        if "api.embedded_prefect" in " ".join(child.cmdline()):
            found["prefect server"] = memory(child)
    return found


def wait_for(what: str, check: object, *, within: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with code {process.returncode} while waiting for {what}")
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what}: not within {within:.0f} s")


def outbox_depth(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("onevisit_outbox_depth "):
            return float(line.split()[1])
    return -1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intakes", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--bundle", default="marriage", help="bundle of every intake (a demo scenario)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="onevisit-bench-serve-"))
    port = free_port()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PREFECT_", "ONEVISIT_"))}
    env["ONEVISIT_DB"] = f"sqlite:///{folder / 'db' / 'onevisit.db'}"
    script = Path(sys.executable).with_name("onevisit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]
    log = open(folder / "serve.log", "wb")
    process = subprocess.Popen([*command, "serve", "--port", str(port)], cwd=folder, env=env,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    serve = psutil.Process(process.pid)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    alive: list[psutil.Process] = []
    refusals: list[str] = []
    try:
        started = time.monotonic()
        wait_for("/readyz", lambda: client.get("/readyz").status_code == 200, within=900, process=process)
        print(f"serve ready in {time.monotonic() - started:.0f} s (demo data loaded, Prefect server up)")
        time.sleep(10)  # let the first flow passes settle
        idle = snapshot(serve)

        tokens = (folder / "db" / "demo-tokens.txt").read_text(encoding="utf-8").splitlines()
        clerk = next(line.rsplit(None, 1)[1] for line in tokens if line.startswith("clerk"))
        scenario = load_demo_data().scenarios[args.bundle]
        headers = {"Authorization": f"Bearer {clerk}"}

        def intake(n: int) -> int:
            body = {"bundle_id": args.bundle, "applicant": {"id": scenario["applicant"]["id"], "kind": "person",
                                                             "name": scenario["applicant"]["name"]},
                    "answers": scenario["answers"]}
            response = client.post("/cases", json=body, headers=headers)
            if response.status_code != 201 and not refusals:
                refusals.append(response.text[:300])
            return response.status_code

        began = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            statuses = list(pool.map(intake, range(args.intakes)))
        took = time.monotonic() - began
        refused = [s for s in statuses if s != 201]
        after = snapshot(serve)
        wait_for("the outbox to drain", lambda: outbox_depth(client) == 0, within=900, process=process)
        time.sleep(5)
        settled = snapshot(serve)
    finally:
        client.close()
        if process.poll() is None:
            family = serve.children(recursive=True)
            process.send_signal(signal.SIGTERM)
            process.wait(180)
            _, alive = psutil.wait_procs(family, timeout=60)
            for child in alive:
                child.kill()
        log.close()

    print(f"{args.intakes} intakes ({args.bundle}, {args.clients} clients) in {took:.1f} s: "
          f"{args.intakes / took:.0f}/s, {len(refused)} not 201 {refusals[:1]}")
    print(f"{'process':16s} {'idle RSS':>9s} {'USS':>7s} {'after RSS':>10s} {'USS':>7s} {'settled RSS':>12s} {'USS':>7s}")
    for name in idle:
        (ir, iu), (ar, au), (sr, su) = idle[name], after.get(name, (0, 0)), settled.get(name, (0, 0))
        print(f"{name:16s} {ir:8.0f}M {iu:6.0f}M {ar:9.0f}M {au:6.0f}M {sr:11.0f}M {su:6.0f}M")
    print("no Prefect process left after SIGTERM" if not alive else f"left running (killed): {alive}")
    return 1 if refused or alive else 0


if __name__ == "__main__":
    sys.exit(main())
