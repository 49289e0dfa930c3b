"""Active health probes: fetch each live entry's card URL or MCP endpoint with bounded concurrency.

- healthy: answered in time (agents: HTTP 200 with JSON; MCP servers: any non-5xx answer, since a
  Streamable HTTP endpoint answers a plain GET with 405/406).
- degraded: answered slowly (over ``degraded_latency``), with an unexpected status, or failed fewer
  than ``down_after_failures`` times in a row.
- down: failed ``down_after_failures`` probes in a row. Searches leave down entries out unless asked.

Stdio MCP servers cannot be probed; their TTL (heartbeats) alone says whether they are alive.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from toolmesh.protocols.cards import AGENT_CARD_PATH, Health
from toolmesh.protocols.errors import ToolmeshError
from toolmesh.registry.models import EntryRecord
from toolmesh.registry.service import Clock
from toolmesh.registry.settings import RegistrySettings
from toolmesh.registry.store import RegistryStore
from toolmesh.registry.validation import Fetcher

__all__ = ["Prober", "probe_url"]

logger = logging.getLogger(__name__)


def probe_url(record: EntryRecord) -> str | None:
    """What to fetch for ``record``: its card URL, its first HTTP interface's well-known card, its MCP URL."""
    if record.kind == "server":
        return record.url
    if record.url:
        return record.url
    interfaces = record.document.get("supportedInterfaces")
    listed = interfaces if isinstance(interfaces, list) else []
    # the card is served over HTTP: a gRPC interface (host:port) does not say where
    http = [i for i in listed if isinstance(i, dict) and str(i.get("protocolBinding")).upper() != "GRPC"]
    if http:
        url = http[0].get("url")
        if isinstance(url, str):
            parts = urlsplit(url)
            return urlunsplit((parts.scheme, parts.netloc, AGENT_CARD_PATH, "", ""))
    return None


class Prober:
    """Probes live entries in rounds and records their health in the store."""

    def __init__(
        self,
        store: RegistryStore,
        fetcher: Fetcher,
        settings: RegistrySettings,
        clock: Clock,
        on_change: Callable[[], None] = lambda: None,
        refresh: Callable[[EntryRecord, Any], Awaitable[str | None]] | None = None,
    ) -> None:
        self.on_change = on_change
        self.refresh = refresh
        self.store = store
        self.fetcher = fetcher
        self.settings = settings
        self.clock = clock
        self.rounds = 0

    async def check(self, record: EntryRecord) -> tuple[Health, str, int] | None:
        """Probe one entry: (health, detail, failures in a row); ``None`` if it cannot be probed (stdio)."""
        url = probe_url(record)
        if url is None:
            return None
        try:
            result = await self.fetcher.get(url, max_bytes=self.settings.max_card_bytes)
        except ToolmeshError as exc:
            failures = record.failures + 1
            state: Health = "down" if failures >= self.settings.down_after_failures else "degraded"
            return state, f"probe failed ({failures} in a row): {exc.message}"[:500], failures
        slow = result.elapsed > self.settings.degraded_latency
        if record.kind == "agent":
            if result.status != 200:
                return "degraded", f"card URL answered HTTP {result.status}", 0
            try:
                served = json.loads(result.body)
            except (ValueError, UnicodeDecodeError):
                return "degraded", "card URL did not return JSON", 0
            if record.url and self.refresh is not None:  # registered by URL: the served card is the truth
                problem = await self.refresh(record, served)
                if problem is not None:
                    return "degraded", problem, 0
        elif result.status >= 500:
            return "degraded", f"endpoint answered HTTP {result.status}", 0
        if slow:
            return "degraded", f"slow: answered in {result.elapsed:.2f}s", 0
        return "healthy", f"answered in {result.elapsed * 1000:.0f} ms", 0

    async def _probe_and_record(self, record: EntryRecord, gate: asyncio.Semaphore) -> None:
        async with gate:
            outcome = await self.check(record)
        if outcome is None:
            return
        health, detail, failures = outcome
        if health != record.health:
            self.on_change()
        await self.store.set_health(
            record.id, health=health, detail=detail, failures=failures, at=self.clock()
        )

    async def probe_once(self) -> int:
        """Probe up to ``probe_batch`` live entries, oldest probe first; returns how many were probed."""
        now = self.clock()
        if self.settings.purge_after_seconds > 0:
            purged = await self.store.purge_expired(now - self.settings.purge_after_seconds)
            if purged:
                self.on_change()
                logger.info("purged %d entries whose TTL lapsed long ago", purged)
        records = [
            r for r in await self.store.live(now, self.settings.probe_batch) if probe_url(r) is not None
        ]
        gate = asyncio.Semaphore(self.settings.probe_concurrency)
        async with asyncio.TaskGroup() as group:
            for record in records:
                group.create_task(self._probe_and_record(record, gate))
        self.rounds += 1
        return len(records)

    async def run(self) -> None:
        """Probe forever, one round every ``probe_interval`` seconds."""
        while True:
            try:
                await self.probe_once()
            except Exception:  # a broken round must not end probing
                logger.exception("health probe round failed")
            await asyncio.sleep(self.settings.probe_interval)
