"""registry_client against a real registry over HTTP: register, heartbeat, find, outages and restarts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.registry.conftest import (
    ADMIN,
    PUBLISHER_A,
    PUBLISHER_B,
    FakeClock,
    make_card,
    make_server_entry,
    settings_for,
)
from toolmesh.protocols.cards import EntryView, McpServerEntry, card_from_json
from toolmesh.protocols.errors import InputError, NotFoundError, PermissionDenied, UnavailableError
from toolmesh.protocols.registry_client import RegistryClient, RegistryUnauthorized
from toolmesh.protocols.serving import bind_socket, running
from toolmesh.protocols.settings import ServingSettings
from toolmesh.registry.app import build_app
from toolmesh.registry.store import MemoryStore

EPHEMERAL = ServingSettings(transport="http", port=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_register_find_and_deregister() -> None:
    app = build_app(settings_for())
    with anyio.fail_after(30):
        async with running(app, EPHEMERAL) as base, RegistryClient(base, token=PUBLISHER_A) as registry:
            card = card_from_json(
                make_card(
                    "planner",
                    skills=[
                        {"id": "plan", "name": "Plan", "description": "Plans work", "tags": ["planning"]}
                    ],
                )
            )
            entry = await registry.register_agent(card)
            assert entry.owner == "team-a" and entry.skills == ["plan"]
            server = await registry.register_server(McpServerEntry.model_validate(make_server_entry("docs")))
            found = await registry.find_agents(skill="plan")
            assert [e.id for e in found] == [entry.id]
            assert (await registry.card(entry.id)).name == "planner"
            assert [s.id for s in await registry.find_servers(tool="run_query")] == [server.id]
            assert (await registry.search(query="plans")).items[0].id == entry.id
            expires = await registry.heartbeat(entry.id)
            assert expires > entry.last_heartbeat
            with pytest.raises(InputError, match="no skills"):
                await registry.register_agent(make_card("bad", skills=[]))
            async with RegistryClient(base, token=PUBLISHER_B) as other:
                with pytest.raises(PermissionDenied, match="team-a"):
                    await other.deregister(entry.id)
            async with RegistryClient(base, token="not-a-token") as stranger:
                with pytest.raises(RegistryUnauthorized):
                    await stranger.register_agent(card)
            await registry.deregister(entry.id)
            with pytest.raises(NotFoundError):
                await registry.heartbeat(entry.id)


@pytest.mark.asyncio
async def test_keep_registered_heartbeats_and_deregisters_on_exit() -> None:
    app = build_app(settings_for(ttl_seconds=3))
    requested: list[float] = []

    async def quick(seconds: float) -> None:
        requested.append(seconds)
        await asyncio.sleep(0.01)

    with anyio.fail_after(30):
        async with running(app, EPHEMERAL) as base, RegistryClient(base, token=PUBLISHER_A) as registry:
            card = make_card("executor")
            async with registry.keep_registered(lambda c: c.register_agent(card), sleep=quick) as presence:
                await until(lambda: presence.heartbeats >= 3)
                assert requested[:3] == [pytest.approx(1.0)] * 3  # the interval defaults to TTL/3
                assert presence.registrations == 1 and presence.entry_id is not None
                entry_id = presence.entry_id
                assert [e.id for e in await registry.find_agents(skill="executor")] == [entry_id]
            async with RegistryClient(base, token=ADMIN) as admin:
                with pytest.raises(NotFoundError):
                    await admin.get(entry_id)


@pytest.mark.asyncio
async def test_backoff_while_the_registry_is_down_then_register_when_it_comes_up() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    delays: list[float] = []

    async def fast_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0.005)

    with anyio.fail_after(30):
        async with (
            RegistryClient(base, token=PUBLISHER_A, timeout=2) as registry,
            registry.keep_registered(
                lambda c: c.register_agent(make_card("late")),
                initial_backoff=1,
                max_backoff=8,
                interval=0.05,
                sleep=fast_sleep,
            ) as presence,
        ):
            await until(lambda: presence.failures >= 6)
            assert not presence.registered.is_set() and "unreachable" in (presence.last_error or "")
            # exponential backoff with jitter, capped: 1, 2, 4, 8, 8, ... times [0.5, 1)
            assert 0.5 <= delays[0] < 1 and 1 <= delays[1] < 2 and 2 <= delays[2] < 4
            assert all(d < 8 for d in delays) and max(delays) >= 4
            app = build_app(settings_for())
            async with running(app, sock=bind_socket("127.0.0.1", port)):
                await until(presence.registered.is_set)
                await until(lambda: presence.heartbeats >= 1)
                assert presence.registrations == 1
                assert [e.name for e in await registry.find_agents(skill="late")] == ["late"]


@pytest.mark.asyncio
async def test_survives_registry_restart_and_a_wiped_registry(tmp_path: Path) -> None:
    port = free_port()
    settings = settings_for(database_url=f"sqlite+aiosqlite:///{tmp_path / 'reg.db'}")

    async def quick(seconds: float) -> None:
        await asyncio.sleep(min(seconds, 0.02))

    with anyio.fail_after(60):
        async with (
            RegistryClient(f"http://127.0.0.1:{port}", token=PUBLISHER_A, timeout=2) as registry,
            registry.keep_registered(
                lambda c: c.register_agent(make_card("durable")),
                interval=0.02,
                initial_backoff=0.01,
                sleep=quick,
            ) as presence,
        ):
            async with running(build_app(settings), sock=bind_socket("127.0.0.1", port)):
                await until(lambda: presence.heartbeats >= 2)
            # down: heartbeats fail, the loop keeps trying
            await until(lambda: presence.failures >= 2)
            async with running(build_app(settings), sock=bind_socket("127.0.0.1", port)):
                await until(lambda: presence.registrations >= 2 and presence.registered.is_set())
                entry = await registry.get(presence.entry_id or "")
                assert entry.version == 1  # the same card again: same entry, no new version
            # a registry that lost everything (memory store): heartbeats get 404, the agent registers again
            registrations = presence.registrations
            async with running(
                build_app(settings_for(), store=MemoryStore()), sock=bind_socket("127.0.0.1", port)
            ):
                await until(lambda: presence.registrations > registrations and presence.heartbeats > 0)
                assert [e.name for e in await registry.find_agents(skill="durable")] == ["durable"]


@pytest.mark.asyncio
async def test_cache_serves_known_peers_through_an_outage() -> None:
    clock = FakeClock(0)
    with anyio.fail_after(30):
        async with RegistryClient(
            f"http://127.0.0.1:{free_port()}",
            token=PUBLISHER_A,
            cache_ttl=5,
            stale_ttl=100,
            clock=clock,
            timeout=2,
        ) as registry:
            with pytest.raises(UnavailableError):
                await registry.find_agents(skill="review")  # nothing cached yet
            app = build_app(settings_for())
            async with running(app, EPHEMERAL) as base:
                registry.base_url = base
                entry = await registry.register_agent(
                    make_card(
                        "reviewer",
                        skills=[{"id": "review", "name": "Review", "description": "Reviews", "tags": []}],
                    )
                )
                first = await registry.search(skill="review")
                assert [e.id for e in first.items] == [entry.id] and not first.stale
                await registry.register_agent(
                    make_card(
                        "reviewer2",
                        skills=[{"id": "review", "name": "Review", "description": "Reviews", "tags": []}],
                    )
                )
                assert len((await registry.search(skill="review")).items) == 1  # fresh cache for 5 s
                clock.advance(6)
                assert len((await registry.search(skill="review")).items) == 2
                assert len(await registry.find_agents(skill="review")) == 2
                got: EntryView = await registry.get(entry.id)
            # the registry is gone: known answers are still served, marked stale
            clock.advance(50)
            stale = await registry.search(skill="review")
            assert stale.stale and len(stale.items) == 2
            assert [e.name for e in await registry.find_agents(skill="review")] == ["reviewer", "reviewer2"]
            assert (await registry.get(entry.id)).id == got.id
            with pytest.raises(UnavailableError):
                await registry.search(skill="other")
            clock.advance(100)  # past stale_ttl
            with pytest.raises(UnavailableError):
                await registry.search(skill="review")


@pytest.mark.asyncio
async def test_rejections_back_off_fully_and_errors_do_not_end_the_loop() -> None:
    app = build_app(settings_for())
    delays: list[float] = []
    attempts: list[str] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0.005)

    async def flaky(client: RegistryClient) -> EntryView:
        attempts.append("try")
        if len(attempts) == 1:
            return await client.register_agent(make_card("flaky", skills=[]))  # refused: no skills
        if len(attempts) == 2:
            raise RuntimeError("callback bug")
        return await client.register_agent(make_card("flaky"))

    with anyio.fail_after(30):
        async with (
            running(app, EPHEMERAL) as base,
            RegistryClient(base, token=PUBLISHER_A) as registry,
            registry.keep_registered(
                flaky, initial_backoff=0.1, max_backoff=4, interval=0.05, sleep=record_sleep
            ) as p,
        ):
            await until(p.registered.is_set)
            assert len(attempts) == 3 and p.failures == 2
            assert 2 <= delays[0] < 4  # a rejection waits the full (jittered) max backoff
            assert "RuntimeError" in (p.last_error or "")
