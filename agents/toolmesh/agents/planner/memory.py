"""Long-term memory in the planner's turn: what it recalls, and what it remembers.

With a memory server in the catalog (its tools found by capability, like every other tool; none named):

- a request that says to remember something ("remember that our fiscal year starts in April", "记住…") is
  stored as a fact of the conversation's context and answered with what was stored (the server refuses
  secrets, and says so);
- every other request first recalls a few memories of its context and the global scope; those that cover
  the request's words and are not flagged as instructions are quoted with the answer, cited, and listed in
  the outcome as used — never followed: a memory is data, like any tool output;
- an approved answer is stored as a task record (the request and the answer's first line), so a later
  question can recall what was found; what review rejected is stored as a correction (the part, the route,
  why), for the memory tools and later sessions — not quoted to the user.

Without a memory server all of this is skipped; the conversation memory of ``conversation.py`` (the turns
of one context in the task store) works either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from toolmesh.agents.capabilities import Choice, find
from toolmesh.agents.catalog import Catalog
from toolmesh.agents.executor.results import StepResult
from toolmesh.agents.planner.loop import Call
from toolmesh.agents.question import content_terms, coverage

__all__ = ["MemoryTools", "Recalled", "fact_to_remember", "recalled"]

_REMEMBER = re.compile(
    r"^\s*(?:please\s+)?(?:remember|note|keep in mind)\s*(?:that\s+|:\s*)(?P<fact>.{3,})$"
    r"|^\s*(?:请)?(?:记住|记一下)[：:，,\s]*(?P<zh>.{2,})$",
    re.IGNORECASE | re.DOTALL,
)
_RECALL_K = 5
_QUOTED = {"fact", "task"}
_USED = 3
_RELEVANT = 0.5  # share of the request's content words a memory must contain to be quoted


def fact_to_remember(request: str) -> str | None:
    """The fact a request asks to remember ("remember that X" → X), or None."""
    match = _REMEMBER.match(request)
    if match is None:
        return None
    fact = (match.group("fact") or match.group("zh") or "").strip().rstrip("。.")
    return fact or None


@dataclass(frozen=True, slots=True)
class Recalled:
    id: int | str
    text: str
    kind: str
    at: str


@dataclass(frozen=True, slots=True)
class MemoryTools:
    """The catalog's tools for remembering and recalling (either may be missing)."""

    remember: Choice | None
    recall: Choice | None

    @classmethod
    def find(cls, catalog: Catalog) -> MemoryTools | None:
        tools = cls(remember=find(catalog, "remember"), recall=find(catalog, "recall_memory"))
        return tools if tools.remember or tools.recall else None

    def remember_call(self, text: str, kind: str, context_id: str) -> Call | None:
        if self.remember is None:
            return None
        wanted: dict[str, Any] = {"kind": kind, "source": "planner" if kind != "fact" else "user"}
        if context_id:
            wanted |= {"scope": "context", "context_id": context_id}
        return Call.of(self.remember, 0, "memory:remember", text[:4000], **wanted)

    def recall_call(self, query: str, context_id: str) -> Call | None:
        if self.recall is None:
            return None
        wanted: dict[str, Any] = {"k": _RECALL_K, **({"context_id": context_id} if context_id else {})}
        return Call.of(self.recall, 0, "memory:recall", query[:2000], **wanted)


def recalled(request: str, results: Sequence[StepResult]) -> list[Recalled]:
    """The recalled memories worth quoting for ``request``: about its words, not flagged as instructions."""
    terms = content_terms(request)
    out: list[Recalled] = []
    for result in results:
        hits = result.structured.get("hits") if isinstance(result.structured, Mapping) else None
        for hit in hits if result.status == "ok" and isinstance(hits, list) else []:
            memory = hit.get("memory") if isinstance(hit, Mapping) else None
            if not isinstance(memory, Mapping) or memory.get("suspicious") or memory.get("flags"):
                continue
            if memory.get("kind") not in _QUOTED:
                continue  # review's corrections are the planner's notes, not something to tell the user
            text = str(memory.get("text") or "")
            if text and terms and coverage(terms, text) >= _RELEVANT:
                out.append(
                    Recalled(
                        id=memory.get("id") or "",
                        text=text,
                        kind=str(memory.get("kind") or ""),
                        at=str(memory.get("created_at") or memory.get("at") or ""),
                    )
                )
    return out[:_USED]
