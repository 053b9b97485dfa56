"""Where a step is decided (办理地) and by which office.

:func:`deciding_region` is the one answer to "for which region is this step decided": the
permission rules, the worklists and supervision ask it rather than reading the columns.
"""

from __future__ import annotations

from engine.db.models import Case, Step

__all__ = ["deciding_region"]


def deciding_region(case: Case, step: Step) -> str:
    """The region ``step`` of ``case`` is decided for: the region release routed it to
    (``step.decided_in``), or the case's region for a step not yet routed (and old rows)."""
    return step.decided_in or case.region
