"""Domain errors. Adapters map them to HTTP statuses or CLI messages; none is a bug."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    code = "not_found"


class IllegalTransition(DomainError):
    """The state machine does not allow this change from the current state."""

    code = "illegal_transition"


class Forbidden(DomainError):
    """The actor's role, department or region may not do this."""

    code = "forbidden"


class ClaimedByAnother(DomainError):
    """The step is claimed by another officer: only its assignee acts on it (or a supervisor who
    reassigns it first). The message never names the assignee."""

    code = "claimed_by_another"


class StaleVersion(DomainError):
    """The caller acted on an old version of the step or case (someone else changed it)."""

    code = "stale_version"


class Conflict(DomainError):
    """The request collides with a record that exists (a certificate number already issued)."""

    code = "conflict"


class IdempotencyConflict(Conflict):
    """An idempotency key was reused with a different request."""

    code = "idempotency_conflict"


class TooEarly(DomainError):
    """A minimum waiting period (publicity, bid window) has not yet passed."""

    code = "too_early"


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field of an application, in both languages."""

    field: str
    code: str
    message_zh: str
    message_en: str


class InvalidApplication(DomainError):
    """The application has invalid or missing fields; ``problems`` lists them all."""

    code = "invalid_application"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else None
        super().__init__(
            "; ".join(f"{p.field}: {p.message_en}" for p in self.problems) or "invalid application",
            field=first.field if first else None,
        )
