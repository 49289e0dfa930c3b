"""The model seam: the OpenAI-compatible client (against a mock transport, never a real endpoint) and
planning with a fake model."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest

from toolmesh.agents.catalog import Catalog, ToolInfo
from toolmesh.agents.errors import ModelError, PlanError
from toolmesh.agents.mcp import ServerRef
from toolmesh.agents.model import (
    ChatResult,
    ModelSettings,
    OpenAIChatModel,
    Role,
    ToolSpec,
    build_model,
    parse_json_object,
)
from toolmesh.agents.planner.planning import ModelPlanner


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


class PlanModel:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.prompts: list[str] = []

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        role: Role,
        tools: Sequence[ToolSpec] | None = None,
        json_mode: bool = False,
    ) -> ChatResult:
        self.prompts.append(str(messages[-1]["content"]))
        return ChatResult(content=json.dumps(self.plan))


CATALOG = Catalog(
    tools=[
        ToolInfo(
            server=ServerRef(id="docs-1", name="docs"),
            name="search_docs",
            description="Search documents",
            input_schema={
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
            read_only=True,
        )
    ]
)


@pytest.mark.asyncio
async def test_model_plans_are_validated_against_the_catalog() -> None:
    good = {
        "goal": "g",
        "steps": [
            {
                "id": "a",
                "action": {
                    "kind": "tool",
                    "server": "docs",
                    "tool": "search_docs",
                    "arguments": {"query": "x"},
                },
            }
        ],
    }
    model = PlanModel(good)
    plan = await ModelPlanner(model, CATALOG).plan("find x")
    assert plan.steps[0].action.kind == "tool"
    assert "search_docs" in model.prompts[0]
    bad = {
        "goal": "g",
        "steps": [
            {"id": "a", "action": {"kind": "tool", "server": "docs", "tool": "rm_rf", "arguments": {}}}
        ],
    }
    with pytest.raises(PlanError, match="unknown tool 'rm_rf'"):
        await ModelPlanner(PlanModel(bad), CATALOG).plan("find x")
