"""Index storage behind one interface: SQLite (one file, the default) and Qdrant."""

from toolmesh.servers.docs.stores.base import (
    ChunkRecord,
    CollectionConfig,
    CollectionInfo,
    DocumentRecord,
    NewChunk,
    SearchFilter,
    Store,
)

__all__ = [
    "ChunkRecord",
    "CollectionConfig",
    "CollectionInfo",
    "DocumentRecord",
    "NewChunk",
    "SearchFilter",
    "Store",
]
