"""The memory MCP server: long-term memory with hybrid recall and a knowledge graph (SQLite, PostgreSQL).

The Python API the agents use: ``Memory(open_store(url), embedder=...)`` (or ``Memory.open(settings)``), then
``remember``, ``recall`` (hits with scores and flags), ``forget`` and ``graph``.
"""

from toolmesh.protocols.plugins import ServerSpec
from toolmesh.servers.memory.server import build_server
from toolmesh.servers.memory.service import Memory, MemoryIn, RecallHit, RecallOutcome, Remembered
from toolmesh.servers.memory.settings import MemorySettings
from toolmesh.servers.memory.stores import InMemoryStore, MemoryStore, open_store

__all__ = [
    "SPEC",
    "InMemoryStore",
    "Memory",
    "MemoryIn",
    "MemorySettings",
    "MemoryStore",
    "RecallHit",
    "RecallOutcome",
    "Remembered",
    "build_server",
    "open_store",
]

SPEC = ServerSpec(
    name="memory",
    summary="Long-term memory and a knowledge graph: remember, recall (hybrid, English/Chinese), forget.",
    settings_type=MemorySettings,
    build=build_server,
)
