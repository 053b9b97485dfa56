"""``python -m bench [--quick] [--rounds N] [--only ROW] [--no-pg] [--name NAME]``: every row beside
its peer, on SQLite and (when it answers) PostgreSQL; prints the table and writes
``bench/results/<name>.json``. See :mod:`bench` for the rows and how ratios read."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from bench import engine_flow, http_intake, intake, sweep, worklist
from bench.common import DEFAULT_PG, Figure, machine, pg_available, scratch_pg, scratch_sqlite, versions

RESULTS = Path(__file__).resolve().parent / "results"
Row = Callable[[Engine, str, bool, int, float], list[Figure]]

ROWS: dict[str, Row] = {
    "intake": lambda engine, backend, quick, rounds, scale: intake.run(
        engine, backend=backend, cases=20 if quick else 300, rounds=rounds),
    "engine": lambda engine, backend, quick, rounds, scale: engine_flow.run(
        engine, backend=backend, cases=4 if quick else 60, rounds=rounds),
    "sweep": lambda engine, backend, quick, rounds, scale: sweep.run(
        engine, backend=backend, steps=2_000 if quick else int(200_000 * scale), rounds=rounds),
    "worklist": lambda engine, backend, quick, rounds, scale: worklist.run(
        engine, backend=backend, steps=2_000 if quick else int(100_000 * scale), rounds=rounds),
}
"""Each row on a fresh database of its own, so one row's rows never slow another's."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, one round: keeps the rows working (CI)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per row (default 3; --quick: 1)")
    parser.add_argument("--only", action="append", choices=sorted([*ROWS, "http"]), help="run only these rows")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL (a scratch schema is made and dropped)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the sweep's and the worklist's data (5: the issue's million open steps)")
    parser.add_argument("--name", default=None, help="results/<name>.json (default: quick or full)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the results")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    backends = ["sqlite"] + ([] if args.no_pg or not pg_available(args.pg) else ["postgresql"])
    if "postgresql" not in backends and not args.no_pg:
        print(f"bench: PostgreSQL at {args.pg} does not answer: SQLite only", file=sys.stderr)
    figures: list[Figure] = []
    started = time.perf_counter()
    def scratch(backend: str) -> Any:
        return scratch_sqlite() if backend == "sqlite" else scratch_pg(args.pg)

    for name in args.only or [*ROWS, "http"]:
        for backend in backends:
            if name == "http":  # two servers, two databases
                with scratch(backend) as (url, engine), scratch(backend) as (peer_url, _peer_engine):
                    found = http_intake.run(engine, backend=backend, url=url, peer_url=peer_url,
                                            seconds=1 if args.quick else 10, rounds=rounds)
            else:
                with scratch(backend) as (_url, engine):
                    found = ROWS[name](engine, backend, args.quick, rounds, args.scale)
            for figure in found:
                print(f"{figure.label:70s} ours {figure.ours:10.2f}  peer {figure.peer:10.2f} {figure.unit:22s} "
                      f"ratio {figure.ratio:6.2f}  (target: {figure.target})", flush=True)
            figures.extend(found)
    result: dict[str, object] = {
        "name": args.name or ("quick" if args.quick else "full"), "at": datetime.now(UTC).isoformat(),
        "quick": args.quick, "rounds": rounds, "backends": backends, "machine": machine(), "versions": versions(),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": [{"key": f.key, "label": f.label, "unit": f.unit, "better": f.better, "target": f.target,
                  "ours": f.ours, "peer": f.peer, "ratio": f.ratio} for f in figures],
    }
    for f in figures:  # the flat keys: <key>_ours, <key>_peer, <key>_ratio (> 1: ours is better)
        result[f"{f.key}_ours"], result[f"{f.key}_peer"], result[f"{f.key}_ratio"] = f.ours, f.peer, f.ratio
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{result['name']}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"bench: {len(figures)} figures in {result['seconds']} s → {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
