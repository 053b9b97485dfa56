"""Real processes for the distributed tests and the Prefect benchmark: a PostgreSQL-backed
``prefect server``, ``onevisit`` workers and API replicas, each in its own session (process
group) so that a kill reaches its children, and every one of them is stopped by :meth:`close`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.engine import URL

from engine.db.session import make_engine

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

TEST_BUNDLE = """\
id: dist_demo
version: 1
name: {zh: 分布式调度测试事项, en: Distributed dispatch test bundle}
applicant_kind: person
time_limit: {working_days: 10}
fields:
  - {field: groom_name}
  - {field: groom_id_number}
steps:
  - {id: identity_check, item: 11-JHDJ, kind: automated, handler: data_check,
     fields: [groom_name, groom_id_number], time_limit: {working_days: 1}}
  - {id: birth_record, item: 23-SYDJ, kind: automated, handler: issue_result, time_limit: {working_days: 1}}
  - {id: household_update, item: 09-HYZK, kind: automated, handler: publish_notice,
     depends_on: [identity_check, birth_record], time_limit: {working_days: 1}}
  - {id: pension_record, item: 14-YLZT, kind: automated, handler: issue_result,
     depends_on: [household_update], time_limit: {working_days: 1}}
  - {id: review, item: 36-ZZCB, depends_on: [pension_record], time_limit: {working_days: 3}}
"""
"""Four automated steps in four departments, with a join (household_update) and a chain."""
AUTOMATED_PER_CASE = 4


def pg_server_url() -> URL | None:
    """The PostgreSQL server of the test suite (``ONEVISIT_TEST_PG`` or the default), if it answers."""
    url = make_url(os.environ.get("ONEVISIT_TEST_PG") or DEFAULT_PG).set(database="postgres")
    try:
        engine = make_engine(url.render_as_string(hide_password=False), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return url
    except Exception:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_test_bundles(folder: Path) -> Path:
    """A bundles folder: the real catalog and the distributed test bundle."""
    import shutil

    shutil.copytree(ROOT / "bundles" / "catalog", folder / "catalog")
    (folder / "dist_demo.yaml").write_text(TEST_BUNDLE, encoding="utf-8")
    return folder


class Cluster:
    """Processes and databases of one test run; :meth:`close` stops and drops all of them."""

    def __init__(self, workdir: Path, server: URL) -> None:
        self.workdir = workdir
        self.server = server
        self.suffix = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, IO[bytes]] = {}
        self.databases: list[str] = []
        self.prefect_api: str | None = None

    # --- databases -------------------------------------------------------------------------

    def _admin(self, statement: str) -> None:
        engine = make_engine(self.server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()

    def create_database(self, prefix: str, *, driver: str = "postgresql+psycopg") -> str:
        name = f"{prefix}_{self.suffix}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.server.set(drivername=driver, database=name).render_as_string(hide_password=False)

    # --- processes -------------------------------------------------------------------------

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in close()
        self.logs[name] = log
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=self.workdir, start_new_session=True)
        self.processes[name] = process
        return process

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.workdir / f"{name}.log"
        text_ = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name} ---\n" + "\n".join(text_.splitlines()[-lines:])

    def wait_http(self, name: str, url: str, *, deadline_seconds: float = 300.0) -> None:
        """Wait for ``url`` to answer 200 while ``name`` runs; a generous deadline, not a race."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}\n{self.tail(name)}")
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{name} did not answer {url} within {deadline_seconds:.0f} s\n{self.tail(name)}")

    def check_running(self, *names: str) -> None:
        """Fail at once, with its log, if one of ``names`` exited."""
        for name in names:
            code = self.processes[name].poll()
            if code is not None:
                raise RuntimeError(f"{name} exited with {code}\n{self.tail(name)}")

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the whole process group of ``name`` (the worker and its flow-run processes)."""
        try:
            os.killpg(self.processes[name].pid, sig)
        except ProcessLookupError:
            pass

    @staticmethod
    def _running_members(pgid: int) -> list[int]:
        """Processes of group ``pgid`` that still run (zombies waiting to be reaped do not)."""
        proc = Path("/proc")
        if not proc.is_dir():  # not Linux: ask the kernel about the group as a whole
            try:
                os.killpg(pgid, 0)
                return [pgid]
            except (ProcessLookupError, PermissionError):
                return []
        members = []
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
        return members

    def alive(self) -> list[str]:
        """Names whose process group still has a running member."""
        return [name for name, process in self.processes.items() if self._running_members(process.pid)]

    def close(self) -> list[str]:
        """Stop every process group (TERM, then KILL), drop the databases; names that outlived it all."""
        # Newest first: workers and replicas stop while the Prefect server they talk to still answers.
        for name in reversed(list(self.processes)):
            self.kill(name, signal.SIGTERM)
            try:
                self.processes[name].wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        for name in self.processes:
            self.kill(name, signal.SIGKILL)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 30  # a SIGKILLed group's children take a moment to go
        while self.alive() and time.monotonic() < deadline:
            for name in self.alive():
                self.kill(name, signal.SIGKILL)
            time.sleep(0.2)
        left = self.alive()
        for log in self.logs.values():
            log.close()
        for name in self.databases:
            try:
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception:  # noqa: BLE001 - cleaning up; the suffix makes leftovers harmless
                pass
        return left

    # --- the pieces ------------------------------------------------------------------------

    def base_env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.workdir / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        if self.prefect_api:
            env["PREFECT_API_URL"] = self.prefect_api
        return env

    def prefect_server(self, *, deadline_seconds: float = 300.0) -> str:
        """Start ``prefect server start`` on a fresh PostgreSQL database; its API URL."""
        database = self.create_database("prefect_test", driver="postgresql+asyncpg")
        port = free_port()
        env = self.base_env(PREFECT_API_DATABASE_CONNECTION_URL=database)
        env.pop("PREFECT_API_URL", None)
        self.start("prefect-server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                      "--port", str(port)], env)
        api = f"http://127.0.0.1:{port}/api"
        self.wait_http("prefect-server", f"{api}/health", deadline_seconds=deadline_seconds)
        self.prefect_api = api
        return api

    def onevisit(self, *args: str, env: dict[str, str]) -> str:
        """Run one ``onevisit`` command to completion; its output."""
        done = subprocess.run([str(BIN / "onevisit"), *args], env=env, cwd=self.workdir, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"onevisit {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def worker(self, name: str, env: dict[str, str], *options: str) -> subprocess.Popen[bytes]:
        return self.start(name, [str(BIN / "onevisit"), "worker", "--name", name, *options], env)

    def api_replica(self, name: str, env: dict[str, str]) -> str:
        port = free_port()
        self.start(name, [str(BIN / "onevisit"), "serve", "--no-flows", "--no-demo", "--host", "127.0.0.1",
                          "--port", str(port)], env)
        base = f"http://127.0.0.1:{port}"
        self.wait_http(name, f"{base}/openapi.json")
        return base
