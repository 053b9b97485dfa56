"""Case and step states, with named groups (as SpiffWorkflow names its task-state masks)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StepState(StrEnum):
    PENDING = "pending"
    """Waiting for the steps it depends on."""
    READY = "ready"
    """In the department's worklist, unclaimed (automated: queued for dispatch)."""
    ASSIGNED = "assigned"
    """Claimed by an officer."""
    IN_PROGRESS = "in_progress"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    """补正: waiting for the applicant's materials; the step's clock is stopped."""
    DONE = "done"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    """Its condition was false, or another alternative was taken."""
    CANCELLED = "cancelled"


STEP_OPEN = frozenset(
    {StepState.PENDING, StepState.READY, StepState.ASSIGNED, StepState.IN_PROGRESS, StepState.SUPPLEMENT_REQUESTED}
)
STEP_ACTIVE = frozenset({StepState.READY, StepState.ASSIGNED, StepState.IN_PROGRESS, StepState.SUPPLEMENT_REQUESTED})
"""Open steps whose clock has started."""
STEP_WORKING = frozenset({StepState.ASSIGNED, StepState.IN_PROGRESS})
STEP_TERMINAL = frozenset({StepState.DONE, StepState.REJECTED, StepState.SKIPPED, StepState.CANCELLED})
STEP_SATISFIED = frozenset({StepState.DONE, StepState.SKIPPED})
"""A prerequisite in one of these states no longer holds its dependents back."""
STEP_FAILED = frozenset({StepState.REJECTED, StepState.CANCELLED})


class CaseState(StrEnum):
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    COMPLETED = "completed"
    PARTIALLY_COMPLETED = "partially_completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


CASE_OPEN = frozenset({CaseState.ACCEPTED, CaseState.IN_PROGRESS, CaseState.SUPPLEMENT_REQUESTED})
CASE_TERMINAL = frozenset(
    {CaseState.COMPLETED, CaseState.PARTIALLY_COMPLETED, CaseState.REJECTED, CaseState.WITHDRAWN}
)


class Role(StrEnum):
    APPLICANT = "applicant"
    CLERK = "clerk"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    SYSTEM = "system"
    """The engine itself: releases, skips, cascades, timers, automated handlers."""


# Role groups, named once: the gate, the read models and the pages take them from here.
LEADS = frozenset({Role.SUPERVISOR, Role.ADMIN})
"""Who may take claimed work off its assignee and read supervision (supervisors scoped by region)."""
CASE_STARTERS = frozenset({Role.APPLICANT, Role.CLERK, Role.ADMIN})
"""People who may start a case (the engine itself also may, for seeding and imports)."""
CASE_WITHDRAWERS = frozenset({Role.APPLICANT, Role.CLERK, Role.ADMIN})
"""Who may withdraw a case (撤回)."""
SUPPLEMENT_BRINGERS = frozenset({Role.APPLICANT, Role.CLERK})
"""Who may hand in requested materials (补正)."""
DEPARTMENT_OFFICERS = frozenset({Role.OFFICER})
"""Who works a department's desk steps: claims, starts, completes, rejects, asks for 补正
(their own department's steps only, applied by the scope rules)."""
GOVERNMENT_STAFF = frozenset({Role.CLERK, Role.OFFICER, Role.SUPERVISOR, Role.ADMIN})
"""People working for the government (not the applicant, not the engine): every read they make
of a full record (a case, a step) is written to the access log."""
WORKLIST_READERS = frozenset({Role.OFFICER, Role.SUPERVISOR, Role.ADMIN})
"""Who may read a department's worklist (officers their own department's; all scoped by region)."""
DOCUMENT_READERS = frozenset({Role.APPLICANT, Role.CLERK, Role.SUPERVISOR, Role.ADMIN, Role.SYSTEM})
"""Who may print a case's documents (receipt, notices): they show the whole application and every
step's result, so not officers, who work from their own step."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change: the audit log records ``id`` and ``role``."""

    id: str
    role: Role
    department: str | None = None
    region: str | None = None
    subject: str | None = None
    """For applicants: the ID number or credit code they act as."""
    label: str = ""
    """Who the token was issued to, for people to read (a staff number); never an identity:
    two tokens may share a label, so ``id`` (the token's own id) is what the audit log records."""


SYSTEM = Actor(id="onevisit", role=Role.SYSTEM)
