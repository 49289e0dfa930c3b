"""The docs MCP server: hybrid (BM25 + dense) retrieval with citations over a user's documents."""

from toolmesh.protocols.plugins import ServerSpec
from toolmesh.servers.docs.server import build_server
from toolmesh.servers.docs.service import DocsService
from toolmesh.servers.docs.settings import DocsSettings

__all__ = ["SPEC", "DocsService", "DocsSettings", "build_server"]

SPEC = ServerSpec(
    name="docs",
    summary="Search your documents: hybrid BM25 + vector retrieval with citations (Markdown, HTML, PDF...).",
    settings_type=DocsSettings,
    build=build_server,
)
