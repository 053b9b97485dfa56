"""onevisit's benchmarks, each row beside a peer measured in the same run (``python -m bench``).

Rows (``bench/<row>.py``), each run for several rounds, ours and the peer interleaved within a
round so that a noisy machine slows both: the intake over HTTP (eight closed-loop clients against
our server and a bare FastAPI + SQLAlchemy server, real uvicorn processes; then requests sent at
half the peer's maximum rate whatever the answers) and in process against
bare SQLAlchemy inserts of the same rows; the engine working off an 8-step fork/join bundle against SpiffWorkflow running the
same process as BPMN, serialised to the same database after every step; the deadline sweep (first
pass, the next pass with the open cards, the empty pass) against raw SQL doing the same inserts and
updates; the department worklist page against a raw keyset query. ``--quick`` (CI) runs each once
on small data to keep the benchmarks working; it asserts nothing about time.

Each figure is written to ``bench/results/<name>.json`` with the machine, the versions, the medians,
the peer's figure and the ratio, under a key ending in ``_ratio`` and oriented so that > 1 means
ours is better (our throughput / the peer's, or the peer's time / ours).
"""
