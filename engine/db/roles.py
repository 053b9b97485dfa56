"""PostgreSQL roles: the application appends to the audit trail and can do nothing else to it.

Migrations run as the role that owns the tables. The runtime role (the one ``onevisit serve``
and the flows connect as) is granted SELECT, INSERT and UPDATE on the ordinary tables and only
SELECT and INSERT on the audit tables. It does not own them, so it cannot ``ALTER TABLE …
DISABLE TRIGGER``, drop a trigger, ``TRUNCATE`` or ``DELETE``; it is not a superuser, so it
cannot ``SET session_replication_role = replica`` either. Someone with the owner's password
still can: that is what the signed seals (:mod:`engine.records.audit_seal`) are for.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

from engine.db.models import Base
from engine.errors import DomainError

# Evidence: appended, never changed. Everything else the application reads, inserts and updates.
APPEND_ONLY = ("audit_events", "audit_seals", "audit_seal_entries")
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


def runtime_grants(conn: Connection, *, role: str) -> list[str]:
    """The statements that give ``role`` exactly the runtime privileges on the current schema.

    Idempotent: privileges are revoked first, so run it again after every ``db upgrade`` (new
    tables get no privileges by themselves). Refuses a role that owns the tables or is a
    superuser, since for such a role no grant takes anything away.
    """
    if conn.dialect.name != "postgresql":
        raise DomainError("database roles need PostgreSQL: with SQLite, whoever can write the file can change "
                          "everything; keep the file readable by the service user only and rely on the seals")
    if not _ROLE_NAME.fullmatch(role):
        raise DomainError(f"role {role!r}: use a lower-case PostgreSQL identifier (letters, digits, _)", field="role")
    found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": role}).first()
    if found is None:
        raise DomainError(f"role {role!r} does not exist: CREATE ROLE {role} LOGIN PASSWORD '…' first", field="role")
    if found.rolsuper:
        raise DomainError(f"role {role!r} is a superuser: it bypasses every privilege and trigger", field="role")
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    owners = {row.tableowner for row in conn.execute(
        text("SELECT tableowner FROM pg_tables WHERE schemaname = :schema"), {"schema": schema})}
    if role in owners:
        raise DomainError(f"role {role!r} owns tables in schema {schema}: the runtime role must not own what it "
                          "appends to; run migrations as another role", field="role")
    quote = conn.dialect.identifier_preparer.quote
    who, where = quote(role), quote(schema)

    def tables(names: list[str]) -> str:
        return ", ".join(f"{where}.{quote(name)}" for name in names)

    ordinary = sorted(name for name in Base.metadata.tables if name not in APPEND_ONLY)
    return [
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}",
        f"GRANT SELECT, INSERT, UPDATE ON {tables(ordinary)} TO {who}",
        f"GRANT SELECT, INSERT ON {tables(list(APPEND_ONLY))} TO {who}",
        f"GRANT SELECT ON {tables(['alembic_version'])} TO {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
    ]


def grant_runtime(conn: Connection, *, role: str) -> list[str]:
    """Apply :func:`runtime_grants` in the connection's transaction; the statements run."""
    statements = runtime_grants(conn, role=role)
    for statement in statements:
        conn.execute(text(statement))
    return statements
