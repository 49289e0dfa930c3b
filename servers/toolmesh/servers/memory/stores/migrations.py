"""Schema versions of the SQL stores and the forward migrations between them (SQLite and PostgreSQL).

The version lives in ``memory_meta`` (key ``schema_version``). Opening a database applies every migration
above its version, in order, in one transaction; a database newer than this code is refused rather than
guessed at. Migrations only ever move forward: a release adds a new entry and never edits an old one.

- 1: items, meta and the revision counter.
- 2: ``seen`` on items (how often a duplicate was remembered) and the knowledge graph: entities,
  observations, relations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from toolmesh.servers.memory.errors import SchemaTooNew

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Dialect", "migrate"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """Column types that differ between engines."""

    name: str
    id: str
    int: str
    float: str
    blob: str


_V1 = (
    "CREATE TABLE IF NOT EXISTS memory_revision(id INTEGER PRIMARY KEY, n {int} NOT NULL)",
    "INSERT INTO memory_revision(id, n) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
    """CREATE TABLE IF NOT EXISTS memory_items(
        id {id}, text TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
        scope TEXT NOT NULL, scope_key TEXT NOT NULL, topic TEXT, tags TEXT NOT NULL,
        created_at {float} NOT NULL, updated_at {float} NOT NULL, expires_at {float},
        flags TEXT NOT NULL, text_hash TEXT NOT NULL, terms TEXT NOT NULL, vec {blob})""",
    "CREATE UNIQUE INDEX IF NOT EXISTS memory_items_hash ON memory_items(scope, scope_key, kind, text_hash)",
    "CREATE INDEX IF NOT EXISTS memory_items_expires ON memory_items(expires_at)",
)

_V2 = (
    "ALTER TABLE memory_items ADD COLUMN seen {int} NOT NULL DEFAULT 1",
    """CREATE TABLE IF NOT EXISTS memory_entities(
        id {id}, scope TEXT NOT NULL, scope_key TEXT NOT NULL, name TEXT NOT NULL, name_key TEXT NOT NULL,
        type TEXT NOT NULL, flags TEXT NOT NULL, created_at {float} NOT NULL, updated_at {float} NOT NULL,
        terms TEXT NOT NULL, vec {blob})""",
    "CREATE UNIQUE INDEX IF NOT EXISTS memory_entities_name ON memory_entities(scope, scope_key, name_key)",
    """CREATE TABLE IF NOT EXISTS memory_observations(
        id {id}, entity_id {int} NOT NULL REFERENCES memory_entities(id) ON DELETE CASCADE,
        text TEXT NOT NULL, text_hash TEXT NOT NULL, created_at {float} NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS memory_observations_text ON memory_observations(entity_id, text_hash)",
    """CREATE TABLE IF NOT EXISTS memory_relations(
        id {id}, source_id {int} NOT NULL REFERENCES memory_entities(id) ON DELETE CASCADE,
        target_id {int} NOT NULL REFERENCES memory_entities(id) ON DELETE CASCADE,
        type TEXT NOT NULL, created_at {float} NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS memory_relations_edge ON memory_relations(source_id, target_id, type)",
    "CREATE INDEX IF NOT EXISTS memory_relations_target ON memory_relations(target_id)",
)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _V1), (2, _V2))
SCHEMA_VERSION = MIGRATIONS[-1][0]

Execute = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def migrate(execute: Execute, dialect: Dialect, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema from its stored version to ``target``; runs inside the caller's transaction."""
    execute("CREATE TABLE IF NOT EXISTS memory_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)", ())
    rows = execute("SELECT value FROM memory_meta WHERE key = 'schema_version'", ())
    current = int(rows[0][0]) if rows else 0
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the memory database has schema version {current}; this toolmesh knows up to {SCHEMA_VERSION}",
            hint="Upgrade toolmesh, or point TOOLMESH_MEMORY_STORE at another database.",
        )
    types = {"id": dialect.id, "int": dialect.int, "float": dialect.float, "blob": dialect.blob}
    for version, statements in MIGRATIONS:
        if current < version <= target:
            for statement in statements:
                execute(statement.format(**types), ())
            execute(
                "INSERT INTO memory_meta(key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(version),),
            )
            current = version
    return current
