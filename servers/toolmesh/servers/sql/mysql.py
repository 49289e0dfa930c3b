"""MySQL / MariaDB backend (aiomysql): read-only sessions and transactions, server-side execution limits.

Each session is set to ``TRANSACTION READ ONLY`` when first used; every query runs inside
``START TRANSACTION READ ONLY`` under ``max_execution_time`` (MySQL) or ``max_statement_time`` (MariaDB).
Multi-statements and ``LOAD DATA LOCAL`` are off in the client. Results stream through an unbuffered cursor;
when a cap stops the read early the connection is closed instead of draining the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import urllib.parse
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiomysql
import pymysql  # type: ignore[import-untyped]
from pymysql.constants import FIELD_TYPE  # type: ignore[import-untyped]

from toolmesh.servers.sql.backend import Backend, Capped, Params, RawResult, UnknownName
from toolmesh.servers.sql.errors import (
    ConnectionUnavailable,
    QueryRejected,
    QueryTimeout,
    SqlConfigError,
    SqlInputError,
    SqlSyntaxError,
)
from toolmesh.servers.sql.models import ColumnInfo, ForeignKey, IndexInfo, TableDescription, TableSummary
from toolmesh.servers.sql.mysql_rows import RowReader
from toolmesh.servers.sql.omission import RowBudget
from toolmesh.servers.sql.privileges import mysql_risky_privileges

__all__ = ["MysqlBackend", "mysql_params"]

_TYPE_NAMES = {getattr(FIELD_TYPE, n): n for n in dir(FIELD_TYPE) if n.isupper()}
_TIMEOUT_CODES = {3024, 1969, 1317, 2013}
_READ_ONLY_CODES = {1792, 1227, 1142, 1044, 1045, 1370}
_COM_RESET_CONNECTION = 0x1F
# Modes that change how the text is read (the lexer assumes neither): cleared in every session.
_LEXICAL_MODES = frozenset({"ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI"})
logger = logging.getLogger(__name__)


def mysql_params(url: str) -> dict[str, Any]:
    """aiomysql connection arguments from ``mysql://user:password@host:port/database``."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise SqlConfigError(
            f"the MySQL URL {url!r} has no host", hint="Use mysql://user:password@host:3306/db."
        )
    database = urllib.parse.unquote(parts.path.lstrip("/"))
    if not database:
        raise SqlConfigError(f"the MySQL URL {url!r} names no database", hint="Append /DATABASE to the URL.")
    return {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": urllib.parse.unquote(parts.username or "root"),
        "password": urllib.parse.unquote(parts.password or ""),
        "db": database,
    }


class MysqlBackend(Backend):
    dialect = "mysql"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int,
        schemas: list[str],
        time_limit: float,
        connect_timeout: float = 10.0,
        name: str = "mysql",
    ) -> None:
        self.name = name
        self.params = mysql_params(url)
        self.pool_size = pool_size
        self.schemas = schemas or [self.params["db"]]
        self.timeout = time_limit
        self.connect_timeout = connect_timeout
        self._pool: aiomysql.Pool | None = None
        self._mariadb = False
        self._sql_mode = ""
        # Connections already set up: session read-only, and the execution limit last set on them.
        self._ready: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._lock = asyncio.Lock()

    def _unavailable(self, exc: BaseException) -> ConnectionUnavailable:
        address = f"{self.params['host']}:{self.params['port']}"
        if isinstance(exc, TimeoutError):
            reason = f"timed out after {self.connect_timeout:g} s connecting to {address}"
        else:
            reason = (str(exc.args[1]) if len(exc.args) > 1 else str(exc)) or type(exc).__name__
        return ConnectionUnavailable(
            f"cannot connect to MySQL/MariaDB: {reason}",
            hint="Check that the server is up and reachable; a peer that never answers is given up on after "
            "TOOLMESH_SQL_CONNECT_TIMEOUT_SECONDS.",
        )

    async def open(self) -> None:
        # aiomysql bounds only the TCP connect: the lock wait, the handshake and TLS are bounded here.
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self._open()
        except TimeoutError as exc:
            raise self._unavailable(exc) from exc

    async def _open(self) -> None:
        async with self._lock:
            if self._pool is not None:
                return
            pool = None
            try:
                pool = await aiomysql.create_pool(
                    minsize=1,
                    maxsize=self.pool_size,
                    autocommit=True,
                    charset="utf8mb4",
                    local_infile=False,
                    connect_timeout=self.connect_timeout,
                    **self.params,
                )
                async with pool.acquire() as conn, conn.cursor() as cur:
                    await cur.execute("SELECT VERSION(), @@GLOBAL.sql_mode")
                    row = await cur.fetchone()
                    await cur.execute("SHOW GRANTS FOR CURRENT_USER()")
                    grants = [str(r[0]) for r in await cur.fetchall()]
                self._mariadb = "mariadb" in str(row[0]).lower() if row else False
                modes = str(row[1] if row else "").split(",")
                self._sql_mode = ",".join(m for m in modes if m and m.upper() not in _LEXICAL_MODES)
                risky = mysql_risky_privileges(grants)
                if risky:
                    self.warnings = (
                        f"the account holds {', '.join(risky)}: FILE reads server files (LOAD_FILE), "
                        "SUPER and PROCESS see or end other sessions; only the parser stops them. "
                        "Connect as an account with SELECT only (docs/sql.md).",
                    )
                    logger.warning("sql connection %s: %s", self.name, self.warnings[0])
                self._pool = pool
            except (OSError, pymysql.MySQLError) as exc:
                if pool is not None:
                    pool.terminate()
                raise self._unavailable(exc) from exc
            except BaseException:  # timed out or cancelled mid-handshake: no half-open pool left behind
                if pool is not None:
                    pool.terminate()
                raise

    async def close(self) -> None:
        """Close the pool; connections still busy (or a peer that stopped answering) are cut after a grace
        period instead of holding up shutdown."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            try:
                await asyncio.wait_for(pool.wait_closed(), timeout=self.connect_timeout)
            except TimeoutError:
                pool.terminate()
                await pool.wait_closed()

    def _limit_sql(self, time_limit: float) -> str:
        if self._mariadb:
            return f"SET SESSION max_statement_time = {time_limit:.3f}"
        return f"SET SESSION max_execution_time = {int(time_limit * 1000)}"

    async def _reset(self, conn: Any) -> None:
        """COM_RESET_CONNECTION: user variables, temporary tables, prepared statements and session settings
        of the last caller are gone before the connection serves the next one."""
        if conn.closed:
            return
        try:
            async with asyncio.timeout(5):
                await conn._execute_command(_COM_RESET_CONNECTION, "")
                await conn._read_ok_packet()
        except (TimeoutError, OSError, pymysql.MySQLError) as exc:
            logger.debug("sql connection %s: reset failed (%s); closing the connection", self.name, exc)
            conn.close()
        self._ready.pop(conn, None)

    @contextlib.asynccontextmanager
    async def _connection(self, time_limit: float) -> AsyncIterator[Any]:
        await self.open()
        pool = self._pool
        if pool is None:
            raise ConnectionUnavailable("the MySQL/MariaDB connection was closed", hint="Retry the call.")
        wait = time_limit  # bounded by the call's own limit
        try:
            async with asyncio.timeout(wait):  # a free connection, or a new one (connect and handshake)
                conn = await pool.acquire()
        except TimeoutError as exc:
            raise ConnectionUnavailable(
                f"no MySQL/MariaDB connection became ready within {wait:g} s (all {self.pool_size} are "
                f"busy, or {self.params['host']}:{self.params['port']} stopped answering)",
                hint="Retry in a moment, or raise pool_size for this connection.",
            ) from exc
        except (OSError, pymysql.MySQLError) as exc:
            raise self._unavailable(exc) from exc
        try:
            try:
                async with asyncio.timeout(wait), conn.cursor() as cur:
                    if conn not in self._ready:
                        await cur.execute("SET SESSION TRANSACTION READ ONLY")
                        await cur.execute("SET NAMES utf8mb4, SESSION sql_mode = %s", (self._sql_mode,))
                    if self._ready.get(conn) != time_limit:  # a round trip saved when the limit is unchanged
                        await cur.execute(self._limit_sql(time_limit))
                        self._ready[conn] = time_limit
            except TimeoutError as exc:
                conn.close()
                raise self._unavailable(exc) from exc
            yield conn
        finally:
            if not conn.closed:
                await self._reset(conn)  # user variables and session state never reach the next caller
            pool.release(conn)

    def _error(self, exc: BaseException, time_limit: float) -> Exception:
        if isinstance(exc, asyncio.TimeoutError):
            return QueryTimeout(f"the query was stopped after the {time_limit:g} s limit", hint="Narrow it.")
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code in _TIMEOUT_CODES:
            return QueryTimeout(
                f"the query was stopped after the {time_limit:g} s limit",
                hint="Narrow it: add WHERE conditions or a LIMIT, aggregate, or avoid cross joins.",
            )
        if code == 1054:
            match = re.search(r"Unknown column '([^']+)'", text)
            name = (match.group(1) if match else text).split(".")[-1]
            return UnknownName("column", name, f"no column `{name}`")
        if code == 1146:
            match = re.search(r"Table '([^']+)' doesn't exist", text)
            name = (match.group(1) if match else text).split(".")[-1]
            return UnknownName("table", name, f"no table `{name}`")
        if code == 1064:
            return SqlSyntaxError(f"syntax error: {text}", hint="Fix the SQL near the quoted text.")
        if code in _READ_ONLY_CODES:
            return QueryRejected(f"refused by the database: {text}", hint="This connection is read-only.")
        if isinstance(exc, OSError) or code >= 2000:
            return ConnectionUnavailable(f"lost the MySQL/MariaDB connection: {text}")
        return SqlInputError(f"the database rejected the query: {text}")

    async def query(
        self, sql: str, params: Params, *, max_rows: int, max_bytes: int, time_limit: float
    ) -> RawResult:
        capped = Capped(max_rows, max_bytes)
        columns: list[tuple[str, str]] = []
        async with self._connection(time_limit) as conn:
            try:
                async with asyncio.timeout(time_limit + 2):
                    cur = await conn.cursor(aiomysql.SSCursor)
                    await cur.execute("START TRANSACTION READ ONLY")
                    await cur.execute(sql, params)
                    columns = [(d[0], _TYPE_NAMES.get(d[1], str(d[1]))) for d in cur.description or ()]
                    budget = RowBudget(max_bytes, len(columns))
                    names = [c[0] for c in columns]
                    reader, read = RowReader(conn, budget), 0
                    with reader.reading():
                        while capped.reason is None and columns:
                            # unbuffered: rows are read off the socket one by one as the batch fills
                            batch = await cur.fetchmany(capped.batch())
                            if reader.omitted:  # values over the row budget were left out on the wire
                                got = reader.omitted
                                batch = [
                                    budget.noted(r, got.get(read + n, {}), names) for n, r in enumerate(batch)
                                ]
                            read += len(batch)
                            if not batch or not capped.add_many(batch):
                                break
                        if capped.reason is not None:
                            conn.close()  # do not drain the rest of a capped result
                        else:
                            await cur.close()
                            await conn.rollback()
            except (TimeoutError, pymysql.MySQLError, OSError) as exc:
                conn.close()
                raise self._error(exc, time_limit) from exc
        return RawResult(columns, capped.rows, capped.reason)

    async def write(self, sql: str, params: Params, *, time_limit: float) -> int:
        async with self._connection(time_limit) as conn:
            try:
                async with asyncio.timeout(time_limit + 2), conn.cursor() as cur:
                    await cur.execute("START TRANSACTION READ WRITE")
                    await cur.execute(sql, params)
                    count = int(cur.rowcount)
                    await conn.commit()
                    return max(count, 0)
            except (TimeoutError, pymysql.MySQLError, OSError) as exc:
                conn.close()
                raise self._error(exc, time_limit) from exc

    async def explain(self, sql: str, params: Params, *, analyze: bool, time_limit: float) -> str:
        prefix = ("ANALYZE " if self._mariadb else "EXPLAIN ANALYZE ") if analyze else "EXPLAIN "
        result = await self.query(
            prefix + sql, params, max_rows=1_000, max_bytes=1_000_000, time_limit=time_limit
        )
        names = [c[0] for c in result.columns]
        if len(names) == 1:
            return "\n".join(str(r[0]) for r in result.rows)
        lines = [" | ".join(names)]
        lines += [" | ".join("" if v is None else str(v) for v in row) for row in result.rows]
        return "\n".join(lines)

    async def _catalog(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self._connection(30.0) as conn:
            try:
                async with asyncio.timeout(30), conn.cursor() as cur:
                    await cur.execute(sql, args)
                    rows = await cur.fetchall()
            except (TimeoutError, pymysql.MySQLError, OSError) as exc:
                conn.close()
                raise self._error(exc, 30.0) from exc
        return [tuple(r) for r in rows]

    def _in_schemas(self) -> tuple[str, tuple[Any, ...]]:
        marks = ", ".join(["%s"] * len(self.schemas))
        return f"IN ({marks})", tuple(self.schemas)

    async def tables(self) -> list[TableSummary]:
        clause, args = self._in_schemas()
        rows = await self._catalog(
            "SELECT table_schema, table_name, table_type, table_rows, table_comment "  # noqa: S608
            f"FROM information_schema.tables WHERE table_schema {clause} ORDER BY table_schema, table_name",
            args,
        )
        return [
            TableSummary(
                schema_name=r[0],
                name=r[1],
                kind="view" if "VIEW" in str(r[2]).upper() else "table",
                estimated_rows=int(r[3]) if r[3] is not None else None,
                comment=(r[4] or None) if "VIEW" not in str(r[2]).upper() else None,
            )
            for r in rows
        ]

    async def describe(self, connection: str, table: TableSummary) -> TableDescription:
        key = (table.schema_name, table.name)
        column_rows = await self._catalog(
            "SELECT column_name, column_type, is_nullable, column_default, column_key, column_comment "
            "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            key,
        )
        stats = await self._catalog(
            "SELECT index_name, non_unique, column_name FROM information_schema.statistics "
            "WHERE table_schema = %s AND table_name = %s ORDER BY index_name, seq_in_index",
            key,
        )
        fk_rows = await self._catalog(
            "SELECT constraint_name, column_name, referenced_table_schema, referenced_table_name, "
            "referenced_column_name FROM information_schema.key_column_usage "
            "WHERE table_schema = %s AND table_name = %s AND referenced_table_name IS NOT NULL "
            "ORDER BY constraint_name, ordinal_position",
            key,
        )
        indexes: dict[str, IndexInfo] = {}
        for index_name, non_unique, column in stats:
            indexes.setdefault(index_name, IndexInfo(name=index_name, columns=[], unique=not int(non_unique)))
            indexes[index_name].columns.append(column)
        primary_key = indexes["PRIMARY"].columns if "PRIMARY" in indexes else []
        fks: dict[str, ForeignKey] = {}
        for name, column, ref_schema, ref_table, ref_column in fk_rows:
            fk = fks.setdefault(
                name, ForeignKey(columns=[], ref_schema=ref_schema, ref_table=ref_table, ref_columns=[])
            )
            fk.columns.append(column)
            fk.ref_columns.append(ref_column)
        columns = [
            ColumnInfo(
                name=r[0],
                type=str(r[1]),
                nullable=r[2] == "YES",
                default=None if r[3] is None else str(r[3]),
                primary_key=r[0] in primary_key,
                comment=r[5] or None,
            )
            for r in column_rows
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
            foreign_keys=list(fks.values()),
            indexes=list(indexes.values()),
        )

    async def referenced_by(self, table: TableSummary) -> list[str]:
        rows = await self._catalog(
            "SELECT DISTINCT table_schema, table_name FROM information_schema.key_column_usage "
            "WHERE referenced_table_schema = %s AND referenced_table_name = %s ORDER BY 1, 2",
            (table.schema_name, table.name),
        )
        return [f"{r[0]}.{r[1]}" for r in rows]

    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"
