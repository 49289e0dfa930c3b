"""The registry's own records: what a store keeps for one entry, who is acting, and what a search asks for."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from toolmesh.protocols.cards import EntryKind, EntryView, Health, SignatureCheck, VersionView

__all__ = [
    "CAPABILITIES",
    "EntryRecord",
    "Facets",
    "Principal",
    "SearchQuery",
    "dumps",
    "facets_of",
    "item_json",
    "tokenize",
]

CAPABILITIES = ("streaming", "push_notifications", "extended_agent_card", "signed")
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_MAX_WORDS = 400
_MAX_WORD = 40


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens of ``text``, in order, each cut to 40 characters."""
    return [word[:_MAX_WORD] for word in _WORD_RE.findall(text.lower())]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a publisher (owns what it registers) or an admin (may change everything)."""

    name: str
    admin: bool = False


@dataclass(frozen=True, slots=True)
class Facets:
    """What search indexes about an entry, derived from its document."""

    skills: list[str]
    tags: list[str]
    tools: list[str]
    bindings: list[str]
    capabilities: list[str]
    words: list[str]

    def keys(self) -> set[str]:
        """The exact-match index keys (``skill:plan``, ``tag:sql``, ``word:search`` ...)."""
        out = {f"skill:{s.lower()}" for s in self.skills}
        out |= {f"tag:{t.lower()}" for t in self.tags}
        out |= {f"tool:{t.lower()}" for t in self.tools}
        out |= {f"binding:{b.upper()}" for b in self.bindings}
        out |= {f"cap:{c}" for c in self.capabilities}
        out |= {f"word:{w}" for w in self.words}
        return {key[:200] for key in out}


def _strs(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def facets_of(
    kind: EntryKind, document: dict[str, Any], signed: bool = False, *, words: bool = True
) -> Facets:
    """Skills, tags, tools, bindings, capabilities and (unless ``words=False``) free-text words."""
    text: list[str] = [str(document.get("name", "")), str(document.get("description", ""))]
    skills: list[str] = []
    tags: list[str] = []
    tools: list[str] = []
    bindings: list[str] = []
    capabilities: list[str] = []
    if kind == "agent":
        for skill in document.get("skills", []) if isinstance(document.get("skills"), list) else []:
            if not isinstance(skill, dict):
                continue
            skills.append(str(skill.get("id", "")))
            tags.extend(_strs(skill.get("tags")))
            text += [str(skill.get("id", "")), str(skill.get("name", "")), str(skill.get("description", ""))]
            text += _strs(skill.get("tags"))
        interfaces = document.get("supportedInterfaces")
        for iface in interfaces if isinstance(interfaces, list) else []:
            if isinstance(iface, dict) and isinstance(iface.get("protocolBinding"), str):
                bindings.append(iface["protocolBinding"].upper())
        caps = document.get("capabilities")
        if isinstance(caps, dict):
            capabilities += [
                name
                for name, wire in (
                    ("streaming", "streaming"),
                    ("push_notifications", "pushNotifications"),
                    ("extended_agent_card", "extendedAgentCard"),
                )
                if caps.get(wire) is True
            ]
        if signed:
            capabilities.append("signed")
    else:
        tags.extend(_strs(document.get("tags")))
        text += _strs(document.get("tags"))
        bindings.append("MCP-STDIO" if document.get("transport") == "stdio" else "MCP-HTTP")
        for tool in document.get("tools", []) if isinstance(document.get("tools"), list) else []:
            if isinstance(tool, dict):
                tools.append(str(tool.get("name", "")))
                text += [
                    str(tool.get("name", "")),
                    str(tool.get("title") or ""),
                    str(tool.get("description", "")),
                ]
    found = _dedupe(tokenize(" ".join(text)))[:_MAX_WORDS] if words else []
    return Facets(
        skills=_dedupe([s for s in skills if s]),
        tags=_dedupe([t for t in tags if t]),
        tools=_dedupe([t for t in tools if t]),
        bindings=_dedupe(bindings),
        capabilities=_dedupe(capabilities),
        words=found,
    )


@dataclass(slots=True)
class EntryRecord:
    """One registered agent or MCP server, as stored."""

    id: str
    kind: EntryKind
    name: str
    description: str
    owner: str
    url: str | None
    document: dict[str, Any]
    signature: SignatureCheck = field(default_factory=lambda: SignatureCheck(status="unsigned"))
    version: int = 1
    health: Health = "unknown"
    health_detail: str = ""
    failures: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    last_heartbeat: float = 0.0
    expires_at: float = 0.0
    last_probe: float | None = None

    def facets(self) -> Facets:
        return facets_of(self.kind, self.document, signed=self.signature.status == "verified")

    def copy(self) -> EntryRecord:
        return replace(self, document=dict(self.document))

    def effective_health(self, now: float) -> tuple[Health, str]:
        """Health as clients should see it: an entry whose TTL lapsed is down whatever the last probe said."""
        if self.expires_at < now:
            return "down", f"no heartbeat for {now - self.last_heartbeat:.0f}s (TTL lapsed)"
        return self.health, self.health_detail

    def item_json(self, now: float) -> bytes:
        """This entry as a search item (the same JSON as ``view(now)`` without history)."""
        return item_json(
            self.static_json(),
            health=self.health,
            health_detail=self.health_detail,
            last_heartbeat=self.last_heartbeat,
            expires_at=self.expires_at,
            last_probe=self.last_probe,
            now=now,
        )

    def static_json(self) -> bytes:
        """The parts of this entry's view that change only when it is stored (not health, not heartbeats)."""
        facets = facets_of(self.kind, self.document, signed=self.signature.status == "verified", words=False)
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "version": self.version,
            "url": self.url,
            "document": self.document,
            "skills": facets.skills,
            "tags": facets.tags,
            "tools": facets.tools,
            "bindings": facets.bindings,
            "capabilities": facets.capabilities,
            "signature": self.signature.model_dump(exclude_none=True),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        return dumps({k: v for k, v in data.items() if v is not None})

    def view(self, now: float, history: list[VersionView] | None = None) -> EntryView:
        facets = facets_of(self.kind, self.document, signed=self.signature.status == "verified", words=False)
        health, detail = self.effective_health(now)
        # Trusted data from our own store: skip re-validation (searches build many views).
        return EntryView.model_construct(
            id=self.id,
            kind=self.kind,
            name=self.name,
            description=self.description,
            owner=self.owner,
            version=self.version,
            url=self.url,
            document=self.document,
            skills=facets.skills,
            tags=facets.tags,
            tools=facets.tools,
            bindings=facets.bindings,
            capabilities=facets.capabilities,
            health=health,
            health_detail=detail,
            signature=self.signature,
            created_at=self.created_at,
            updated_at=self.updated_at,
            last_heartbeat=self.last_heartbeat,
            expires_at=self.expires_at,
            last_probe=self.last_probe,
            history=history,
        )


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (orjson; the stdlib for what orjson refuses, such as integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def item_json(
    static: bytes,
    *,
    health: Health,
    health_detail: str,
    last_heartbeat: float,
    expires_at: float,
    last_probe: float | None,
    now: float,
) -> bytes:
    """One search item, as :class:`EntryView` JSON, from its stored static JSON and its live columns."""
    if expires_at < now:
        health, health_detail = "down", f"no heartbeat for {now - last_heartbeat:.0f}s (TTL lapsed)"
    live: dict[str, Any] = {
        "health": health,
        "health_detail": health_detail,
        "last_heartbeat": last_heartbeat,
        "expires_at": expires_at,
    }
    if last_probe is not None:
        live["last_probe"] = last_probe
    return static[:-1] + b"," + orjson.dumps(live)[1:]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Filters of one search; every given filter must match (AND)."""

    kind: EntryKind | None = None
    skill: str | None = None
    tag: str | None = None
    tool: str | None = None
    binding: str | None = None
    capability: str | None = None
    text: str | None = None
    health: tuple[Health, ...] = ()
    owner: str | None = None
    include_down: bool = False
    limit: int = 20
    after: str | None = None
    now: float = 0.0

    def index_keys(self) -> list[str]:
        """Exact index keys every match must have."""
        keys: list[str] = []
        if self.skill:
            keys.append(f"skill:{self.skill.lower()}")
        if self.tag:
            keys.append(f"tag:{self.tag.lower()}")
        if self.tool:
            keys.append(f"tool:{self.tool.lower()}")
        if self.binding:
            keys.append(f"binding:{self.binding.upper()}")
        if self.capability:
            keys.append(f"cap:{self.capability}")
        return keys

    def terms(self) -> list[str]:
        """Free-text terms; each must prefix-match a word of the entry."""
        return _dedupe(tokenize(self.text or ""))[:8]

    def wants_health(self, health: Health) -> bool:
        if self.health:
            return health in self.health
        return self.include_down or health != "down"
