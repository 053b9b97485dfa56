"""Read models issue a constant number of statements, however many cases they describe (issue 9, item 5)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from engine.machine.intake import Applicant, accept_case
from engine.records.queries import applicant_cases
from engine.runtime import Runtime
from tests.engine.sample_people import CLERK, GROOM, another_couple, applicant, marriage_answers


@contextmanager
def _statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session's engine runs inside the block."""
    seen: list[str] = []
    engine = session.get_bind()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _accept(session: Session, runtime: Runtime, n: int) -> None:
    for _ in range(n):
        accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                    answers=marriage_answers(**another_couple()), actor=CLERK)


def test_applicant_cases_is_not_n_plus_one(session: Session, runtime: Runtime) -> None:
    actor = applicant(GROOM)
    _accept(session, runtime, 1)
    session.expire_all()
    with _statements(session) as one:
        assert len(applicant_cases(session, runtime, actor=actor)) == 1
    _accept(session, runtime, 19)
    session.expire_all()
    with _statements(session) as twenty:
        cases = applicant_cases(session, runtime, actor=actor)
    assert len(cases) == 20 and all(c.steps for c in cases)
    assert len(twenty) == len(one) <= 4, twenty  # the cases, their steps, their 容缺 materials
