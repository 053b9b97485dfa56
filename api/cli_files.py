"""``onevisit files``: the handed-in files outside the API.

``onevisit files purge [--dry-run]`` removes the expired files of closed cases (the retention of
their material's kind, the setting ``retention_days``), recorded in each case's audit trail
(:func:`engine.documents.retention.purge_expired_files`): one line per case, then the contents
deleted from the file store. ``--dry-run`` lists the same and changes nothing.
"""

from __future__ import annotations

import argparse
from typing import Any


def cmd_files_purge(args: argparse.Namespace) -> int:
    from api.cli_runtime import _open
    from engine.documents.retention import purge_expired_files
    from engine.runtime import Runtime

    _, sessions = _open(args)
    runtime = Runtime.default()
    with sessions() as session:
        report = purge_expired_files(session, runtime, now=runtime.clock.now(), dry_run=args.dry_run)
    verb = "would purge" if report.dry_run else "purged"
    for case in report.cases:
        materials = sorted({str(f["material"]) for f in case.files})
        print(f"{case.receipt_no}: {verb} {len(case.files)} file(s) ({', '.join(materials)})")
    deleting = "would delete" if report.dry_run else "deleted"
    print(f"files purge: {verb} {report.files} file(s) of {len(report.cases)} closed case(s); {deleting} "
          f"{len(report.deleted)} stored content(s), kept {len(report.kept)} still referenced elsewhere")
    return 0


def register(sub: Any) -> None:
    """Add ``files`` to the ``onevisit`` command's subparsers."""
    files = sub.add_parser("files", help="handed-in files").add_subparsers(dest="action", required=True)
    purge = files.add_parser("purge", help="delete the expired files of closed cases (retention_days), recorded in "
                                           "their audit trail; --dry-run lists them")
    purge.add_argument("--dry-run", action="store_true", help="list what would be purged; change nothing")
    purge.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    purge.set_defaults(func=cmd_files_purge)
