"""How the planner scores a source's evidence for a part (planner/routing.py), without any server."""

from __future__ import annotations

from toolmesh.agents.planner.routing import code_score
from toolmesh.agents.question import analyse_part


def test_the_symbol_named_for_what_is_asked_beats_one_whose_docstring_mentions_it() -> None:
    hits = [
        {"name": "close_account", "qualname": "close_account", "kind": "function",
         "doc": "Close a customer account and send the remaining credit back."},
        {"name": "issue_credit", "qualname": "issue_credit", "kind": "function",
         "doc": "Give a customer credit for a complaint."},
    ]  # fmt: skip
    score, symbol = code_score(analyse_part("Which function handles credit?"), {"hits": hits})
    assert symbol == "issue_credit"
    assert score > 0.3
