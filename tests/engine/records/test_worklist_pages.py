"""The worklist's keyset pages (issue 14): following ``next_after`` lists exactly what one offset
listing does, in the same order (soonest due, then the earlier receipt), on both backends; a
cursor page reads the open-steps index by department and due date, not every open step."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from engine.machine.intake import Applicant, accept_case
from engine.records.queries import worklist
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from tests.engine.sample_people import CLERK, GROOM, another_couple, marriage_answers


def test_following_the_cursor_lists_what_the_offset_listing_does(session: Session, runtime: Runtime,
                                                                  clock: FixedClock) -> None:
    for day in range(4):
        for _ in range(3):  # several cases a day: their steps share due dates
            accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                        answers=marriage_answers(**another_couple()), actor=CLERK)
        clock.advance(days=1 + day % 2)
    today = runtime.today() + timedelta(days=1)
    whole = worklist(session, department="11", region=None, state=None, due_within_days=None, overdue=False,
                     today=today, limit=200)
    assert whole.total == len(whole.items) == 12 and whole.next_after is None
    walked, after, pages = [], None, 0
    while True:
        page = worklist(session, department="11", region=None, state=None, due_within_days=None, overdue=False,
                        today=today, limit=5, after=after)
        assert page.total == (12 if after is None else None)
        walked.extend(item.step_id for item in page.items)
        pages += 1
        if page.next_after is None:
            break
        after = page.next_after
    assert walked == [item.step_id for item in whole.items] and pages == 3
    dues = [(i.due_on, i.receipt_no) for i in whole.items]
    assert dues == sorted(dues)  # soonest due, then the earlier receipt


def test_the_count_stops_at_its_cap(session: Session, runtime: Runtime, clock: FixedClock,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A department with more open steps than COUNT_CAP is told "at least" (the first page of a
    100k-step list costs what a small one's does); below the cap the total is exact."""
    import engine.records.worklists as worklists

    for _ in range(3):
        accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                    answers=marriage_answers(**another_couple()), actor=CLERK)
    args = dict(department="11", region=None, state=None, due_within_days=None, overdue=False, today=runtime.today())
    exact = worklist(session, **args)  # type: ignore[arg-type]
    assert (exact.total, exact.total_capped) == (3, False)
    monkeypatch.setattr(worklists, "COUNT_CAP", 2)
    capped = worklist(session, **args)  # type: ignore[arg-type]
    assert (capped.total, capped.total_capped) == (2, True) and len(capped.items) == 3
