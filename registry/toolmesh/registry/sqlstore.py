"""The SQLAlchemy (async) store: SQLite by default, PostgreSQL to scale; same schema, same rules.

Three tables (names take an optional prefix so several registries or test runs share a database):

- ``entries``: one row per entry, the document as JSON, health and TTL columns.
- ``entry_keys``: the search index, one row per (entry, key) — ``skill:plan``, ``tag:sql``,
  ``word:search`` — so skill lookups and word-prefix searches are index range scans on both engines.
- ``entry_versions``: the version history of each document.

Writes run in one transaction that re-reads the row first (``SELECT ... FOR UPDATE`` on PostgreSQL; an
in-process lock on SQLite, whose writers are serialized anyway), so ownership cannot be raced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from toolmesh.protocols.cards import Health, SignatureCheck, VersionView
from toolmesh.protocols.errors import ConfigError, UnavailableError
from toolmesh.registry.models import EntryRecord, Principal, SearchQuery, item_json
from toolmesh.registry.store import (
    PutResult,
    RegistryStore,
    check_owner,
    check_quota,
    merge_update,
    not_found,
    prefix_upper_bound,
)

__all__ = ["SqlStore"]

_KEY_TYPE = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
_ID_TYPE = sa.String(160).with_variant(sa.String(160, collation="C"), "postgresql")


def _tables(metadata: sa.MetaData, prefix: str) -> tuple[sa.Table, sa.Table, sa.Table]:
    entries = sa.Table(
        f"{prefix}entries",
        metadata,
        sa.Column("id", _ID_TYPE, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("signature", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("health", sa.String(16), nullable=False),
        sa.Column("health_detail", sa.Text, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("last_heartbeat", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("last_probe", sa.Float, nullable=True),
        # The entry's view minus its live columns, pre-encoded: searches splice it without decoding documents.
        sa.Column("view_json", sa.Text, nullable=False),
    )
    sa.Index(f"{prefix}entries_expires", entries.c.expires_at)
    keys = sa.Table(
        f"{prefix}entry_keys",
        metadata,
        sa.Column("key", _KEY_TYPE, primary_key=True),
        sa.Column(
            "entry_id",
            _ID_TYPE,
            sa.ForeignKey(f"{prefix}entries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    sa.Index(f"{prefix}entry_keys_entry", keys.c.entry_id)
    versions = sa.Table(
        f"{prefix}entry_versions",
        metadata,
        sa.Column(
            "entry_id",
            _ID_TYPE,
            sa.ForeignKey(f"{prefix}entries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
    )
    return entries, keys, versions


def _json_loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # e.g. integers beyond 64 bits, which the stdlib reads exactly
        return json.loads(text)


def _json_dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # e.g. integers beyond 64 bits
        return json.dumps(value)


_JSON_CODECS: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class SqlStore(RegistryStore):
    """Entries in a SQL database through SQLAlchemy's async engine (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``)."""

    def __init__(
        self, url: str | AsyncEngine, *, table_prefix: str = "registry_", pool_size: int = 10
    ) -> None:
        if isinstance(url, AsyncEngine):
            self.engine = url
        else:
            try:
                kwargs: dict[str, Any] = dict(_JSON_CODECS)
                if not url.startswith("sqlite"):
                    kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
                self.engine = create_async_engine(url, **kwargs)
            except (sa.exc.ArgumentError, ImportError) as exc:
                raise ConfigError(
                    f"cannot use database URL {url!r}: {exc}",
                    hint="Use sqlite+aiosqlite:///path/registry.db or postgresql+asyncpg://user@host/db.",
                ) from exc
        self.sqlite = self.engine.dialect.name == "sqlite"
        self._reader: sa.Engine | None = None
        if self.sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            database = self.engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                # Searches read through plain sqlite3 from worker threads (WAL: readers never block).
                self._reader = sa.create_engine(
                    self.engine.url.set(drivername="sqlite+pysqlite"),
                    pool_size=8,
                    max_overflow=8,
                    **_JSON_CODECS,
                )
                event.listen(self._reader, "connect", _sqlite_pragmas)
        self.metadata = sa.MetaData()
        self.entries, self.keys, self.versions = _tables(self.metadata, table_prefix)
        self._write_lock = asyncio.Lock()
        self._statements: dict[tuple[Any, ...], sa.Select[Any]] = {}
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(self.metadata.create_all)
        except (OperationalError, OSError) as exc:
            raise UnavailableError(
                f"cannot reach the registry database: {exc}".split("\n", 1)[0],
                hint="Check TOOLMESH_REGISTRY_DATABASE_URL and that the database is running.",
            ) from exc
        self._started = True

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.dispose()
        await self.engine.dispose()

    async def drop(self) -> None:
        """Drop this store's tables (tests use it to clean up after themselves)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(self.metadata.drop_all)

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self.sqlite:
            async with self._write_lock, self.engine.begin() as conn:
                yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    def _record(self, row: sa.Row[Any]) -> EntryRecord:
        m = row._mapping
        return EntryRecord(
            id=m["id"],
            kind=m["kind"],
            name=m["name"],
            description=m["description"],
            owner=m["owner"],
            url=m["url"],
            document=m["document"],
            signature=SignatureCheck.model_construct(**m["signature"]),
            version=m["version"],
            health=m["health"],
            health_detail=m["health_detail"],
            failures=m["failures"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            last_heartbeat=m["last_heartbeat"],
            expires_at=m["expires_at"],
            last_probe=m["last_probe"],
        )

    def _row(self, record: EntryRecord) -> dict[str, Any]:
        return {
            "id": record.id,
            "kind": record.kind,
            "name": record.name,
            "description": record.description,
            "owner": record.owner,
            "url": record.url,
            "document": record.document,
            "signature": record.signature.model_dump(),
            "version": record.version,
            "health": record.health,
            "health_detail": record.health_detail,
            "failures": record.failures,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "last_heartbeat": record.last_heartbeat,
            "expires_at": record.expires_at,
            "last_probe": record.last_probe,
            "view_json": record.static_json().decode(),
        }

    async def _locked_get(self, conn: AsyncConnection, entry_id: str) -> EntryRecord | None:
        stmt = sa.select(self.entries).where(self.entries.c.id == entry_id)
        if not self.sqlite:
            stmt = stmt.with_for_update()
        row = (await conn.execute(stmt)).first()
        return self._record(row) if row is not None else None

    async def get(self, entry_id: str) -> EntryRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(self.entries).where(self.entries.c.id == entry_id))).first()
        return self._record(row) if row is not None else None

    async def put(
        self, record: EntryRecord, actor: Principal, *, history_limit: int, max_entries: int | None = None
    ) -> PutResult:
        for attempt in range(3):
            try:
                return await self._put_once(record, actor, history_limit, max_entries)
            except IntegrityError:
                # Two first registrations of one id raced (PostgreSQL): the loser retries as an update.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _put_once(
        self, record: EntryRecord, actor: Principal, history_limit: int, max_entries: int | None
    ) -> PutResult:
        async with self._write() as conn:
            existing = await self._locked_get(conn, record.id)
            stored, changed = record.copy(), True
            if existing is not None:
                stored, changed = merge_update(existing, record, actor)
                values = self._row(stored)
                del values["id"]
                await conn.execute(
                    sa.update(self.entries).where(self.entries.c.id == stored.id).values(**values)
                )
            else:
                if max_entries is not None and not actor.admin:
                    owned = (
                        await conn.execute(
                            sa.select(sa.func.count())
                            .select_from(self.entries)
                            .where(self.entries.c.owner == actor.name)
                        )
                    ).scalar_one()
                    check_quota(int(owned), max_entries, actor)
                stored.owner = actor.name
                stored.version = 1
                await conn.execute(sa.insert(self.entries).values(**self._row(stored)))
            if changed:
                await conn.execute(sa.delete(self.keys).where(self.keys.c.entry_id == stored.id))
                keys = sorted(stored.facets().keys())
                if keys:
                    await conn.execute(
                        sa.insert(self.keys), [{"key": k, "entry_id": stored.id} for k in keys]
                    )
                await conn.execute(
                    sa.insert(self.versions).values(
                        entry_id=stored.id,
                        version=stored.version,
                        updated_at=stored.updated_at,
                        updated_by=actor.name,
                        document=stored.document,
                    )
                )
                await conn.execute(
                    sa.delete(self.versions).where(
                        self.versions.c.entry_id == stored.id,
                        self.versions.c.version <= stored.version - history_limit,
                    )
                )
        return PutResult(stored, created=existing is None, changed=changed)

    async def heartbeat(
        self, entry_id: str, actor: Principal, *, now: float, expires_at: float
    ) -> tuple[EntryRecord, float]:
        async with self._write() as conn:
            record = await self._locked_get(conn, entry_id)
            if record is None:
                raise not_found(entry_id)
            check_owner(record, actor, "heartbeat")
            await conn.execute(
                sa.update(self.entries)
                .where(self.entries.c.id == entry_id)
                .values(last_heartbeat=now, expires_at=expires_at)
            )
        previous = record.expires_at
        record.last_heartbeat, record.expires_at = now, expires_at
        return record, previous

    async def delete(self, entry_id: str, actor: Principal) -> None:
        async with self._write() as conn:
            record = await self._locked_get(conn, entry_id)
            if record is None:
                raise not_found(entry_id)
            check_owner(record, actor, "deregister")
            await self._delete_ids(conn, [entry_id])

    async def _delete_ids(self, conn: AsyncConnection, ids: list[str]) -> None:
        # Explicit child deletes: SQLite honours ON DELETE CASCADE only with foreign_keys on.
        await conn.execute(sa.delete(self.keys).where(self.keys.c.entry_id.in_(ids)))
        await conn.execute(sa.delete(self.versions).where(self.versions.c.entry_id.in_(ids)))
        await conn.execute(sa.delete(self.entries).where(self.entries.c.id.in_(ids)))

    async def set_health(
        self, entry_id: str, *, health: Health, detail: str, failures: int, at: float
    ) -> None:
        async with self._write() as conn:
            await conn.execute(
                sa.update(self.entries)
                .where(self.entries.c.id == entry_id)
                .values(health=health, health_detail=detail[:500], failures=failures, last_probe=at)
            )

    async def history(self, entry_id: str, limit: int) -> list[VersionView]:
        stmt = (
            sa.select(self.versions)
            .where(self.versions.c.entry_id == entry_id)
            .order_by(self.versions.c.version.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            VersionView(
                version=r._mapping["version"],
                updated_at=r._mapping["updated_at"],
                updated_by=r._mapping["updated_by"],
                document=r._mapping["document"],
            )
            for r in rows
        ]

    def _health_clause(self, query: SearchQuery) -> sa.ColumnElement[bool] | None:
        e = self.entries.c
        now = sa.bindparam("now", type_=sa.Float)
        expired = e.expires_at < now
        if query.health:
            parts: list[sa.ColumnElement[bool]] = []
            for health in query.health:
                if health == "down":
                    parts.append(sa.or_(e.health == "down", expired))
                else:
                    parts.append(sa.and_(e.health == health, sa.not_(expired)))
            return sa.or_(*parts)
        if query.include_down:
            return None
        return sa.and_(e.health != "down", e.expires_at >= now)

    def _shaped(self, query: SearchQuery, *, items: bool) -> tuple[sa.Select[Any], dict[str, Any]]:
        """The search statement (built once per query shape, values bound) and its parameters."""
        keys = query.index_keys()
        terms = query.terms()
        shape = (
            items,
            len(keys),
            len(terms),
            bool(query.kind),
            bool(query.owner),
            query.health,
            query.include_down,
            query.after is not None,
        )
        params: dict[str, Any] = {"now": query.now, "lim": query.limit + 1}
        for n, key in enumerate(keys):
            params[f"k{n}"] = key
        for n, term in enumerate(terms):
            params[f"lo{n}"] = f"word:{term}"
            params[f"hi{n}"] = prefix_upper_bound(f"word:{term}")
        if query.kind:
            params["kind"] = query.kind
        if query.owner:
            params["owner"] = query.owner
        if query.after is not None:
            params["after"] = query.after
        cached = self._statements.get(shape)
        if cached is not None:
            return cached, params
        e = self.entries.c
        k = self.keys.c
        stmt = sa.select(self.entries)
        for n in range(len(keys)):
            stmt = stmt.where(e.id.in_(sa.select(k.entry_id).where(k.key == sa.bindparam(f"k{n}"))))
        for n in range(len(terms)):
            stmt = stmt.where(
                e.id.in_(
                    sa.select(k.entry_id).where(
                        k.key >= sa.bindparam(f"lo{n}"), k.key < sa.bindparam(f"hi{n}")
                    )
                )
            )
        if query.kind:
            stmt = stmt.where(e.kind == sa.bindparam("kind"))
        if query.owner:
            stmt = stmt.where(e.owner == sa.bindparam("owner"))
        clause = self._health_clause(query)
        if clause is not None:
            stmt = stmt.where(clause)
        if query.after is not None:
            stmt = stmt.where(e.id > sa.bindparam("after"))
        stmt = stmt.order_by(e.id).limit(sa.bindparam("lim", type_=sa.Integer))
        if items:
            stmt = stmt.with_only_columns(
                e.id, e.view_json, e.health, e.health_detail, e.last_heartbeat, e.expires_at, e.last_probe
            )
        if len(self._statements) < 512:
            self._statements[shape] = stmt
        return stmt, params

    def _search_sync(self, query: SearchQuery) -> list[EntryRecord]:
        assert self._reader is not None
        stmt, params = self._shaped(query, items=False)
        with self._reader.connect() as conn:
            rows = conn.execute(stmt, params).all()
        return [self._record(r) for r in rows]

    def _items(self, rows: list[tuple[Any, ...]], now: float) -> list[tuple[str, bytes]]:
        return [
            (
                r[0],
                item_json(
                    r[1].encode(),
                    health=r[2],
                    health_detail=r[3],
                    last_heartbeat=r[4],
                    expires_at=r[5],
                    last_probe=r[6],
                    now=now,
                ),
            )
            for r in rows
        ]

    def _search_items_sync(self, query: SearchQuery) -> list[tuple[str, bytes]]:
        assert self._reader is not None
        stmt, params = self._shaped(query, items=True)
        with self._reader.connect() as conn:
            rows = [tuple(r) for r in conn.execute(stmt, params).all()]
        return self._items(rows, query.now)

    async def search_items(self, query: SearchQuery) -> list[tuple[str, bytes]]:
        if self._reader is not None:
            return await asyncio.to_thread(self._search_items_sync, query)
        stmt, params = self._shaped(query, items=True)
        async with self.engine.connect() as conn:
            rows = [tuple(r) for r in (await conn.execute(stmt, params)).all()]
        return self._items(rows, query.now)

    async def search(self, query: SearchQuery) -> list[EntryRecord]:
        if self._reader is not None:
            # SQLite: one hop to a worker thread per search instead of one per driver call.
            return await asyncio.to_thread(self._search_sync, query)
        stmt, params = self._shaped(query, items=False)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt, params)).all()
        return [self._record(r) for r in rows]

    async def live(self, now: float, limit: int) -> list[EntryRecord]:
        e = self.entries.c
        stmt = (
            sa.select(self.entries)
            .where(e.expires_at >= now)
            .order_by(sa.func.coalesce(e.last_probe, 0.0), e.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [self._record(r) for r in rows]

    async def purge_expired(self, before: float) -> int:
        async with self._write() as conn:
            ids = [
                r[0]
                for r in (
                    await conn.execute(sa.select(self.entries.c.id).where(self.entries.c.expires_at < before))
                ).all()
            ]
            if ids:
                await self._delete_ids(conn, ids)
        return len(ids)

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(self.entries))).scalar_one()
            )
