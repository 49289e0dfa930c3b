"""Deterministic text-to-SQL over the real sample schema: each analytic shape in English and Chinese runs
and returns what a hand-written query returns; value linking, joins, follow-up replacement, ambiguity."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import pytest_asyncio
from fastmcp import Client

from toolmesh.agents.conversation import TurnPart, resolve
from toolmesh.agents.question import analyse_part
from toolmesh.agents.text2sql import (
    Schema,
    local_hits,
    parse_probe,
    probe_sql,
    schema_from_outputs,
    translate,
)
from toolmesh.agents.text2sql.schema import Column, Table
from toolmesh.servers.sql import SPEC

from .conftest import Shop

pytestmark = pytest.mark.asyncio(loop_scope="module")

TABLES = [
    "categories",
    "products",
    "customers",
    "orders",
    "order_items",
    "invoices",
    "payments",
    "customer_revenue",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def schema(shop: Shop) -> Schema:
    server = SPEC.build_server(SPEC.load_settings(sample_path=shop.db))
    async with Client(server) as client:
        described = [
            (await client.call_tool_mcp("describe_table", {"table": t})).structured_content for t in TABLES
        ]
    return schema_from_outputs(described)


async def _answer(shop: Shop, schema: Schema, question: str, **extra: Any) -> list[tuple[Any, ...]]:
    part = analyse_part(question)
    if extra:
        part = replace(part, **extra)
    hits = local_hits(part, schema)
    probe = probe_sql(part, schema)
    if probe:
        hits += parse_probe(part, [list(r) for r in shop.gold(probe)])
    translation = translate(part, schema, hits)
    assert translation.sql is not None, (question, translation.reason)
    assert translation.confidence >= 0.75, (question, translation.unresolved)
    return shop.gold(translation.sql)


SHAPES = [
    ("How many orders are there?", "SELECT COUNT(*) FROM orders"),
    ("2024年有多少订单？", "SELECT COUNT(*) FROM orders WHERE ordered_at LIKE '2024-%'"),
    (
        "What is the total amount of all invoices issued in 2023?",
        "SELECT ROUND(SUM(total_amount), 2) FROM invoices WHERE issued_at LIKE '2023-%'",
    ),
    ("平均发票金额是多少？", "SELECT ROUND(AVG(total_amount), 2) FROM invoices"),
    ("What is the highest unit price of a product?", "SELECT name, MAX(unit_price) FROM products"),
    ("What is the cheapest product?", "SELECT name, MIN(unit_price) FROM products"),
    (
        "Top 3 customers by revenue",
        "SELECT first_name, last_name, revenue FROM customer_revenue ORDER BY revenue DESC LIMIT 3",
    ),
    (
        "How many customers are there per segment?",
        "SELECT segment, COUNT(*) n FROM customers GROUP BY segment ORDER BY n DESC, segment",
    ),
    (
        "每个类别有多少产品？",
        "SELECT c.name, COUNT(*) n FROM products p JOIN categories c ON c.category_id = p.category_id "
        "GROUP BY c.category_id ORDER BY n DESC, c.name",
    ),
    (
        "Which country has the most customers?",
        "SELECT country, COUNT(*) n FROM customers GROUP BY country ORDER BY n DESC, country LIMIT 1",
    ),
    ("How many orders were cancelled?", "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'"),
    ("已取消的订单有多少？", "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'"),
    ("有多少客户来自德国？", "SELECT COUNT(*) FROM customers WHERE country = 'Germany'"),
    ("How many payments were made by paypal?", "SELECT COUNT(*) FROM payments WHERE method = 'paypal'"),
    ("How many orders were not delivered?", "SELECT COUNT(*) FROM orders WHERE status != 'delivered'"),
    ("How many products cost more than 100 EUR?", "SELECT COUNT(*) FROM products WHERE unit_price > 100"),
    (
        "Which product sold the most units?",
        "SELECT p.name, SUM(i.quantity) q FROM order_items i JOIN products p ON p.product_id = i.product_id "
        "GROUP BY p.product_id ORDER BY q DESC, p.name LIMIT 1",
    ),
    (
        "Which item in the Kitchen category sells best, going by the number of units ordered?",
        "SELECT p.name, SUM(i.quantity) q FROM order_items i JOIN products p ON p.product_id = i.product_id "
        "JOIN categories c ON c.category_id = p.category_id WHERE c.name = 'Kitchen' "
        "GROUP BY p.product_id ORDER BY q DESC, p.name LIMIT 1",
    ),
    (
        "Can you give me a breakdown of all our orders by where they stand — how many are placed, shipped, "
        "delivered, cancelled and returned?",
        "SELECT status, COUNT(*) n FROM orders GROUP BY status ORDER BY n DESC, status",
    ),
    (
        "How many orders have been shipped to France or Spain?",
        "SELECT COUNT(*) FROM orders WHERE shipping_country IN ('France', 'Spain')",
    ),
    (
        "How many orders are still waiting in 'placed' status?",
        "SELECT COUNT(*) FROM orders WHERE status = 'placed'",
    ),
    (
        "Who are our three biggest customers by total amount invoiced?",
        "SELECT c.first_name, c.last_name, ROUND(SUM(i.total_amount), 2) r FROM customers c JOIN orders o "
        "ON o.customer_id = c.customer_id JOIN invoices i ON i.order_id = o.order_id GROUP BY c.customer_id "
        "ORDER BY r DESC LIMIT 3",
    ),
    (
        "For the invoices we issued in 2024, what was the average invoice value including VAT?",
        "SELECT ROUND(AVG(total_amount), 2) FROM invoices WHERE issued_at LIKE '2024%'",
    ),
    ("2024 年一共有多少位新客户注册？", "SELECT COUNT(*) FROM customers WHERE created_at LIKE '2024%'"),
    (
        "How many orders did we get from 2023 to 2024?",
        "SELECT COUNT(*) FROM orders WHERE ordered_at >= '2023-01-01' AND ordered_at < '2025-01-01'",
    ),
    (
        "Two things: what's the total on invoice 250 and when is it due?",
        "SELECT invoice_id, due_at, total_amount FROM invoices WHERE invoice_id = 250",
    ),
    (
        "How much did customer 42 spend in total?",
        "SELECT ROUND(SUM(i.total_amount), 2) FROM invoices i "
        "JOIN orders o ON o.order_id = i.order_id WHERE o.customer_id = 42",
    ),
    (
        "How many Travel Yoga Mats are in stock?",
        "SELECT name, stock FROM products WHERE name = 'Travel Yoga Mat'",
    ),
    (
        "Which customer placed the most orders?",
        "SELECT c.first_name, c.last_name, COUNT(*) n FROM orders o JOIN customers c ON c.customer_id = "
        "o.customer_id "
        "GROUP BY c.customer_id ORDER BY n DESC, c.first_name LIMIT 1",
    ),
    (
        "Number of orders per month in 2024",
        "SELECT SUBSTR(ordered_at, 1, 7) m, COUNT(*) FROM orders WHERE ordered_at LIKE '2024-%' GROUP "
        "BY m ORDER BY m",
    ),
    (
        "What is the email of customer 42?",
        "SELECT first_name, last_name, email FROM customers WHERE customer_id = 42",
    ),
    ("How many different countries do customers come from?", "SELECT COUNT(DISTINCT country) FROM customers"),
    ("How much does the Eco Kettle cost?", "SELECT name, unit_price FROM products WHERE name = 'Eco Kettle'"),
    (
        "On average, how many units are there per order line?",
        "SELECT ROUND(AVG(quantity), 2) FROM order_items",
    ),
    (
        "收入最高的三位客户是谁？",
        "SELECT first_name, last_name, revenue FROM customer_revenue ORDER BY revenue DESC LIMIT 3",
    ),
    # periods: halves and quarters of a year, spans of months, in both languages
    (
        "2025年上半年（1月到6月）我们一共开了多少张发票？",
        "SELECT COUNT(*) FROM invoices WHERE issued_at >= '2025-01-01' AND issued_at < '2025-07-01'",
    ),
    (
        "How many orders were placed in the second half of 2024?",
        "SELECT COUNT(*) FROM orders WHERE ordered_at >= '2024-07-01' AND ordered_at < '2025-01-01'",
    ),
    (
        "2024年第三季度有多少订单？",
        "SELECT COUNT(*) FROM orders WHERE ordered_at >= '2024-07-01' AND ordered_at < '2024-10-01'",
    ),
    (
        "Show me revenue per month for 2024.",
        "SELECT substr(issued_at, 1, 7), ROUND(SUM(total_amount), 2) FROM invoices "
        "WHERE issued_at LIKE '2024-%' GROUP BY 1 ORDER BY 1",
    ),
    (
        "How many invoices were issued from March to May 2023?",
        "SELECT COUNT(*) FROM invoices WHERE issued_at >= '2023-03-01' AND issued_at < '2023-06-01'",
    ),
    # money over order lines is quantity × unit price, never the sum of the unit prices
    (
        "Which three products brought in the most money?",
        "SELECT p.name, ROUND(SUM(i.quantity * i.unit_price), 2) r FROM order_items i JOIN products p "
        "ON p.product_id = i.product_id GROUP BY p.product_id ORDER BY r DESC, p.name LIMIT 3",
    ),
    (
        "Sales per category",
        "SELECT c.name, ROUND(SUM(i.quantity * i.unit_price), 2) r FROM order_items i JOIN products p "
        "ON p.product_id = i.product_id JOIN categories c ON c.category_id = p.category_id "
        "GROUP BY c.category_id ORDER BY r DESC, c.name",
    ),
    # net of VAT: not the invoice totals (VAT included); an order line's date is its order's
    (
        "What were our net sales in 2023?",
        "SELECT ROUND(SUM(i.quantity * i.unit_price), 2) FROM order_items i JOIN orders o "
        "ON o.order_id = i.order_id WHERE o.ordered_at LIKE '2023-%'",
    ),
    (
        "On average, how many units are there per order line in 2024?",
        "SELECT ROUND(AVG(i.quantity), 2) FROM order_items i JOIN orders o ON o.order_id = i.order_id "
        "WHERE o.ordered_at LIKE '2024-%'",
    ),
    # the rows a comparison picks show the value they were picked by
    (
        "Which products have fewer than 20 units in stock?",
        "SELECT name, stock FROM products WHERE stock < 20",
    ),
    # a date range on what the counted rows did (ordered), not on their own date (signed up)
    (
        "How many customers placed an order in 2025?",
        "SELECT COUNT(DISTINCT customer_id) FROM orders WHERE ordered_at LIKE '2025-%'",
    ),
    (
        "How many orders were placed per quarter in 2023?",
        "SELECT substr(ordered_at, 1, 4) || '-Q' || ((CAST(substr(ordered_at, 6, 2) AS INTEGER) + 2) / 3) q, "
        "COUNT(*) FROM orders WHERE ordered_at LIKE '2023-%' GROUP BY q ORDER BY q",
    ),
]

FOLLOW_UPS = [
    # the value a follow-up names replaces the earlier one on the same column
    (
        "我们有多少企业客户（business）？",
        "那VIP客户呢？",
        "SELECT COUNT(*) FROM customers WHERE segment = 'vip'",
    ),
    # a sum with no measure named: the one amount column of the table the earlier turn counted
    (
        "How many payments were made by card?",
        "and what do they add up to?",
        "SELECT ROUND(SUM(amount), 2) FROM payments WHERE method = 'card'",
    ),
]


@pytest.mark.parametrize(("first", "follow", "gold"), FOLLOW_UPS, ids=[f for _, f, _ in FOLLOW_UPS])
async def test_a_follow_up_is_translated_over_the_turn_it_follows(
    shop: Shop, schema: Schema, first: str, follow: str, gold: str
) -> None:
    earlier = analyse_part(first)
    before = TurnPart(text=first, resolved=first, route="sql", words=list(earlier.words))
    part = resolve(analyse_part(follow), before)
    hits = local_hits(part, schema)
    probe = probe_sql(part, schema)
    if probe:
        hits += parse_probe(part, [list(r) for r in shop.gold(probe)])
    translation = translate(part, schema, hits)
    assert translation.sql is not None, translation.reason
    assert translation.confidence >= 0.75, translation.unresolved
    assert shop.gold(translation.sql) == shop.gold(gold)


@pytest.mark.parametrize(("question", "gold"), SHAPES, ids=[q for q, _ in SHAPES])
async def test_each_shape_returns_the_hand_written_answer(
    shop: Shop, schema: Schema, question: str, gold: str
) -> None:
    assert await _answer(shop, schema, question) == shop.gold(gold)


async def test_a_question_beyond_the_translator_says_so(schema: Schema) -> None:
    translation = translate(analyse_part("How many days do customers have to return an item?"), schema)
    assert translation.confidence < 0.5 and "days" in translation.unresolved


async def test_two_equally_good_measures_are_an_ambiguity_not_a_guess() -> None:
    schema = Schema(
        tables={
            "invoices": Table(
                name="invoices",
                columns=[
                    Column(name="id", type="INTEGER", primary_key=True),
                    Column(name="amount", type="NUMERIC"),
                ],
            ),
            "refunds": Table(
                name="refunds",
                columns=[
                    Column(name="id", type="INTEGER", primary_key=True),
                    Column(name="amount", type="NUMERIC"),
                ],
            ),
        }
    )
    for table in schema.tables.values():
        from toolmesh.agents.text2sql.schema import _lexicon

        table.lexicon = _lexicon(table.name)
        for column in table.columns:
            column.lexicon = _lexicon(column.name)
    translation = translate(analyse_part("What is the total amount?"), schema)
    assert sorted(translation.ambiguity) == ["invoices.amount", "refunds.amount"]
    assert schema.path("invoices", "refunds") is None  # no join: two separate readings


async def test_identifiers_and_values_are_quoted_and_dates_bounded(schema: Schema) -> None:
    translation = translate(analyse_part("How many customers signed up in March 2024?"), schema)
    assert translation.sql is not None
    assert "'2024-03-01'" in translation.sql and "'2024-04-01'" in translation.sql
    assert "customers.created_at" in translation.sql


async def test_a_follow_up_keeps_the_date_column_its_turn_filtered_on(shop: Shop, schema: Schema) -> None:
    """ "Which customers placed those returned orders?" after orders of 2024: the orders' date, not the
    customers' sign-up date."""
    first = "How many orders from 2024 with a delivery address in Brazil were returned?"
    before = TurnPart(text=first, resolved=first, route="sql", words=list(analyse_part(first).words))
    part = resolve(analyse_part("Which customers placed those returned orders?"), before)
    hits = local_hits(part, schema)
    earlier = ["orders.ordered_at", "orders.shipping_country", "orders.status"]
    translation = translate(part, schema, hits, earlier=earlier)
    assert translation.sql is not None, translation.reason
    assert "orders.ordered_at" in translation.sql and "created_at" not in translation.sql
    gold = (
        "SELECT c.first_name, c.last_name FROM customers c JOIN orders o ON o.customer_id = c.customer_id "
        "WHERE o.status = 'returned' AND o.ordered_at LIKE '2024%' AND o.shipping_country = 'Brazil'"
    )
    assert sorted(shop.gold(translation.sql)) == sorted(shop.gold(gold)), translation.sql


async def test_a_stacked_follow_up_keeps_the_column_and_subject_of_the_turn_before(
    shop: Shop, schema: Schema
) -> None:
    """中国有多少客户？ → 他们一共下了多少订单？ → 它们中有多少已取消？: orders of customers in China."""
    first = "中国有多少客户？"
    turn1 = TurnPart(text=first, resolved=first, route="sql", words=list(analyse_part(first).words))
    second = resolve(analyse_part("他们一共下了多少订单？"), turn1)
    turn2 = TurnPart(text=second.text, resolved=second.text, route="sql", words=list(second.words))
    third = resolve(analyse_part("它们中有多少已取消？"), turn2)
    gold_two = (
        "SELECT COUNT(*) FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
        "WHERE c.country = 'China'"
    )
    gold_three = gold_two + " AND o.status = 'cancelled'"
    for part, gold in ((second, gold_two), (third, gold_three)):
        hits = local_hits(part, schema)
        probe = probe_sql(part, schema)
        if probe:
            hits += parse_probe(part, [list(r) for r in shop.gold(probe)])
        translation = translate(part, schema, hits, earlier=["customers.country"])
        assert translation.sql is not None, translation.reason
        assert shop.gold(translation.sql) == shop.gold(gold), translation.sql
