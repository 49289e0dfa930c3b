"""Short-term memory: the turns of one A2A context, and follow-ups resolved against them.

Every planner task stores a :class:`Turn` as its ``memory`` artifact: the request, and per part the
resolved text, the route taken, the SQL that ran and its frame (what was counted, grouped, filtered), the
symbol looked at, the words it was about, and a short answer. The artifact lives in the durable task store,
so a conversation survives restarts and is shared by planner replicas on one PostgreSQL store.

:func:`resolve` reads a follow-up against the latest turn: "and how many of those were in 2024?" keeps
the previous part's subject (orders) and adds the year; "what about 2023?" replaces the year; "and in
France?" replaces the country (the translator prefers the new value on the same column); "who calls it?"
takes the symbol of the turn before. :func:`fit` keeps the newest turns within a token budget and says
which were trimmed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from toolmesh.agents.analytic import merge_analytic
from toolmesh.agents.question import Part, analyse_part, analyse_resolved, content_terms
from toolmesh.protocols.text import count_tokens

__all__ = [
    "MEMORY_VERSION",
    "Turn",
    "TurnPart",
    "fit",
    "is_follow_up",
    "leans_on_part_before",
    "resolve",
]

MEMORY_VERSION = 2  # 2: TurnPart.first (the first row's labels)
# "the number one", "the first one", "第一名": the first row of the answer before
_FIRST_ROW = re.compile(
    r"\b(?:the\s+)?(?:number\s+one|no\.\s*1|#1|first\s+one|top\s+one|first\s+of\s+them|winner)\b"
    r"|第一名|第一个|第一位|排名第一的?",
    re.IGNORECASE,
)
_CONTINUES = re.compile(
    r"^\s*(?:and|what about|how about|and what about|also|now|same for|the same)\b|\btoo\s*[?？.!]?\s*$"
    r"|\b(?:those|these|them|their|they|ones|of them|of those)\b|它们|他们|她们|其中|这些|那些|^\s*那"
    r"|呢\s*[?？]?\s*$",
    re.IGNORECASE,
)
_ANAPHORA = re.compile(
    r"\b(?:of|among|from|for)\s+(?:those|them|these|it)\b|\b(?:those|these|them|it|they|that one|the same)\b"
    r"|^\s*(?:and|what about|how about|and what about|also|now|same for)\b|它们中|它们|其中|这些|那些"
    r"|同样|那|呢",
    re.IGNORECASE,
)


class TurnPart(BaseModel):
    text: str
    resolved: str
    route: str | None = None
    status: str = "answered"
    sql: str | None = None
    frame: dict[str, Any] | None = None
    symbol: str | None = None
    identifiers: list[str] = Field(default_factory=list)
    words: list[str] = Field(default_factory=list)
    answer: str = ""
    first: list[str] = Field(default_factory=list, description="Text cells of the answer's first row.")


class Turn(BaseModel):
    """One answered request, as the next turn may build on it."""

    version: int = MEMORY_VERSION
    task_id: str = ""
    request: str
    at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    parts: list[TurnPart] = Field(default_factory=list)
    trimmed: list[str] = Field(default_factory=list, description="Older turns left out of the context.")

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Forward migration of stored turns: version 1 had no ``first`` (its default is empty)."""
        if isinstance(data, dict) and int(data.get("version") or 1) < MEMORY_VERSION:
            data = {**data, "version": MEMORY_VERSION}
        return data


def is_follow_up(part: Part) -> bool:
    """Whether ``part`` leans on an earlier turn: it continues one ("and …", "what about …", "… too?",
    "那…呢"), points back with a plural or possessive ("those", "their", "它们"), or has too little of its
    own to stand alone ("who calls it?", "2023?"). "What does X do, and where is it defined?" does not."""
    if part.traceback or part.sql:
        return False
    if _FIRST_ROW.search(part.text):
        return True
    own = _own_terms(part)
    if not own or _CONTINUES.search(part.text):
        return True
    return part.refers_back and not (part.identifiers or part.quoted) and len(own) <= 2


def _own_terms(part: Part) -> list[str]:
    """The part's terms that say what it is about of its own: no numbers, no words of its dates."""
    return [t for t in part.terms if not t.isdigit() and not any(t in d.label for d in part.analytic.dates)]


def leans_on_part_before(part: Part) -> bool:
    """Within one message: "…, and how many orders went there?" leans on the part before it; "And remind
    me, when does a customer get the first reminder if they have not paid?" has a subject of its own."""
    if not part.refers_back or part.identifiers or part.quoted:
        return False
    return len(_own_terms(part)) <= 3 or bool(_POINTS_BACK.search(part.text))  # "its invoice"


# a possessive or object that names what came before ("its invoice"); "if they have not paid" may name
# the clause's own subject
_POINTS_BACK = re.compile(r"\b(?:its|their|theirs|them|those|these|there)\b|它们|他们|她们|这些|那些", re.I)


def resolve(part: Part, previous: TurnPart) -> Part:
    """``part`` read as a follow-up of ``previous`` (its subject, filters and shape carried over)."""
    first = _FIRST_ROW.search(part.text)
    if first and previous.first:  # "the list price of the number one": of that row, by its name
        named = f'{part.text[: first.start()]}"{previous.first[0]}"{part.text[first.end() :]}'
        return replace(analyse_part(named), refers_back=True)
    old = analyse_resolved(previous.resolved)  # "A → B": what B made of A
    core = _ANAPHORA.sub(" ", part.text)
    core = re.sub(r"\s+", " ", core).strip(" ,?？")
    about_code = previous.route == "code" or (previous.identifiers and part.refers_back and not part.terms)
    if about_code and not part.identifiers and (previous.symbol or previous.identifiers):
        symbol = previous.symbol or previous.identifiers[0]
        # the symbol where the pronoun stood: "where is it used" asks for callers, "where is used" not
        named = re.sub(r"\b(?:it|this|that one)\b|它", f"`{symbol}`", part.text, count=1, flags=re.I)
        merged = analyse_part(named if named != part.text else f"{core} `{symbol}`")
        return replace(merged, refers_back=True, inherited=(symbol,))
    if previous.route == "docs":
        extra = [w for w in previous.words if w not in part.words]
        merged = analyse_part(f"{core} {' '.join(extra)}".strip())
        return replace(merged, refers_back=True, inherited=tuple(extra))
    dropped: set[str] = set()
    if part.analytic.dates:  # the new dates replace the old ones
        for date in old.analytic.dates:
            dropped.update(w.lower() for w in re.findall(r"[^\W_]+", date.label))
    # The words the previous turn ended up about (values a follow-up replaced are already gone).
    old_words = [w for w in previous.words or old.words if w not in dropped and w not in part.words]
    old_terms = [t for t in old.terms if t not in dropped and not any(t in w for w in dropped)]
    new_terms = [t for t in part.terms if t not in {"those", "them", "these", "它们", "这些", "那些", "其中"}]
    ask = part.ask if part.ask not in {"explain", "list"} or old.ask in {"explain", "list"} else old.ask
    if part.ask == "list" and part.analytic.listing:
        ask = "list"
    base = previous.resolved
    if part.analytic.dates:  # "what about 2023?": the year it replaces leaves the text as well
        for date in old.analytic.dates:
            base = base.replace(date.label, " ")
    return replace(
        part,
        text=f"{' '.join(base.split())} → {part.text}",
        terms=tuple(dict.fromkeys([*new_terms, *old_terms])),
        words=tuple(dict.fromkeys([*part.words, *old_words])),
        quoted=part.quoted or old.quoted,
        identifiers=part.identifiers or old.identifiers,
        analytic=merge_analytic(part.analytic, old.analytic),
        ask=ask,
        lang=part.lang if part.lang == "zh" or old.lang == "en" else old.lang,
        refers_back=True,
        inherited=tuple(dict.fromkeys([*old_words, *old_terms])),
    )


def resolved_text(part: Part) -> str:
    """A self-contained rendering of a resolved part, for the next turn and for display."""
    return part.text.split(" → ")[-1] if " → " not in part.text else part.text


def fit(turns: Sequence[Turn], budget: int = 1500) -> tuple[list[Turn], list[str]]:
    """The newest turns whose memory fits ``budget`` tokens (oldest first), and the task ids trimmed."""
    kept: list[Turn] = []
    used = 0
    for turn in sorted(turns, key=lambda t: t.at, reverse=True):
        cost = count_tokens(turn.model_dump_json())
        if kept and used + cost > budget:
            break
        kept.append(turn)
        used += cost
    trimmed = [t.task_id for t in turns if t not in kept]
    return list(reversed(kept)), trimmed


def words_for_memory(part: Part) -> list[str]:
    return [w for w in part.words if content_terms(w)][:24]
