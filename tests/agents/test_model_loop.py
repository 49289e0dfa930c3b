"""The reasoning loop with a model, against a scripted OpenAI-compatible server over real HTTP: native tool
calls, the schema put in front of the model, repair after a SQL error, the JSON protocol for endpoints
without tool calling, refused calls, falling back when the model fails, and grounding the written answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from toolmesh.agents.model import ModelSettings, OpenAIChatModel
from toolmesh.agents.planner.model_policy import ModelPolicy
from toolmesh.agents.planner.policy import DeterministicPolicy
from toolmesh.agents.planner.turn import Outcome, TurnRunner
from toolmesh.agents.planner.writing import ModelWriter
from toolmesh.agents.reviewer.checks import ReviewRequest, Verdict, review_deterministic
from toolmesh.agents.scripted import Reply, ScriptedModel, scripted_server

from .conftest import Shop

pytestmark = pytest.mark.asyncio(loop_scope="module")

COUNT_2024 = "SELECT COUNT(*) AS n FROM orders WHERE ordered_at >= '2024-01-01' AND ordered_at < '2025-01-01'"


async def _review(request: ReviewRequest) -> Verdict:
    return review_deterministic(request)


def _role(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    return "writer" if system.startswith("You write the final answer") else "planner"


async def _ask(
    shop: Shop, script: Callable[[dict[str, Any]], Reply], question: str, **policy: Any
) -> tuple[Outcome, ScriptedModel, list[str]]:
    scripted = ScriptedModel(script)
    async with scripted_server(scripted) as base_url:
        model = OpenAIChatModel.single(ModelSettings(base_url=base_url, model="scripted", timeout=10))
        try:
            chosen = ModelPolicy(model, shop.catalog, fallback=DeterministicPolicy(shop.catalog), **policy)
            runner = TurnRunner(chosen, shop.run_plan, _review, writer=ModelWriter(model))
            work = runner.prepare(question)
            outcome = await runner.run(work, question)
        finally:
            await model.aclose()
    return outcome, scripted, work.notes


def _planner_turns(body: dict[str, Any]) -> int:
    return sum(1 for m in body["messages"] if m["role"] == "assistant")


async def test_sql_is_written_from_the_described_schema_and_repaired_after_an_error(shop: Shop) -> None:
    def script(body: dict[str, Any]) -> Reply:
        if _role(body) == "writer":
            return Reply.text(json.loads(body["messages"][-1]["content"])["grounded_brief"])
        turn = _planner_turns(body)
        if turn == 0:
            return Reply.calls(("sql__find_tables", {"question": "orders placed in 2024"}))
        if turn == 1:
            return Reply.calls(("sql__run_query", {"sql": COUNT_2024.replace("ordered_at", "order_date", 1)}))
        if turn == 2:
            return Reply.calls(("sql__run_query", {"sql": COUNT_2024}))
        return Reply.text("done")

    outcome, model, _ = await _ask(shop, script, "How many orders were placed in 2024?")
    (expected,) = shop.gold(COUNT_2024)[0]
    assert outcome.state == "completed" and f"**{expected}**" in outcome.answer
    planner = [b for b in model.requests if _role(b) == "planner"]
    assert planner[0]["tools"] and all(t["type"] == "function" for t in planner[0]["tools"])
    assert not any(
        t["function"]["name"].split("__")[-1] == "index" for t in planner[0]["tools"]
    )  # no write tools
    second = "\n".join(str(m.get("content")) for m in planner[1]["messages"])
    assert "The linked tables" in second and "ordered_at TEXT" in second  # the schema before the SQL
    third = planner[2]["messages"]
    tool_replies = [m["content"] for m in third if m["role"] == "tool"]
    assert any(r.startswith("ERROR") and "order_date" in r for r in tool_replies)
    assert "Repair it" in third[-1]["content"]


async def test_endpoints_without_tool_calling_use_the_json_protocol(shop: Shop) -> None:
    def script(body: dict[str, Any]) -> Reply:
        if _role(body) == "writer":
            return Reply.text(json.loads(body["messages"][-1]["content"])["grounded_brief"])
        assert "tools" not in body and body["response_format"] == {"type": "json_object"}
        if _planner_turns(body) == 0:
            return Reply.text(
                json.dumps(
                    {"calls": [{"tool": "docs__search_docs", "arguments": {"query": "gift cards refunded"}}]}
                )
            )
        return Reply.text(json.dumps({"answer": "Gift cards cannot be refunded."}))

    outcome, _, _ = await _ask(shop, script, "Can gift cards be refunded?", native_tools=False)
    assert outcome.state == "completed" and "gift-cards.md" in outcome.answer


async def test_unknown_and_off_schema_calls_are_refused_with_the_reason(shop: Shop) -> None:
    seen: list[str] = []

    def script(body: dict[str, Any]) -> Reply:
        if _role(body) == "writer":
            return Reply.text(json.loads(body["messages"][-1]["content"])["grounded_brief"])
        last = body["messages"][-1]
        seen.append(str(last.get("content")))
        if len(seen) == 1:
            return Reply.calls(("docs__index", {"paths": ["/etc"]}))
        if len(seen) == 2:
            return Reply.calls(("code__callers", {"symbol": 42}))
        if _planner_turns(body) <= 2:
            return Reply.calls(("code__callers", {"symbol": "within_window"}))
        return Reply.text("done")

    outcome, _, _ = await _ask(shop, script, "Who calls within_window?")
    assert "no read-only tool 'docs__index'" in seen[1] and "do not match its schema" in seen[2]
    assert outcome.state == "completed" and "`refund_order`" in outcome.answer


async def test_a_failing_model_hands_over_to_the_deterministic_policy_and_says_so(shop: Shop) -> None:
    outcome, _, notes = await _ask(
        shop, lambda body: Reply.fault(500), "How many orders were placed in 2024?"
    )
    (expected,) = shop.gold(COUNT_2024)[0]
    assert outcome.state == "completed" and f"**{expected}**" in outcome.answer
    assert any(n.startswith("model skipped: the model failed") for n in notes)
    assert outcome.policy == "model → deterministic"


async def test_a_written_answer_that_misstates_the_evidence_is_not_used(shop: Shop) -> None:
    def script(body: dict[str, Any]) -> Reply:
        if _role(body) == "writer":
            return Reply.text("There were 3000 orders in 2024 [1].")
        if _planner_turns(body) == 0:
            return Reply.calls(("sql__run_query", {"sql": COUNT_2024}))
        return Reply.text("done")

    outcome, _, _ = await _ask(shop, script, "How many orders were placed in 2024?")
    (expected,) = shop.gold(COUNT_2024)[0]
    assert "3000" not in outcome.answer and f"**{expected}**" in outcome.answer
    assert outcome.writer["used"] is False and any("3000" in p for p in outcome.writer["problems"])
