"""What the memory stores: items, entities, relations, the rows the index is built from, and their rules.

Every record belongs to one scope: ``user`` (keyed by a user id), ``context`` (keyed by an A2A context or
conversation id) or ``global`` (no key). Scopes never mix: a recall sees the global scope plus exactly the
user and context it names.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal, get_args

from toolmesh.servers.memory.errors import MemoryInputError

__all__ = [
    "KINDS",
    "SCOPES",
    "EntityRecord",
    "IndexRow",
    "ItemChange",
    "Kind",
    "MemoryItem",
    "NewItem",
    "RelationRecord",
    "Scope",
    "ScopeRef",
    "normal_form",
    "text_hash",
]

Kind = Literal["fact", "turn", "task", "tool_call", "correction"]
Scope = Literal["user", "context", "global"]
KINDS: tuple[str, ...] = get_args(Kind)
SCOPES: tuple[str, ...] = get_args(Scope)

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,199}$")


@dataclass(frozen=True, slots=True)
class ScopeRef:
    """One scope and its key ("" for global); built with :meth:`of`, which checks both."""

    scope: Scope
    key: str = ""

    @classmethod
    def of(cls, scope: str, key: str | None) -> ScopeRef:
        if scope not in SCOPES:
            raise MemoryInputError(
                f"unknown scope {scope!r}",
                hint=f"Use one of: {', '.join(SCOPES)} (user needs user_id, context needs context_id).",
            )
        if scope == "global":
            return cls("global", "")
        what = "user_id" if scope == "user" else "context_id"
        if not key:
            raise MemoryInputError(
                f"scope {scope!r} needs {what}", hint=f"Pass {what}, or use scope 'global'."
            )
        if not _KEY.match(key):
            raise MemoryInputError(
                f"{what} {key[:60]!r} is not a valid id",
                hint="Ids are 1-200 characters: letters, digits and . _ : @ / + = - (starting with a letter "
                "or digit).",
            )
        return cls(scope, key)  # type: ignore[arg-type]

    def render(self) -> str:
        return self.scope if self.scope == "global" else f"{self.scope}:{self.key}"


def normal_form(text: str) -> str:
    """What makes two texts the same memory: NFKC, case-folded, whitespace collapsed, end punctuation off."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return folded.rstrip(" .!。！;；")


def text_hash(text: str) -> str:
    return hashlib.sha256(normal_form(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewItem:
    text: str
    kind: Kind
    source: str
    scope: ScopeRef
    created_at: float
    terms: str  # space-separated analysed terms (BM25), computed once at write time
    topic: str | None = None
    tags: tuple[str, ...] = ()
    expires_at: float | None = None
    flags: tuple[str, ...] = ()
    vector: bytes | None = None  # float32 little-endian, L2-normalised

    @property
    def hash(self) -> str:
        return text_hash(self.text)


@dataclass(frozen=True, slots=True)
class ItemChange:
    """A refresh (exact duplicate) or a rewrite (near duplicate, ``text`` set) of a stored item."""

    updated_at: float
    tags: tuple[str, ...]
    expires_at: float | None
    text: str | None = None
    terms: str | None = None
    flags: tuple[str, ...] | None = None
    vector: bytes | None = None
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class MemoryItem:
    id: int
    text: str
    kind: Kind
    source: str
    scope: ScopeRef
    topic: str | None
    tags: tuple[str, ...]
    created_at: float
    updated_at: float
    expires_at: float | None
    flags: tuple[str, ...]
    seen: int = 1  # how many times it was remembered (duplicates refresh instead of adding)


@dataclass(frozen=True, slots=True)
class IndexRow:
    """The part of an item (or entity) the in-memory recall index keeps."""

    id: int
    scope: ScopeRef
    kind: str
    topic: str | None
    tags: tuple[str, ...]
    created_at: float
    updated_at: float
    expires_at: float | None
    terms: str
    vector: bytes | None

    @classmethod
    def of(cls, item: MemoryItem, terms: str, vector: bytes | None) -> IndexRow:
        """The index row of a stored memory item, with its analysed ``terms`` and ``vector``."""
        return cls(
            item.id,
            item.scope,
            item.kind,
            item.topic,
            item.tags,
            item.created_at,
            item.updated_at,
            item.expires_at,
            terms,
            vector,
        )


@dataclass(frozen=True, slots=True)
class EntityRecord:
    id: int
    scope: ScopeRef
    name: str
    type: str
    observations: tuple[str, ...]
    created_at: float
    updated_at: float
    flags: tuple[str, ...] = field(default=())

    def document(self) -> str:
        """The text search_graph ranks an entity by: name, type and observations."""
        return "\n".join([f"{self.name} ({self.type})", *self.observations])


@dataclass(frozen=True, slots=True)
class RelationRecord:
    source: str
    target: str
    type: str
    created_at: float
