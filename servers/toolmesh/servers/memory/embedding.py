"""Which embedding model memory uses, chosen with the docs engine's resolver, and vectors as stored bytes.

Memory is conversational and often mixed-language, so ``auto`` prefers the packaged multilingual model
(multilingual-e5-small, English and Chinese) and falls back to the packaged English model, then to BM25 only.
Any other value means what ``TOOLMESH_DOCS_EMBEDDER`` means.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from toolmesh.servers.docs.embedders import Embedder, EmbedderChoice, resolve_embedder
from toolmesh.servers.docs.errors import DocsError
from toolmesh.servers.memory.errors import MemoryConfigError

__all__ = ["choose_embedder", "embed_bytes"]

logger = logging.getLogger(__name__)


def choose_embedder(spec: str, *, batch_size: int = 32) -> EmbedderChoice:
    """The embedder ``spec`` names; a server never downloads a model inside a request (``download=False``)."""
    spec = spec.strip()
    try:
        if spec.lower() == "auto":
            try:
                return resolve_embedder("multilingual", batch_size=batch_size)
            except DocsError as exc:
                logger.info("multilingual model unavailable (%s); trying the English one", exc)
                return resolve_embedder("auto", batch_size=batch_size)
        return resolve_embedder(spec, batch_size=batch_size, download=False)
    except DocsError as exc:
        raise MemoryConfigError(f"embedder {spec!r}: {exc.message}", hint=exc.hint) from exc


def embed_bytes(embedder: Embedder | None, texts: Sequence[str]) -> list[bytes | None]:
    """One stored vector (float32 bytes) per text; all None without an embedder."""
    if embedder is None or not texts:
        return [None] * len(texts)
    vectors = np.asarray(embedder.embed(list(texts)), dtype=np.float32)
    return [row.tobytes() for row in vectors]
