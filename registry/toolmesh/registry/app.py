"""Composition: one Starlette app with the JSON API, the web page, the MCP face at ``/mcp`` and the prober."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from toolmesh.protocols.auth import HashedTokenVerifier
from toolmesh.protocols.serving import a2a_http_app
from toolmesh.protocols.settings import TokenGrant
from toolmesh.registry.api import api_routes
from toolmesh.registry.auth import Authenticator
from toolmesh.registry.health import Prober
from toolmesh.registry.mcp import build_mcp_server
from toolmesh.registry.page import page_routes
from toolmesh.registry.service import Clock, Registry
from toolmesh.registry.settings import RegistrySettings
from toolmesh.registry.sqlstore import SqlStore
from toolmesh.registry.store import MemoryStore, RegistryStore
from toolmesh.registry.validation import Fetcher

__all__ = ["build_app", "build_store"]

logger = logging.getLogger(__name__)


def build_store(settings: RegistrySettings) -> RegistryStore:
    """The store named by ``database_url``: ``memory://`` or any SQLAlchemy async URL."""
    if settings.database_url == "memory://":
        return MemoryStore()
    return SqlStore(settings.database_url, table_prefix=settings.table_prefix)


def _token_grants(settings: RegistrySettings) -> dict[str, TokenGrant]:
    grants = {digest: TokenGrant(client_id="reader") for digest in settings.reader_tokens}
    grants.update({digest: TokenGrant(client_id=name) for digest, name in settings.publishers.items()})
    grants.update({digest: TokenGrant(client_id="admin") for digest in settings.admin_tokens})
    return grants


def build_app(
    settings: RegistrySettings,
    *,
    store: RegistryStore | None = None,
    clock: Clock = time.time,
    fetcher: Fetcher | None = None,
) -> Starlette:
    """The registry service. ``app.state.registry`` and ``app.state.prober`` expose its parts to tests."""
    store = store or build_store(settings)
    registry = Registry(store, settings, fetcher=fetcher, clock=clock)
    prober = Prober(
        store, registry.fetcher, settings, clock, on_change=registry.invalidate, refresh=registry.refresh_card
    )
    auth = Authenticator(settings)
    mcp_server = build_mcp_server(registry)
    if not settings.open_reads:
        mcp_server.auth = HashedTokenVerifier(_token_grants(settings))
    mcp_app = mcp_server.http_app(
        path=settings.path,
        stateless_http=settings.stateless,
        json_response=settings.json_response,
        host_origin_protection=False,  # the outer HostOriginGuard covers every route
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.start()
        probing: asyncio.Task[None] | None = None
        if settings.probe_interval > 0:
            probing = asyncio.create_task(prober.run(), name="registry-prober")
        try:
            async with mcp_app.router.lifespan_context(mcp_app):
                yield
        finally:
            if probing is not None:
                probing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probing
            await registry.aclose()
            await store.close()

    routes: list[Any] = [*page_routes(registry, auth), *api_routes(registry, auth), Mount("/", app=mcp_app)]
    app = a2a_http_app(routes, settings, name="registry", lifespan=lifespan)
    app.state.registry = registry
    app.state.prober = prober
    app.state.mcp = mcp_server
    return app
