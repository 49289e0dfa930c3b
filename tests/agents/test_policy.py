"""The reasoning loop with the deterministic policy over the real servers: each routing path, Chinese,
unanswerable questions, follow-ups, and how a turn ends when review keeps rejecting it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from toolmesh.agents.conversation import Turn
from toolmesh.agents.planner.loop import Budget
from toolmesh.agents.planner.policy import DeterministicPolicy
from toolmesh.agents.planner.turn import Outcome, TurnRunner
from toolmesh.agents.reviewer.checks import Issue, ReviewRequest, Verdict, review_deterministic

from .conftest import Shop

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _local_review(request: ReviewRequest) -> Verdict:
    return review_deterministic(request)


async def ask(shop: Shop, question: str, history: Sequence[Turn] = (), review=_local_review) -> Outcome:  # type: ignore[no-untyped-def]
    runner = TurnRunner(DeterministicPolicy(shop.catalog), shop.run_plan, review, budget=Budget(rounds=8))
    work = runner.prepare(question, history)
    return await runner.run(work, question)


def routes(outcome: Outcome) -> list[str | None]:
    assert outcome.draft is not None
    return [p.route for p in outcome.draft.parts]


async def test_a_docs_question_routes_by_evidence_without_naming_the_documents(shop: Shop) -> None:
    outcome = await ask(shop, "Can gift cards be refunded?")
    assert outcome.state == "completed" and routes(outcome) == ["docs"]
    assert "gift-cards.md" in outcome.answer and "cannot be refunded" in outcome.answer
    assert outcome.verdict is not None and outcome.verdict.approved


async def test_an_aggregation_with_a_year_filter_is_translated_and_run(shop: Shop) -> None:
    outcome = await ask(shop, "How many orders were placed in 2024?")
    (expected,) = shop.gold("SELECT COUNT(*) FROM orders WHERE ordered_at LIKE '2024-%'")[0]
    assert outcome.state == "completed" and routes(outcome) == ["sql"]
    assert f"**{expected}**" in outcome.answer and "2024-01-01" in outcome.answer


async def test_a_join_an_aggregate_and_a_filter_in_one_question(shop: Shop) -> None:
    outcome = await ask(shop, "What is the average unit price of products in the Laptops category?")
    (expected,) = shop.gold(
        "SELECT ROUND(AVG(p.unit_price), 2) FROM products p JOIN categories c ON c.category_id = "
        "p.category_id "
        "WHERE c.name = 'Laptops'"
    )[0]
    assert outcome.state == "completed" and f"**{expected}**" in outcome.answer
    assert "JOIN categories" in outcome.answer


async def test_code_definitions_callers_and_a_pasted_traceback(shop: Shop) -> None:
    definition = await ask(shop, "Where is `refund_order` defined?")
    assert routes(definition) == ["code"] and "refunds.py:28-35" in definition.answer
    callers = await ask(shop, "Who calls within_window?")
    assert "is called by `refund_order`" in callers.answer
    trace = await ask(
        shop,
        'Traceback (most recent call last):\n  File "/srv/shop/refunds.py", line 33, in refund_order\n'
        '    raise RefundError("outside the refund window")\nrefunds.RefundError: outside the refund window',
    )
    assert routes(trace) == ["trace"] and "refund_order" in trace.answer and "refunds.py:33" in trace.answer


async def test_a_function_asked_for_by_what_it_does(shop: Shop) -> None:
    # no name in the question: the code server's docstrings say which function, not a field of the same words
    found = await ask(shop, "Which function turns a net amount into the total including VAT?")
    assert routes(found) == ["code"] and "gross_amount" in found.answer and "invoices.py:68" in found.answer


async def test_a_literal_select_and_a_table_description(shop: Shop) -> None:
    rows = await ask(shop, "SELECT COUNT(*) AS n FROM customers WHERE segment = 'vip'")
    (vips,) = shop.gold("SELECT COUNT(*) FROM customers WHERE segment = 'vip'")[0]
    assert routes(rows) == ["sql"] and f"**{vips}**" in rows.answer
    described = await ask(shop, "Describe the orders table")
    assert routes(described) == ["schema"]
    assert all(c in described.answer for c in ("order_id", "customer_id", "ordered_at", "status"))


async def test_chinese_questions_are_routed_and_answered(shop: Shop) -> None:
    sql = await ask(shop, "哪个国家的订单最多？")
    ((country, count),) = shop.gold(
        "SELECT shipping_country, COUNT(*) n FROM orders GROUP BY 1 ORDER BY n DESC, 1 LIMIT 1"
    )
    assert routes(sql) == ["sql"] and country in sql.answer and str(count) in sql.answer
    docs = await ask(shop, "礼品卡可以退款吗？")
    assert routes(docs) == ["docs"] and "faq-zh.md" in docs.answer


async def test_a_question_no_source_answers_fails_with_what_was_looked_for(shop: Shop) -> None:
    outcome = await ask(shop, "What is the CEO's phone number?")
    assert outcome.state == "failed" and outcome.kind == "unanswered"
    # either no source was good enough or review refused the best one; both say what was missing
    assert "nothing answers it well" in outcome.answer or "missing: ceo" in outcome.answer


async def test_follow_ups_build_on_the_previous_turn(shop: Shop) -> None:
    first = await ask(shop, "How many customers are from Germany?")
    assert first.turn is not None
    second = await ask(shop, "and in France?", [first.turn])
    (france,) = shop.gold("SELECT COUNT(*) FROM customers WHERE country = 'France'")[0]
    assert f"**{france}**" in second.answer and "Germany" not in second.answer
    assert second.turn is not None
    third = await ask(shop, "how many of those are vip?", [first.turn, second.turn])
    (vip,) = shop.gold("SELECT COUNT(*) FROM customers WHERE country = 'France' AND segment = 'vip'")[0]
    assert f"**{vip}**" in third.answer
    code = await ask(shop, "Where is refund_order defined?")
    assert code.turn is not None
    callers = await ask(shop, "Who calls it?", [code.turn])
    assert "is called by" in callers.answer and "`refund_order`" in callers.answer


async def test_a_rejected_answer_never_ends_completed_unmarked(shop: Shop) -> None:
    async def reject(request: ReviewRequest) -> Verdict:
        return Verdict(
            approved=False,
            issues=[Issue(code="wrong_shape", severity="error", message="part 2 ('x'): not what was asked")],
        )

    outcome = await ask(
        shop, "Can gift cards be refunded, and how many orders were placed in 2024?", review=reject
    )
    assert outcome.state == "completed" and outcome.kind == "partial"
    assert "Not answered: part 2" in outcome.answer and "gift-cards.md" in outcome.answer

    async def reject_all(request: ReviewRequest) -> Verdict:
        return Verdict(
            approved=False, issues=[Issue(code="unsupported_claim", severity="error", message="no")]
        )

    failed = await ask(shop, "Can gift cards be refunded?", review=reject_all)
    assert failed.state == "failed" and "No answer passed review" in failed.answer
