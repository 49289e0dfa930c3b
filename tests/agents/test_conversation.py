"""Conversation memory: which turns are follow-ups, how they are resolved, trimming, stored versions."""

from __future__ import annotations

import pytest

from toolmesh.agents.conversation import (
    MEMORY_VERSION,
    Turn,
    TurnPart,
    fit,
    is_follow_up,
    leans_on_part_before,
    resolve,
)
from toolmesh.agents.question import analyse_part


@pytest.mark.parametrize(
    ("text", "follows"),
    [
        ("and how many of those were in 2024?", True),
        ("The same for 2023, please.", True),
        ("那VIP客户呢？", True),
        ("它们中有多少已取消？", True),
        ("What's the list price of the number one?", True),
        ("How many customers live in Germany?", False),
        ("What does refund_order do, and where is it defined?", False),
    ],
)
def test_follow_ups_are_told_from_new_questions(text: str, follows: bool) -> None:
    assert is_follow_up(analyse_part(text)) is follows


def test_the_number_one_names_the_first_row_of_the_answer_before() -> None:
    before = TurnPart(
        text="What are the top 5 products by units sold?",
        resolved="What are the top 5 products by units sold?",
        route="sql",
        first=["Pro Mystery"],
    )
    part = resolve(analyse_part("What's the list price of the number one?"), before)
    assert part.quoted == ("Pro Mystery",) and part.refers_back
    assert part.analytic.measure == "list price" or "price" in part.terms


def test_a_pronoun_for_the_symbol_before_keeps_what_is_asked_of_it() -> None:
    """ "And where is it used?" after a definition asks for the callers of that symbol, not its definition."""
    before = TurnPart(
        text="Where is release_stock defined?",
        resolved="Where is release_stock defined?",
        route="code",
        identifiers=["release_stock"],
        symbol="release_stock",
    )
    part = resolve(analyse_part("And where is it used?"), before)
    assert part.identifiers == ("release_stock",) and part.ask == "callers"
    defined = resolve(analyse_part("And where is it defined?"), before)
    assert defined.ask == "definition"


@pytest.mark.parametrize(
    ("text", "leans"),
    [
        ("and how many orders have we shipped there?", True),
        ("List the payments made on its invoice with their dates and amounts", True),
        (
            "And remind me, when does a customer get the first reminder if they haven't paid on time?",
            False,
        ),
    ],
)
def test_a_part_leans_on_the_part_before_only_when_it_points_back(text: str, leans: bool) -> None:
    assert leans_on_part_before(analyse_part(text)) is leans


def test_a_new_date_replaces_the_old_one() -> None:
    first = "What was the total invoiced amount in 2024?"
    before = TurnPart(text=first, resolved=first, route="sql", words=list(analyse_part(first).words))
    part = resolve(analyse_part("The same for 2023, please."), before)
    labels = [d.label for d in part.analytic.dates]
    assert any("2023" in label for label in labels) and not any("2024" in label for label in labels)


def test_a_version_1_turn_is_migrated_forward() -> None:
    stored = {"version": 1, "request": "How many orders?", "parts": [{"text": "x", "resolved": "x"}]}
    turn = Turn.model_validate(stored)
    assert turn.version == MEMORY_VERSION and turn.parts[0].first == []


def test_older_turns_are_trimmed_to_the_budget_and_recorded() -> None:
    turns = [
        Turn(task_id=f"t{i}", request="how many orders per customer " * 30, at=f"2026-12-0{i}T00:00:00")
        for i in range(1, 6)
    ]
    kept, trimmed = fit(turns, budget=250)
    assert kept and trimmed
    assert {t.task_id for t in kept}.isdisjoint(trimmed)
    assert kept[-1].task_id == "t5"  # the newest is always kept
