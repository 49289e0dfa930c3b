"""Where entries live: the :class:`RegistryStore` interface and its in-memory implementation.

Every store applies the same rules atomically, so callers cannot race past them:

- ``put`` creates or updates; only the owner (or an admin) may update, the owner never changes, and the
  version (with a history row) advances only when the document changes.
- ``heartbeat`` and ``delete`` obey the same ownership rule.
- ``search`` filters by exact keys (skill, tag, tool, binding, capability), by free-text word
  prefixes and by health, ordered by id with an ``after`` cursor.

The SQL implementation (SQLite, PostgreSQL) is in :mod:`toolmesh.registry.sqlstore`.
"""

from __future__ import annotations

import asyncio
import bisect
from abc import ABC, abstractmethod
from dataclasses import dataclass

from toolmesh.protocols.cards import Health, VersionView
from toolmesh.protocols.errors import LimitExceeded, NotFoundError, PermissionDenied
from toolmesh.registry.models import EntryRecord, Principal, SearchQuery

__all__ = [
    "MemoryStore",
    "PutResult",
    "RegistryStore",
    "check_owner",
    "check_quota",
    "merge_update",
    "prefix_upper_bound",
]


@dataclass(frozen=True, slots=True)
class PutResult:
    """What ``put`` did: the stored record, whether it was new, whether its document changed."""

    record: EntryRecord
    created: bool
    changed: bool


def check_owner(existing: EntryRecord, actor: Principal, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` owns ``existing`` or is an admin."""
    if actor.admin or existing.owner == actor.name:
        return
    raise PermissionDenied(
        f"entry {existing.id!r} belongs to publisher {existing.owner!r}; {actor.name!r} may not {action} it",
        hint="Use the owner's token, an admin token, or register under a different id.",
    )


def merge_update(existing: EntryRecord, record: EntryRecord, actor: Principal) -> tuple[EntryRecord, bool]:
    """``record`` as it replaces ``existing``: ownership checked; owner, creation time, health and probe
    state kept; the version bumped only when the document or URL changed. Returns (stored, changed)."""
    check_owner(existing, actor, "update")
    stored = record.copy()
    changed = existing.document != record.document or existing.url != record.url
    stored.owner = existing.owner
    stored.created_at = existing.created_at
    stored.version = existing.version + 1 if changed else existing.version
    if not changed:
        stored.updated_at = existing.updated_at
        stored.signature = existing.signature
    stored.health, stored.health_detail = existing.health, existing.health_detail
    stored.failures, stored.last_probe = existing.failures, existing.last_probe
    return stored, changed


def check_quota(owned: int, max_entries: int, actor: Principal) -> None:
    """Raise :class:`LimitExceeded` when ``actor`` already owns ``max_entries`` entries."""
    if owned >= max_entries:
        raise LimitExceeded(
            f"publisher {actor.name!r} already owns {owned} entries, the most one publisher may register",
            hint="Deregister entries it no longer runs, or ask an operator to raise the limit.",
        )


def not_found(entry_id: str) -> NotFoundError:
    return NotFoundError(
        f"no entry {entry_id!r} in the registry",
        hint="It may have been deregistered or never registered; register it again.",
    )


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (code-point / UTF-8 order)."""
    last = ord(prefix[-1])
    return prefix[:-1] + chr(min(last + 1, 0x10FFFF))


class RegistryStore(ABC):
    """Persistence for entries, their version history and their search index."""

    @abstractmethod
    async def start(self) -> None:
        """Create tables / connect. Idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def get(self, entry_id: str) -> EntryRecord | None: ...

    @abstractmethod
    async def put(
        self, record: EntryRecord, actor: Principal, *, history_limit: int, max_entries: int | None = None
    ) -> PutResult:
        """Create or update ``record`` (its timestamps and TTL already set by the caller).

        A publisher (not an admin) that already owns ``max_entries`` entries may not create another.
        """

    @abstractmethod
    async def heartbeat(
        self, entry_id: str, actor: Principal, *, now: float, expires_at: float
    ) -> tuple[EntryRecord, float]:
        """Renew the TTL; returns the updated record and its previous ``expires_at``."""

    @abstractmethod
    async def delete(self, entry_id: str, actor: Principal) -> None: ...

    @abstractmethod
    async def set_health(
        self, entry_id: str, *, health: Health, detail: str, failures: int, at: float
    ) -> None:
        """Record a probe result; a no-op when the entry is gone."""

    @abstractmethod
    async def history(self, entry_id: str, limit: int) -> list[VersionView]:
        """Past versions, newest first."""

    @abstractmethod
    async def search(self, query: SearchQuery) -> list[EntryRecord]:
        """Up to ``query.limit + 1`` matches with id > ``query.after``, ordered by id."""

    async def search_items(self, query: SearchQuery) -> list[tuple[str, bytes]]:
        """Like :meth:`search`, as (id, search-item JSON) pairs; SQL stores skip decoding documents."""
        return [(r.id, r.item_json(query.now)) for r in await self.search(query)]

    @abstractmethod
    async def live(self, now: float, limit: int) -> list[EntryRecord]:
        """Entries whose TTL has not lapsed (for the prober), oldest probe first."""

    @abstractmethod
    async def purge_expired(self, before: float) -> int:
        """Delete entries whose TTL lapsed before ``before``; returns how many."""

    @abstractmethod
    async def count(self) -> int: ...


def _health_matches(record: EntryRecord, query: SearchQuery) -> bool:
    health, _ = record.effective_health(query.now)
    return query.wants_health(health)


class MemoryStore(RegistryStore):
    """Everything in dictionaries: for tests, demos and as the reference implementation."""

    def __init__(self) -> None:
        self._entries: dict[str, EntryRecord] = {}
        self._history: dict[str, list[VersionView]] = {}
        self._index: dict[str, set[str]] = {}
        self._keys_of: dict[str, set[str]] = {}
        self._words: list[str] = []
        self._words_dirty = False
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _unindex(self, entry_id: str) -> None:
        for key in self._keys_of.pop(entry_id, set()):
            ids = self._index.get(key)
            if ids is not None:
                ids.discard(entry_id)
                if not ids:
                    del self._index[key]
                    self._words_dirty = True

    def _reindex(self, record: EntryRecord) -> None:
        self._unindex(record.id)
        keys = record.facets().keys()
        self._keys_of[record.id] = keys
        for key in keys:
            if key not in self._index:
                self._index[key] = set()
                self._words_dirty = True
            self._index[key].add(record.id)

    async def get(self, entry_id: str) -> EntryRecord | None:
        record = self._entries.get(entry_id)
        return record.copy() if record else None

    async def put(
        self, record: EntryRecord, actor: Principal, *, history_limit: int, max_entries: int | None = None
    ) -> PutResult:
        async with self._lock:
            existing = self._entries.get(record.id)
            stored, changed = record.copy(), True
            if existing is not None:
                stored, changed = merge_update(existing, record, actor)
            else:
                if max_entries is not None and not actor.admin:
                    check_quota(
                        sum(1 for r in self._entries.values() if r.owner == actor.name), max_entries, actor
                    )
                stored.owner = actor.name
                stored.version = 1
            self._entries[stored.id] = stored
            if changed:
                versions = self._history.setdefault(stored.id, [])
                versions.insert(
                    0,
                    VersionView(
                        version=stored.version,
                        updated_at=stored.updated_at,
                        updated_by=actor.name,
                        document=dict(stored.document),
                    ),
                )
                del versions[history_limit:]
                self._reindex(stored)
            return PutResult(stored.copy(), created=existing is None, changed=changed)

    async def heartbeat(
        self, entry_id: str, actor: Principal, *, now: float, expires_at: float
    ) -> tuple[EntryRecord, float]:
        async with self._lock:
            record = self._entries.get(entry_id)
            if record is None:
                raise not_found(entry_id)
            check_owner(record, actor, "heartbeat")
            previous = record.expires_at
            record.last_heartbeat = now
            record.expires_at = expires_at
            return record.copy(), previous

    async def delete(self, entry_id: str, actor: Principal) -> None:
        async with self._lock:
            record = self._entries.get(entry_id)
            if record is None:
                raise not_found(entry_id)
            check_owner(record, actor, "deregister")
            del self._entries[entry_id]
            self._history.pop(entry_id, None)
            self._unindex(entry_id)

    async def set_health(
        self, entry_id: str, *, health: Health, detail: str, failures: int, at: float
    ) -> None:
        record = self._entries.get(entry_id)
        if record is not None:
            record.health, record.health_detail, record.failures, record.last_probe = (
                health,
                detail,
                failures,
                at,
            )

    async def history(self, entry_id: str, limit: int) -> list[VersionView]:
        return list(self._history.get(entry_id, []))[:limit]

    def _word_ids(self, term: str) -> set[str]:
        if self._words_dirty:
            self._words = sorted(key for key in self._index if key.startswith("word:"))
            self._words_dirty = False
        low = f"word:{term}"
        high = prefix_upper_bound(low)
        ids: set[str] = set()
        for key in self._words[bisect.bisect_left(self._words, low) : bisect.bisect_left(self._words, high)]:
            ids |= self._index.get(key, set())
        return ids

    async def search(self, query: SearchQuery) -> list[EntryRecord]:
        candidates: set[str] | None = None
        for key in query.index_keys():
            ids = self._index.get(key, set())
            candidates = set(ids) if candidates is None else candidates & ids
        for term in query.terms():
            ids = self._word_ids(term)
            candidates = ids if candidates is None else candidates & ids
        pool = sorted(candidates) if candidates is not None else sorted(self._entries)
        if query.after is not None:
            pool = pool[bisect.bisect_right(pool, query.after) :]
        out: list[EntryRecord] = []
        for entry_id in pool:
            record = self._entries.get(entry_id)
            if record is None:
                continue
            if query.kind and record.kind != query.kind:
                continue
            if query.owner and record.owner != query.owner:
                continue
            if not _health_matches(record, query):
                continue
            out.append(record.copy())
            if len(out) > query.limit:
                break
        return out

    async def live(self, now: float, limit: int) -> list[EntryRecord]:
        records = [r for r in self._entries.values() if r.expires_at >= now]
        records.sort(key=lambda r: r.last_probe or 0.0)
        return [r.copy() for r in records[:limit]]

    async def purge_expired(self, before: float) -> int:
        async with self._lock:
            gone = [entry_id for entry_id, r in self._entries.items() if r.expires_at < before]
            for entry_id in gone:
                del self._entries[entry_id]
                self._history.pop(entry_id, None)
                self._unindex(entry_id)
            return len(gone)

    async def count(self) -> int:
        return len(self._entries)
