"""The registry's behaviour, shared by its HTTP API, its MCP face and its web page.

Validation, signature checks, ownership (in the store), TTLs and search paging live here; the faces
only translate requests and responses.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from a2a.types import AgentCard
from pydantic import ValidationError

from toolmesh.protocols.cards import (
    AGENT_CARD_PATH,
    CardError,
    CardLimits,
    EntryKind,
    EntryView,
    Health,
    McpServerEntry,
    SearchPage,
    SignatureCheck,
    card_to_dict,
    entry_id_for,
    interface_http_url,
    parse_agent_card,
    verify_card_signatures,
)
from toolmesh.protocols.errors import (
    ConfigError,
    InputError,
    LimitExceeded,
    PermissionDenied,
    ToolmeshError,
    UpstreamError,
)
from toolmesh.registry.models import CAPABILITIES, EntryRecord, Principal, SearchQuery
from toolmesh.registry.settings import RegistrySettings
from toolmesh.registry.store import RegistryStore, not_found
from toolmesh.registry.validation import Fetcher, TargetGuard

__all__ = ["Clock", "RegisterResult", "Registry", "load_signing_keys"]

Clock = Callable[[], float]
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_CACHE_ENTRIES = 4096
_CACHE_BYTES = 32 * 1024 * 1024
_HEALTH: tuple[Health, ...] = ("unknown", "healthy", "degraded", "down")


@dataclass(frozen=True, slots=True)
class RegisterResult:
    entry: EntryView
    created: bool
    changed: bool


def load_signing_keys(raw: dict[str, str]) -> dict[str, Any]:
    """Key id -> key usable by PyJWT: JWK JSON becomes a PyJWK; PEM and secrets stay strings."""
    from jwt import PyJWK

    keys: dict[str, Any] = {}
    for kid, value in raw.items():
        text = value.strip()
        if not text:
            raise ConfigError(
                f"signing key {kid!r} is empty", hint="Give a PEM public key, a JWK or a secret."
            )
        try:
            keys[kid] = PyJWK.from_json(text) if text.startswith("{") else text
        except Exception as exc:  # PyJWT raises several unrelated types for a bad JWK
            raise ConfigError(f"signing key {kid!r} is not a usable JWK: {exc}") from exc
    return keys


def check_entry_id(entry_id: str) -> str:
    if not entry_id or len(entry_id) > 128 or not set(entry_id) <= _ID_CHARS or entry_id[0] in "._-":
        raise InputError(
            f"invalid entry id {entry_id[:80]!r}",
            hint="Ids are 1-128 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.",
        )
    return entry_id


def encode_cursor(entry_id: str) -> str:
    return base64.urlsafe_b64encode(entry_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        entry_id = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        return check_entry_id(entry_id)
    except (ValueError, binascii.Error, UnicodeError, InputError) as exc:
        raise InputError(
            "invalid cursor", hint="Pass back next_cursor exactly as a search returned it."
        ) from exc


def card_url_for(base_or_card_url: str) -> str:
    """The card URL of a base URL: ``https://a.example`` -> ``https://a.example/.well-known/agent-card.json``."""
    parts = urlsplit(base_or_card_url)
    if parts.path.endswith(".json"):
        return base_or_card_url
    path = parts.path.rstrip("/") + AGENT_CARD_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class Registry:
    """Registers, renews, finds and removes entries."""

    def __init__(
        self,
        store: RegistryStore,
        settings: RegistrySettings,
        *,
        fetcher: Fetcher | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.guard = TargetGuard(allow_private=settings.allow_private_targets)
        self.fetcher = fetcher or Fetcher(self.guard, timeout=settings.fetch_timeout)
        self.limits = CardLimits(max_bytes=settings.max_card_bytes)
        self.keys = load_signing_keys(settings.signing_keys)
        self.generation = 0
        self._cache: dict[SearchQuery, tuple[int, float, bytes]] = {}
        self._cache_bytes = 0

    def invalidate(self) -> None:
        """Forget cached search answers (after any change that can alter what a search returns)."""
        self.generation += 1
        self._cache.clear()
        self._cache_bytes = 0

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    # --- writes -------------------------------------------------------------------------------

    def _check_body(self, body: Any, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InputError(f"the request body must be a JSON object, not {type(body).__name__}")
        unknown = sorted(str(k)[:40] for k in body if k not in allowed)
        if unknown:
            raise InputError(f"unknown fields {unknown}", hint=f"Allowed: {sorted(allowed)}.")
        return body

    async def register_agent(self, body: Any, actor: Principal) -> RegisterResult:
        """Register or update an agent from ``{"card": {...}}`` or ``{"card_url": "https://..."}``."""
        body = self._check_body(body, {"card", "card_url", "id"})
        if ("card" in body) == ("card_url" in body):
            raise InputError(
                "give exactly one of card (the card JSON) or card_url (where the registry fetches it)",
                hint='POST {"card_url": "https://agent.example/"} or {"card": {...}}.',
            )
        card_url: str | None = None
        if "card_url" in body:
            raw_url = body["card_url"]
            if not isinstance(raw_url, str):
                raise InputError("card_url must be a string")
            card_url = card_url_for(self.guard.check_literal(raw_url, field="card_url"))
            try:
                data = await self.fetcher.get_json(card_url, max_bytes=self.settings.max_card_bytes)
            except UpstreamError as exc:
                raise InputError(
                    f"could not fetch the agent card: {exc.message}", hint="Is the agent up?"
                ) from exc
        else:
            data = body["card"]
        card, document, signature = self.accept_card(data)
        locator = card_url or card.supported_interfaces[0].url
        entry_id = body.get("id")
        if entry_id is not None:
            if not isinstance(entry_id, str):
                raise InputError("id must be a string")
            check_entry_id(entry_id)
        else:
            entry_id = entry_id_for("agent", card.name, locator)
        record = self._new_record(entry_id, "agent", card.name, card.description, card_url, document)
        record.signature = signature
        return await self._put(record, actor)

    def accept_card(self, data: Any) -> tuple[AgentCard, dict[str, Any], SignatureCheck]:
        """Validate card JSON fully (schema, URLs, targets, signature policy): card, document, signature."""
        card = parse_agent_card(data, limits=self.limits)
        for index, iface in enumerate(card.supported_interfaces):
            url = interface_http_url(iface.url, iface.protocol_binding)  # gRPC host:port too
            self.guard.check_literal(url, field=f"supportedInterfaces[{index}].url")
        signature = verify_card_signatures(card, self.keys)
        if signature.status == "invalid":
            raise CardError(
                f"the agent card's signature does not verify: {signature.detail}",
                hint="The card was changed after signing, or signed with another key; re-sign it.",
            )
        if self.settings.require_signed_cards and signature.status != "verified":
            raise PermissionDenied(
                f"only cards signed with a trusted key are accepted; this card is {signature.status}",
                hint="Sign the card with a key listed in TOOLMESH_REGISTRY_SIGNING_KEYS.",
            )
        return card, card_to_dict(card), signature

    async def refresh_card(self, record: EntryRecord, data: Any) -> str | None:
        """Adopt the card now served at an entry's card URL (the prober calls this).

        Returns ``None`` when nothing changed or the new card was stored (a new version, on behalf of
        the entry's owner), or the reason the served card is not acceptable (the stored one stays).
        """
        try:
            card, document, signature = self.accept_card(data)
        except ToolmeshError as exc:
            return f"the card now served is not acceptable: {exc.message}"[:500]
        if document == record.document:
            return None
        if card.name != record.name:
            return f"the card now served is for {card.name!r}, not {record.name!r}; register it anew"[:500]
        updated = record.copy()
        updated.document, updated.signature = document, signature
        updated.description = card.description
        updated.updated_at = self.clock()
        await self.store.put(updated, Principal(record.owner), history_limit=self.settings.history_limit)
        self.invalidate()
        return None

    async def register_server(self, body: Any, actor: Principal) -> RegisterResult:
        """Register or update an MCP server entry."""
        if not isinstance(body, dict):
            raise InputError(f"the request body must be a JSON object, not {type(body).__name__}")
        size = len(json.dumps(body, default=str).encode())
        if size > self.settings.max_server_entry_bytes:
            raise LimitExceeded(
                f"server entry is {size} bytes, over the {self.settings.max_server_entry_bytes}-byte limit",
                hint="Send shorter tool descriptions or smaller input schemas.",
            )
        try:
            entry = McpServerEntry.model_validate(body)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
            )
            raise CardError(f"invalid MCP server entry: {problems}"[:1000]) from exc
        if entry.url:
            self.guard.check_literal(entry.url)
        entry_id = entry.id or entry_id_for("server", entry.name, entry.locator)
        document = entry.model_dump(exclude_none=True, exclude={"id"})
        record = self._new_record(entry_id, "server", entry.name, entry.description, entry.url, document)
        return await self._put(record, actor)

    def _new_record(
        self,
        entry_id: str,
        kind: EntryKind,
        name: str,
        description: str,
        url: str | None,
        document: dict[str, Any],
    ) -> EntryRecord:
        now = self.clock()
        return EntryRecord(
            id=entry_id,
            kind=kind,
            name=name,
            description=description,
            owner="",
            url=url,
            document=document,
            created_at=now,
            updated_at=now,
            last_heartbeat=now,
            expires_at=now + self.settings.ttl_seconds,
        )

    async def _put(self, record: EntryRecord, actor: Principal) -> RegisterResult:
        result = await self.store.put(
            record,
            actor,
            history_limit=self.settings.history_limit,
            max_entries=self.settings.max_entries_per_publisher,
        )
        self.invalidate()
        return RegisterResult(result.record.view(self.clock()), result.created, result.changed)

    async def heartbeat(self, entry_id: str, actor: Principal) -> EntryView:
        now = self.clock()
        record, previous = await self.store.heartbeat(
            check_entry_id(entry_id), actor, now=now, expires_at=now + self.settings.ttl_seconds
        )
        if previous < now:  # a lapsed entry is back: searches must see it
            self.invalidate()
        return record.view(now)

    async def deregister(self, entry_id: str, actor: Principal) -> None:
        await self.store.delete(check_entry_id(entry_id), actor)
        self.invalidate()

    # --- reads --------------------------------------------------------------------------------

    async def get(self, entry_id: str, *, history: int = 0) -> EntryView:
        record = await self.store.get(check_entry_id(entry_id))
        if record is None:
            raise not_found(entry_id)
        versions = await self.store.history(entry_id, history) if history > 0 else None
        return record.view(self.clock(), versions)

    def query(
        self,
        *,
        kind: str | None = None,
        skill: str | None = None,
        tag: str | None = None,
        tool: str | None = None,
        binding: str | None = None,
        capability: str | None = None,
        text: str | None = None,
        health: list[str] | None = None,
        owner: str | None = None,
        include_down: bool = False,
        limit: int = 20,
        cursor: str | None = None,
    ) -> SearchQuery:
        """A validated :class:`SearchQuery` (400 on bad filter values)."""
        if kind not in (None, "agent", "server"):
            raise InputError(f"kind must be 'agent' or 'server', not {kind!r}")
        for name, value in (
            ("skill", skill),
            ("tag", tag),
            ("tool", tool),
            ("binding", binding),
            ("owner", owner),
        ):
            if value is not None and (not value.strip() or len(value) > 150):
                raise InputError(f"{name} must be 1-150 characters")
        if text is not None and len(text) > 500:
            raise InputError("q (free text) must be at most 500 characters")
        if capability is not None and capability not in CAPABILITIES:
            raise InputError(f"unknown capability {capability!r}", hint=f"One of {', '.join(CAPABILITIES)}.")
        states: list[Health] = []
        for state in health or []:
            if state not in _HEALTH:
                raise InputError(f"unknown health {state!r}", hint=f"One of {', '.join(_HEALTH)}.")
            states.append(state)
        if not 1 <= limit <= self.settings.max_page_size:
            raise InputError(f"limit must be between 1 and {self.settings.max_page_size}")
        return SearchQuery(
            kind=kind,  # type: ignore[arg-type]
            skill=skill,
            tag=tag,
            tool=tool,
            binding=binding,
            capability=capability,
            text=text,
            health=tuple(states),
            owner=owner,
            include_down=include_down,
            limit=limit,
            after=decode_cursor(cursor) if cursor else None,
            now=self.clock(),
        )

    async def search(self, query: SearchQuery) -> SearchPage:
        records = await self.store.search(query)
        more = len(records) > query.limit
        records = records[: query.limit]
        next_cursor = encode_cursor(records[-1].id) if more and records else None
        return SearchPage(items=[r.view(query.now) for r in records], next_cursor=next_cursor)

    async def search_json(self, query: SearchQuery) -> bytes:
        """A search answer as JSON bytes, served from a short-lived cache when possible."""
        ttl = self.settings.search_cache_seconds
        key = replace(query, now=0.0)
        generation = self.generation
        hit = self._cache.get(key)
        if hit is not None and hit[0] == generation and 0 <= query.now - hit[1] <= ttl:
            return hit[2]
        items = await self.store.search_items(query)
        more = len(items) > query.limit
        items = items[: query.limit]
        body = b'{"items":[' + b",".join(item for _, item in items) + b"]"
        if more and items:
            body += b',"next_cursor":"' + encode_cursor(items[-1][0]).encode() + b'"'
        body += b"}"
        if ttl > 0 and generation == self.generation:
            if len(self._cache) >= _CACHE_ENTRIES or self._cache_bytes + len(body) > _CACHE_BYTES:
                self._cache.clear()
                self._cache_bytes = 0
            self._cache[key] = (generation, query.now, body)
            self._cache_bytes += len(body)
        return body
