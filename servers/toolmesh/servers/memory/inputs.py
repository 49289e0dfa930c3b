"""What callers pass in (remember, recall, forget) and the checks that turn it into trusted values.

Tools get type and range checks from their schemas; these checks are the ones the Python API needs too
(scopes and their ids, caps from settings, secrets), with messages that say what to do instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from toolmesh.servers.memory.errors import MemoryInputError, MemoryLimitExceeded, MemoryServerError
from toolmesh.servers.memory.guard import check_label, check_text
from toolmesh.servers.memory.items import KINDS, SCOPES, Kind, ScopeRef
from toolmesh.servers.memory.settings import MemorySettings

__all__ = ["Checked", "CheckedQuery", "MemoryIn", "RecallQuery", "Validator"]

Mode = Literal["hybrid", "bm25", "dense"]
Moment = float | datetime | None


@dataclass(frozen=True, slots=True)
class MemoryIn:
    """One memory to store. ``scope`` user needs ``user_id``; context needs ``context_id``."""

    text: str
    kind: str = "fact"
    scope: str = "global"
    user_id: str | None = None
    context_id: str | None = None
    source: str = ""
    topic: str | None = None
    tags: Sequence[str] = ()
    ttl_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    text: str
    flags: tuple[str, ...]
    kind: Kind
    scope: ScopeRef
    source: str
    topic: str | None
    tags: tuple[str, ...]
    ttl_seconds: float | None


@dataclass(frozen=True, slots=True)
class RecallQuery:
    """A recall: the visible scopes are global plus the user and context named (``scopes`` narrows them)."""

    query: str
    k: int = 5
    user_id: str | None = None
    context_id: str | None = None
    scopes: Sequence[str] | None = None
    kinds: Sequence[str] | None = None
    topic: str | None = None
    tags: Sequence[str] | None = None
    since: Moment = None
    until: Moment = None
    mode: Mode = "hybrid"


@dataclass(frozen=True, slots=True)
class CheckedQuery:
    query: str
    k: int
    scopes: tuple[ScopeRef, ...]
    kinds: frozenset[str] | None
    topic: str | None
    tags: frozenset[str] | None
    since: float | None
    until: float | None
    mode: Mode


def _moment(value: Moment, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise MemoryInputError(f"{what} must be a date-time (ISO 8601) or a Unix time, got {value!r}"[:200])


class Validator:
    def __init__(self, settings: MemorySettings) -> None:
        self.s = settings

    def scope(self, scope: str, user_id: str | None, context_id: str | None) -> ScopeRef:
        return ScopeRef.of(scope, user_id if scope == "user" else context_id if scope == "context" else None)

    def visible(
        self, user_id: str | None, context_id: str | None, scopes: Sequence[str] | None, *, with_global: bool
    ) -> tuple[ScopeRef, ...]:
        named = [ScopeRef("global")] if with_global or (scopes and "global" in scopes) else []
        if user_id is not None:
            named.append(ScopeRef.of("user", user_id))
        if context_id is not None:
            named.append(ScopeRef.of("context", context_id))
        if scopes is None:
            return tuple(named)
        for scope in scopes:
            if scope not in SCOPES:
                raise MemoryInputError(f"unknown scope {scope!r}", hint=f"Use one of: {', '.join(SCOPES)}.")
            if not any(ref.scope == scope for ref in named):
                what = "user_id" if scope == "user" else "context_id"
                raise MemoryInputError(f"scope {scope!r} needs {what}", hint=f"Pass {what} with it.")
        return tuple(ref for ref in named if ref.scope in scopes)

    def kinds(self, kinds: Sequence[str] | None) -> frozenset[str] | None:
        if kinds is None:
            return None
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise MemoryInputError(f"unknown kind {unknown[0]!r}", hint=f"Use one of: {', '.join(KINDS)}.")
        return frozenset(kinds)

    def tags(self, tags: Sequence[str] | None) -> tuple[str, ...]:
        if tags is None:
            return ()
        if isinstance(tags, str):
            tags = [tags]
        if len(tags) > self.s.max_tags:
            raise MemoryLimitExceeded(f"{len(tags)} tags; at most {self.s.max_tags} per memory")
        cleaned = (check_label(t, what="a tag", max_chars=64) for t in tags)
        return tuple(dict.fromkeys(t for t in cleaned if t))

    def item(self, m: MemoryIn) -> Checked:
        text, flags = check_text(m.text, max_chars=self.s.max_text_chars)
        if m.kind not in KINDS:
            raise MemoryInputError(f"unknown kind {m.kind!r}", hint=f"Use one of: {', '.join(KINDS)}.")
        ttl = m.ttl_seconds
        if ttl is not None and not (0 < ttl <= self.s.max_ttl_days * 86_400):
            raise MemoryInputError(
                f"ttl_seconds={ttl} is out of range",
                hint=f"Use a positive number up to {int(self.s.max_ttl_days * 86_400)} (or none: keep it).",
            )
        return Checked(
            text=text,
            flags=flags,
            kind=m.kind,  # type: ignore[arg-type]
            scope=self.scope(m.scope, m.user_id, m.context_id),
            source=check_label(m.source, what="source", max_chars=200) or "",
            topic=check_label(m.topic, what="topic"),
            tags=self.tags(m.tags),
            ttl_seconds=None if ttl is None else float(ttl),
        )

    def items(self, items: Sequence[MemoryIn]) -> list[Checked]:
        if len(items) > self.s.max_items_per_call:
            raise MemoryLimitExceeded(
                f"{len(items)} memories in one call; the limit is {self.s.max_items_per_call}",
                hint="Send them in several calls.",
            )
        out: list[Checked] = []
        for i, m in enumerate(items):
            try:
                out.append(self.item(m))
            except MemoryServerError as exc:
                if len(items) > 1:
                    exc.message = f"items[{i}]: {exc.message}"
                raise
        return out

    def _filters(self, q: RecallQuery, scopes: tuple[ScopeRef, ...]) -> CheckedQuery:
        since, until = _moment(q.since, "since"), _moment(q.until, "until")
        if since is not None and until is not None and until <= since:
            raise MemoryInputError(
                "until is not after since", hint="Give a time range that ends after it starts."
            )
        tags = self.tags(q.tags) if q.tags is not None else None
        return CheckedQuery(
            q.query,
            q.k,
            scopes,
            self.kinds(q.kinds),
            check_label(q.topic, what="topic"),
            frozenset(tags) if tags is not None else None,
            since,
            until,
            q.mode,
        )

    def recall(self, q: RecallQuery) -> CheckedQuery:
        if not isinstance(q.query, str) or not q.query.strip():
            raise MemoryInputError(
                "query is empty", hint="Say what to look for, in a few words or a question."
            )
        limit = min(2_000, self.s.max_text_chars)
        if len(q.query) > limit:
            raise MemoryLimitExceeded(f"query has {len(q.query)} characters; the limit is {limit}")
        if isinstance(q.k, bool) or not isinstance(q.k, int) or q.k < 1:
            raise MemoryInputError(f"k must be a positive integer, got {q.k!r}")
        if q.k > self.s.max_k:
            raise MemoryLimitExceeded(f"k={q.k} is above the cap of {self.s.max_k}", hint="Ask for fewer.")
        if q.mode not in ("hybrid", "bm25", "dense"):
            raise MemoryInputError(f"unknown mode {q.mode!r}", hint="Use hybrid, bm25 or dense.")
        scopes = self.visible(q.user_id, q.context_id, q.scopes, with_global=True)
        return self._filters(replace(q, query=q.query.strip()), scopes)

    def forget(self, ids: Sequence[int] | None, **fields: object) -> CheckedQuery:
        q = RecallQuery(query="", **fields)  # type: ignore[arg-type]
        if ids is not None:
            if len(ids) > self.s.max_items_per_call:
                raise MemoryLimitExceeded(f"{len(ids)} ids; at most {self.s.max_items_per_call} per call")
            if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
                raise MemoryInputError("ids must be integers (the ids remember and recall return)")
            return self._filters(q, self.visible(q.user_id, q.context_id, q.scopes, with_global=True))
        scopes = self.visible(q.user_id, q.context_id, q.scopes, with_global=False)
        narrowed = any(v is not None for v in (q.kinds, q.topic, q.tags, q.since, q.until))
        if not scopes or not (narrowed or q.scopes):
            raise MemoryInputError(
                "forget needs ids or a filter",
                hint="Pass ids, or a filter (kinds, topic, tags, since, until) with user_id/context_id; to "
                "forget a whole scope, name it in scopes (e.g. scopes=['user'] with user_id).",
            )
        return self._filters(q, scopes)
