"""The executor engine against in-process MCP servers: concurrency, references, retries, breaker,
fallback, cache, timeouts, tool errors, skipped dependents, cancellation."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import anyio
import pytest

from tests.agents.fixtures import echo_server
from toolmesh.agents.catalog import CatalogCache
from toolmesh.agents.discovery import ServerRef
from toolmesh.agents.errors import TransientToolError
from toolmesh.agents.executor.breaker import BreakerBoard
from toolmesh.agents.executor.engine import Engine, EngineSettings, StepEvent
from toolmesh.agents.mcp import McpPool, ToolOutcome
from toolmesh.agents.plan import parse_plan


class FlakyPool(McpPool):
    """Fails the first ``failures[server_id]`` calls to a server with a transient error."""

    def __init__(self, failures: dict[str, int]) -> None:
        super().__init__()
        self.failures = dict(failures)
        self.seen: list[str] = []

    async def call(
        self, server: ServerRef, tool: str, arguments: dict[str, Any], *, time_limit: float
    ) -> ToolOutcome:
        self.seen.append(server.id)
        if self.failures.get(server.id, 0) > 0:
            self.failures[server.id] -= 1
            raise TransientToolError(f"{server.id} is overloaded")
        return await super().call(server, tool, arguments, time_limit=time_limit)


async def _no_sleep(seconds: float) -> None:
    return None


def _plan(*steps: dict[str, Any]) -> Any:
    return parse_plan({"goal": "test", "steps": list(steps)})


def _tool(
    step_id: str, tool: str, args: dict[str, Any], server: str = "echo", **extra: Any
) -> dict[str, Any]:
    return {
        "id": step_id,
        "action": {"kind": "tool", "server": server, "tool": tool, "arguments": args},
        **extra,
    }


async def _catalog(pool: McpPool, *refs: ServerRef) -> Any:
    return await CatalogCache(pool).build(refs)


@pytest.mark.asyncio
async def test_independent_steps_run_concurrently_and_references_resolve() -> None:
    server, _ = echo_server()
    pool = McpPool()
    ref = ServerRef(id="echo-1", name="echo", target=server)
    events: list[StepEvent] = []

    async def sink(event: StepEvent) -> None:
        events.append(event)

    try:
        catalog = await _catalog(pool, ref)
        plan = _plan(
            _tool("a", "meet", {"tag": "left"}),
            _tool("b", "meet", {"tag": "right"}),
            _tool("c", "echo", {"text": "${a.text}+${b.text}"}),
        )
        with anyio.fail_after(10):
            results = await Engine(pool).run(plan, catalog, on_event=sink)
    finally:
        await pool.aclose()
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    assert results[2].structured["text"] == "left+right"
    assert results[2].arguments == {"text": "left+right"}
    phases = [(e.step_id, e.phase) for e in events]
    assert phases.index(("c", "start")) > phases.index(("a", "end"))
    assert {("a", "start"), ("b", "start"), ("c", "end")} <= set(phases)


@pytest.mark.asyncio
async def test_transient_failures_are_retried_with_backoff() -> None:
    server, _ = echo_server()
    pool = FlakyPool({"echo-1": 2})
    ref = ServerRef(id="echo-1", name="echo", target=server)
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    try:
        catalog = await _catalog(pool, ref)
        engine = Engine(pool, settings=EngineSettings(retries=2, backoff=0.1), sleep=sleep)
        results = await engine.run(_plan(_tool("a", "shout", {"text": "hi"})), catalog)
    finally:
        await pool.aclose()
    assert results[0].status == "ok" and results[0].attempts == 3
    assert results[0].structured["text"] == "HI"
    assert len(delays) == 2 and 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2


@pytest.mark.asyncio
async def test_breaker_opens_and_fallback_reaches_another_server() -> None:
    broken, _ = echo_server("echo")
    healthy, healthy_knobs = echo_server("echo")
    pool = FlakyPool({"echo-a": 100})
    refs = [
        ServerRef(id="echo-a", name="echo", target=broken),
        ServerRef(id="echo-b", name="echo-2", target=healthy),
    ]
    clock = [0.0]
    breakers = BreakerBoard(threshold=2, cooldown=30.0, clock=lambda: clock[0])
    try:
        catalog = await _catalog(pool, *refs)
        engine = Engine(pool, settings=EngineSettings(retries=3), breakers=breakers, sleep=_no_sleep)
        first = await engine.run(_plan(_tool("a", "shout", {"text": "x"})), catalog)
        assert first[0].status == "ok" and first[0].server == "echo-b"
        assert first[0].tried == ["echo-a", "echo-b"]
        assert breakers.state("echo-a") == "open"
        calls_to_a = pool.seen.count("echo-a")
        assert calls_to_a == 2  # the breaker stopped the retries at its threshold
        second = await engine.run(_plan(_tool("a", "shout", {"text": "y"})), catalog)
        assert second[0].server == "echo-b" and pool.seen.count("echo-a") == calls_to_a  # refused while open
        clock[0] = 31.0
        pool.failures["echo-a"] = 0
        third = await engine.run(_plan(_tool("a", "shout", {"text": "z"})), catalog)
        assert third[0].server == "echo-a" and breakers.state("echo-a") == "closed"  # half-open trial passed
    finally:
        await pool.aclose()
    assert healthy_knobs.calls == 2


@pytest.mark.asyncio
async def test_read_only_results_are_cached_and_others_are_not() -> None:
    server, knobs = echo_server()
    pool = McpPool()
    ref = ServerRef(id="echo-1", name="echo", target=server)
    try:
        catalog = await _catalog(pool, ref)
        engine = Engine(pool)
        plan = _plan(_tool("a", "echo", {"text": "same"}))
        first = await engine.run(plan, catalog)
        second = await engine.run(plan, catalog)
        other = await engine.run(_plan(_tool("a", "echo", {"text": "other"})), catalog)
        shout = [await engine.run(_plan(_tool("a", "shout", {"text": "s"})), catalog) for _ in range(2)]
    finally:
        await pool.aclose()
    assert not first[0].cached and second[0].cached and not other[0].cached
    assert second[0].structured == first[0].structured
    assert not any(r[0].cached for r in shout)
    assert knobs.calls == 4  # echo x2 (one cached) + shout x2


@pytest.mark.asyncio
async def test_tool_errors_are_not_retried_and_dependents_are_skipped() -> None:
    server, _ = echo_server()
    pool = FlakyPool({})
    ref = ServerRef(id="echo-1", name="echo", target=server)
    try:
        catalog = await _catalog(pool, ref)
        plan = _plan(
            _tool("a", "lookup", {"key": "missing"}),
            _tool("b", "echo", {"text": "${a.rows.0.0}"}),
            _tool("c", "lookup", {"key": "a"}),
        )
        results = await Engine(pool, sleep=_no_sleep).run(plan, catalog)
    finally:
        await pool.aclose()
    a, b, c = results
    assert a.status == "error" and a.attempts == 1 and "Use 'a' or 'b'" in (a.error or "")
    assert b.status == "skipped" and "a" in (b.error or "")
    assert c.status == "ok" and c.structured["rows"] == [["a", 1]]
    assert pool.seen.count("echo-1") == 2


@pytest.mark.asyncio
async def test_per_call_timeout_fails_the_step_with_a_reason() -> None:
    server, knobs = echo_server()
    knobs.hang = True
    pool = McpPool()
    ref = ServerRef(id="echo-1", name="echo", target=server)
    try:
        catalog = await _catalog(pool, ref)
        plan = _plan(_tool("a", "echo", {"text": "x"}, timeout=0.3))
        with anyio.fail_after(10):
            results = await Engine(pool, settings=EngineSettings(retries=0)).run(plan, catalog)
    finally:
        await pool.aclose()
    assert results[0].status == "error" and "did not answer within 0.3 s" in (results[0].error or "")


@pytest.mark.asyncio
async def test_unreachable_server_is_a_clear_failure() -> None:
    pool = McpPool(connect_timeout=5)
    server, _ = echo_server()
    catalog = await _catalog(pool, ServerRef(id="echo-1", name="echo", target=server))
    dead = ServerRef(id="echo-1", name="echo", url="http://127.0.0.1:9/mcp")
    catalog.tools[:] = [dataclasses.replace(t, server=dead) for t in catalog.tools]
    await pool.aclose()
    try:
        with anyio.fail_after(20):
            results = await Engine(pool, sleep=_no_sleep).run(
                _plan(_tool("a", "echo", {"text": "x"})), catalog
            )
    finally:
        await pool.aclose()
    assert results[0].status == "error"
    assert "cannot connect to MCP server 'echo-1'" in (results[0].error or "")
    assert results[0].attempts == 3


@pytest.mark.asyncio
async def test_cancelling_the_run_cancels_the_in_flight_tool_call() -> None:
    server, knobs = echo_server()
    knobs.hang = True
    pool = McpPool()
    ref = ServerRef(id="echo-1", name="echo", target=server)
    try:
        catalog = await _catalog(pool, ref)
        run = asyncio.create_task(Engine(pool).run(_plan(_tool("a", "echo", {"text": "x"})), catalog))
        with anyio.fail_after(10):
            await knobs.started.wait()
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            await knobs.cancelled.wait()
    finally:
        await pool.aclose()
