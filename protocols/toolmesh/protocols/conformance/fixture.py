"""The conformance fixture: an "everything" MCP server for the official suite and our own wire tests.

It exposes exactly the names ``@modelcontextprotocol/conformance`` calls (tools ``test_*``, resources
``test://...``, prompts ``test_*_prompt``, completions, subscriptions) and is served by the same core
as the real servers (``toolmesh serve fixture``: guards, body limit, metrics, error mapping), so the
suite's verdict on transport, era negotiation and error handling is a verdict on that core.

Two settings differ from the real servers' defaults, because the 2025-11-25 suite needs them:
stateful sessions (sampling, elicitation and subscriptions talk back to the client) and SSE responses.
Modern-era (2026-07-28) requests are stateless whatever ``stateless`` says.
"""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP
from mcp.server.request_state import RequestStateSecurity
from mcp.server.subscriptions import InMemorySubscriptionBus
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from toolmesh.protocols.conformance.fixture_asking import add_asking
from toolmesh.protocols.conformance.fixture_content import add_content
from toolmesh.protocols.conformance.fixture_events import add_events
from toolmesh.protocols.plugins import ServerSpec
from toolmesh.protocols.serving import new_server
from toolmesh.protocols.settings import ServingSettings

__all__ = ["SPEC", "FixtureSettings", "build_server"]

INSTRUCTIONS = (
    "Conformance fixture for the official MCP test suite. Every tool, resource and prompt is named after "
    "the suite scenario that calls it; nothing here touches real data."
)


class FixtureSettings(ServingSettings):
    """Settings of the conformance fixture (env prefix ``TOOLMESH_FIXTURE_``)."""

    model_config = SettingsConfigDict(
        env_prefix="TOOLMESH_FIXTURE_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    stateless: bool = False
    json_response: bool = False
    # Keys that seal the multi-round-trip requestState (SEP-2322). The first seals, all unseal (rotation).
    # Replicas behind a load balancer must share them; empty means a random per-process key.
    request_state_keys: list[SecretStr] = Field(default_factory=list)
    request_state_ttl: float = Field(default=600.0, gt=0, le=86_400)

    @field_validator("request_state_keys")
    @classmethod
    def _long_enough(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            if len(key.get_secret_value().encode()) < 32:
                raise ValueError(
                    "request-state keys must be at least 32 bytes of secret randomness; "
                    'generate one with: python -c "import secrets; print(secrets.token_hex(32))"'
                )
        return value


def _request_state_security(settings: FixtureSettings, name: str) -> RequestStateSecurity:
    if settings.request_state_keys:
        keys = [key.get_secret_value() for key in settings.request_state_keys]
        return RequestStateSecurity(keys=keys, ttl=settings.request_state_ttl, audience=name)
    return RequestStateSecurity.ephemeral(ttl=settings.request_state_ttl, audience=name)


def build_server(settings: FixtureSettings | None = None) -> FastMCP[Any]:
    """The fixture server; tests call this directly."""
    settings = settings or FixtureSettings()
    name = "toolmesh-conformance-fixture"
    server = new_server(
        name,
        instructions=INSTRUCTIONS,
        version="1.0.0",
        # json_schema_2020_12_tool's $ref/$defs must reach clients as written (SEP-1613/SEP-2106).
        dereference_schemas=False,
        request_state_security=_request_state_security(settings, name),
    )
    add_content(server)
    add_asking(server)
    add_events(server, InMemorySubscriptionBus())
    return server


SPEC = ServerSpec(
    name="fixture",
    summary="Conformance fixture for the official MCP suite (not for production use).",
    settings_type=FixtureSettings,
    build=build_server,
    in_gateway=False,
)
