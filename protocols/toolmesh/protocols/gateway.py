"""One FastMCP gateway mounting several servers under namespaces (``docs_search_docs``, ``sql_run_query``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastmcp import FastMCP

from toolmesh.protocols.plugins import ServerSpec
from toolmesh.protocols.serving import new_server

__all__ = ["build_gateway", "mount_all"]

_INSTRUCTIONS = (
    "toolmesh gateway. Tools are namespaced by server: docs_* search the user's documents (with citations), "
    "sql_* query databases read-only, code_* look up symbols and text in a repository, memory_* remember "
    "and recall long-term memories and a knowledge graph."
)


def mount_all(gateway: FastMCP[Any], servers: Mapping[str, FastMCP[Any]]) -> FastMCP[Any]:
    """Mount each server under its name as namespace; returns ``gateway``."""
    for name, server in servers.items():
        gateway.mount(server, namespace=name)
    return gateway


def build_gateway(specs: Mapping[str, ServerSpec], *, name: str = "toolmesh") -> FastMCP[Any]:
    """A gateway over every spec, each built from its own settings (its own env prefix)."""
    gateway = new_server(name, instructions=_INSTRUCTIONS)
    return mount_all(gateway, {n: spec.build_server() for n, spec in specs.items()})
