"""The model gateway against scripted OpenAI-compatible servers over real HTTP: the second endpoint takes
over on 429s and when the first is down (and its breaker keeps it out), routing by role and prompt size,
the concurrency limit under load, the bounded queue wait, the exact cache (memory and SQLite, opt-out per
role) and what /metrics shows."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route as HttpRoute

from toolmesh.agents.errors import ModelError
from toolmesh.agents.gateway import Gateway
from toolmesh.agents.model import EndpointSettings, ModelSettings
from toolmesh.agents.scripted import Reply, ScriptedModel, scripted_server

HELLO = [{"role": "user", "content": "hello"}]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gateway(*endpoints: EndpointSettings, **update: Any) -> Gateway:
    settings = ModelSettings(endpoints=list(endpoints), cache_url="off", **update)
    return Gateway.from_settings(settings)


def _endpoint(url: str, name: str, **update: Any) -> EndpointSettings:
    return EndpointSettings(base_url=url, model=name, name=name, **update)


@pytest.mark.asyncio
async def test_the_second_endpoint_takes_over_on_429s_and_when_the_first_is_down() -> None:
    limited = ScriptedModel(lambda body: Reply.fault(429, retry_after=0.01, message="rate limited"))
    backup = ScriptedModel(lambda body: Reply.text("from the backup"))
    async with scripted_server(limited) as first, scripted_server(backup) as second:
        gateway = _gateway(_endpoint(first, "main", retries=1), _endpoint(second, "backup"))
        try:
            result = await gateway.chat(HELLO, role="planner")
        finally:
            await gateway.aclose()
    assert result.content == "from the backup" and result.endpoint == "backup"
    assert result.fallbacks == ["main"] and len(limited.requests) == 2  # one retry, then the backup
    assert (
        gateway.metrics.value(
            "toolmesh_model_fallbacks_total", endpoint="main", role="planner", reason="error"
        )
        == 1
    )
    assert gateway.metrics.value("toolmesh_model_retries_total", endpoint="main", role="planner") == 1

    down = f"http://127.0.0.1:{_closed_port()}/v1"
    async with scripted_server(backup) as second:
        gateway = _gateway(
            _endpoint(down, "main", retries=0), _endpoint(second, "backup"), breaker_threshold=2
        )
        try:
            for _ in range(4):
                assert (await gateway.chat(HELLO, role="writer")).endpoint == "backup"
        finally:
            await gateway.aclose()
    fallbacks = gateway.metrics.value
    assert fallbacks("toolmesh_model_fallbacks_total", endpoint="main", role="writer", reason="error") == 2
    assert fallbacks("toolmesh_model_fallbacks_total", endpoint="main", role="writer", reason="breaker") == 2


@pytest.mark.asyncio
async def test_every_endpoint_failing_says_why_for_each() -> None:
    broken = ScriptedModel(lambda body: Reply.fault(500, message="boom"))
    async with scripted_server(broken) as url:
        gateway = _gateway(_endpoint(url, "a", retries=0), _endpoint(url, "b", retries=0))
        try:
            with pytest.raises(
                ModelError, match=r"every model endpoint for the planner role failed: a: .*HTTP 500.*; b:"
            ):
                await gateway.chat(HELLO, role="planner")
        finally:
            await gateway.aclose()


@pytest.mark.asyncio
async def test_routing_by_role_and_prompt_size_and_refusing_an_over_long_prompt() -> None:
    small = ScriptedModel(lambda body: Reply.text("small"))
    large = ScriptedModel(lambda body: Reply.text("large"))
    async with scripted_server(small) as s, scripted_server(large) as big:
        gateway = _gateway(
            _endpoint(s, "small", roles=["reviewer"], max_prompt_tokens=50),
            _endpoint(big, "large", max_prompt_tokens=2000),
        )
        long = [{"role": "user", "content": "word " * 300}]
        try:
            assert (await gateway.chat(HELLO, role="reviewer")).content == "small"
            assert (await gateway.chat(long, role="reviewer")).content == "large"
            assert (await gateway.chat(HELLO, role="planner")).content == "large"
            with pytest.raises(ModelError, match=r"about .* tokens; the largest endpoint for it takes 2000"):
                await gateway.chat([{"role": "user", "content": "word " * 3000}], role="planner")
        finally:
            await gateway.aclose()
    assert len(small.requests) == 1 and len(large.requests) == 2
    assert small.requests[0]["temperature"] == 0.0  # the reviewer's sampling


@pytest.mark.asyncio
async def test_the_concurrency_limit_holds_under_load_and_a_full_queue_fails_clearly() -> None:
    slow = ScriptedModel(lambda body: Reply(content="ok", delay=0.05))
    async with scripted_server(slow) as url:
        gateway = _gateway(_endpoint(url, "main", concurrency=4))
        try:
            results = await asyncio.gather(
                *[gateway.chat([{"role": "user", "content": f"q{i}"}], role="planner") for i in range(50)]
            )
        finally:
            await gateway.aclose()
    assert all(r.content == "ok" for r in results) and len(slow.requests) == 50
    assert slow.peak == 4 and gateway.routes[0].limit.peak == 4

    stuck = ScriptedModel(lambda body: Reply(content="ok", delay=1.0))
    async with scripted_server(stuck) as url:
        gateway = _gateway(_endpoint(url, "main", concurrency=1), queue_timeout=0.1)
        try:
            first = asyncio.ensure_future(gateway.chat(HELLO, role="planner"))
            await asyncio.sleep(0)
            with pytest.raises(ModelError, match=r"stayed at its limit for 0\.1 s"):
                await gateway.chat([{"role": "user", "content": "second"}], role="planner")
            assert (await first).content == "ok"
        finally:
            await gateway.aclose()


@pytest.mark.asyncio
async def test_the_exact_cache_answers_repeats_and_metrics_show_hits_and_tokens(tmp_path: Path) -> None:
    scripted = ScriptedModel(lambda body: Reply.text("cached answer"))
    cache_url = f"sqlite:///{tmp_path / 'model-cache.db'}"
    async with scripted_server(scripted) as url:
        settings = ModelSettings(base_url=url, model="m", cache_url=cache_url, no_cache=["writer"])
        gateway = Gateway.from_settings(settings)
        try:
            first = await gateway.chat(HELLO, role="planner")
            again = await gateway.chat(HELLO, role="planner")
            await gateway.chat(HELLO, role="writer")
            await gateway.chat(HELLO, role="writer")
            app = Starlette(routes=[HttpRoute("/metrics", gateway.metrics.endpoint)])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://agent") as http:
                text = (await http.get("/metrics")).text
        finally:
            await gateway.aclose()
        restarted = Gateway.from_settings(settings)  # the SQLite cache outlives the process's gateway
        try:
            assert (await restarted.chat(HELLO, role="planner")).cached
        finally:
            await restarted.aclose()
    assert not first.cached and again.cached and again.content == "cached answer"
    assert len(scripted.requests) == 3  # planner once, writer twice (opted out)
    assert 'toolmesh_model_cache_total{result="hit",role="planner"} 1.0' in text
    assert 'toolmesh_model_cache_total{result="miss",role="planner"} 1.0' in text
    assert 'toolmesh_model_tokens_total{endpoint="m@127.0.0.1' in text and 'kind="completion"' in text
    assert "toolmesh_model_latency_seconds_bucket" in text


def _picky(body: dict[str, Any]) -> Reply:
    """A local server's quirks: no json_schema, tool calls only for a named function."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return Reply.fault(500, message="Input should be 'text' or 'json_object'")
    if body.get("tools") and body.get("tool_choice") == "auto":
        return Reply.text("no tool call")
    if body.get("tools"):
        return Reply.calls(("echo", {"text": "hi"}))
    return Reply.text('{"ok": true}')


@pytest.mark.asyncio
async def test_probing_finds_what_an_endpoint_supports_and_routes_around_what_it_lacks() -> None:
    picky = ScriptedModel(_picky, context_tokens=300)
    full = ScriptedModel(lambda body: Reply.text("from the larger endpoint"))
    async with scripted_server(picky) as small, scripted_server(full) as large:
        gateway = _gateway(_endpoint(small, "local"), _endpoint(large, "hosted"), probe=True, max_tokens=64)
        try:
            short = await gateway.chat(HELLO, role="planner")
            long = await gateway.chat([{"role": "user", "content": "word " * 250}], role="planner")
            caps = await gateway.probe()
        finally:
            await gateway.aclose()
    local = caps["local"]
    assert local.json_schema is False and local.json_object_schema is True
    assert local.tools_auto is False and local.tools_named is True and local.tool_calling is True
    assert local.context_tokens == 300 and local.structured_output == "json_object+schema"
    assert caps["hosted"].context_tokens is None  # no /props: not known, never guessed
    assert short.endpoint == "local" and long.endpoint == "hosted" and long.fallbacks == ["local"]
    assert (
        gateway.metrics.value(
            "toolmesh_model_fallbacks_total", endpoint="local", role="planner", reason="capability"
        )
        == 1
    )


@pytest.mark.asyncio
async def test_the_semantic_cache_answers_a_near_repeat_for_the_writer_with_the_packaged_embedder() -> None:
    scripted = ScriptedModel(lambda body: Reply.text(f"written {len(body['messages'][-1]['content'])}"))
    asked = "Question: how many orders were placed in 2024? Evidence: [1] 412 orders."
    near = "Question: how many orders were placed in 2024 ? Evidence: [1] 412 orders"
    other = "Question: which city has the most customers? Evidence: [1] Berlin, 40 customers."
    async with scripted_server(scripted) as url:
        gateway = _gateway(_endpoint(url, "m"), semantic_roles=["writer"], semantic_threshold=0.95)
        try:
            first = await gateway.chat([{"role": "user", "content": asked}], role="writer")
            again = await gateway.chat([{"role": "user", "content": near}], role="writer")
            different = await gateway.chat([{"role": "user", "content": other}], role="writer")
            planner = await gateway.chat([{"role": "user", "content": near}], role="planner")
        finally:
            await gateway.aclose()
    assert not first.cached and again.cached and again.content == first.content
    assert not different.cached and not planner.cached  # other text; a role without the semantic cache
    assert len(scripted.requests) == 3
    assert gateway.metrics.value("toolmesh_model_cache_total", role="writer", result="semantic_hit") == 1


@pytest.mark.asyncio
async def test_two_gateways_share_the_exact_cache_through_redis() -> None:
    redis: Any = pytest.importorskip("redis.asyncio", reason="the redis client is not installed")
    probe = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await probe.ping()
    except Exception as exc:  # no server here: nothing to share through
        pytest.skip(f"no Redis at 127.0.0.1:6379 ({exc!r})")
    finally:
        await probe.aclose()
    scripted = ScriptedModel(lambda body: Reply.text("shared"))
    unique = [{"role": "user", "content": f"shared question {uuid.uuid4()}"}]
    async with scripted_server(scripted) as url:
        settings = ModelSettings(base_url=url, model="m", cache_url="redis://127.0.0.1:6379/0", cache_ttl=60)
        first, second = Gateway.from_settings(settings), Gateway.from_settings(settings)  # two replicas
        try:
            assert not (await first.chat(unique, role="planner")).cached
            assert (await second.chat(unique, role="planner")).cached
        finally:
            await first.aclose()
            await second.aclose()
    assert len(scripted.requests) == 1


@pytest.mark.asyncio
async def test_probed_without_tool_calling_means_the_json_protocol_and_a_down_one_stays_unknown() -> None:
    plain = ScriptedModel(lambda body: Reply.text('{"answer": "no tools here"}'))
    async with scripted_server(plain) as url:
        gateway = _gateway(_endpoint(url, "plain"), probe=True)
        try:
            assert await gateway.tool_calling("planner") is False
        finally:
            await gateway.aclose()
    down = _gateway(_endpoint(f"http://127.0.0.1:{_closed_port()}/v1", "down", timeout=5), probe=True)
    try:
        assert await down.tool_calling("planner") is True  # unknown is not "unsupported"
        caps = (await down.probe())["down"]
    finally:
        await down.aclose()
    assert caps.tool_calling is None and caps.json_schema is None and "unreachable" in caps.notes[0]


@pytest.mark.asyncio
async def test_replicas_share_the_rate_bucket_through_redis() -> None:
    redis: Any = pytest.importorskip("redis.asyncio", reason="the redis client is not installed")
    probe = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await probe.ping()
    except Exception as exc:  # no server here: nothing to share through
        pytest.skip(f"no Redis at 127.0.0.1:6379 ({exc!r})")
    finally:
        await probe.aclose()
    scripted = ScriptedModel(lambda body: Reply.text("ok"))
    name = f"shared-{uuid.uuid4()}"  # a fresh bucket for this run
    async with scripted_server(scripted) as url:
        endpoint = _endpoint(url, name, rpm=2)
        settings = dict(limits_url="redis://127.0.0.1:6379/0", queue_timeout=0.3)
        first, second = _gateway(endpoint, **settings), _gateway(endpoint, **settings)  # two replicas
        try:
            await first.chat([{"role": "user", "content": "a"}], role="planner")
            await second.chat([{"role": "user", "content": "b"}], role="planner")
            with pytest.raises(ModelError, match=r"stayed at its limit for 0\.3 s"):
                await first.chat([{"role": "user", "content": "c"}], role="planner")
        finally:
            await first.aclose()
            await second.aclose()
    assert len(scripted.requests) == 2
