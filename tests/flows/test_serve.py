"""`onevisit serve` end to end: demo data, tokens, and the flows running in the background."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.server import build, load_demo, start_background
from engine.db.models import Case
from api.demo import load_demo_data, synthetic_company

pytestmark = pytest.mark.prefect_server  # its flows run against the run's one Prefect server


def test_serve_loads_demo_data_and_runs_automated_steps_in_the_background(tmp_path: Path) -> None:
    served = build(f"sqlite:///{tmp_path / 'serve.db'}")
    lines: list[str] = []
    tokens = load_demo(served, say=lines.append)
    with served.sessions() as session:
        # eleven done, the governance part's three filings (告知承诺), three open
        assert session.scalar(select(func.count()).select_from(Case)) == 17
    assert lines == ["demo: 11 bundles run to completion (two months ago), then ratings, 告知承诺 and 12345"]
    client = TestClient(served.app)
    clerk = {"Authorization": f"Bearer {tokens['clerk (430102)']}"}
    scenario = load_demo_data().scenarios["policy_benefit"]
    created = client.post("/cases", headers=clerk, json={
        "bundle_id": "policy_benefit",
        "applicant": {"id": synthetic_company(1), "kind": "enterprise", "name": "示例科技有限公司"},
        "answers": scenario["answers"],
    })
    assert created.status_code == 201, created.text
    automated = {s["id"] for s in created.json()["steps"] if s["state"] == "ready"}
    background = start_background(served, data_dir=tmp_path, dispatch_every=0.5, sweep_every=0.5,
                                  prefect_url=os.environ["PREFECT_API_URL"])  # the run's one server
    try:
        deadline = time.monotonic() + 600  # a generous bound for a loaded machine, not an expected time
        while time.monotonic() < deadline:
            steps = client.get(f"/cases/{created.json()['case_id']}", headers=clerk).json()["steps"]
            done = {s["id"] for s in steps if s["state"] == "done"}
            if len(done) >= 8:
                break
            time.sleep(1)
        # the eight data-sharing checks ran as Prefect tasks; the human steps wait for officers
        assert len(done) >= 8, steps
        assert automated
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready", ready
    finally:
        background.stop()
    # a second load on the same database adds no cases and issues fresh tokens
    again = load_demo(served, say=lines.append)
    assert again.keys() == tokens.keys() and again != tokens
    with served.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 18  # and the one filed above
