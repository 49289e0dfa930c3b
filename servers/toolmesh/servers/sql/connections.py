"""Named connections: a backend each, the catalog cached, and errors enriched with the closest real names."""

from __future__ import annotations

import asyncio
import difflib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from toolmesh.servers.sql.backend import Backend, Params, UnknownName
from toolmesh.servers.sql.checker import QueryChecker
from toolmesh.servers.sql.errors import (
    ConnectionUnavailable,
    QueryRejected,
    SqlConfigError,
    SqlError,
    SqlInputError,
    SqlNotFound,
)
from toolmesh.servers.sql.guard import CheckedQuery, Scalar
from toolmesh.servers.sql.models import (
    ConnectionInfo,
    ExplainResult,
    QueryColumn,
    QueryResult,
    TableDescription,
    TableSummary,
    WriteResult,
)
from toolmesh.servers.sql.settings import SAMPLE_CONNECTION, ConnectionSettings, SqlSettings, expand_secrets

__all__ = ["Connection", "ConnectionManager", "Limits", "make_backend"]

logger = logging.getLogger(__name__)

_CATALOG_TTL = 300.0
_SNAPSHOT_TABLES = 500
_PLACEHOLDERS = {
    "sqlite": "`?` with a list, or `:name` with an object",
    "postgresql": "`?` or `$1` with a list, or `:name` with an object",
    "mysql": "`?` with a list, or `:name` with an object",
}


@dataclass(frozen=True, slots=True)
class Limits:
    default_max_rows: int
    max_rows_limit: int
    max_bytes: int
    time_limit: float
    sample_rows: int
    connect_timeout: float = 10.0


def make_backend(
    settings: ConnectionSettings,
    time_limit: float,
    connect_timeout: float = 10.0,
    *,
    name: str = "connection",
) -> Backend:
    """The backend for a connection URL (secrets expanded from the environment now); ``connect_timeout``
    bounds each new connection's TCP connect, TLS and login handshake.
    """
    url = expand_secrets(settings.url, name)
    scheme = url.split(":", 1)[0].lower().split("+", 1)[0]
    if scheme == "sqlite":
        from toolmesh.servers.sql.sqlite import SqliteBackend, sqlite_path

        return SqliteBackend(
            sqlite_path(url), pool_size=settings.pool_size, allow_writes=settings.allow_writes
        )
    if scheme in {"postgresql", "postgres"}:
        from toolmesh.servers.sql.postgres import PostgresBackend

        dsn = "postgresql:" + url.split(":", 1)[1]
        return PostgresBackend(
            dsn,
            pool_size=settings.pool_size,
            schemas=settings.schemas,
            time_limit=time_limit,
            connect_timeout=connect_timeout,
            name=name,
            reader_role=settings.reader_role,
            allow_privileged=settings.allow_privileged,
        )
    from toolmesh.servers.sql.mysql import MysqlBackend

    return MysqlBackend(
        url,
        pool_size=settings.pool_size,
        schemas=settings.schemas,
        time_limit=time_limit,
        connect_timeout=connect_timeout,
        name=name,
    )


_LABELS: dict[str, Literal["sqlite", "postgresql", "mysql"]] = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}


def _label(url: str) -> Literal["sqlite", "postgresql", "mysql"]:
    """The dialect of a connection URL, read from its scheme (known before any secret is expanded)."""
    return _LABELS[url.split(":", 1)[0].lower().split("+", 1)[0]]


class Connection:
    """One named database: guarded queries, the catalog, and the sample database generated on first use.

    A connection whose URL cannot be turned into a backend (a ``${NAME}`` the environment does not set) is
    kept, unavailable: every call on it fails with the reason, and the other connections are unaffected.
    """

    def __init__(
        self,
        name: str,
        settings: ConnectionSettings,
        limits: Limits,
        *,
        checker: QueryChecker,
        sample_path: str | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.limits = limits
        self.checker = checker
        self.timeout = settings.timeout_seconds or limits.time_limit
        self.sample_path = sample_path
        self._tables: tuple[float, list[TableSummary]] | None = None
        self._snapshot: tuple[float, list[TableDescription]] | None = None
        self._opening: asyncio.Future[None] | None = None
        self._opened = False
        self._unusable: str | None = None  # why the last probe (or the backend's creation) failed
        self._backend: Backend | None = None
        try:
            self._backend = self._make_backend()
        except ConnectionUnavailable as exc:
            self._unusable = str(exc)
            logger.warning("sql connection %s is unavailable: %s", name, exc)

    def _make_backend(self) -> Backend:
        try:
            return make_backend(self.settings, self.timeout, self.limits.connect_timeout, name=self.name)
        except SqlConfigError as exc:
            raise ConnectionUnavailable(exc.message, hint=exc.hint) from exc

    @property
    def backend(self) -> Backend:
        """The backend; for a connection that could not have one, the error saying what to set."""
        if self._backend is None:
            self._backend = self._make_backend()
            self._unusable = None
        return self._backend

    @property
    def dialect(self) -> Literal["sqlite", "postgresql", "mysql"]:
        return _label(self.settings.url)

    @property
    def read_only(self) -> bool:
        return not self.settings.allow_writes

    def info(self) -> ConnectionInfo:
        unusable = self._unusable if self._unusable and not self._opened else None
        return ConnectionInfo(
            name=self.name,
            dialect=self.dialect,
            description=self.settings.description,
            read_only=self.read_only,
            placeholders=_PLACEHOLDERS[self.dialect],
            available=unusable is None,
            reason=unusable,
            warnings=list(self._backend.warnings if self._backend is not None else ())
            + ([f"not usable: {unusable}"] if unusable else []),
        )

    async def probe(self) -> None:
        """Open a server connection so its warnings (privileged accounts) are known; failures are left for
        the first real call to report."""
        if self._backend is None:
            try:
                self.backend  # noqa: B018 - built now if the environment has what it needs
            except ConnectionUnavailable as exc:
                self._unusable = str(exc)
                return
        if self.dialect == "sqlite" or self._opened:
            return
        try:
            async with asyncio.timeout(10):
                await self.open()
            self._unusable = None
        except (SqlError, TimeoutError) as exc:
            self._unusable = (exc.message if isinstance(exc, SqlError) else "timed out after 10 s").split(
                "\n"
            )[0]
            logger.info("connection %s is not usable yet: %s", self.name, exc)

    async def open(self) -> None:
        """Open the backend once; callers arriving while it opens share that one attempt (and its error), so
        a database that does not answer costs each of them one connect timeout, not one each in turn."""
        if self._opened:
            return
        if self._opening is None:
            attempt = asyncio.ensure_future(self._open())
            attempt.add_done_callback(self._opening_done)
            self._opening = attempt
        await asyncio.shield(self._opening)

    def _opening_done(self, attempt: asyncio.Future[None]) -> None:
        self._opening = None
        if not attempt.cancelled():
            attempt.exception()  # retrieved here: every caller may have stopped waiting

    async def _open(self) -> None:
        if self.sample_path is not None:
            from pathlib import Path

            from toolmesh.servers.sql.sample import ensure_sample

            await asyncio.to_thread(ensure_sample, Path(self.sample_path))
        await self.backend.open()
        self._opened = True

    async def close(self) -> None:
        if self._backend is not None:
            await self._backend.close()
        self._opened = False

    # -- catalog -------------------------------------------------------------------------------------------

    async def tables(self, *, refresh: bool = False) -> list[TableSummary]:
        now = time.monotonic()
        if refresh or self._tables is None or now - self._tables[0] > _CATALOG_TTL:
            await self.open()
            self._tables = (now, await self.backend.tables())
        return self._tables[1]

    async def find_table(self, table: str, schema: str | None = None) -> TableSummary:
        """Look ``table`` up in the catalog (never formatted into SQL); unknown names get the closest
        matches.
        """
        tables = await self.tables()
        candidates = [t for t in tables if schema is None or t.schema_name == schema]
        for match in (
            [t for t in candidates if t.name == table],
            [t for t in candidates if t.name.lower() == table.lower()],
        ):
            if len(match) == 1:
                return match[0]
            if len(match) > 1:
                names = ", ".join(f"{t.schema_name}.{t.name}" for t in match)
                raise SqlInputError(f"`{table}` exists in several schemas: {names}", hint="Pass `schema`.")
        if schema is None and "." in table:
            head, tail = table.rsplit(".", 1)
            return await self.find_table(tail, head.strip('"`'))
        known = [t.name for t in tables]
        close = difflib.get_close_matches(table, known, n=3, cutoff=0.5)
        where = f" in schema `{schema}`" if schema else ""
        raise SqlNotFound(
            f"no table `{table}`{where} on connection `{self.name}`"
            + (f"; did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""),
            hint="list_tables shows every table; find_tables ranks tables for a question.",
        )

    async def snapshot(self) -> list[TableDescription]:
        """Every table described (keys, columns, comments), cached for five minutes, for schema linking."""
        now = time.monotonic()
        if self._snapshot is None or now - self._snapshot[0] > _CATALOG_TTL:
            tables = (await self.tables())[:_SNAPSHOT_TABLES]
            described = list(await asyncio.gather(*(self.backend.describe(self.name, t) for t in tables)))
            self._snapshot = (now, described)
        return self._snapshot[1]

    async def describe(self, table: str, schema: str | None, sample_rows: int) -> TableDescription:
        summary = await self.find_table(table, schema)
        description = await self.backend.describe(self.name, summary)
        description.referenced_by = await self.backend.referenced_by(summary)
        if sample_rows > 0:
            sample = await self.backend.query(
                f"SELECT * FROM {self.backend.qualified(summary)} LIMIT {int(sample_rows)}",  # noqa: S608 - catalog name, quoted
                None,
                max_rows=sample_rows,
                max_bytes=self.limits.max_bytes,
                time_limit=self.timeout,
            )
            description.sample_columns = [c[0] for c in sample.columns]
            description.sample_rows = sample.rows
        return description

    # -- queries -------------------------------------------------------------------------------------------

    async def _check(
        self, sql: str, params: Sequence[Scalar] | Mapping[str, Scalar] | None, *, write: bool = False
    ) -> tuple[CheckedQuery, str, Params]:
        """Check and bind ``sql`` off the event loop (see checker.py)."""
        return await self.checker.check(
            sql, self.backend.dialect, params, write=write, time_limit=self.timeout
        )

    async def run(
        self, sql: str, params: Sequence[Scalar] | Mapping[str, Scalar] | None, max_rows: int | None
    ) -> QueryResult:
        rows_cap = min(max_rows or self.limits.default_max_rows, self.limits.max_rows_limit)
        checked, text, bound = await self._check(sql, params)
        await self.open()
        started = time.perf_counter()
        try:
            raw = await self.backend.query(
                text, bound, max_rows=rows_cap, max_bytes=self.limits.max_bytes, time_limit=self.timeout
            )
        except UnknownName as exc:
            raise await self._suggest(exc, checked) from exc
        # model_construct: every field is built right here from typed values; validating thousands of rows
        # again would cost more than reading them.
        return QueryResult.model_construct(
            connection=self.name,
            columns=[QueryColumn(name=n, type=t) for n, t in raw.columns],
            rows=raw.rows,
            row_count=len(raw.rows),
            truncated=raw.truncated is not None,
            truncated_reason=raw.truncated,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    async def explain(
        self, sql: str, params: Sequence[Scalar] | Mapping[str, Scalar] | None, analyze: bool
    ) -> ExplainResult:
        checked, text, bound = await self._check(sql, params)
        await self.open()
        try:
            plan = await self.backend.explain(text, bound, analyze=analyze, time_limit=self.timeout)
        except UnknownName as exc:
            raise await self._suggest(exc, checked) from exc
        return ExplainResult(connection=self.name, dialect=self.dialect, plan=plan)

    async def write(self, sql: str, params: Sequence[Scalar] | Mapping[str, Scalar] | None) -> WriteResult:
        if self.read_only:
            raise QueryRejected(
                f"connection `{self.name}` is read-only",
                hint="Writes need allow_writes = true in this connection's settings.",
            )
        checked, text, bound = await self._check(sql, params, write=True)
        await self.open()
        try:
            count = await self.backend.write(text, bound, time_limit=self.timeout)
        except UnknownName as exc:
            raise await self._suggest(exc, checked) from exc
        self._tables = self._snapshot = None
        return WriteResult(connection=self.name, affected_rows=count)

    async def _suggest(self, exc: UnknownName, checked: CheckedQuery) -> SqlNotFound:
        try:
            tables = await self.tables()
        except Exception:
            return SqlNotFound(exc.message, hint="describe_table shows the real names.")
        if exc.kind == "table":
            close = difflib.get_close_matches(exc.name, [t.name for t in tables], n=3, cutoff=0.5)
            return SqlNotFound(
                f"{exc.message}" + (f"; did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""),
                hint="list_tables shows every table.",
            )
        used = {name.lower() for name in checked.tables()}
        scope = [t for t in tables if t.name.lower() in used] or tables[:50]
        columns: dict[str, list[str]] = {}
        for table in scope:
            try:
                described = await self.backend.describe(self.name, table)
            except Exception as problem:  # suggestions are best effort
                logger.debug("cannot describe %s for suggestions: %s", table.name, problem)
                continue
            for column in described.columns:
                columns.setdefault(column.name, []).append(table.name)
        close = difflib.get_close_matches(exc.name, list(columns), n=3, cutoff=0.5)
        if not close:
            close = [c for c in columns if c.lower() == exc.name.lower()][:3]
        listing = "; ".join(
            f"{t.name}: {', '.join(c for c, owners in columns.items() if t.name in owners)}"
            for t in scope[:5]
        )
        return SqlNotFound(
            f"{exc.message}" + (f"; did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""),
            hint=f"Columns — {listing}" if listing else "describe_table shows the real names.",
        )


class ConnectionManager:
    """The named connections of one server."""

    def __init__(self, settings: SqlSettings) -> None:
        self.limits = Limits(
            default_max_rows=settings.default_max_rows,
            max_rows_limit=settings.max_rows_limit,
            max_bytes=settings.max_bytes,
            time_limit=settings.timeout_seconds,
            sample_rows=settings.sample_rows,
            connect_timeout=settings.connect_timeout_seconds,
        )
        self.checker = QueryChecker(max_chars=settings.max_query_chars)
        self.connections: dict[str, Connection] = {}
        from toolmesh.servers.sql.settings import default_sample_path

        sample = str(settings.sample_path or default_sample_path())
        for name, conn_settings in settings.all_connections().items():
            is_sample = settings.sample and name == SAMPLE_CONNECTION and name not in settings.connections
            self.connections[name] = Connection(
                name,
                conn_settings,
                self.limits,
                checker=self.checker,
                sample_path=sample if is_sample else None,
            )

    @property
    def writable(self) -> bool:
        return any(not c.read_only for c in self.connections.values())

    def get(self, name: str | None) -> Connection:
        """The connection ``name``; with ``None``, the only connection (or an error naming the choices)."""
        if name is None:
            if len(self.connections) == 1:
                return next(iter(self.connections.values()))
            if not self.connections:
                raise SqlNotFound("no connections are configured", hint="Set TOOLMESH_SQL_CONNECTIONS.")
            raise SqlInputError(
                "several connections are configured; say which one",
                hint=f"Pass `connection`: one of {', '.join(self.connections)}.",
            )
        if name not in self.connections:
            close = difflib.get_close_matches(name, list(self.connections), n=1, cutoff=0.5)
            raise SqlNotFound(
                f"no connection named `{name}`" + (f"; did you mean `{close[0]}`?" if close else ""),
                hint=f"Connections: {', '.join(self.connections) or 'none'}.",
            )
        return self.connections[name]

    async def close(self) -> None:
        for connection in self.connections.values():
            await connection.close()
