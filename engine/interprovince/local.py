"""An in-process province system: another province's desk, kept in memory.

:class:`DeskProvince` stands for another province's onevisit (or any system that decides a step
some days after it arrives): :meth:`~DeskProvince.send` files the step and answers ``accepted``;
that province's officer later :meth:`~DeskProvince.decide`\\ s or :meth:`~DeskProvince.refuse`\\ s
it, and the next :meth:`~DeskProvince.poll` tells the engine. A repeated send of the same
reference files nothing twice. For tests, demos and a pilot between two deployments in one process;
a real exchange goes over the network (:mod:`engine.interprovince.http`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from threading import Lock
from typing import Any

from engine.interprovince.systems import RemoteAnswer, RemoteStatus, StepTransfer, TransferError

__all__ = ["DeskProvince", "Filed"]


@dataclass(frozen=True, slots=True)
class Filed:
    """A step the desk received, and where it stands."""

    transfer: StepTransfer
    answer: RemoteAnswer


@dataclass
class DeskProvince:
    """Another province's desk in memory (see the module)."""

    name: str
    code: str
    """The province's two-digit code; its references read ``<code>-<n>``."""
    filed: dict[str, Filed] = field(default_factory=dict)
    """By the desk's own reference, in the order received."""
    sends: int = 0
    """How many sends arrived (repeats included), to show a repeat filed nothing new."""
    _by_reference: dict[str, str] = field(default_factory=dict, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    def send(self, transfer: StepTransfer) -> RemoteAnswer:
        with self._lock:
            self.sends += 1
            known = self._by_reference.get(transfer.reference)
            if known is not None:
                return self.filed[known].answer
            remote = f"{self.code}-{len(self.filed) + 1:06d}"
            answer = RemoteAnswer(status=RemoteStatus.ACCEPTED, remote_reference=remote)
            self.filed[remote] = Filed(transfer=transfer, answer=answer)
            self._by_reference[transfer.reference] = remote
            return answer

    def poll(self, remote_reference: str) -> RemoteAnswer:
        with self._lock:
            return self._get(remote_reference).answer

    def decide(self, remote_reference: str, outputs: Mapping[str, Any] | None = None) -> None:
        """That province's officer grants the step (with its outputs)."""
        self._settle(remote_reference, RemoteStatus.DONE, outputs=dict(outputs or {}))

    def refuse(self, remote_reference: str, reason: str) -> None:
        """That province's officer refuses the step, with the reason."""
        self._settle(remote_reference, RemoteStatus.REFUSED, reason=reason)

    def reference_of(self, transfer_reference: str) -> str:
        """The desk's reference for the step this side calls ``transfer_reference``."""
        with self._lock:
            return self._by_reference[transfer_reference]

    def _settle(self, remote_reference: str, status: RemoteStatus, *, outputs: Mapping[str, Any] | None = None,
                reason: str = "") -> None:
        with self._lock:
            filed = self._get(remote_reference)
            if filed.answer.status is not RemoteStatus.ACCEPTED:
                raise TransferError(f"{remote_reference} was already decided ({filed.answer.status})")
            answer = RemoteAnswer(status=status, remote_reference=remote_reference, outputs=dict(outputs or {}),
                                  reason=reason)
            self.filed[remote_reference] = replace(filed, answer=answer)

    def _get(self, remote_reference: str) -> Filed:
        filed = self.filed.get(remote_reference)
        if filed is None:
            raise TransferError(f"{self.name} knows no step {remote_reference!r}")
        return filed
