"""A province system over HTTP: the step's data is POSTed as JSON to the other province's endpoint.

The exchange, in full:

``POST {base_url}/transfers``
    body: :meth:`~engine.interprovince.systems.StepTransfer.as_json`; headers ``Content-Type:
    application/json``, ``Idempotency-Key: <transfer reference>`` (the same on every attempt, so a
    repeat files nothing twice) and, when a token is configured, ``Authorization: Bearer <token>``.
``GET {base_url}/transfers/{remote reference}``
    where the step stands now.

Both answer ``{"status": "accepted" | "done" | "refused", "reference": "<theirs>", "outputs": {…},
"reason": "…"}`` with a 2xx status. Any other status, a body that is not such an object, a timeout
or a refused connection raises, and the engine retries with its back-off (then a dead letter);
the error names the system and the HTTP status, never the body (it may hold personal data).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.interprovince.systems import ProvinceSystems, RemoteAnswer, StepTransfer, TransferError

if TYPE_CHECKING:
    from engine.settings import ProvinceEndpoint

__all__ = ["HttpProvinceSystem", "configured_provinces"]


@dataclass(frozen=True)
class HttpProvinceSystem:
    """Another province's system at ``base_url`` (see the module for the exchange)."""

    name: str
    base_url: str
    token: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    """Seconds to wait for an answer before the attempt counts as failed."""

    def send(self, transfer: StepTransfer) -> RemoteAnswer:
        body = json.dumps(transfer.as_json(), ensure_ascii=False).encode("utf-8")
        return self._call("POST", "/transfers", body=body, headers={"Idempotency-Key": transfer.reference})

    def poll(self, remote_reference: str) -> RemoteAnswer:
        return self._call("GET", "/transfers/" + urllib.parse.quote(remote_reference, safe=""))

    def _call(self, method: str, path: str, *, body: bytes | None = None,
              headers: Mapping[str, str] | None = None) -> RemoteAnswer:
        sent = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json; charset=utf-8"
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base_url.rstrip("/") + path, data=body, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - a configured URL
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise TransferError(f"{self.name}: {method} {path.split('/')[1]} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:  # refused, unreachable, timed out
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise TransferError(f"{self.name}: {method} {path.split('/')[1]} failed: "
                                f"{type(reason).__name__}: {reason}"[:300]) from None
        try:
            data: Any = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise TransferError(f"{self.name}: {method} {path.split('/')[1]} answered with a body that is not JSON") from None
        return RemoteAnswer.from_json(data)


def configured_provinces(endpoints: Mapping[str, ProvinceEndpoint]) -> ProvinceSystems:
    """The registry with an :class:`HttpProvinceSystem` for each configured endpoint
    (``ONEVISIT_INTERPROVINCE_ENDPOINTS``); plugins may add more."""
    systems = ProvinceSystems()
    for province, endpoint in endpoints.items():
        token = endpoint.token.get_secret_value() if endpoint.token is not None else None
        systems.register(province)(HttpProvinceSystem(name=endpoint.name, base_url=str(endpoint.url),
                                                      token=token, timeout=endpoint.timeout))
    return systems
