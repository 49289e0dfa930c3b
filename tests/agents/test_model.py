"""The model seam: one endpoint through the openai SDK against the scripted server over real HTTP
(request shape, per-role sampling, retries honouring Retry-After, timeouts naming the setting,
truncation), and parsing."""

from __future__ import annotations

from typing import Any

import pytest

from toolmesh.agents.errors import ModelError, ModelTimeout, ModelTruncated
from toolmesh.agents.model import (
    ModelSettings,
    OpenAIChatModel,
    ToolSpec,
    build_model,
    parse_json_object,
)
from toolmesh.agents.scripted import Reply, ScriptedModel, scripted_server


def _settings(base_url: str, **update: Any) -> ModelSettings:
    return ModelSettings(base_url=base_url, model="m-1", api_key="sk-test", **update)


@pytest.mark.asyncio
async def test_chat_completions_request_and_tool_calls() -> None:
    scripted = ScriptedModel(lambda body: Reply.calls(("search_docs", {"query": "refunds"})))
    async with scripted_server(scripted) as url:
        model = OpenAIChatModel.single(_settings(url, top_k={"planner": 20}))
        try:
            result = await model.chat(
                [{"role": "user", "content": "hi"}],
                role="planner",
                tools=[ToolSpec(name="search_docs", description="Search", parameters={"type": "object"})],
            )
        finally:
            await model.aclose()
    call = result.tool_calls[0]
    assert call.name == "search_docs" and call.arguments == {"query": "refunds"}
    assert result.finish_reason == "tool_calls" and result.usage.total > 0 and result.retries == 0
    body = scripted.requests[0]
    assert body["model"] == "m-1" and body["temperature"] == 0.2 and body["top_p"] == 1.0
    assert body["top_k"] == 20  # extra body, for servers that sample with it
    assert body["tools"][0]["function"]["name"] == "search_docs" and body["tool_choice"] == "auto"


@pytest.mark.asyncio
async def test_roles_sample_differently_and_json_mode() -> None:
    scripted = ScriptedModel(lambda body: Reply.text("{}"))
    async with scripted_server(scripted) as url:
        model = OpenAIChatModel.single(_settings(url, top_p={"writer": 0.5}))
        try:
            await model.chat([{"role": "user", "content": "x"}], role="writer", json_mode=True)
        finally:
            await model.aclose()
    body = scripted.requests[0]
    assert body["temperature"] == 0.3 and body["top_p"] == 0.5
    assert body["response_format"] == {"type": "json_object"}
    assert build_model(ModelSettings()) is None


@pytest.mark.asyncio
async def test_a_429_with_retry_after_is_retried_and_a_persistent_500_is_a_model_error() -> None:
    replies = iter([Reply.fault(429, retry_after=0.05), Reply.text("ok")])
    scripted = ScriptedModel(lambda body: next(replies))
    async with scripted_server(scripted) as url:
        model = OpenAIChatModel.single(_settings(url, retries=2))
        try:
            result = await model.chat([{"role": "user", "content": "x"}], role="planner")
        finally:
            await model.aclose()
    assert result.content == "ok" and result.retries == 1 and len(scripted.requests) == 2

    failing = ScriptedModel(lambda body: Reply.fault(500))
    async with scripted_server(failing) as url:
        model = OpenAIChatModel.single(_settings(url, retries=1))
        try:
            with pytest.raises(ModelError, match="HTTP 500 after 2 attempts"):
                await model.chat([{"role": "user", "content": "x"}], role="planner")
        finally:
            await model.aclose()
    assert len(failing.requests) == 2


@pytest.mark.asyncio
async def test_a_timeout_names_the_setting_and_truncation_is_reported_as_such() -> None:
    slow = ScriptedModel(lambda body: Reply(content="late", delay=2.0))
    async with scripted_server(slow) as url:
        model = OpenAIChatModel.single(_settings(url, timeout=0.2, retries=0))
        try:
            with pytest.raises(ModelTimeout, match=r"within 0\.2 s") as caught:
                await model.chat([{"role": "user", "content": "x"}], role="planner")
        finally:
            await model.aclose()
    assert "TOOLMESH_AGENTS_MODEL__TIMEOUT" in (caught.value.hint or "")

    cut = ScriptedModel(lambda body: Reply(content='{"calls": [{"tool": "se', finish_reason="length"))
    async with scripted_server(cut) as url:
        model = OpenAIChatModel.single(_settings(url, max_tokens=16))
        try:
            with pytest.raises(ModelTruncated, match="max_tokens=16") as truncated:
                await model.chat([{"role": "user", "content": "x"}], role="planner", json_mode=True)
            text = await model.chat([{"role": "user", "content": "x"}], role="writer")
        finally:
            await model.aclose()
    assert "MAX_TOKENS" in (truncated.value.hint or "") and text.truncated


def test_parse_json_object() -> None:
    assert parse_json_object('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_object('Sure: {"approved": true} done') == {"approved": True}
    with pytest.raises(ModelError):
        parse_json_object("no json here")
