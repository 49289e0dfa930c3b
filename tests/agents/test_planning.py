"""Deterministic planning: clauses, hints, retrieval routing over the real servers' tools, replanning."""

from __future__ import annotations

import pytest

from toolmesh.agents.catalog import Catalog
from toolmesh.agents.executor.engine import StepResult
from toolmesh.agents.plan import ToolCall
from toolmesh.agents.planner.planning import DeterministicPlanner, extract_hints, split_request
from toolmesh.agents.reviewer.checks import Issue, Verdict

QUESTION = (
    'What does the handbook say about the "refund window", how many orders are in the orders table, '
    "and where is `refund_order` defined?"
)


def test_split_and_hints() -> None:
    clauses = split_request(QUESTION)
    assert clauses == [
        'What does the handbook say about the "refund window"',
        "how many orders are in the orders table",
        "where is `refund_order` defined",
    ]
    hints = extract_hints("Show rows of `select name from products where unit_price > 10` in src/shop/db.py")
    assert hints.sql == "select name from products where unit_price > 10"
    assert hints.paths == ("src/shop/db.py",)
    assert extract_hints("callers of Order.total and parse_items?").identifiers == (
        "Order.total",
        "parse_items",
    )


def _calls(planner: DeterministicPlanner) -> list[ToolCall]:
    calls = []
    for step in planner.first_plan().steps:
        assert isinstance(step.action, ToolCall)
        calls.append(step.action)
    return calls


@pytest.mark.asyncio
async def test_a_three_source_question_routes_to_docs_sql_and_code(real_catalog: Catalog) -> None:
    assert {t.server.name for t in real_catalog.tools} == {"docs", "sql", "code"}
    calls = _calls(DeterministicPlanner(real_catalog, QUESTION))
    by_server = {c.server: c for c in calls}
    assert by_server["docs"].tool == "search_docs" and by_server["docs"].arguments["query"] == "refund window"
    assert by_server["sql"].tool == "run_query"
    assert by_server["sql"].arguments["sql"] == "SELECT COUNT(*) AS orders_count FROM orders"
    assert (
        by_server["code"].arguments == {"symbol": "refund_order"}
        or "refund_order" in by_server["code"].arguments.values()
    )
    assert len(calls) == 3


@pytest.mark.asyncio
async def test_write_tools_are_never_routed_to(real_catalog: Catalog) -> None:
    calls = _calls(
        DeterministicPlanner(real_catalog, "index the documents in the handbook folder about refunds")
    )
    assert all(real_catalog.tool(c.server, c.tool).read_only for c in calls)  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_vague_requests_ask_the_caller(real_catalog: Catalog) -> None:
    question = DeterministicPlanner(real_catalog, "help").ambiguity()
    assert question is not None and "code, docs, sql" in question
    assert DeterministicPlanner(real_catalog, QUESTION).ambiguity() is None


@pytest.mark.asyncio
async def test_replanning_reroutes_only_rejected_clauses_to_untried_tools(real_catalog: Catalog) -> None:
    planner = DeterministicPlanner(real_catalog, QUESTION)
    first = planner.first_plan()
    results = [
        StepResult(step_id=s.id, kind="tool", status="ok", tool=s.action.tool, structured={"x": [1]})  # type: ignore[union-attr]
        for s in first.steps
    ]
    sql_step = next(s for s in first.steps if isinstance(s.action, ToolCall) and s.action.server == "sql")
    verdict = Verdict(
        approved=False,
        issues=[
            Issue(code="step_failed", severity="error", step_id=sql_step.id, message="no table `orders`")
        ],
    )
    plan, kept = planner.replan(results, verdict)
    assert plan is not None and len(plan.steps) == 1
    new = plan.steps[0].action
    assert isinstance(new, ToolCall) and new.server == "sql" and new.tool != "run_query"
    assert "no table `orders`" in plan.rationale
    assert {r.step_id for r in kept} == {s.id for s in first.steps} - {sql_step.id}
    assert plan.steps[0].id not in {s.id for s in first.steps}


@pytest.mark.asyncio
async def test_counts_with_conditions_are_not_turned_into_a_bare_count(real_catalog: Catalog) -> None:
    assert extract_hints("how many orders are there").conditions == ()
    assert extract_hints("how many orders were placed in 2024").conditions == ("placed", "2024")
    calls = _calls(DeterministicPlanner(real_catalog, "how many orders were placed in 2024?"))
    assert calls[0].server == "sql" and calls[0].tool != "run_query"  # schema linking, not a wrong COUNT(*)
