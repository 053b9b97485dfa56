"""The department worklist (the officers' 待办): the first page and a page deep in the list by
offset, as ``department_worklist`` reads them (the count, the page of steps with their cases),
against raw SQL reading the same page by offset; and the deep page by keyset (``after``, no
count) against a raw keyset read (the target: p50 ≤ 20 ms at any depth)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from bench.common import Figure, median, seconds
from bench.sweep import TODAY, seed
from engine.db.session import make_sessionmaker
from engine.machine.states import Actor, Role
from engine.records.queries import department_worklist

OFFICER = Actor(id="bench-officer", role=Role.OFFICER, department="11", region="430102")
PAGE = 50
_OFFSET_SQL = text(
    "SELECT s.id, s.due_on, s.receipt_no FROM steps s JOIN cases c ON c.id = s.case_id "
    "WHERE s.department = '11' AND s.state IN ('ready','assigned','in_progress','supplement_requested') "
    "ORDER BY s.due_on, s.receipt_no, s.position LIMIT :limit OFFSET :offset")
_KEYSET_SQL = text(
    "SELECT s.id, s.due_on FROM steps s "
    "WHERE s.department = '11' AND s.state IN ('ready','assigned','in_progress','supplement_requested') "
    "AND (s.due_on > :due OR (s.due_on = :due AND s.id > :after)) ORDER BY s.due_on, s.id LIMIT :limit")


def run(engine: Engine, *, backend: str, steps: int, rounds: int) -> list[Figure]:
    seed(engine, steps)
    sessions = make_sessionmaker(engine)
    deep = steps // 2

    def ours(offset: int) -> None:
        with sessions() as session:
            page = department_worklist(session, actor=OFFICER, department="11", today=TODAY, limit=PAGE, offset=offset)
            assert len(page.items) == PAGE

    def peer(offset: int) -> None:
        with engine.connect() as conn:
            assert len(conn.execute(_OFFSET_SQL, {"limit": PAGE, "offset": offset}).all()) == PAGE

    with engine.connect() as conn:  # where the deep page starts, for the keyset read
        after, due, _receipt = conn.execute(_OFFSET_SQL, {"limit": 1, "offset": deep}).one()

    with sessions() as session:  # the cursor of the deep page, as the page before it names it
        cursor = department_worklist(session, actor=OFFICER, department="11", today=TODAY, limit=PAGE,
                                     offset=deep - PAGE).next_after
    assert cursor is not None

    def ours_keyset() -> None:
        with sessions() as session:
            page = department_worklist(session, actor=OFFICER, department="11", today=TODAY, limit=PAGE, after=cursor)
            assert len(page.items) == PAGE

    def keyset() -> None:
        with engine.connect() as conn:
            assert len(conn.execute(_KEYSET_SQL, {"limit": PAGE, "due": due, "after": after}).all()) == PAGE

    first: tuple[list[float], list[float]] = ([], [])
    deeper: tuple[list[float], list[float]] = ([], [])
    keyed: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for _ in range(5):  # five reads a round: a page view is short, its median steadier
            first[0].append(seconds(lambda: ours(0)) * 1000)
            first[1].append(seconds(lambda: peer(0)) * 1000)
            deeper[0].append(seconds(lambda: ours(deep)) * 1000)
            deeper[1].append(seconds(lambda: peer(deep)) * 1000)
            keyed[0].append(seconds(ours_keyset) * 1000)
            keyed[1].append(seconds(keyset) * 1000)
    label = f"{steps:,} open steps of one department ({backend})"
    return [
        Figure(key=f"worklist_first_page_{backend}", label=f"worklist, first page, {label}", ours=median(first[0]),
               peer=median(first[1]), unit="ms", better="lower", target="p50 ≤ 20 ms at any depth"),
        Figure(key=f"worklist_deep_page_{backend}", label=f"worklist, page at {deep:,}, {label}",
               ours=median(deeper[0]), peer=median(deeper[1]), unit="ms", better="lower",
               target="p50 ≤ 20 ms at any depth"),
        Figure(key=f"worklist_keyset_page_{backend}", label=f"worklist, keyset page at {deep:,}, {label}",
               ours=median(keyed[0]), peer=median(keyed[1]), unit="ms", better="lower",
               target="p50 ≤ 20 ms at any depth"),
    ]
