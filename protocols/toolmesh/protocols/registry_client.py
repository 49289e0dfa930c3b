"""The client every agent uses to register itself, stay registered, and find its peers.

- :class:`RegistryClient` speaks the registry's JSON API over ``httpx`` (the a2a-sdk's HTTP stack, not
  the MCP stack's ``httpx2``). Errors come back as toolmesh errors (400 -> InputError, 403 ->
  PermissionDenied, 404 -> NotFoundError, unreachable or 5xx -> UnavailableError).
- Searches and lookups are cached: fresh answers for ``cache_ttl`` seconds, and while the registry is
  unreachable, the last good answer for up to ``stale_ttl`` seconds (marked ``stale``), so a registry
  outage does not stop agents that already know their peers.
- :meth:`RegistryClient.keep_registered` registers and heartbeats in the background with exponential
  backoff (and jitter) while the registry is down, and registers again when it comes back (the loop is
  :class:`toolmesh.protocols.presence.Presence`, which also says loudly why a registration fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx
from a2a.types import AgentCard

from toolmesh.protocols.cards import EntryView, McpServerEntry, SearchPage, card_to_dict
from toolmesh.protocols.errors import (
    ConflictError,
    InputError,
    LimitExceeded,
    NotFoundError,
    PermissionDenied,
    ToolmeshError,
    UnavailableError,
    UpstreamError,
)

if TYPE_CHECKING:
    from toolmesh.protocols.presence import Presence, Registrant

__all__ = ["RegistryClient", "RegistryUnauthorized"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


def _segment(entry_id: str) -> str:
    """``entry_id`` as one path segment: a hostile id cannot reach another route."""
    return quote(entry_id, safe="")


class RegistryUnauthorized(PermissionDenied):
    """The registry refused the token (HTTP 401)."""


_BY_STATUS: dict[int, type[ToolmeshError]] = {
    400: InputError,
    401: RegistryUnauthorized,
    403: PermissionDenied,
    404: NotFoundError,
    409: ConflictError,
    413: LimitExceeded,
}


def _error(response: httpx.Response) -> ToolmeshError:
    message, hint = f"registry answered HTTP {response.status_code}", None
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = str(body["error"].get("message") or message)
            hint = body["error"].get("hint")
    except (ValueError, UnicodeDecodeError):
        pass
    if response.status_code >= 500 or response.status_code == 421:
        return (
            UnavailableError(message, hint=hint)
            if response.status_code >= 500
            else UpstreamError(message, hint=hint)
        )
    return _BY_STATUS.get(response.status_code, InputError)(message, hint=hint)


class RegistryClient:
    """Talks to one registry. Use as ``async with RegistryClient(url, token=...) as registry: ...``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        cache_ttl: float = 10.0,
        stale_ttl: float = 3600.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._own = client is None
        self._http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False)
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self.cache_ttl = cache_ttl
        self.stale_ttl = stale_ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, Any]] = {}

    @property
    def has_token(self) -> bool:
        """Whether requests carry a bearer token (an unauthorised answer then means a wrong one)."""
        return bool(self._headers)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def _request(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        url = f"{self.base_url}{path}"
        headers = dict(self._headers)
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        try:
            response = await self._http.request(method, url, content=content, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise UnavailableError(
                f"registry {self.base_url} is unreachable: {type(exc).__name__}",
                hint="Retry later; cached peers are still served.",
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamError(f"registry {self.base_url} answered with invalid JSON") from exc

    async def _cached(self, key: str, fetch: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """(value, stale): fresh from cache, from the registry, or stale from cache during an outage."""
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] <= self.cache_ttl:
            return hit[1], False
        try:
            value = await fetch()
        except UnavailableError:
            if hit is not None and now - hit[0] <= self.stale_ttl:
                logger.warning("registry unreachable; serving cached answer for %s", key)
                return hit[1], True
            raise
        self._cache[key] = (now, value)
        if len(self._cache) > 1024:
            oldest = min(self._cache, key=lambda k: self._cache[k][0])
            del self._cache[oldest]
        return value, False

    def forget(self) -> None:
        """Drop every cached answer."""
        self._cache.clear()

    # --- writes ----------------------------------------------------------------------------------

    async def register_agent(
        self,
        card: AgentCard | Mapping[str, Any] | None = None,
        *,
        card_url: str | None = None,
        entry_id: str | None = None,
    ) -> EntryView:
        """Register (or update) an agent by its card, or by the URL the registry should fetch it from."""
        if (card is None) == (card_url is None):
            raise InputError("give exactly one of card or card_url")
        body: dict[str, Any] = {}
        if card is not None:
            body["card"] = card_to_dict(card) if isinstance(card, AgentCard) else dict(card)
        else:
            body["card_url"] = card_url
        if entry_id is not None:
            body["id"] = entry_id
        return EntryView.model_validate(await self._request("POST", "/api/v1/agents", body=body))

    async def register_server(self, entry: McpServerEntry | Mapping[str, Any]) -> EntryView:
        """Register (or update) an MCP server entry."""
        body = entry.model_dump(exclude_none=True) if isinstance(entry, McpServerEntry) else dict(entry)
        return EntryView.model_validate(await self._request("POST", "/api/v1/servers", body=body))

    async def heartbeat(self, entry_id: str) -> float:
        """Renew an entry's TTL; returns its new expiry (epoch seconds)."""
        data = await self._request("POST", f"/api/v1/entries/{_segment(entry_id)}/heartbeat")
        return float(data["expires_at"])

    async def deregister(self, entry_id: str) -> None:
        await self._request("DELETE", f"/api/v1/entries/{_segment(entry_id)}")

    # --- reads -----------------------------------------------------------------------------------

    async def get(self, entry_id: str, *, history: int = 0) -> EntryView:
        """One entry (cached like searches)."""

        async def fetch() -> Any:
            return await self._request(
                "GET", f"/api/v1/entries/{_segment(entry_id)}", params={"history": history}
            )

        data, _ = await self._cached(f"get:{entry_id}:{history}", fetch)
        return EntryView.model_validate(data)

    async def card(self, entry_id: str) -> AgentCard:
        """The stored agent card of an agent entry."""
        return (await self.get(entry_id)).card()

    async def search(
        self,
        *,
        kind: Literal["agent", "server"] | None = None,
        skill: str | None = None,
        tag: str | None = None,
        tool: str | None = None,
        query: str | None = None,
        binding: str | None = None,
        capability: str | None = None,
        health: list[str] | None = None,
        include_down: bool = False,
        limit: int = 20,
        cursor: str | None = None,
    ) -> SearchPage:
        """One page of entries matching every given filter."""
        params: dict[str, Any] = {
            "kind": kind,
            "skill": skill,
            "tag": tag,
            "tool": tool,
            "q": query,
            "binding": binding,
            "capability": capability,
            "health": ",".join(health) if health else None,
            "include_down": "true" if include_down else None,
            "limit": limit,
            "cursor": cursor,
        }
        params = {k: v for k, v in params.items() if v is not None}

        async def fetch() -> Any:
            return await self._request("GET", "/api/v1/entries", params=params)

        data, stale = await self._cached("search:" + json.dumps(params, sort_keys=True), fetch)
        page = SearchPage.model_validate(data)
        page.stale = stale
        return page

    async def find_agents(
        self, *, skill: str | None = None, tag: str | None = None, query: str | None = None, limit: int = 20
    ) -> list[EntryView]:
        """Agents offering ``skill`` (or matching ``tag`` / ``query``), healthiest first."""
        page = await self.search(kind="agent", skill=skill, tag=tag, query=query, limit=limit)
        return sorted(page.items, key=_health_rank)

    async def find_servers(
        self, *, tool: str | None = None, query: str | None = None, limit: int = 20
    ) -> list[EntryView]:
        """MCP servers offering ``tool`` (or matching ``query``), healthiest first."""
        page = await self.search(kind="server", tool=tool, query=query, limit=limit)
        return sorted(page.items, key=_health_rank)

    # --- presence --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def keep_registered(
        self,
        register: Callable[[RegistryClient], Awaitable[EntryView]],
        *,
        interval: float | None = None,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        deregister_on_exit: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        registrant: Registrant | None = None,
    ) -> AsyncIterator[Presence]:
        """Keep an entry registered while the block runs.

        ``register`` (e.g. ``lambda c: c.register_agent(card)``) is called first and again whenever
        the registry lost the entry or was unreachable. Heartbeats go every ``interval`` seconds
        (default: a third of the entry's TTL). The block starts at once, even if the registry is down.
        Failures are logged once each, with the reason and the setting to change (``registrant`` names
        them; see :mod:`toolmesh.protocols.presence`), and so is the registration that ends them.
        """
        from toolmesh.protocols.presence import Presence  # it needs this module's errors

        presence = Presence(
            self,
            register,
            interval=interval,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            sleep=sleep,
            registrant=registrant,
        )
        task = asyncio.create_task(presence.run(), name="registry-presence")
        try:
            yield presence
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if deregister_on_exit and presence.entry_id is not None:
                try:
                    await self.deregister(presence.entry_id)
                except ToolmeshError as exc:
                    logger.warning(
                        "could not deregister %s from %s (%s); it lapses when its TTL runs out",
                        presence.entry_id,
                        self.base_url,
                        exc.message,
                    )


_RANK = {"healthy": 0, "unknown": 1, "degraded": 2, "down": 3}


def _health_rank(view: EntryView) -> tuple[int, str]:
    return _RANK.get(view.health, 4), view.id
