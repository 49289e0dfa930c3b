"""Public API is deliberate: each package's __all__ is pinned here, so changing it is a visible decision."""

from __future__ import annotations

import importlib

import pytest

PINNED: dict[str, list[str]] = {
    "toolmesh.protocols": [
        "AuthSettings",
        "ConfigError",
        "ConflictError",
        "InputError",
        "LimitExceeded",
        "NotFoundError",
        "PermissionDenied",
        "ServerSpec",
        "ServingSettings",
        "TimeoutExceeded",
        "TokenGrant",
        "ToolmeshError",
        "UnavailableError",
        "UpstreamError",
        "a2a_http_app",
        "hash_token",
        "mcp_http_app",
        "new_server",
        "running",
        "serve",
    ],
    "toolmesh.protocols.errors": [
        "WIRE_CODES",
        "ConfigError",
        "ConflictError",
        "InputError",
        "LimitExceeded",
        "NotFoundError",
        "PermissionDenied",
        "TimeoutExceeded",
        "ToolmeshError",
        "UnavailableError",
        "UpstreamError",
        "WireCode",
        "wire_code",
    ],
    "toolmesh.protocols.serving": [
        "ToolErrorMiddleware",
        "a2a_http_app",
        "bind_socket",
        "mcp_http_app",
        "metrics_of",
        "new_server",
        "running",
        "serve",
    ],
    "toolmesh.protocols.settings": ["AuthSettings", "ServingSettings", "TokenGrant", "hash_token"],
    "toolmesh.protocols.auth": ["ChainedTokenVerifier", "HashedTokenVerifier", "build_auth"],
    "toolmesh.protocols.guards": [
        "LOOPBACK_HOSTS",
        "BodySizeLimitMiddleware",
        "HostOriginGuard",
        "JsonRpcBatchGuard",
        "split_host",
    ],
    "toolmesh.protocols.metrics": ["HttpMetricsMiddleware", "Metrics", "ToolMetricsMiddleware"],
    "toolmesh.protocols.plugins": [
        "COMMANDS_GROUP",
        "SERVERS_GROUP",
        "TOPLEVEL_GROUP",
        "ServerSpec",
        "discover_commands",
        "discover_servers",
        "discover_toplevel",
        "load_server",
    ],
    "toolmesh.protocols.gateway": ["build_gateway", "mount_all"],
    "toolmesh.protocols.logs": ["ExpectedErrorFilter", "configure_logging", "quiet_expected_errors"],
    "toolmesh.protocols.cli": ["app", "main", "run_server_main"],
    "toolmesh.protocols.egress": [
        "PublicOnlyBackend",
        "PublicOnlyTransport",
        "Resolver",
        "first_non_public",
        "is_public_address",
        "system_resolve",
    ],
    "toolmesh.agents": [],
    "toolmesh.registry": [
        "MemoryStore",
        "Registry",
        "RegistrySettings",
        "RegistryStore",
        "SqlStore",
        "build_app",
        "build_store",
    ],
    "toolmesh.protocols.registry_client": ["Presence", "RegistryClient", "RegistryUnauthorized"],
    "toolmesh.protocols.cards": [
        "AGENT_CARD_PATH",
        "CardError",
        "CardLimits",
        "EntryKind",
        "EntryView",
        "Health",
        "KNOWN_BINDINGS",
        "McpServerEntry",
        "McpTool",
        "SearchPage",
        "SignatureCheck",
        "SignatureStatus",
        "VersionView",
        "card_from_json",
        "card_to_dict",
        "check_http_url",
        "entry_id_for",
        "parse_agent_card",
        "slugify",
        "verify_card_signatures",
    ],
    "toolmesh.servers": [],
    "toolmesh.servers.sql": ["SPEC", "SqlSettings", "build_server"],
    "toolmesh.servers.code": ["CodeSettings", "SPEC", "build_server"],
    "toolmesh.servers.docs": ["SPEC", "DocsService", "DocsSettings", "build_server"],
}


@pytest.mark.parametrize("module_name", sorted(PINNED))
def test_all_is_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PINNED[module_name])
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ names {name!r}, which does not exist"
