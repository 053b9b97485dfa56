"""The two HTTP servers of the intake row, each in a child process bound to the parent's life
(Linux: ``PR_SET_PDEATHSIG``, as the embedded Prefect server is): ``ours`` serves onevisit's app
(``api.server.build``) without its background flows; ``bare`` is the peer, a bare FastAPI +
SQLAlchemy app inserting the same rows an intake writes (a case, four steps, six audit events) in
one transaction, with no validation, prefill, routing, clocks or audit chain.

    python -m bench.peers.servers ours|bare --db URL --port N --parent PID
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from api.embedded_prefect import _die_with_parent
from engine.db.models import AuditEvent, Case, Step
from engine.db.session import make_engine, make_sessionmaker


class Body(BaseModel):
    bundle_id: str
    applicant: dict[str, Any]
    answers: dict[str, Any] = {}


def bare_app(db: str) -> FastAPI:
    sessions = make_sessionmaker(make_engine(db))
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/cases", status_code=201)
    def create(body: Body) -> dict[str, str]:
        now = datetime.now(UTC)
        case_id = uuid.uuid4().hex
        with sessions() as session:
            session.add(Case(id=case_id, receipt_no=f"bare-{case_id[:24]}", bundle_id=body.bundle_id, bundle_version=1,
                             spec_hash="x", applicant_id=str(body.applicant["id"]), applicant_kind="person",
                             region="430102", state="accepted", answers=body.answers, created_by="bare",
                             accepted_at=now, accepted_on=now.date(), due_on=now.date()))
            for j in range(4):
                session.add(Step(id=uuid.uuid4().hex, case_id=case_id, step_key=f"s{j}", position=j, item_code="x",
                                 department="11", kind="human", state="pending"))
            for seq in range(1, 7):
                session.add(AuditEvent(case_id=case_id, seq=seq, actor_id="bare", role="system", at=now, action="x",
                                       payload={}, prev_hash="0" * 64, hash=f"{case_id}{seq:032d}"))
            session.commit()
        return {"id": case_id}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.servers")
    parser.add_argument("which", choices=["ours", "bare"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args()
    _die_with_parent(args.parent)
    import uvicorn

    if args.which == "ours":
        from api.server import build

        app = build(args.db).app
    else:
        app = bare_app(args.db)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="error", access_log=False)


if __name__ == "__main__":
    main()
