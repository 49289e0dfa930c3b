"""SQLite backend: read-only URI, ``query_only``, an authorizer that denies writes, and a progress-handler
time_limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite

from toolmesh.servers.sql.backend import Backend, Capped, Params, RawResult, UnknownName
from toolmesh.servers.sql.errors import (
    ConnectionUnavailable,
    QueryRejected,
    QueryTimeout,
    SqlConfigError,
    SqlInputError,
    SqlSyntaxError,
)
from toolmesh.servers.sql.guard import DENIED_FUNCTIONS
from toolmesh.servers.sql.models import ColumnInfo, ForeignKey, IndexInfo, TableDescription, TableSummary
from toolmesh.servers.sql.sqlite_printf import bounded_printf

__all__ = ["SqliteBackend", "parse_create_comments", "sqlite_path"]

# Introspection pragmas (they take a table or index name, never a value) the catalog code uses as
# table-valued functions; every other pragma is denied.
_READ_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_ALWAYS_DENIED = frozenset(
    {
        sqlite3.SQLITE_ATTACH,
        sqlite3.SQLITE_DETACH,
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_ALTER_TABLE,
        sqlite3.SQLITE_REINDEX,
        sqlite3.SQLITE_ANALYZE,
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_INDEX,
        sqlite3.SQLITE_CREATE_TEMP_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
        sqlite3.SQLITE_CREATE_TEMP_VIEW,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_CREATE_VTABLE,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_DROP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_INDEX,
        sqlite3.SQLITE_DROP_TEMP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_TRIGGER,
        sqlite3.SQLITE_DROP_TEMP_VIEW,
        sqlite3.SQLITE_DROP_TRIGGER,
        sqlite3.SQLITE_DROP_VIEW,
        sqlite3.SQLITE_DROP_VTABLE,
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
    }
)
_WRITE_ACTIONS = frozenset({sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE})
_TRANSACTION_ACTIONS = frozenset({sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT})
_COLUMN_COMMENT = re.compile(r'^\s*["`\[]?([^\s"`\]]+)["`\]]?\s+[^-]*?--\s*(.+?)\s*$')
_TABLE_COMMENT = re.compile(r"^\s*CREATE\s+(?:TABLE|VIEW)\b[^\n]*?--\s*(.+?)\s*$", re.IGNORECASE)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL."""
    parsed = urllib.parse.urlsplit(url)
    raw = urllib.parse.unquote(parsed.path)
    path = raw[1:] if raw.startswith("/") else raw
    if not path or path == ":memory:":
        raise SqlConfigError(
            f"the SQLite URL {url!r} names no database file", hint="Use sqlite:///path/to/file.db."
        )
    return Path(path).expanduser()


def parse_create_comments(sql: str | None) -> tuple[str | None, dict[str, str]]:
    """The table comment and column comments written as ``--`` comments inside a CREATE statement."""
    if not sql:
        return None, {}
    lines = sql.splitlines()
    table_comment: str | None = None
    columns: dict[str, str] = {}
    for index, line in enumerate(lines):
        if index == 0:
            match = _TABLE_COMMENT.match(line)
            table_comment = match.group(1) if match else None
            continue
        match = _COLUMN_COMMENT.match(line)
        if match and not match.group(1).upper().startswith(
            ("PRIMARY", "FOREIGN", "UNIQUE", "CHECK", "CONSTRAINT")
        ):
            columns[match.group(1)] = match.group(2)
    return table_comment, columns


class _State:
    deadline: float = float("inf")


def _progress(state: _State) -> Any:
    def handler() -> int:
        return 1 if time.monotonic() > state.deadline else 0

    return handler


def _authorizer(allow_writes: bool) -> Any:
    def authorize(
        action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if allow_writes and (action in _WRITE_ACTIONS or action in _TRANSACTION_ACTIONS):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and trigger is None and db == "main":
            # SQLite reports this while it loads the schema for table-valued pragmas; the connection is opened
            # read-only with query_only set, so no write can follow from it.
            return sqlite3.SQLITE_OK
        if action in _ALWAYS_DENIED:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA:
            return sqlite3.SQLITE_OK if (arg1 or "").lower() in _READ_PRAGMAS else sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return authorize


def _type_of(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "REAL"
    if isinstance(value, bytes):
        return "BLOB"
    return "TEXT"


# The largest string or BLOB a query may build. Without it one call such as zeroblob(1e9) allocates
# gigabytes before the progress handler can stop it (a single function call is not interruptible).
MAX_VALUE_BYTES = 16 * 1024 * 1024


class _LimitedConnection(sqlite3.Connection):
    """A sqlite3 connection with its length limit set as it opens (in aiosqlite's own thread)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)


def _interrupt(conn: aiosqlite.Connection) -> None:
    """Interrupt the statement ``conn`` is running (sqlite3_interrupt is safe from any thread)."""
    with contextlib.suppress(ValueError, sqlite3.Error):  # already closed
        conn._conn.interrupt()


class SqliteBackend(Backend):
    dialect = "sqlite"

    def __init__(self, path: Path, *, pool_size: int, allow_writes: bool) -> None:
        self.path = path
        self.pool_size = pool_size
        self.allow_writes = allow_writes
        self._pool: asyncio.Queue[tuple[aiosqlite.Connection, _State]] | None = None
        self._all: list[aiosqlite.Connection] = []
        self._writer: tuple[aiosqlite.Connection, _State] | None = None
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    async def _connect(self, *, writable: bool) -> tuple[aiosqlite.Connection, _State]:
        if not self.path.is_file():
            raise ConnectionUnavailable(f"the SQLite database {self.path} does not exist")
        mode = "rw" if writable else "ro"
        uri = f"{self.path.resolve().as_uri()}?mode={mode}"
        try:
            conn = await aiosqlite.connect(uri, uri=True, factory=_LimitedConnection)
        except sqlite3.Error as exc:
            raise ConnectionUnavailable(f"cannot open the SQLite database {self.path}: {exc}") from exc
        state = _State()
        if not writable:
            await conn.execute("PRAGMA query_only = 1")
        await conn.execute("PRAGMA trusted_schema = 0")
        await conn.set_authorizer(_authorizer(writable))
        await conn.set_progress_handler(_progress(state), 2_000)
        for name in ("printf", "format"):  # overrides the built-ins on this connection (see sqlite_printf)
            await conn.create_function(name, -1, bounded_printf(MAX_VALUE_BYTES), deterministic=True)
        self._all.append(conn)
        return conn, state

    async def open(self) -> None:
        async with self._lock:
            if self._pool is not None:
                return
            pool: asyncio.Queue[tuple[aiosqlite.Connection, _State]] = asyncio.Queue()
            for _ in range(self.pool_size):
                pool.put_nowait(await self._connect(writable=False))
            self._pool = pool

    async def close(self) -> None:
        async with self._lock:
            conns, self._all = self._all, []
            self._pool, self._writer = None, None
            for conn in conns:
                with contextlib.suppress(Exception):
                    await conn.close()

    @contextlib.asynccontextmanager
    async def _acquire(self, time_limit: float) -> AsyncIterator[tuple[aiosqlite.Connection, _State]]:
        """A pooled connection for one call of at most ``time_limit`` seconds.

        The progress handler stops a statement between VM steps; a timer interrupts it from outside at the
        limit too; and a call still running a second later (one function call, such as a huge printf, is not
        interruptible) is abandoned: the caller gets its timeout, and the connection leaves the pool to be
        closed when its thread is done, a fresh one taking its place.
        """
        await self.open()
        assert self._pool is not None
        pool = self._pool
        try:
            async with asyncio.timeout(time_limit):
                item = await pool.get()
        except TimeoutError as exc:
            raise QueryTimeout(
                f"no SQLite connection became free within {time_limit:g} s (all {self.pool_size} are busy)",
                hint="Retry in a moment.",
            ) from exc
        conn, state = item
        state.deadline = time.monotonic() + time_limit
        timer = asyncio.get_running_loop().call_later(time_limit, _interrupt, conn)
        abandoned = False
        try:
            async with asyncio.timeout(time_limit + 1):
                yield item
        except TimeoutError as exc:
            abandoned = True
            raise QueryTimeout(
                f"the query was stopped after the {time_limit:g} s limit",
                hint="Narrow it: add WHERE conditions or a LIMIT, aggregate, or avoid cross joins; avoid "
                "building huge strings (printf widths, replace, zeroblob).",
            ) from exc
        finally:
            timer.cancel()
            state.deadline = float("inf")
            if abandoned:
                task = asyncio.create_task(self._replace(conn, pool))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            else:
                pool.put_nowait(item)

    async def _replace(
        self, stuck: aiosqlite.Connection, pool: asyncio.Queue[tuple[aiosqlite.Connection, _State]]
    ) -> None:
        """Put a fresh connection in the pool in place of ``stuck``, then close ``stuck`` once it is free."""
        with contextlib.suppress(ValueError):
            self._all.remove(stuck)
        try:
            if pool is self._pool:
                pool.put_nowait(await self._connect(writable=False))
        finally:
            with contextlib.suppress(Exception):
                await stuck.close()

    def _error(self, exc: sqlite3.Error, time_limit: float) -> Exception:
        text = str(exc)
        lowered = text.lower()
        if "interrupted" in lowered:
            return QueryTimeout(
                f"the query was stopped after the {time_limit:g} s limit",
                hint="Narrow it: add WHERE conditions or a LIMIT, aggregate, or avoid cross joins.",
            )
        if match := re.search(r"no such column: (\S+)", text):
            return UnknownName("column", match.group(1).split(".")[-1], f"no column `{match.group(1)}`")
        if match := re.search(r"no such table: (\S+)", text):
            return UnknownName("table", match.group(1).split(".")[-1], f"no table `{match.group(1)}`")
        if any(w in lowered for w in ("not authorized", "readonly", "read-only", "may not be modified")):
            return QueryRejected(f"refused by the database: {text}", hint="This connection is read-only.")
        if "syntax error" in lowered or "incomplete input" in lowered:
            return SqlSyntaxError(f"syntax error: {text}", hint="Fix the SQL near that token.")
        return SqlInputError(f"the database rejected the query: {text}")

    async def query(
        self, sql: str, params: Params, *, max_rows: int, max_bytes: int, time_limit: float
    ) -> RawResult:
        capped = Capped(max_rows, max_bytes)
        async with self._acquire(time_limit) as (conn, _state):
            try:
                cursor = await conn.execute(sql, params if params is not None else ())
                try:
                    names = [d[0] for d in cursor.description or ()]
                    while capped.reason is None:
                        batch = await cursor.fetchmany(capped.batch())
                        if not batch or not capped.add_many(list(batch)):
                            break
                except asyncio.CancelledError:
                    raise  # timed out: the connection is abandoned with its cursor (see _acquire)
                except BaseException:
                    await cursor.close()
                    raise
                await cursor.close()
            except sqlite3.Error as exc:
                raise self._error(exc, time_limit) from exc
        types = [self._column_type(capped, i) for i in range(len(names))]
        return RawResult(list(zip(names, types, strict=True)), capped.rows, capped.reason)

    @staticmethod
    def _column_type(capped: Capped, index: int) -> str:
        for row in capped.rows:
            if row[index] is not None:
                return _type_of(row[index])
        return "NULL"

    async def write(self, sql: str, params: Params, *, time_limit: float) -> int:
        async with self._lock:
            if self._writer is None:
                self._writer = await self._connect(writable=True)
            conn, state = self._writer
            state.deadline = time.monotonic() + time_limit
            try:
                cursor = await conn.execute(sql, params if params is not None else ())
                count = cursor.rowcount
                await cursor.close()
                await conn.commit()
                return max(count, 0)
            except sqlite3.Error as exc:
                await conn.rollback()
                raise self._error(exc, time_limit) from exc
            finally:
                state.deadline = float("inf")

    async def explain(self, sql: str, params: Params, *, analyze: bool, time_limit: float) -> str:
        result = await self.query(
            f"EXPLAIN QUERY PLAN {sql}", params, max_rows=10_000, max_bytes=1_000_000, time_limit=time_limit
        )
        depth: dict[Any, int] = {0: -1}
        lines: list[str] = []
        for node_id, parent, _unused, detail in result.rows:
            level = depth.get(parent, -1) + 1
            depth[node_id] = level
            lines.append(f"{'  ' * level}{detail}")
        return "\n".join(lines) or "(empty plan)"

    async def _catalog(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._acquire(30.0) as (conn, _state):
            try:
                cursor = await conn.execute(sql, params)
                rows = await cursor.fetchall()
                await cursor.close()
            except sqlite3.Error as exc:
                raise self._error(exc, 30.0) from exc
        return [tuple(r) for r in rows]

    async def tables(self) -> list[TableSummary]:
        rows = await self._catalog(
            "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        stats: dict[str, int] = {}
        if await self._catalog("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"):
            for table, stat in await self._catalog("SELECT tbl, stat FROM sqlite_stat1"):
                with contextlib.suppress(ValueError, AttributeError):
                    stats[table] = max(stats.get(table, 0), int(str(stat).split()[0]))
        out: list[TableSummary] = []
        for name, kind, create in rows:
            comment, _ = parse_create_comments(create)
            estimate = stats.get(name)
            if estimate is None and kind == "table":
                capped = f"SELECT count(*) FROM (SELECT 1 FROM {self.quote(name)} LIMIT 100000)"  # noqa: S608
                counted = await self._catalog(capped)
                estimate = int(counted[0][0])
            out.append(
                TableSummary(
                    schema_name="main", name=name, kind=kind, estimated_rows=estimate, comment=comment
                )
            )
        return out

    async def describe(self, connection: str, table: TableSummary) -> TableDescription:
        create = await self._catalog("SELECT sql FROM sqlite_master WHERE name = ?", (table.name,))
        comment, column_comments = parse_create_comments(create[0][0] if create else None)
        info = await self._catalog(
            'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)', (table.name,)
        )
        columns = [
            ColumnInfo(
                name=n,
                type=t or "",
                nullable=not nn and not pk,
                default=d,
                primary_key=bool(pk),
                comment=column_comments.get(n),
            )
            for n, t, nn, d, pk in info
        ]
        primary_key = [n for n, _t, _nn, _d, pk in sorted(info, key=lambda r: r[4]) if pk]
        fks: dict[int, ForeignKey] = {}
        for fk_id, _seq, ref_table, src, dst in await self._catalog(
            'SELECT id, seq, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq',
            (table.name,),
        ):
            fk = fks.setdefault(
                fk_id, ForeignKey(columns=[], ref_schema="main", ref_table=ref_table, ref_columns=[])
            )
            fk.columns.append(src)
            fk.ref_columns.append(dst or "")
        for fk in fks.values():
            if not all(fk.ref_columns):
                ref_pk = await self._catalog(
                    "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (fk.ref_table,)
                )
                fk.ref_columns = [r[0] for r in ref_pk] or fk.ref_columns
        indexes: list[IndexInfo] = []
        for index_name, unique in await self._catalog(
            'SELECT name, "unique" FROM pragma_index_list(?) ORDER BY name', (table.name,)
        ):
            cols = await self._catalog("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (index_name,))
            indexes.append(
                IndexInfo(name=index_name, columns=[c[0] for c in cols if c[0]], unique=bool(unique))
            )
        return TableDescription(
            connection=connection,
            schema_name="main",
            name=table.name,
            kind=table.kind,
            comment=comment,
            estimated_rows=table.estimated_rows,
            columns=columns,
            primary_key=primary_key,
            foreign_keys=list(fks.values()),
            indexes=indexes,
        )

    async def referenced_by(self, table: TableSummary) -> list[str]:
        rows = await self._catalog(
            "SELECT DISTINCT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
            "WHERE m.type = 'table' AND f.\"table\" = ? ORDER BY m.name",
            (table.name,),
        )
        return [f"main.{r[0]}" for r in rows]

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'
