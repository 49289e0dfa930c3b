"""The store contract, run on every backend: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import pytest

from tests.registry.conftest import StoreFactory, make_card, make_server_entry
from toolmesh.protocols.cards import card_to_dict, parse_agent_card
from toolmesh.protocols.errors import LimitExceeded, NotFoundError, PermissionDenied
from toolmesh.registry.models import EntryRecord, Principal, SearchQuery

A = Principal("team-a")
B = Principal("team-b")
ADMIN = Principal("admin", admin=True)
NOW = 1_000_000.0


def agent_record(entry_id: str, card: dict[str, Any], *, now: float = NOW, ttl: float = 60) -> EntryRecord:
    document = card_to_dict(parse_agent_card(card))
    return EntryRecord(
        id=entry_id,
        kind="agent",
        name=document["name"],
        description=document["description"],
        owner="",
        url=None,
        document=document,
        created_at=now,
        updated_at=now,
        last_heartbeat=now,
        expires_at=now + ttl,
    )


def server_record(entry_id: str, entry: dict[str, Any], *, now: float = NOW) -> EntryRecord:
    return EntryRecord(
        id=entry_id,
        kind="server",
        name=entry["name"],
        description=entry["description"],
        owner="",
        url=entry["url"],
        document=entry,
        created_at=now,
        updated_at=now,
        last_heartbeat=now,
        expires_at=now + 60,
    )


def ids(records: list[EntryRecord]) -> list[str]:
    return [r.id for r in records]


@pytest.mark.asyncio
async def test_put_get_update_history_and_ownership(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.start()
    try:
        with anyio.fail_after(20):
            first = await store.put(agent_record("planner-1", make_card("planner")), A, history_limit=3)
            assert (
                first.created
                and first.changed
                and first.record.owner == "team-a"
                and first.record.version == 1
            )
            same = await store.put(
                agent_record("planner-1", make_card("planner"), now=NOW + 5), A, history_limit=3
            )
            assert not same.created and not same.changed and same.record.version == 1
            assert same.record.expires_at == NOW + 65  # re-registration renews the TTL
            with pytest.raises(PermissionDenied, match="team-a"):
                await store.put(
                    agent_record("planner-1", make_card("planner", description="hijack")), B, history_limit=3
                )
            for i in range(4):
                card = make_card("planner", description=f"revision {i}")
                result = await store.put(
                    agent_record("planner-1", card, now=NOW + 10 + i), A, history_limit=3
                )
                assert result.changed and result.record.version == 2 + i
            by_admin = await store.put(
                agent_record("planner-1", make_card("planner", description="admin")), ADMIN, history_limit=3
            )
            assert by_admin.record.owner == "team-a" and by_admin.record.version == 6
            got = await store.get("planner-1")
            assert got is not None and got.description == "admin" and got.created_at == NOW
            history = await store.history("planner-1", 10)
            assert [v.version for v in history] == [6, 5, 4]
            assert history[0].updated_by == "admin" and history[1].document["description"] == "revision 3"
            assert await store.get("nope") is None
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_heartbeat_delete_and_purge(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.start()
    try:
        with anyio.fail_after(20):
            await store.put(agent_record("a1", make_card("a1")), A, history_limit=5)
            await store.put(agent_record("a2", make_card("a2"), ttl=1), A, history_limit=5)
            with pytest.raises(PermissionDenied):
                await store.heartbeat("a1", B, now=NOW + 1, expires_at=NOW + 100)
            renewed, previous = await store.heartbeat("a1", A, now=NOW + 1, expires_at=NOW + 100)
            assert previous == NOW + 60
            assert renewed.expires_at == NOW + 100 and renewed.last_heartbeat == NOW + 1
            with pytest.raises(NotFoundError):
                await store.heartbeat("ghost", A, now=NOW, expires_at=NOW)
            with pytest.raises(PermissionDenied):
                await store.delete("a1", B)
            assert await store.purge_expired(NOW + 50) == 1  # a2 lapsed at NOW+1
            assert await store.get("a2") is None and await store.history("a2", 5) == []
            await store.delete("a1", ADMIN)
            with pytest.raises(NotFoundError):
                await store.delete("a1", A)
            assert await store.count() == 0
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_search_filters_text_health_and_pages(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.start()
    try:
        with anyio.fail_after(30):
            await store.put(
                agent_record(
                    "planner-x",
                    make_card(
                        "planner",
                        skills=[
                            {
                                "id": "plan",
                                "name": "Plan",
                                "description": "Turns requests into DAGs",
                                "tags": ["planning"],
                            }
                        ],
                        bindings=("JSONRPC", "HTTP+JSON"),
                    ),
                ),
                A,
                history_limit=5,
            )
            await store.put(
                agent_record(
                    "reviewer-x",
                    make_card(
                        "reviewer",
                        skills=[
                            {
                                "id": "review",
                                "name": "Review",
                                "description": "Checks evidence",
                                "tags": ["quality"],
                            }
                        ],
                        streaming=False,
                    ),
                ),
                B,
                history_limit=5,
            )
            await store.put(server_record("sql-x", make_server_entry("sql")), A, history_limit=5)
            for i in range(7):
                await store.put(
                    agent_record(
                        f"exec-{i}",
                        make_card(
                            f"executor{i}",
                            skills=[
                                {
                                    "id": "execute",
                                    "name": "Execute",
                                    "description": "Runs plan steps",
                                    "tags": ["run"],
                                }
                            ],
                        ),
                    ),
                    A,
                    history_limit=5,
                )

            async def search(**kw: Any) -> list[str]:
                kw.setdefault("now", NOW)
                return ids(await store.search(SearchQuery(**kw)))

            assert await search(skill="PLAN") == ["planner-x"]
            assert await search(tag="quality") == ["reviewer-x"]
            assert await search(tool="run_query") == ["sql-x"]
            assert await search(binding="http+json") == ["planner-x"]
            assert "reviewer-x" not in await search(capability="streaming", limit=50)
            assert await search(text="dag") == ["planner-x"]  # prefix of "dags"
            assert await search(text="checks evid") == ["reviewer-x"]
            assert await search(text="checks dags") == []
            assert await search(kind="server") == ["sql-x"]
            assert await search(owner="team-b") == ["reviewer-x"]
            # pages: limit+1 rows come back so the caller knows there is more
            first = await search(skill="execute", limit=3)
            assert first == ["exec-0", "exec-1", "exec-2", "exec-3"]
            second = await search(skill="execute", limit=3, after="exec-2")
            assert second == ["exec-3", "exec-4", "exec-5", "exec-6"]
            # health: down and lapsed entries are left out unless asked
            await store.set_health("exec-0", health="down", detail="refused", failures=2, at=NOW)
            await store.set_health("exec-1", health="degraded", detail="slow", failures=0, at=NOW)
            assert "exec-0" not in await search(skill="execute", limit=50)
            assert "exec-0" in await search(skill="execute", limit=50, include_down=True)
            assert await search(skill="execute", health=("degraded",)) == ["exec-1"]
            assert await search(skill="execute", health=("down",)) == ["exec-0"]
            lapsed = await search(skill="execute", now=NOW + 61, limit=50)
            assert lapsed == []
            assert await search(skill="execute", now=NOW + 61, health=("down",), limit=50) == [
                f"exec-{i}" for i in range(7)
            ]
            live = await store.live(NOW, 100)
            assert len(live) == 10 and live[-1].id in ("exec-0", "exec-1")  # probed ones last
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_concurrent_writers(store_factory: StoreFactory) -> None:
    """Two publishers race for the same ids and many ids at once: one owner per id, no lost writes."""
    store = store_factory()
    await store.start()
    try:
        with anyio.fail_after(60):

            async def claim(actor: Principal, entry_id: str) -> str:
                try:
                    await store.put(
                        agent_record(entry_id, make_card(entry_id, description=actor.name)),
                        actor,
                        history_limit=5,
                    )
                    return actor.name
                except PermissionDenied:
                    return "denied"

            outcomes = await asyncio.gather(
                *(claim(actor, f"race-{i}") for i in range(15) for actor in (A, B))
            )
            for i in range(15):
                pair = outcomes[2 * i : 2 * i + 2]
                assert sorted(pair) in (["denied", "team-a"], ["denied", "team-b"], ["team-a", "team-b"])
                record = await store.get(f"race-{i}")
                assert record is not None
                # the winner owns it; if both wrote, the second was the owner updating nothing it did not own
                assert record.owner in pair
                if "denied" in pair:
                    assert record.version == 1
            # one owner, many concurrent updates: versions are dense and none is lost
            await store.put(agent_record("busy", make_card("busy")), A, history_limit=100)
            await asyncio.gather(
                *(
                    store.put(
                        agent_record("busy", make_card("busy", description=f"v{i}")), A, history_limit=100
                    )
                    for i in range(20)
                )
            )
            busy = await store.get("busy")
            assert busy is not None and busy.version == 21
            assert [v.version for v in await store.history("busy", 100)] == list(range(21, 0, -1))
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_restart_keeps_everything(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.start()
    with anyio.fail_after(20):
        await store.put(agent_record("keep-1", make_card("keeper")), A, history_limit=5)
        await store.put(agent_record("keep-1", make_card("keeper", description="second")), A, history_limit=5)
        await store.put(server_record("srv-1", make_server_entry("code")), B, history_limit=5)
        await store.set_health("keep-1", health="healthy", detail="ok", failures=0, at=NOW)
        await store.close()
        again = store_factory()
        await again.start()
        try:
            record = await again.get("keep-1")
            assert record is not None and record.version == 2 and record.owner == "team-a"
            assert record.health == "healthy" and record.description == "second"
            assert [v.version for v in await again.history("keep-1", 5)] == [2, 1]
            assert ids(await again.search(SearchQuery(tool="run_query", now=NOW))) == ["srv-1"]
            assert ids(await again.search(SearchQuery(text="keeper", now=NOW))) == ["keep-1"]
            with pytest.raises(PermissionDenied):
                await again.delete("srv-1", A)
        finally:
            await again.close()


@pytest.mark.asyncio
async def test_search_items_are_exactly_the_views(store_factory: StoreFactory) -> None:
    """The pre-encoded search path gives the same JSON as building each EntryView, on every backend."""
    store = store_factory()
    await store.start()
    try:
        with anyio.fail_after(20):
            await store.put(agent_record("v-agent", make_card("viewed")), A, history_limit=5)
            entry = make_server_entry("viewed-server")
            entry["tools"][0]["input_schema"] = {"type": "object", "default": None, "big": 2**70}
            await store.put(server_record("v-server", entry), B, history_limit=5)
            await store.set_health("v-agent", health="degraded", detail="slow: 2.1s", failures=0, at=NOW + 1)
            for now in (NOW, NOW + 61):  # live, then lapsed (shown down)
                query = SearchQuery(now=now, include_down=True)
                records = await store.search(query)
                items = await store.search_items(query)
                assert [i for i, _ in items] == [r.id for r in records] == ["v-agent", "v-server"]
                for record, (_, raw) in zip(records, items, strict=True):
                    assert json.loads(raw) == record.view(now).model_dump(mode="json", exclude_none=True)
                assert json.loads(items[0][1])["health"] == ("degraded" if now == NOW else "down")
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_publisher_quota(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.start()
    try:
        with anyio.fail_after(20):
            for i in range(2):
                await store.put(agent_record(f"q{i}", make_card(f"q{i}")), A, history_limit=5, max_entries=2)
            with pytest.raises(LimitExceeded, match="already owns 2 entries"):
                await store.put(agent_record("q2", make_card("q2")), A, history_limit=5, max_entries=2)
            updated = await store.put(
                agent_record("q0", make_card("q0", description="still mine")),
                A,
                history_limit=5,
                max_entries=2,
            )
            assert updated.changed  # updates are not creations
            await store.put(agent_record("b0", make_card("b0")), B, history_limit=5, max_entries=2)
            await store.put(agent_record("adm", make_card("adm")), ADMIN, history_limit=5, max_entries=0)
            await store.delete("q1", A)
            await store.put(agent_record("q2", make_card("q2")), A, history_limit=5, max_entries=2)
            assert await store.count() == 4
    finally:
        await store.close()
