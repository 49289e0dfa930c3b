"""What the connected database account may do beyond reading, found when a connection opens.

The database is the first wall only if the account behind it cannot read server files, run programs or signal
other sessions. A read-only transaction stops writes, not a superuser's ``pg_read_file``; the parser is then
the only thing in the way. So a PostgreSQL connection whose role is a superuser or holds one of the
server-file, program or signal roles is refused unless it names a ``reader_role`` (every statement then runs
under ``SET LOCAL ROLE reader``) or sets ``allow_privileged = true``. MySQL/MariaDB accounts with ``FILE``,
``SUPER`` or ``PROCESS`` are reported (log and ``list_connections``), since there is no per-statement role
to fall back to on every server version.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from toolmesh.servers.sql.errors import SqlConfigError

__all__ = [
    "MYSQL_RISKY_PRIVILEGES",
    "PG_PRIVILEGED_ROLES",
    "PG_PRIVILEGE_QUERY",
    "PgPrivileges",
    "mysql_risky_privileges",
    "pg_check_privileges",
    "pg_privileged_error",
    "pg_reader_role_error",
]

logger = logging.getLogger(__name__)

PG_PRIVILEGED_ROLES = (
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
)
MYSQL_RISKY_PRIVILEGES = ("FILE", "SUPER", "PROCESS")

# For a role name: (exists, superuser, the privileged roles it can use or SET ROLE to).
PG_PRIVILEGE_QUERY = """
SELECT r.rolname, r.rolsuper,
       ARRAY(SELECT b.rolname::text FROM pg_roles b
             WHERE b.rolname = ANY($2::text[]) AND pg_has_role(r.oid, b.oid, 'MEMBER') ORDER BY 1),
       pg_has_role(current_user, r.oid, 'MEMBER')
FROM pg_roles r WHERE r.rolname = coalesce($1, current_user::text)
"""


@dataclass(frozen=True, slots=True)
class PgPrivileges:
    """One role as PostgreSQL sees it."""

    role: str
    superuser: bool
    roles: list[str] = field(default_factory=list)
    usable: bool = True  # the session's login role can SET ROLE to it

    @property
    def privileged(self) -> bool:
        return self.superuser or bool(self.roles)

    def describe(self) -> str:
        parts = (["superuser"] if self.superuser else []) + self.roles
        return f"role `{self.role}` is " + " and ".join(parts) if parts else f"role `{self.role}`"


def _reader_sql(login: str, schemas: list[str], reader: str) -> str:
    shown = schemas or ["public"]
    grants = "\n".join(
        f"GRANT USAGE ON SCHEMA {s} TO {reader};\n"
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {reader};\n"
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO {reader};"
        for s in shown
    )
    return (
        f"CREATE ROLE {reader} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;\n"
        f"{grants}\n"
        f"GRANT {reader} TO {login};"
    )


def pg_privileged_error(login: PgPrivileges, connection: str, schemas: list[str]) -> SqlConfigError:
    """The refusal of a privileged login, with the statements that create a reader role."""
    reader = "toolmesh_reader"
    return SqlConfigError(
        f"connection `{connection}`: the {login.describe()}, so a query could read server files, run "
        "programs or signal other sessions despite the read-only transaction",
        hint=(
            "Create a least-privilege role and name it in the connection's settings "
            f'(reader_role = "{reader}"): queries then run under SET LOCAL ROLE {reader}:\n'
            + _reader_sql(login.role, schemas, reader)
            + "\nOr connect as a login role without those privileges; or set allow_privileged = true to "
            "accept the risk (the parser is then the only line of defence)."
        ),
    )


def pg_reader_role_error(reader: PgPrivileges | None, name: str, connection: str) -> SqlConfigError | None:
    """Why ``reader_role`` cannot be used, or None when it can."""
    if reader is None:
        return SqlConfigError(
            f"connection `{connection}`: reader_role `{name}` does not exist",
            hint=f"Create it: CREATE ROLE {name} NOLOGIN; then GRANT USAGE and SELECT as in docs/sql.md.",
        )
    if reader.privileged:
        return SqlConfigError(
            f"connection `{connection}`: reader_role `{name}` is privileged itself ({reader.describe()})",
            hint=f"Use a role without superuser and without {', '.join(PG_PRIVILEGED_ROLES)}.",
        )
    if not reader.usable:
        return SqlConfigError(
            f"connection `{connection}`: the login role cannot SET ROLE to reader_role `{name}`",
            hint=f"GRANT {name} TO <the login role>;",
        )
    return None


async def _pg_role(conn: Any, name: str | None) -> PgPrivileges | None:
    row = await conn.fetchrow(PG_PRIVILEGE_QUERY, name, list(PG_PRIVILEGED_ROLES))
    return None if row is None else PgPrivileges(row[0], row[1], list(row[2]), row[3])


async def pg_check_privileges(
    conn: Any, connection: str, schemas: list[str], *, reader_role: str | None, allow: bool
) -> tuple[str | None, list[str]]:
    """The role to ``SET LOCAL ROLE`` to (or None) and the warnings to show, for an asyncpg connection;
    raises when a privileged login has neither a usable ``reader_role`` nor ``allow_privileged``."""
    login = await _pg_role(conn, None)
    assert login is not None  # current_user always exists
    warnings: list[str] = []
    if reader_role is not None:
        problem = pg_reader_role_error(await _pg_role(conn, reader_role), reader_role, connection)
        if problem is not None:
            raise problem
        if login.privileged:
            warnings.append(
                f"logs in as a privileged role ({login.describe()}); queries run as `{reader_role}`"
            )
    elif login.privileged:
        if not allow:
            raise pg_privileged_error(login, connection, schemas)
        warnings.append(
            f"PRIVILEGED: {login.describe()} and allow_privileged = true; only the parser stops file reads "
            "and signals"
        )
    for warning in warnings:
        logger.warning("sql connection %s: %s", connection, warning)
    return reader_role, warnings


_GRANT = re.compile(r"^GRANT (.+?) ON (\S+) TO ", re.IGNORECASE)


def mysql_risky_privileges(grants: list[str]) -> list[str]:
    """``FILE``, ``SUPER`` and ``PROCESS`` (or ``ALL PRIVILEGES`` on ``*.*``) among ``SHOW GRANTS`` lines."""
    found: set[str] = set()
    for line in grants:
        match = _GRANT.match(line)
        if not match or match.group(2).replace("`", "") != "*.*":
            continue
        privileges = {p.strip().upper() for p in match.group(1).split(",")}
        if "ALL PRIVILEGES" in privileges or "ALL" in privileges:
            found.update(MYSQL_RISKY_PRIVILEGES)
        found.update(p for p in privileges if p in MYSQL_RISKY_PRIVILEGES)
    return [p for p in MYSQL_RISKY_PRIVILEGES if p in found]
