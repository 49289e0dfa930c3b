"""The agent-card registry: how the mesh finds its agents and MCP servers.

``build_app(RegistrySettings(...))`` is the whole service (JSON API, web page, MCP face, prober);
``toolmesh registry serve`` runs it.
"""

from toolmesh.registry.app import build_app, build_store
from toolmesh.registry.service import Registry
from toolmesh.registry.settings import RegistrySettings
from toolmesh.registry.sqlstore import SqlStore
from toolmesh.registry.store import MemoryStore, RegistryStore

__all__ = [
    "MemoryStore",
    "Registry",
    "RegistrySettings",
    "RegistryStore",
    "SqlStore",
    "build_app",
    "build_store",
]
