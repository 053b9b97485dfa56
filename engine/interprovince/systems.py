"""The adapter interface to another province's system (跨省通办), and its registry.

A step whose deciding region lies outside this deployment's province (办理地 in another province:
异地代收代办, one office receives, another decides) is not worked by any office here. The engine
sends it to that province's system through a :class:`ProvinceSystem` and takes the system's
answer back through the gate (:mod:`engine.interprovince.exchange`). A deployment registers one
system per province it exchanges with, keyed by the province's two-digit code (GB/T 2260), as
handlers and prefill providers are registered (:mod:`engine.plugins`, entry-point group
``onevisit.interprovince``).

A system's two calls run outside the case lock and outside any transaction, and either may run
more than once for the same step (after a crash, or when a dispatcher's lease ran out): the
transfer carries one ``reference`` per step, the same on every attempt, which the other system
uses to recognise a repeat. Any exception is a failure: the engine retries it with the outbox's
back-off and, after the last attempt, shows a dead letter (``onevisit outbox``, the supervision
desk); the step meanwhile stays where it was and its clock runs, so the deadline sweep's cards
flag it too. Nothing fails silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from engine.db.models import Case, Step
from engine.machine.routing import deciding_region
from engine.registry import Registry
from engine.spec.models import StepKind

__all__ = ["INTERPROVINCE_GROUP", "SENT_KINDS", "ProvinceSystem", "ProvinceSystems", "RemoteAnswer", "RemoteStatus",
           "StepTransfer", "TRANSFER_TOPIC", "TransferError", "decided_elsewhere", "home_province"]

INTERPROVINCE_GROUP = "onevisit.interprovince"
"""Entry-point group of the plugins that register province systems."""
TRANSFER_TOPIC = "transfer_step"
"""The outbox topic of a step to send to (and then ask) another province's system."""


SENT_KINDS = frozenset({StepKind.HUMAN, StepKind.COMMITMENT})
"""The steps an office decides (desk steps); the engine's own (automated, timers) are never sent."""


def home_province(region: str) -> str:
    """The province of a deployment whose default region is ``region`` (``430100`` → ``43``)."""
    return region[:2]


def decided_elsewhere(case: Case, step: Step, *, home: str) -> str | None:
    """The province another than ``home`` that decides ``step`` (its deciding region's first two
    digits, :func:`~engine.machine.routing.deciding_region`), or None: decided here, or a step the
    engine runs itself."""
    if StepKind(step.kind) not in SENT_KINDS:
        return None
    province = deciding_region(case, step)[:2]
    return province if province != home else None


class RemoteStatus(StrEnum):
    """Where the other province's system stands with a step."""

    ACCEPTED = "accepted"
    """Received and being decided there: the engine asks again later (:meth:`ProvinceSystem.poll`)."""
    DONE = "done"
    """Decided: granted, with the outputs (a licence's ``number``, a result document)."""
    REFUSED = "refused"
    """Decided: refused, with the reason (不予许可)."""


class TransferError(Exception):
    """A province system's answer that makes no sense (an unknown status, no reference): a failure
    like any other, retried and in the end a dead letter, with this message as its last error."""


@dataclass(frozen=True, slots=True)
class StepTransfer:
    """One step of a case, as sent to the province that decides it.

    Only what deciding the step needs: the item, the applicant, the receiving window and the
    fields the step declares (an officer here would see no more); no other step's data."""

    reference: str
    """This side's reference for the step, the same on every attempt (an idempotency key)."""
    receipt_no: str
    step_key: str
    item_code: str
    item_name: str
    department: str
    department_name: str
    decided_for: str
    """The region the step is decided for (in the other province)."""
    received_in: str
    """The region of the window that received the case (受理地) and hands out the results."""
    applicant_kind: str
    applicant_id: str
    applicant_name: str
    fields: Mapping[str, Any]
    """The step's declared fields, with the case's answers (a list entry's own values first)."""
    sent_on: date

    def as_json(self) -> dict[str, Any]:
        """The transfer as a JSON object (dates as ISO text)."""
        data = asdict(self)
        data["fields"] = dict(self.fields)
        data["sent_on"] = self.sent_on.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class RemoteAnswer:
    """What the other province's system says about a step."""

    status: RemoteStatus
    remote_reference: str
    """The other system's own reference for the step (its 办件编号), shown to the window."""
    outputs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """For ``done``: the step's outputs (``number`` becomes the number of a licence the step issues)."""
    reason: str = ""
    """For ``refused``: why, as the other province gave it."""

    @classmethod
    def from_json(cls, data: object) -> RemoteAnswer:
        """Read an answer from a JSON object ``{"status", "reference", "outputs"?, "reason"?}``;
        anything else is a :class:`TransferError`."""
        if not isinstance(data, dict):
            raise TransferError(f"the answer is not a JSON object: {type(data).__name__}")
        try:
            status = RemoteStatus(str(data.get("status")))
        except ValueError:
            raise TransferError(f"unknown status {str(data.get('status'))[:40]!r}") from None
        reference = data.get("reference")
        if not isinstance(reference, str) or not reference.strip():
            raise TransferError("the answer names no reference")
        outputs = data.get("outputs") or {}
        if not isinstance(outputs, dict):
            raise TransferError("outputs must be a JSON object")
        reason = str(data.get("reason") or "").strip()
        if status is RemoteStatus.REFUSED and not reason:
            raise TransferError("a refusal without a reason")
        return cls(status=status, remote_reference=reference.strip()[:64], outputs=dict(outputs), reason=reason)


@runtime_checkable
class ProvinceSystem(Protocol):
    """Another province's system, as the engine uses it (see the module's rules)."""

    @property
    def name(self) -> str:
        """What the window and the audit trail call it (广东省一体化政务服务平台)."""
        ...

    def send(self, transfer: StepTransfer) -> RemoteAnswer:
        """Hand the step over to be decided there. Sending the same ``transfer.reference`` again
        must not make a second application: answer as for the first."""
        ...

    def poll(self, remote_reference: str) -> RemoteAnswer:
        """Where the step the system knows as ``remote_reference`` stands now."""
        ...


class ProvinceSystems(Registry[ProvinceSystem]):
    """Province systems by two-digit province code (``"44"``); registering a province twice is an
    error. ``systems.register("44")(system)`` registers an instance."""

    kind = "province system"

    def __iter__(self) -> Iterator[str]:
        return self.names()

    def for_region(self, region: str) -> ProvinceSystem | None:
        """The system of the province ``region`` lies in, if one is registered."""
        return self[region[:2]] if region[:2] in self else None
