"""The store contract, run on every backend (in-memory, SQLite, PostgreSQL), plus schema migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from toolmesh.servers.memory import MemoryStore, open_store
from toolmesh.servers.memory.errors import MemoryConfigError, SchemaTooNew
from toolmesh.servers.memory.items import ItemChange, NewItem, ScopeRef
from toolmesh.servers.memory.stores.migrations import MIGRATIONS, SCHEMA_VERSION, migrate
from toolmesh.servers.memory.stores.sqlite import SQLITE

USER = ScopeRef("user", "u1")


def new(
    text: str, scope: ScopeRef = USER, *, kind: str = "fact", at: float = 100.0, **extra: object
) -> NewItem:
    return NewItem(text, kind, "test", scope, at, text.lower(), **extra)  # type: ignore[arg-type]


def test_items_round_trip_and_exact_duplicates(store: MemoryStore) -> None:
    start = store.revision()
    [(first, fresh)], rev1 = store.insert_items([new("Likes green tea", tags=("drinks",), expires_at=500.0)])
    assert fresh and rev1 == start + 1
    [(again, fresh_again)], rev2 = store.insert_items([new("likes green tea.")])  # same normal form
    assert again == first and not fresh_again and rev2 == rev1 + 1
    [(other_kind, _)], _ = store.insert_items([new("Likes green tea", kind="turn")])
    [(other_user, _)], _ = store.insert_items([new("Likes green tea", ScopeRef("user", "u2"))])
    assert len({first, other_kind, other_user}) == 3
    item = store.get_items([first])[first]
    assert (item.text, item.kind, item.scope, item.tags, item.expires_at, item.seen) == (
        "Likes green tea",
        "fact",
        USER,
        ("drinks",),
        500.0,
        1,
    )
    assert store.find_by_hash(USER, "fact", new("LIKES green tea").hash) == first
    assert store.expired_item_ids(499.0) == [] and store.expired_item_ids(500.0) == [first]


def test_update_delete_and_scan(store: MemoryStore) -> None:
    [(a, _), (b, _)], _ = store.insert_items([new("alpha", vector=b"\x00" * 8), new("beta")])
    revision = store.update_item(a, ItemChange(200.0, ("x",), None, text="alpha two", terms="alpha two"))
    assert revision == store.revision()
    updated = store.get_items([a])[a]
    assert (updated.text, updated.updated_at, updated.seen, updated.tags) == ("alpha two", 200.0, 2, ("x",))
    rows = {row.id: row for row in store.scan_items()}
    assert rows[a].terms == "alpha two" and rows[a].vector is None and rows[b].terms == "beta"
    store.set_item_vectors([(b, b"\x01" * 8)])
    assert {row.id: row.vector for row in store.scan_items()}[b] == b"\x01" * 8
    deleted, _ = store.delete_items([a, a, 999_999])
    assert deleted == 1 and list(store.get_items([a, b])) == [b]


def test_graph_entities_relations_and_neighbors_depth(store: MemoryStore) -> None:
    scope = ScopeRef("global")
    ids = {}
    for name in ("Ada", "Engine", "Babbage", "Royal Society", "London", "Island"):
        ids[name], _ = store.insert_entity(scope, name, "thing", 1.0, ())
    again, _ = store.insert_entity(scope, "ada", "person", 2.0, ())
    assert again == ids["Ada"]
    added, _ = store.add_observations(
        ids["Ada"], ["wrote the first program", "wrote the first program", "poet"], 3.0
    )
    assert added == 2
    edges = [
        (ids["Ada"], ids["Engine"], "programmed"),
        (ids["Babbage"], ids["Engine"], "designed"),
        (ids["Babbage"], ids["Royal Society"], "member_of"),
        (ids["Royal Society"], ids["London"], "based_in"),
        (ids["London"], ids["Ada"], "birthplace_of"),  # a cycle back to the start
    ]
    assert store.add_relations(scope, edges, 4.0)[0] == 5
    assert store.add_relations(scope, edges[:1], 5.0)[0] == 0  # one relation per (source, target, type)
    hop = {ids[k]: k for k in ids}
    one = {hop[i]: d for i, d in store.neighbors(ids["Ada"], 1, 100)}
    assert one == {"Ada": 0, "Engine": 1, "London": 1}
    two = {hop[i]: d for i, d in store.neighbors(ids["Ada"], 2, 100)}
    assert two == {"Ada": 0, "Engine": 1, "London": 1, "Babbage": 2, "Royal Society": 2}
    assert "Island" not in {hop[i] for i, _ in store.neighbors(ids["Ada"], 5, 100)}
    assert len(store.neighbors(ids["Ada"], 3, 2)) == 2  # the limit
    among = store.relations_among([ids["Ada"], ids["Engine"], ids["London"]])
    assert {(r.source, r.type, r.target) for r in among} == {
        ("Ada", "programmed", "Engine"),
        ("London", "birthplace_of", "Ada"),
    }
    found = store.find_entities(scope, ["ADA", "nobody"])
    assert list(found) == ["ada"] and found["ada"].observations == ("wrote the first program", "poet")
    assert store.find_entities(ScopeRef("user", "u1"), ["Ada"]) == {}  # scopes do not mix


def test_sqlite_migrates_a_version_1_database_forward(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)

    def execute(sql: str, params: object) -> list[tuple[object, ...]]:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    assert migrate(execute, SQLITE, target=1) == 1
    conn.execute(
        "INSERT INTO memory_items(text, kind, source, scope, scope_key, topic, tags, created_at, "
        "updated_at, expires_at, flags, text_hash, terms) "
        "VALUES ('kept', 'fact', '', 'global', '', NULL, '[]', 1, 1, NULL, '[]', 'h', 'kept')"
    )
    assert "seen" not in {r[1] for r in conn.execute("PRAGMA table_info(memory_items)")}
    conn.close()
    store = open_store(f"sqlite:///{path}")
    assert store.schema_version() == SCHEMA_VERSION == MIGRATIONS[-1][0]
    [item] = store.get_items([1]).values()
    assert item.text == "kept" and item.seen == 1  # the new column got its default
    assert store.insert_entity(ScopeRef("global"), "new table", "t", 1.0, ())[0] >= 1
    store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    open_store(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE memory_meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match="schema version 999"):
        open_store(f"sqlite:///{path}")


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://"])
def test_bad_store_urls_say_what_works(url: str) -> None:
    with pytest.raises(MemoryConfigError, match="sqlite"):
        open_store(url)
