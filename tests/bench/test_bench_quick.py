"""``python -m bench --quick`` keeps every benchmark row working (issue 14): it runs each row once
on small data, beside its peer, and writes the results file. Nothing here is about time: the
figures are the benchmark's, and ratios are read by people, not asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_run_writes_every_row_with_its_peer_and_ratio(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--name", "ci", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "ci.json").read_text(encoding="utf-8"))
    keys = {row["key"] for row in result["rows"]}
    assert {"intake_inprocess_sqlite", "spiff_forkjoin_sqlite", "sweep_first_pass_sqlite",
            "worklist_deep_page_sqlite", "intake_http_sqlite"} <= keys
    for row in result["rows"]:
        assert row["ours"] > 0 and row["peer"] > 0, row
        assert result[f"{row['key']}_ratio"] == row["ratio"] > 0
    assert any(k.startswith("intake_") and k.endswith("_ratio") for k in result)
    assert any(k.startswith("spiff_") and k.endswith("_ratio") for k in result)
    assert result["machine"]["cpus"] and "sqlalchemy" in result["versions"]
