"""A real S3-compatible server for the tests: moto's standalone server (``moto[server]``), run
as a subprocess on a free loopback port, once per test session (per xdist worker).

Registered in tests/conftest.py; a test takes ``s3_server`` and makes a bucket of its own with
:meth:`S3Server.new_bucket`, so tests never see each other's objects.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

START_DEADLINE = 60.0  # seconds: a loaded two-core machine can take long to import moto


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    region: str = "us-east-1"
    access_key: SecretStr = SecretStr("test-access-key")
    secret_key: SecretStr = SecretStr("test-secret-key")

    def client(self) -> Any:
        """A boto3 client of the server, for setting up and looking at buckets."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id=self.access_key.get_secret_value(),
                            aws_secret_access_key=self.secret_key.get_secret_value())

    def new_bucket(self, *, versioned: bool = False) -> str:
        """A fresh, empty bucket; ``versioned`` keeps every version of every key (so a second
        upload of a key shows as a second version)."""
        name = f"test-{uuid.uuid4().hex[:16]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto_server on a free loopback port, waited for by polling its port, killed at teardown."""
    port = _free_port()
    log_path: Path = tmp_path_factory.mktemp("s3") / "moto_server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_DEADLINE
        while not _answers(port):
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with code {process.returncode}: "
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not answer on port {port} within {START_DEADLINE:.0f} s")
            time.sleep(0.1)
        yield S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
