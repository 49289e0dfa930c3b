"""The scripted model of bench/mesh_quality.py: a wiring fixture, not a model.

For each benchmark question it plays the tool calls the gold implies, over the real loop: link tables then
run the gold SQL (every third SQL question first sends a broken query, to exercise the repair turn), search
the documents, look a symbol up, map a stack trace. As the writer it returns the grounded brief, except
for every fourth question, where it writes a fluent answer with a wrong number (which must not replace
the grounded brief). As the judge it approves, except for every fifth question, where its verdict has no
``approved`` key (a model failure: the deterministic verdict must stand).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from toolmesh.agents.scripted import Reply, scripted_server


def _question(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        content = message.get("content") or ""
        if message.get("role") == "user":
            if content.startswith("Question: "):
                return content.removeprefix("Question: ").split("\n", 1)[0]
            try:
                data = json.loads(content)
            except ValueError:
                continue
            if isinstance(data, dict):
                return str(data.get("question") or data.get("goal") or "")
    return ""


def _break(sql: str) -> str:
    """The gold SQL with its first selected column misspelt (the database will say so)."""
    return re.sub(
        r"(?i)(select\s+(?:distinct\s+)?)(\w)(\w*)",
        lambda m: m.group(1) + m.group(2) + m.group(3) + "_x",
        sql,
        count=1,
    )


class BenchScript:
    def __init__(self, questions: list[dict[str, Any]]) -> None:
        self.by_text = {q["text"].strip(" ?？"): (i, q) for i, q in enumerate(questions)}

    def _spec(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        asked = _question(body).strip(" ?？")
        for text, found in self.by_text.items():
            if text and (text in asked or asked in text):
                return found
        return None

    def __call__(self, body: dict[str, Any]) -> Reply:
        system = (body.get("messages") or [{}])[0].get("content") or ""
        found = self._spec(body)
        index, spec = found if found else (0, {})
        if system.startswith("You write the final answer"):
            payload = json.loads(body["messages"][-1]["content"])
            brief = str(payload.get("grounded_brief") or "")
            if index % 4 == 3 and re.search(r"\d", brief):
                return Reply.text(
                    "Fluently put: " + re.sub(r"\d+", lambda m: str(int(m.group()) + 1000), brief, count=1)
                )
            return Reply.text(brief)
        if system.startswith("You review an answer"):
            if index % 5 == 4:
                return Reply.text('{"verdict": "looks fine"}')
            return Reply.text('{"approved": true, "issues": [], "suggestions": []}')
        return self._plan(body, index, spec)

    def _plan(self, body: dict[str, Any], index: int, spec: dict[str, Any]) -> Reply:
        messages = body.get("messages") or []
        turns = sum(1 for m in messages if m.get("role") == "assistant")
        last_tool = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "tool"), "")
        text = spec.get("text") or _question(body)
        part = (spec.get("parts") or [spec])[0]
        if part.get("gold_sql"):
            if turns == 0:
                return Reply.calls(("sql__find_tables", {"question": text}))
            if turns == 1:
                sql = _break(part["gold_sql"]) if index % 3 == 0 else part["gold_sql"]
                return Reply.calls(("sql__run_query", {"sql": sql}))
            if turns == 2 and last_tool.startswith("ERROR"):
                return Reply.calls(("sql__run_query", {"sql": part["gold_sql"]}))
            return Reply.text("The query answered it.")
        if turns > 0:
            return Reply.text("Done.")
        if part.get("gold_trace"):
            return Reply.calls(("code__locate_traceback", {"text": text}))
        if part.get("gold_callers"):
            return Reply.calls(("code__callers", {"symbol": part["gold_callers"]["symbol"]}))
        if part.get("gold_code"):
            return Reply.calls(("code__get_definition", {"symbol": part["gold_code"]["symbol"]}))
        return Reply.calls(("docs__search_docs", {"query": text}))


@contextlib.asynccontextmanager
async def scripted_model_server(questions: list[dict[str, Any]], db: Path) -> AsyncIterator[str]:
    async with scripted_server(BenchScript(questions)) as base_url:
        yield base_url
