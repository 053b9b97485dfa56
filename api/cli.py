"""The ``onevisit`` command: bundles check and diff, database upgrade, audit verify, demo, serve, token.

Errors are one line on stderr naming the file and line (or the setting) and exit 1; never a
traceback for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.cli_files import register as register_file_commands
from api.cli_runtime import register as register_runtime_commands
from engine.errors import DomainError
from engine.spec.loader import BundleRegistry, SpecError, load_registry
from engine.spec.versions import BundleDiff


def _fail(message: str) -> int:
    print(f"onevisit: {message}", file=sys.stderr)
    return 1


def cmd_bundles_check(args: argparse.Namespace) -> int:
    """Check a bundles folder (default ``ONEVISIT_BUNDLES_DIR``) against its catalog, the field
    dictionary and the registered handlers: one line per bundle, every problem and warning on stderr."""
    from engine.machine.handlers import default_handlers
    from engine.plugins import HANDLERS_GROUP, install_plugins
    from engine.settings import get_settings

    directory, fields = _bundle_paths(args)
    if not directory.is_dir():
        return _fail(f"{directory}: not a directory")
    handlers = install_plugins(default_handlers(), group=HANDLERS_GROUP, configured=get_settings().handler_plugins)
    try:
        registry = load_registry(directory, fields, handlers=set(handlers))
    except SpecError as exc:
        for problem in (*exc.problems, *exc.warnings):
            print(problem, file=sys.stderr)
        print(f"onevisit: {len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    for warning in registry.warnings:
        print(warning, file=sys.stderr)
    changed = _published_conflicts(args, registry) if args.db else []
    for bundle in registry:
        print(f"{bundle.id} {bundle.version} steps={len(bundle.steps)}")
    for diff in changed:
        print(f"{registry.files[diff.bundle_id]}: bundle {diff.bundle_id!r} version {diff.new_version} differs from "
              f"the published version {diff.new_version} ({'; '.join(diff.lines()[1:])}): give it a new version "
              f"number / 已发布版本内容被修改，请提高版本号", file=sys.stderr)
    if changed:
        return _fail(f"{len(changed)} bundle(s) changed without a new version number")
    return 0


def _published_conflicts(args: argparse.Namespace, registry: BundleRegistry) -> list[BundleDiff]:
    from engine.runtime import conflicts

    _, sessions = _database(args)
    with sessions() as session:
        return conflicts(session, registry)


def cmd_bundles_diff(args: argparse.Namespace) -> int:
    """Steps added, removed and changed between two versions of a bundle: each version as
    published in the database, else the bundle file's if it carries that number."""
    import json

    from engine.runtime import diff_versions

    try:
        registry = load_registry(*_bundle_paths(args))
    except SpecError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return _fail(f"{len(exc.problems)} problem(s) found")
    _, sessions = _database(args)
    with sessions() as session:
        diff = diff_versions(session, registry, args.bundle, args.old, args.new)  # NotFound: one line via main
    if args.json:
        print(json.dumps(diff.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(diff.lines()))
    return 0


def _bundle_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    from engine.settings import get_settings

    settings = get_settings()
    directory = Path(args.dir) if getattr(args, "dir", None) else settings.bundles_dir
    fields = Path(args.fields) if getattr(args, "fields", None) else settings.fields_file
    return directory, fields


def _database(args: argparse.Namespace, *, migrate_schema: bool | None = None) -> tuple[Engine, sessionmaker[Session]]:
    from api.server import open_database
    from engine.settings import get_settings

    return open_database(getattr(args, "db", None) or get_settings().db, migrate_schema=migrate_schema)


def cmd_items_export(args: argparse.Namespace) -> int:
    """Print every service item of the catalog with its standard elements (事项要素) under the
    national platform's field names (engine.interprovince.items), as JSON or CSV."""
    from engine.interprovince.items import items_csv, items_json, national_items
    from engine.spec.loader import load_catalog

    directory, _ = _bundle_paths(args)
    items = national_items(load_catalog(directory / "catalog"))  # SpecError: one line per problem via main
    print(items_csv(items) if args.format == "csv" else items_json(items), end="" if args.format == "csv" else "\n")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    engine, _ = _database(args, migrate_schema=True)
    print(f"database at revision head: {engine.url.render_as_string(hide_password=True)}")
    return 0


def cmd_db_grant_runtime(args: argparse.Namespace) -> int:
    from engine.db.roles import grant_runtime, runtime_grants

    engine, _ = _database(args)
    with engine.begin() as conn:
        statements = (grant_runtime if args.apply else runtime_grants)(conn, role=args.role)
    for statement in statements:
        print(f"{statement};")
    if args.apply:
        print(f"-- applied: {args.role} may append to the audit tables, not change them")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from engine.records.audit import verify_audit
    from engine.settings import get_settings

    settings = get_settings()
    key = settings.audit_key
    store = None
    if args.files:
        from engine.documents.storage import file_store

        # The store the deployment's runtime uses (for the local folder: beside the database given).
        store = file_store(settings.model_copy(update={"db": args.db}) if args.db else settings)
    _, sessions = _database(args)
    with sessions() as session:
        report = verify_audit(session, key=key, case_id=args.case, min_seal=args.min_seal, files=store)
    for problem in report.problems:
        print(problem.line(), file=sys.stderr)
    status = "OK" if report.ok else f"BROKEN ({len(report.problems)} problem(s))"
    if not report.seals_verified:
        seals = f"seals not verified (ONEVISIT_AUDIT_KEY is not set): {report.seals} seals"
    elif report.newest_seal is None:
        seals = "no seals yet (onevisit audit seal)"
    else:
        seals = f"{report.seals} seals verified, newest #{report.newest_seal}"
        if args.case is None:
            seals += f", {report.unsealed_events} events since"
    files = "; files re-hashed" if args.files else ""
    print(f"audit chain {status}: {report.cases} cases, {report.events} events; {seals}{files}")
    return 0 if report.ok else 1


def cmd_audit_seal(args: argparse.Namespace) -> int:
    from engine.records.audit_seal import SealPending, seal_audit_heads
    from engine.time.clock import SystemClock
    from engine.settings import get_settings

    key = get_settings().audit_key
    if not key:
        return _fail("audit seal: ONEVISIT_AUDIT_KEY is not set (the key that signs seals is kept outside the database)")
    _, sessions = _database(args)
    with sessions() as session:
        try:
            seal = seal_audit_heads(session, key=key, now=SystemClock().now())
        except SealPending as exc:
            return _fail(str(exc))
    if seal is None:
        print("audit seal: no chain grew since the last seal")
    else:
        print(f"audit seal #{seal.number}: {seal.entries} chain heads up to event {seal.event_mark}; "
              f"root {seal.root}; signature {seal.signature}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from api.demo import demo_clock, run_demo
    from engine.runtime import Runtime, publish_bundles

    _, sessions = _database(args)
    clock = demo_clock()
    runtime = Runtime.default(clock=clock)
    with sessions() as session:
        publish_bundles(session, runtime)
        results = run_demo(session, runtime, clock, bundles=args.bundle or None)
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"demo: {r.bundle_id} ended {r.state}, skipped {sorted(r.skipped)} (expected {sorted(r.expected_skipped)})",
              file=sys.stderr)
    print(f"demo: {len(results)} cases, {len(results) - len(failed)} completed as expected")
    return 1 if failed else 0


def _stop_serving(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    """The API and pages, with a Prefect server of its own and the flows in the background.

    SIGTERM (systemd, docker) stops it as cleanly as Ctrl-C: uvicorn finishes its requests and
    re-raises the signal, then the background parts stop and the Prefect server child with
    them; the kernel ends that child even if this process is killed outright.
    """
    import logging
    import os
    import signal

    import uvicorn

    from api.background import Background
    from api.logs import configure_logging
    from api.server import build, load_demo, start_background
    from engine.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_format, with_prefect=not args.no_flows)
    log = logging.getLogger("onevisit.serve")
    say = print if settings.log_format == "text" else log.info
    signal.signal(signal.SIGTERM, _stop_serving)
    url = args.db or settings.db
    background: Background | None = None
    try:
        served = build(url)
        say(f"onevisit: database {served.sessions.kw['bind'].url.render_as_string(hide_password=True)}")
        background = start_background(
            served, data_dir=settings.data_path(url), flows=not args.no_flows, dispatch_every=settings.dispatch_every,
            sweep_every=settings.sweep_every, prefect_startup_timeout=settings.prefect_startup_timeout,
            prefect_url=os.environ.get("PREFECT_API_URL"),
        )
        if not args.no_demo:
            _show_demo_tokens(load_demo(served), settings.data_path(url))
        say(f"onevisit: serving on http://{args.host}:{args.port}/ui/  (API docs: /docs; readiness: /readyz)")
        uvicorn.run(served.app, host=args.host, port=args.port, log_level="warning", log_config=None)
    except KeyboardInterrupt:  # Ctrl-C before uvicorn ran, or re-raised by uvicorn after its clean shutdown
        pass
    finally:
        if background is not None:
            background.stop()
    return 0


def _show_demo_tokens(tokens: dict[str, str], data_dir: Path) -> None:
    """Demo tokens go to a file only the owner can read, and to the screen only when a person is
    watching it (a terminal): never into a service's log."""
    from engine.settings import get_settings

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo-tokens.txt"
    lines = [f"{who:22s} {token}" for who, token in tokens.items()]
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    days = get_settings().demo_token_days
    print(f"onevisit: demo tokens (valid {days} days; earlier demo tokens revoked) are in {path}")
    if sys.stdout.isatty():
        print("onevisit: log in at /ui/login or send as 'Authorization: Bearer …':")
        for line in lines:
            print(f"  {line}")


def cmd_token_issue(args: argparse.Namespace) -> int:
    from engine.time.clock import SystemClock
    from engine.people.tokens import issue_token, parse_expiry

    now = SystemClock().now()
    expires_at = parse_expiry(args.expires, now=now)
    _, sessions = _database(args)
    with sessions() as session:
        token = issue_token(session, role=args.role, department=args.department, region=args.region,
                            subject=args.subject, label=args.label or f"cli {args.role}",
                            now=now, expires_at=expires_at)
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from engine.time.clock import SystemClock
    from engine.people.tokens import list_tokens

    _, sessions = _database(args)
    with sessions() as session:
        rows = list_tokens(session, now=SystemClock().now(), include_ended=args.all)
    print(f"{'id':32s}  {'role':10s}  {'status':7s}  {'expires':16s}  label / scope")
    for row in rows:
        expires = f"{row.expires_at:%Y-%m-%d %H:%M}" if row.expires_at else "never"
        print(f"{row.id:32s}  {row.role:10s}  {row.status:7s}  {expires:16s}  {row.label}  {row.scope}".rstrip())
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from engine.time.clock import SystemClock
    from engine.people.tokens import revoke_token

    _, sessions = _database(args)
    with sessions() as session:
        revoke_token(session, token_id=args.id, now=SystemClock().now())
    print(f"revoked {args.id}")
    return 0


ROLES = ("applicant", "clerk", "officer", "supervisor", "admin")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onevisit", description="One thing, one visit (一件事一次办) workflow engine")
    sub = parser.add_subparsers(dest="command", required=True)

    bundles = sub.add_parser("bundles", help="bundle files").add_subparsers(dest="action", required=True)
    check = bundles.add_parser("check", help="validate bundle YAML files; one line per bundle")
    check.add_argument("dir", nargs="?", help="bundles folder with a catalog/ subfolder (default: ONEVISIT_BUNDLES_DIR, "
                                              "else the packaged bundles)")
    check.add_argument("--fields", help="field dictionary (default: ONEVISIT_FIELDS_FILE, else the packaged one)")
    check.add_argument("--db", help="also compare with the versions published in this database (URL): a bundle "
                                    "changed without a new version number is a problem")
    check.set_defaults(func=cmd_bundles_check)
    diff = bundles.add_parser("diff", help="steps added, removed and changed between two versions of a bundle")
    diff.add_argument("bundle", help="bundle id")
    diff.add_argument("old", type=int, help="the older version number")
    diff.add_argument("new", type=int, help="the newer version number")
    diff.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    diff.add_argument("--dir", help="bundles folder for an unpublished version (default: ONEVISIT_BUNDLES_DIR)")
    diff.add_argument("--fields", help="field dictionary (default: ONEVISIT_FIELDS_FILE)")
    diff.add_argument("--json", action="store_true", help="print the diff as JSON")
    diff.set_defaults(func=cmd_bundles_diff)

    items = sub.add_parser("items", help="service items (事项)").add_subparsers(dest="action", required=True)
    export = items.add_parser("export", help="every item's standard elements (事项要素) under the national field names")
    export.add_argument("--format", choices=("json", "csv"), default="json", help="json (default) or csv")
    export.add_argument("--dir", help="bundles folder with a catalog/ subfolder (default: ONEVISIT_BUNDLES_DIR)")
    export.set_defaults(func=cmd_items_export)

    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    upgrade = db.add_parser("upgrade", help="run migrations to the latest revision")
    upgrade.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    upgrade.set_defaults(func=cmd_db_upgrade)
    grant = db.add_parser("grant-runtime", help="PostgreSQL: print (or --apply) the runtime role's GRANTs: "
                                                "append-only on the audit tables")
    grant.add_argument("role", help="the role the application connects as (must not own the tables)")
    grant.add_argument("--apply", action="store_true", help="run the statements (as the owner) instead of printing")
    grant.add_argument("--db", help="database URL of the owner role (default: ONEVISIT_DB)")
    grant.set_defaults(func=cmd_db_grant_runtime)

    audit = sub.add_parser("audit", help="audit log").add_subparsers(dest="action", required=True)
    verify = audit.add_parser("verify", help="check every case's audit chain against its case row and the "
                                             "signed seals; one line per problem, exit 1")
    verify.add_argument("--case", help="only this case id")
    verify.add_argument("--min-seal", type=int, metavar="N",
                        help="seal N is known (from the logs) to exist: fewer seals means seals were deleted")
    verify.add_argument("--files", action="store_true",
                        help="also re-hash every handed-in file the audit events list (not purged ones) in the "
                             "file store (ONEVISIT_STORAGE): a file gone or changed is a problem")
    verify.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    verify.set_defaults(func=cmd_audit_verify)
    seal = audit.add_parser("seal", help="seal the heads of the chains that grew since the last seal "
                                         "(signed with ONEVISIT_AUDIT_KEY)")
    seal.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    seal.set_defaults(func=cmd_audit_seal)

    demo = sub.add_parser("demo", help="seed synthetic applicants and run one case of each bundle")
    demo.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    demo.add_argument("--bundle", action="append", help="only this bundle (repeatable)")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="run the API and pages (demo data on an empty database)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--db", help="database URL (default: ONEVISIT_DB, a SQLite file in ./data)")
    serve.add_argument("--no-demo", action="store_true", help="do not load demo data or print demo tokens")
    serve.add_argument("--no-flows", action="store_true", help="do not run the Prefect flows in the background")
    serve.set_defaults(func=cmd_serve)

    tokens = sub.add_parser("token", help="bearer tokens: issue (printed once; stored hashed), list, revoke")
    token_actions = tokens.add_subparsers(dest="action", required=True)
    issue = token_actions.add_parser("issue", help="issue a token (also: onevisit token ROLE …)")
    issue.add_argument("role", choices=ROLES)
    issue.add_argument("--department", help="officers: two-digit department code")
    issue.add_argument("--region", help="clerks, officers, supervisors: GB/T 2260 region code")
    issue.add_argument("--subject", help="applicants: ID number or unified social credit code")
    issue.add_argument("--label", help="who the token is for (shown in token list; the audit log records the token id)")
    issue.add_argument("--expires", default="90d",
                       help="lifetime (30d, 12h, 2w), an ISO date or date-time, or 'never' (default 90d)")
    issue.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    issue.set_defaults(func=cmd_token_issue)
    listing = token_actions.add_parser("list", help="valid tokens (never their text): id, role, expiry, label, scope")
    listing.add_argument("--all", action="store_true", help="include expired and revoked tokens")
    listing.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    listing.set_defaults(func=cmd_token_list)
    revoke = token_actions.add_parser("revoke", help="revoke a token by its id (see token list)")
    revoke.add_argument("id", help="the token's id")
    revoke.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    revoke.set_defaults(func=cmd_token_revoke)
    register_runtime_commands(sub)  # worker, sweep, outbox (api/cli_runtime.py)
    register_file_commands(sub)  # files purge (api/cli_files.py)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``onevisit`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["token"] and argv[1:2] and argv[1] in ROLES:
        argv.insert(1, "issue")  # the short form: onevisit token ROLE …
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SpecError as exc:
        return _fail(str(exc))
    except DomainError as exc:
        return _fail(exc.message)
    except ValidationError as exc:  # the ONEVISIT_* settings
        for error in exc.errors():
            name = "ONEVISIT_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"onevisit: configuration: {name}: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a CLI reports, it does not dump tracebacks
        from sqlalchemy.exc import ArgumentError, OperationalError

        if isinstance(exc, ArgumentError | OperationalError):
            return _fail(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
        raise


if __name__ == "__main__":
    sys.exit(main())
