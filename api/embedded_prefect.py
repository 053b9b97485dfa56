"""Prefect's API server as a child process of ``onevisit serve`` that never outlives it.

Prefect's own ephemeral mode starts a server subprocess on the first flow call, gives it a
fixed start-up time, picks a random port (two servers can race for it), and leaves it running
when the parent is killed. Embedded mode owns that server instead:

* the listening socket is bound here, once, on a free loopback port and handed to the child
  (``uvicorn`` serves an inherited socket): no port race, and a restarted child keeps the URL;
* the child is Prefect's own app (``prefect.server.api.server:create_app``, its UI off, only
  the services an ephemeral server runs), with ``PREFECT_HOME`` in the engine's data folder;
* on Linux the child asks the kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) to be killed when
  the thread that started it ends, so SIGKILL of ``serve`` takes it down too; it runs in its
  own process group, which :meth:`PrefectServer.stop` terminates as a whole;
* start-up waits as long as ``ONEVISIT_PREFECT_STARTUP_TIMEOUT`` allows (minutes on a loaded
  machine) and the caller retries a failed start.

``python -m api.embedded_prefect --fd N --parent PID`` is the child's entry point.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LOG_FILE = "server.log"
ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*")  # a traceback's last line


class PrefectServerError(RuntimeError):
    """The Prefect server could not be started or stopped answering; the message is one line."""


def prefect_home(data_dir: Path) -> Path:
    """Prefect's home inside the engine's data folder, created (with the folder) if missing."""
    home = data_dir / "prefect"
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PrefectServerError(f"cannot use {home} as PREFECT_HOME: {exc.strerror or exc}") from None
    return home


def client_environment(home: Path, api_url: str) -> dict[str, str]:
    """The Prefect settings of the process that runs the flows against this server."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        # Never let Prefect start a server of its own behind our back (it would not be supervised).
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def use_server(home: Path, api_url: str) -> None:
    """Point this process's Prefect client at the server (environment and, if loaded, Prefect's settings)."""
    os.environ.update(client_environment(home, api_url))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if "prefect.context" in sys.modules:  # settings are read once at import; re-read them
        import prefect.context

        prefect.context.refresh_global_settings_context()


class PrefectServer:
    """One Prefect API server child bound to a socket of this process.

    Call :meth:`start` and :meth:`stop` from one long-lived thread: the kernel kills the child
    when the thread that started it ends (that is how SIGKILL of the parent reaches it).
    """

    def __init__(self, home: Path, *, startup_timeout: float, log: Callable[[str], None] = lambda line: None) -> None:
        self.home = home
        self.startup_timeout = startup_timeout
        self.log = log
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self._socket.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None
        self._log_from = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self, *, stop_waiting: Callable[[], bool] = lambda: False) -> float:
        """Start the child and wait until it answers ``/api/health``; the seconds it took.

        Raises :class:`PrefectServerError` (after stopping the child) when it exits or does not
        answer within ``startup_timeout`` seconds, or when ``stop_waiting()`` becomes true.
        """
        self.stop()
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT__SERVER_EPHEMERAL": "1",  # the services an ephemeral server runs; flows are called directly
            "PREFECT__SERVER_FINAL": "1",
        }
        env.pop("PREFECT_API_URL", None)
        started = time.monotonic()
        with open(self.home / LOG_FILE, "ab") as output:
            self._log_from = output.tell()  # this start's lines only
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.embedded_prefect", "--fd", str(self._socket.fileno()),
                 "--parent", str(os.getpid())],
                pass_fds=(self._socket.fileno(),), stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                env=env, start_new_session=True,
            )
        with httpx.Client(timeout=5.0) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    self.process = None
                    raise PrefectServerError(f"exited with code {code} while starting: {self.last_log_line()}")
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                waited = time.monotonic() - started
                if waited > self.startup_timeout or stop_waiting():
                    self.stop()
                    reason = "stopped" if stop_waiting() else f"did not answer within {self.startup_timeout:.0f} s"
                    raise PrefectServerError(f"{reason} (see {self.home / LOG_FILE})")
                time.sleep(0.5)

    def exit_code(self) -> int | None:
        """None while the child runs (or was never started), else its exit code."""
        return None if self.process is None else self.process.poll()

    def healthy(self) -> bool:
        """Whether the server answers its health check now."""
        try:
            return httpx.get(f"{self.api_url}/health", timeout=10.0).status_code == 200
        except httpx.HTTPError:
            return False

    def last_log_line(self) -> str:
        """The child's last error line (else its last line), shortened: why it stopped, usually."""
        try:
            with open(self.home / LOG_FILE, "rb") as log:
                log.seek(self._log_from)
                lines = [line.strip() for line in log.read().decode(errors="replace").splitlines()]
        except OSError:
            return "no log"
        errors = [line for line in lines if ERROR_LINE.match(line)]
        last = errors[-1] if errors else next((line for line in reversed(lines) if line), "no output")
        return last[:300]

    def stop(self, *, grace: float = 10.0) -> None:
        """Terminate the child's process group; kill it if it has not ended after ``grace`` seconds."""
        process, self.process = self.process, None
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # anything the server started in its group
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Stop the child and release the port."""
        self.stop()
        self._socket.close()


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent thread ends; exit if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the request took effect
        sys.exit(0)


def main(argv: Sequence[str] | None = None) -> None:
    """The child: Prefect's API app on the inherited socket, bound to the parent's life."""
    parser = argparse.ArgumentParser(prog="python -m api.embedded_prefect")
    parser.add_argument("--fd", type=int, required=True, help="listening socket inherited from the parent")
    parser.add_argument("--parent", type=int, required=True, help="pid of the parent; this process dies with it")
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    import uvicorn

    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config("prefect.server.api.server:create_app", factory=True, lifespan="on",
                            log_level="error", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
