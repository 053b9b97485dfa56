"""One Prefect server for every flow test of the run, started the way ``onevisit serve`` starts its own.

Only the tests marked ``prefect_server`` (the modules whose flows run against it) use that
server. Under pytest-xdist they form one group (``--dist loadgroup`` in pyproject.toml), so a
single worker runs them and starts the one server; the other workers never start one. The other
flow tests (`serve` processes with their own Prefect server, the distributed cluster with its
PostgreSQL-backed one, the CLI checks) run on whichever worker is free, which keeps the group,
the longest piece of the run, short.

The server is :class:`api.embedded_prefect.PrefectServer` (a child of this process that the
kernel ends with it), its home in a temporary folder. Start-up waits as long as a loaded
machine needs (no fixed 20 s), and Prefect's own ephemeral mode is switched off, so no test
can start an unsupervised server of its own. ``PREFECT_API_URL`` set from outside is used as is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.embedded_prefect import PrefectServer, client_environment, prefect_home, use_server

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
# Also for the flow tests that do not use the run's server: a flow called without one fails at
# once instead of starting an unsupervised ephemeral server of Prefect's own.
os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "false")

STARTUP_TIMEOUT = 900.0  # seconds; a loaded two-core machine has needed more than Prefect's 20


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns the group mark into the test's node id
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the run's Prefect server in one xdist group, so one worker runs them all
    and the run starts one Prefect server."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("prefect_server"):
            item.add_marker(pytest.mark.xdist_group("prefect"))


@pytest.fixture(autouse=True)
def _prefect_server_when_marked(request: pytest.FixtureRequest) -> None:
    """Start (once) and point Prefect at the run's server before a ``prefect_server`` test."""
    if request.node.get_closest_marker("prefect_server"):
        request.getfixturevalue("prefect_api")


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Prefect API URL every flow of this run talks to."""
    given = os.environ.get("PREFECT_API_URL")
    if given:
        yield given
        return
    home = prefect_home(tmp_path_factory.mktemp("prefect-data"))
    server = PrefectServer(home, startup_timeout=STARTUP_TIMEOUT)
    saved = {name: os.environ.get(name) for name in client_environment(home, server.api_url)}
    try:
        server.start()
        use_server(home, server.api_url)
        yield server.api_url
    finally:
        server.close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
