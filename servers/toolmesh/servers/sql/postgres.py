"""PostgreSQL backend (asyncpg): read-only transactions, server-side timeouts, one prepared statement a call.

Every session starts with ``default_transaction_read_only=on``, ``statement_timeout`` and
``idle_in_transaction_session_timeout``. Every query runs as a single prepared statement (the extended
protocol
cannot carry a second statement) inside ``BEGIN READ ONLY`` opened by us, read through a cursor so a huge
result
is never materialised. Pair it with the least-privilege role in docs/sql.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from toolmesh.servers.sql.backend import Backend, Capped, Params, RawResult, UnknownName
from toolmesh.servers.sql.errors import (
    ConnectionUnavailable,
    QueryRejected,
    QueryTimeout,
    SqlInputError,
    SqlSyntaxError,
)
from toolmesh.servers.sql.models import ColumnInfo, ForeignKey, IndexInfo, TableDescription, TableSummary
from toolmesh.servers.sql.omission import RowBudget
from toolmesh.servers.sql.omission_sql import postgres_wrapped
from toolmesh.servers.sql.postgres_catalog import (
    _COLUMNS,
    _CONSTRAINTS,
    _INDEXES,
    _KINDS,
    _OID,
    _REFERENCED_BY,
    _TABLES,
)
from toolmesh.servers.sql.privileges import pg_check_privileges

__all__ = ["PostgresBackend"]


def _address(dsn: str) -> str:
    """``host:port`` of a DSN, for messages."""
    try:
        parsed = urllib.parse.urlsplit(dsn)
        return f"{parsed.hostname or 'localhost'}:{parsed.port or 5432}"
    except ValueError:  # several hosts, or an unusual port: the netloc as written
        return urllib.parse.urlsplit(dsn).netloc.rsplit("@", 1)[-1] or "the server"


class PostgresBackend(Backend):
    dialect = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int,
        schemas: list[str],
        time_limit: float,
        connect_timeout: float = 10.0,
        name: str = "postgres",
        reader_role: str | None = None,
        allow_privileged: bool = False,
    ) -> None:
        self.dsn = dsn
        self.pool_size = pool_size
        self.schemas = schemas
        self.timeout = time_limit
        self.connect_timeout = connect_timeout
        self.name = name
        self.reader_role = reader_role
        self.allow_privileged = allow_privileged
        self._set_role = (
            ""  # "SET LOCAL ROLE ...;" run first in every transaction, when a reader role is used
        )
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._address = _address(dsn)

    def _unavailable(self, exc: BaseException) -> ConnectionUnavailable:
        reason = str(exc) or (
            f"timed out after {self.connect_timeout:g} s connecting to {self._address}"
            if isinstance(exc, TimeoutError)
            else type(exc).__name__
        )
        return ConnectionUnavailable(
            f"cannot connect to PostgreSQL: {reason}",
            hint="Check that the server is up and reachable; a peer that never answers is given up on after "
            "TOOLMESH_SQL_CONNECT_TIMEOUT_SECONDS.",
        )

    async def _check_privileges(self, pool: Any) -> None:
        """Refuse a privileged login unless a reader role takes over or the risk was accepted."""
        async with pool.acquire() as conn:
            role, warnings = await pg_check_privileges(
                conn, self.name, self.schemas, reader_role=self.reader_role, allow=self.allow_privileged
            )
        self.warnings = tuple(warnings)
        self._set_role = f"SET LOCAL ROLE {self.quote(role)};" if role else ""

    async def open(self) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout + 1):  # the lock wait, then the first connection
                await self._open()
        except TimeoutError as exc:
            raise self._unavailable(exc) from exc

    async def _open(self) -> None:
        async with self._lock:
            if self._pool is not None:
                return
            ms = str(int(self.timeout * 1000))
            extra = {"search_path": ", ".join(self.quote(s) for s in self.schemas)} if self.schemas else {}
            try:
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=1,
                    max_size=self.pool_size,
                    command_timeout=self.timeout + 5,
                    timeout=self.connect_timeout,  # TCP connect, TLS and startup of each connection
                    server_settings={
                        "default_transaction_read_only": "on",
                        "statement_timeout": ms,
                        "lock_timeout": ms,
                        "idle_in_transaction_session_timeout": str(int(self.timeout * 1000) + 30_000),
                        "application_name": "toolmesh-sql",
                        # the lexer in lexer.py reads '...' as this setting does: no backslash escapes
                        "standard_conforming_strings": "on",
                        **extra,
                    },
                )
                await self._check_privileges(self._pool)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                await self._discard()
                raise self._unavailable(exc) from exc
            except BaseException:
                await self._discard()
                raise

    async def _discard(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def close(self) -> None:
        """Close the pool; connections still busy (or a peer that stopped answering) are cut after a grace
        period instead of holding up shutdown."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=self.connect_timeout)
            except TimeoutError:
                pool.terminate()

    @contextlib.asynccontextmanager
    async def _connection(self, time_limit: float | None = None) -> AsyncIterator[Any]:
        await self.open()
        pool = self._pool
        if pool is None:
            raise ConnectionUnavailable("the PostgreSQL connection was closed", hint="Retry the call.")
        wait = time_limit or self.timeout  # bounded by the call's own limit
        try:
            conn = await pool.acquire(timeout=wait)
        except TimeoutError as exc:
            raise ConnectionUnavailable(
                f"no PostgreSQL connection became free within {wait:g} s "
                f"(all {self.pool_size} are busy, or {self._address} stopped answering)",
                hint="Retry in a moment, or raise pool_size for this connection.",
            ) from exc
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise self._unavailable(exc) from exc
        try:
            yield conn
        finally:
            await pool.release(conn)

    def _error(self, exc: BaseException, time_limit: float) -> Exception:
        text = str(exc)
        if isinstance(exc, asyncpg.QueryCanceledError | asyncio.TimeoutError):
            return QueryTimeout(
                f"the query was cancelled after the {time_limit:g} s statement time_limit",
                hint="Narrow it: add WHERE conditions or a LIMIT, aggregate, or avoid cross joins.",
            )
        if isinstance(exc, asyncpg.UndefinedColumnError):
            match = re.search(r'column "?([^"\s]+)"? does not exist', text)
            name = (match.group(1) if match else text).split(".")[-1]
            return UnknownName("column", name, f"no column `{name}`")
        if isinstance(exc, asyncpg.UndefinedTableError):
            match = re.search(r'relation "([^"]+)" does not exist', text)
            name = (match.group(1) if match else text).split(".")[-1]
            return UnknownName("table", name, f"no table `{name}`")
        if isinstance(exc, asyncpg.PostgresSyntaxError):
            position = getattr(exc, "position", None)
            where = f" at character {position}" if position else ""
            return SqlSyntaxError(f"syntax error{where}: {text}", hint="Fix the SQL at that position.")
        if isinstance(exc, asyncpg.ReadOnlySQLTransactionError | asyncpg.InsufficientPrivilegeError):
            return QueryRejected(f"refused by the database: {text}", hint="This connection is read-only.")
        if isinstance(exc, asyncpg.PostgresError):
            return SqlInputError(f"the database rejected the query: {text}")
        if isinstance(exc, OSError | asyncpg.InterfaceError):
            return ConnectionUnavailable(f"lost the PostgreSQL connection: {exc}")
        return SqlInputError(f"the query failed: {text}")

    @staticmethod
    def _args(params: Params) -> list[Any]:
        if params is None:
            return []
        if isinstance(params, dict):
            raise SqlInputError("PostgreSQL parameters must be positional after binding")
        return list(params)

    async def query(
        self, sql: str, params: Params, *, max_rows: int, max_bytes: int, time_limit: float
    ) -> RawResult:
        return await self._query(sql, params, Capped(max_rows, max_bytes), time_limit, bounded=True)

    async def _query(
        self, sql: str, params: Params, capped: Capped, time_limit: float, *, bounded: bool
    ) -> RawResult:
        """Run ``sql``; ``bounded``: wrapped so that no row over the byte cap reaches us whole (omission.py),
        which every statement needs except our own EXPLAIN (its rows are plan lines, and it cannot be a
        subquery)."""
        async with self._connection(time_limit) as conn:
            try:
                async with asyncio.timeout(time_limit + 2), conn.transaction(readonly=True):
                    setup = self._set_role
                    if time_limit != self.timeout:  # the session default already is self.timeout
                        setup += f"SET LOCAL statement_timeout = {int(time_limit * 1000)};"
                    if setup:
                        await conn.execute(setup)
                    statement = await conn.prepare(sql)
                    attributes = statement.get_attributes()
                    columns = [(a.name, a.type.name) for a in attributes]
                    budget = RowBudget(capped.max_bytes, len(columns))
                    wrapped = (
                        postgres_wrapped(sql, [c[0] for c in columns], [a.type for a in attributes], budget)
                        if bounded and columns
                        else None
                    )
                    if wrapped is not None:
                        statement = await conn.prepare(wrapped.sql)
                    if columns:
                        cursor = await statement.cursor(*self._args(params))
                        while capped.reason is None:
                            batch = await cursor.fetch(capped.batch())
                            rows = [wrapped.row(r) if wrapped else tuple(r) for r in batch]
                            if not rows or not capped.add_many(rows):
                                break
                    else:
                        await statement.fetch(*self._args(params))
                    if not conn.is_in_transaction():
                        raise QueryRejected(
                            "the statement ended the read-only transaction",
                            hint="Transaction control (COMMIT, ROLLBACK, END) is never allowed.",
                        )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                raise self._error(exc, time_limit) from exc
        return RawResult(columns, capped.rows, capped.reason)

    async def write(self, sql: str, params: Params, *, time_limit: float) -> int:
        async with self._connection(time_limit) as conn:
            try:
                async with asyncio.timeout(time_limit + 2):
                    await conn.execute("BEGIN READ WRITE")
                    try:
                        await conn.execute(
                            f"{self._set_role}SET LOCAL statement_timeout = {int(time_limit * 1000)}"
                        )
                        status = await conn.execute(sql, *self._args(params))
                        await conn.execute("COMMIT")
                    except BaseException:
                        with contextlib.suppress(Exception):
                            await conn.execute("ROLLBACK")
                        raise
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                raise self._error(exc, time_limit) from exc
        tail = str(status).rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def explain(self, sql: str, params: Params, *, analyze: bool, time_limit: float) -> str:
        options = "ANALYZE, BUFFERS, " if analyze else ""
        result = await self._query(
            f"EXPLAIN ({options}FORMAT TEXT) {sql}",
            params,
            Capped(10_000, 1_000_000),
            time_limit,
            bounded=False,
        )
        return "\n".join(str(row[0]) for row in result.rows)

    async def _catalog(self, sql: str, *args: Any) -> list[Any]:
        async with self._connection() as conn:
            try:
                async with asyncio.timeout(30), conn.transaction(readonly=True):
                    if self._set_role:
                        await conn.execute(self._set_role)
                    return list(await conn.fetch(sql, *args))
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                raise self._error(exc, 30.0) from exc

    async def tables(self) -> list[TableSummary]:
        rows = await self._catalog(_TABLES, self.schemas or None)
        return [
            TableSummary(
                schema_name=r[0],
                name=r[1],
                kind=_KINDS.get(r[2], "table"),
                estimated_rows=int(r[3]) if r[3] is not None and r[3] >= 0 else None,
                comment=r[4],
            )
            for r in rows
        ]

    async def describe(self, connection: str, table: TableSummary) -> TableDescription:
        oid_rows = await self._catalog(_OID, table.schema_name, table.name)
        if not oid_rows:
            raise UnknownName("table", table.name, f"no table `{table.schema_name}.{table.name}`")
        oid = oid_rows[0][0]
        column_rows = await self._catalog(_COLUMNS, oid)
        by_number = {r[0]: r[1] for r in column_rows}
        primary_key: list[str] = []
        fks: list[ForeignKey] = []
        for kind, keys, ref_schema, ref_table, ref_columns in await self._catalog(_CONSTRAINTS, oid):
            names = [by_number[k] for k in keys or [] if k in by_number]
            if kind == "p":
                primary_key = names
            else:
                fks.append(
                    ForeignKey(
                        columns=names,
                        ref_schema=ref_schema,
                        ref_table=ref_table,
                        ref_columns=list(ref_columns),
                    )
                )
        columns = [
            ColumnInfo(
                name=r[1],
                type=r[2],
                nullable=r[3],
                default=r[4],
                primary_key=r[1] in primary_key,
                comment=r[5],
            )
            for r in column_rows
        ]
        indexes = [
            IndexInfo(name=r[0], unique=r[1], columns=list(r[2])) for r in await self._catalog(_INDEXES, oid)
        ]
        return TableDescription(
            connection=connection,
            schema_name=table.schema_name,
            name=table.name,
            kind=table.kind,
            comment=table.comment,
            estimated_rows=table.estimated_rows,
            columns=columns,
            primary_key=primary_key,
            foreign_keys=fks,
            indexes=indexes,
        )

    async def referenced_by(self, table: TableSummary) -> list[str]:
        rows = await self._catalog(_REFERENCED_BY, table.schema_name, table.name)
        return [f"{r[0]}.{r[1]}" for r in rows]

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'
