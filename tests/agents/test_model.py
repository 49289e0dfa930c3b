"""The model seam: the OpenAI-compatible client (against a mock transport, never a real endpoint) and
parsing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from toolmesh.agents.errors import ModelError
from toolmesh.agents.model import (
    ModelSettings,
    OpenAIChatModel,
    ToolSpec,
    build_model,
    parse_json_object,
)


def _mock(reply: dict[str, Any], seen: list[httpx.Request], status: int = 200) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=reply)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


SETTINGS = ModelSettings(base_url="http://llm.invalid/v1", model="m-1", api_key="sk-test")


@pytest.mark.asyncio
async def test_chat_completions_request_and_tool_calls() -> None:
    seen: list[httpx.Request] = []
    reply = {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "search_docs", "arguments": '{"query": "refunds"}'},
                        }
                    ],
                },
            }
        ]
    }
    async with _mock(reply, seen) as http:
        model = OpenAIChatModel(SETTINGS, client=http)
        result = await model.chat(
            [{"role": "user", "content": "hi"}],
            role="planner",
            tools=[ToolSpec(name="search_docs", description="Search", parameters={"type": "object"})],
        )
    assert result.tool_calls[0].name == "search_docs" and result.tool_calls[0].arguments == {
        "query": "refunds"
    }
    request = seen[0]
    assert str(request.url) == "http://llm.invalid/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert body["model"] == "m-1" and body["temperature"] == 0.2 and body["top_p"] == 1.0
    assert body["tools"][0]["function"]["name"] == "search_docs" and body["tool_choice"] == "auto"


@pytest.mark.asyncio
async def test_roles_sample_differently_and_errors_are_model_errors() -> None:
    seen: list[httpx.Request] = []
    async with _mock({"choices": [{"message": {"content": "{}"}}]}, seen) as http:
        model = OpenAIChatModel(SETTINGS.model_copy(update={"top_p": {"writer": 0.5}}), client=http)
        await model.chat([{"role": "user", "content": "x"}], role="writer", json_mode=True)
    body = json.loads(seen[0].content)
    assert (
        body["temperature"] == 0.3
        and body["top_p"] == 0.5
        and body["response_format"] == {"type": "json_object"}
    )
    async with _mock({"error": "overloaded"}, [], status=503) as http:
        with pytest.raises(ModelError, match="HTTP 503"):
            await OpenAIChatModel(SETTINGS, client=http).chat([], role="reviewer")
    assert build_model(ModelSettings()) is None


def test_parse_json_object() -> None:
    assert parse_json_object('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_object('Sure: {"approved": true} done') == {"approved": True}
    with pytest.raises(ModelError):
        parse_json_object("no json here")
