"""`onevisit serve` as a real process: its Prefect server never outlives it, and a background
failure shows on /readyz and the dashboard while the API answers.

Each server runs from a folder without ``data/`` with ``ONEVISIT_DB`` pointing at a database in
another folder (a fresh clone, as a new user runs it), on a loopback port. The three signal cases
start together and each waits for ``/readyz`` with a deadline of minutes: a loaded machine is
slow, and nothing here depends on Prefect starting within a fixed short time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from api.demo import load_demo_data, synthetic_company

# One worker runs the whole module: the module-scoped ``serves`` (three servers) starts once.
pytestmark = pytest.mark.xdist_group("serve_signals")

READY_WITHIN = 900.0  # seconds: a bound for a loaded two-core machine, not an expected time
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    url: str
    root: Path

    @property
    def db_dir(self) -> Path:
        return self.root / "db"

    def token(self, role: str) -> str:
        """A demo token of ``role``, from the file `serve` writes next to the database."""
        lines = (self.db_dir / "demo-tokens.txt").read_text(encoding="utf-8").splitlines()
        return next(line.rsplit(None, 1)[1] for line in lines if line.startswith(role))

    def log(self) -> str:
        return (self.root / "serve.log").read_text(errors="replace")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30, **kwargs)

    def wait_until(self, what: str, check: Any, within: float = READY_WITHIN) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited ({self.process.returncode}):\n{self.log()}"
            try:
                found = check()
                if found:
                    return found
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{what} not within {within:.0f} s:\n{self.log()}")

    def descendants(self) -> list[psutil.Process]:
        children: list[psutil.Process] = psutil.Process(self.process.pid).children(recursive=True)
        return children


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(root: Path, *, extra_env: dict[str, str] | None = None) -> Serve:
    """``onevisit serve`` with its database in ``root/db`` and its working folder ``root/cwd``."""
    (root / "cwd").mkdir(parents=True)
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PREFECT_", "ONEVISIT_"))}
    env |= {"ONEVISIT_DB": f"sqlite:///{root / 'db' / 'onevisit.db'}", "ONEVISIT_DISPATCH_EVERY": "1",
            "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    script = Path(sys.executable).with_name("onevisit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]
    with open(root / "serve.log", "wb") as log:
        process = subprocess.Popen([*command, "serve", "--port", str(port)], cwd=root / "cwd", env=env,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return Serve(process, f"http://127.0.0.1:{port}", root)


def stop_all(serves: list[Serve]) -> None:
    for serve in serves:
        if serve.process.poll() is None:
            serve.process.kill()
            serve.process.wait(60)


def prefect_children(serve: Serve) -> list[psutil.Process]:
    return [p for p in serve.descendants() if "api.embedded_prefect" in " ".join(p.cmdline())]


def leftovers(pid: int) -> list[str]:
    """Prefect server processes started for the serve process ``pid`` that are still running."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if "api.embedded_prefect" in cmdline and str(pid) in cmdline and process.info["status"] != "zombie":
            found.append(f"{process.info['pid']}: {' '.join(cmdline)}")
    return found


@pytest.fixture(scope="module")
def serves(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Serve]]:
    """One ready `serve` per signal, started together."""
    started = {name: start_serve(tmp_path_factory.mktemp(f"serve-{name.lower()}")) for name in SIGNALS}
    try:
        for serve in started.values():
            serve.wait_until("/readyz 200", lambda serve=serve: serve.get("/readyz").status_code == 200)
        yield started
    finally:
        stop_all(list(started.values()))


def test_automated_steps_run_with_the_database_in_another_folder(serves: dict[str, Serve]) -> None:
    """The issue's first complaint: every flow pass failed, so no automated step ever ran."""
    serve = serves["SIGINT"]  # before the signal tests stop it
    clerk = {"Authorization": f"Bearer {serve.token('clerk')}"}
    scenario = load_demo_data().scenarios["policy_benefit"]
    created = httpx.post(f"{serve.url}/cases", headers=clerk, timeout=60, json={
        "bundle_id": "policy_benefit",
        "applicant": {"id": synthetic_company(1), "kind": "enterprise", "name": "示例科技有限公司"},
        "answers": scenario["answers"],
    })
    assert created.status_code == 201, created.text

    def done() -> bool:
        steps: list[dict[str, str]] = serve.get(f"/cases/{created.json()['case_id']}", headers=clerk).json()["steps"]
        return sum(step["state"] == "done" for step in steps) >= 8  # the eight data-sharing checks

    serve.wait_until("the automated steps to run", done, within=600)
    assert 'onevisit_background_up{part="flows",state="up"} 1.0' in serve.get("/metrics").text


@pytest.mark.parametrize("name", list(SIGNALS))
def test_no_prefect_process_outlives_serve(serves: dict[str, Serve], name: str) -> None:
    serve = serves[name]
    ready = serve.get("/readyz").json()
    assert {part: ready["parts"][part]["state"] for part in ("database", "prefect", "flows")} == {
        "database": "up", "prefect": "up", "flows": "up"}
    # Prefect's home is next to the database, not in the working folder
    assert (serve.db_dir / "prefect" / "prefect.db").exists() and not (serve.root / "cwd" / "data").exists()
    children = prefect_children(serve)
    assert len(children) == 1, [p.cmdline() for p in serve.descendants()]
    family = serve.descendants()
    serve.process.send_signal(SIGNALS[name])
    code = serve.process.wait(timeout=180)
    if name != "SIGKILL":
        assert code == 0, serve.log()
        assert "Traceback" not in serve.log()
    gone, alive = psutil.wait_procs(family, timeout=60)
    assert not alive, [p.cmdline() for p in alive]
    assert leftovers(serve.process.pid) == []


def test_a_prefect_server_that_cannot_start_shows_on_readyz_and_the_dashboard(tmp_path: Path) -> None:
    # Prefect's own database is unreachable: its server exits during start-up, again on every retry
    serve = start_serve(tmp_path / "broken", extra_env={
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://nobody@127.0.0.1:9/none",
        "ONEVISIT_LOG_FORMAT": "json"})
    try:
        body = serve.wait_until("/readyz naming the Prefect server down", lambda: (
            (r := serve.get("/readyz")).status_code == 503 and r.json()["parts"]["prefect"]["state"] == "down"
            and r.json()))
        assert body["status"] == "not_ready" and body["parts"]["database"]["state"] == "up"
        assert body["parts"]["prefect"]["detail"].startswith("server did not start: exited with code")
        assert body["parts"]["flows"]["state"] == "starting"
        assert serve.get("/healthz").status_code == 200
        supervisor = serve.token("supervisor")
        page = serve.get("/ui/supervision", headers={"Authorization": f"Bearer {supervisor}"})
        assert page.status_code == 200 and "后台任务未运行" in page.text and "exited with code" in page.text
        assert serve.get("/bundles").status_code in (200, 401)  # the API answers
        cases = serve.get("/supervision/stats", headers={"Authorization": f"Bearer {supervisor}"})
        assert cases.status_code == 200
        events = [json.loads(line) for line in serve.log().splitlines() if line.startswith("{")]
        down = [e for e in events if e["message"].startswith("background: prefect down: server did not start")]
        assert down and down[0]["level"] == "ERROR" and "\n" not in down[0]["message"]  # why, in one line
        assert "Traceback" not in serve.log()
        serve.process.send_signal(signal.SIGTERM)
        assert serve.process.wait(timeout=180) == 0
        assert leftovers(serve.process.pid) == []
    finally:
        stop_all([serve])
