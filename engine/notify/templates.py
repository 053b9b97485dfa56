"""The notices' texts: Jinja2 templates ``forms/templates/notify/<name>.<locale>.j2``.

A template's first line is the subject; the rest, after a blank line, is the body. Every notice
exists in ``zh`` and ``en``; the context is plain data (receipt number, bundle and step names,
dates, a reason), never a person's ID number.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

LOCALES = ("zh", "en")


class Notice(StrEnum):
    """What a notice says (its template's name)."""

    CASE_ACCEPTED = "case_accepted"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    """补正 requested: what is missing and by when."""
    SUPPLEMENT_RECEIVED = "supplement_received"
    """The officer confirmed the 补正 materials arrived; the clock runs again."""
    STEP_DONE = "step_done"
    CASE_COMPLETED = "case_completed"
    CASE_PARTIALLY_COMPLETED = "case_partially_completed"
    CASE_REJECTED = "case_rejected"
    CASE_WITHDRAWN = "case_withdrawn"
    """The withdrawal acknowledged: no completion notice, no rating invitation."""
    RESULTS_READY = "results_ready"
    """The results can be picked up (出件) at the window that received the case."""
    RATING_INVITATION = "rating_invitation"
    OFFICER_REMINDER = "officer_reminder"
    """To an officer: a step of theirs is due soon."""
    RESULT_REVOKED = "result_revoked"
    """告知承诺: a post-check found the commitment false; the step's result and licences are revoked."""
    OFFICE_RESULT_REVOKED = "office_result_revoked"
    """To an office whose later step of the case used a result now revoked (a failed post-check)."""


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Plain text (mail bodies, SMS, the inbox shown escaped by the page): no HTML autoescape.
    return Environment(loader=PackageLoader("forms", "templates/notify"), undefined=StrictUndefined,
                       autoescape=False, keep_trailing_newline=False)


def render(notice: Notice | str, *, locale: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """``(subject, body)`` of ``notice`` in ``locale`` (``zh`` or ``en``; anything else: ``zh``)."""
    chosen = locale if locale in LOCALES else "zh"
    text = _environment().get_template(f"{Notice(notice).value}.{chosen}.j2").render(**context)
    subject, _, body = text.strip().partition("\n")
    return subject.strip(), body.strip()
