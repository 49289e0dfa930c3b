"""Settings of the memory server (env prefix ``TOOLMESH_MEMORY_``), read at the edge only."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from toolmesh.protocols.settings import ServingSettings

__all__ = ["MemorySettings", "default_store_url"]


def default_store_url() -> str:
    """``sqlite:///$XDG_DATA_HOME/toolmesh/memory/memory.sqlite`` (``~/.local/share/...`` when unset).

    Data, not cache: memories are what the user told us, and clearing a cache must not forget them.
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'toolmesh' / 'memory' / 'memory.sqlite'}"


class MemorySettings(ServingSettings):
    """Where memories live, how they are embedded and ranked, and the caps on what a client may ask."""

    model_config = SettingsConfigDict(
        env_prefix="TOOLMESH_MEMORY_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    # sqlite:///path (the default, one file), memory:// (in-process, gone on exit) or
    # postgresql://user@host:5432/db[?schema=name] (several replicas share one database).
    store: str = Field(default_factory=default_store_url)
    # "auto": the packaged multilingual-e5-small when installed (English and Chinese), else the packaged
    # English all-MiniLM-L6-v2, else BM25 only. Otherwise any TOOLMESH_DOCS_EMBEDDER value: "none",
    # "multilingual", a hub model name or an ONNX model directory.
    embedder: str = "auto"
    embed_batch_size: int = Field(default=32, ge=1, le=512)
    # Ranking: reciprocal rank fusion of BM25 and dense candidates, then time decay.
    candidates: int = Field(default=100, ge=10, le=1000)
    rrf_k: int = Field(default=60, ge=1, le=1000)
    # The dense list's weight in the fusion (the BM25 list gets 1 - dense_weight).
    dense_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    # How much age can take off a fused score (0: none; 0.05: an old memory keeps 95% of it), and per kind
    # the half-life in days; kinds not listed (facts, corrections) do not decay. RRF scores are flat (rank 1
    # and rank 5 differ by ~7%), so a small weight already moves an old turn below fresher near-equals; on
    # bench/memory_recall.py 0.1 cost 2 points of recall@5 and 0.3 cost 5, burying relevant old tasks.
    decay_weight: float = Field(default=0.05, ge=0.0, le=1.0)
    half_life_days: dict[str, float] = Field(
        default_factory=lambda: {"turn": 14.0, "tool_call": 7.0, "task": 30.0}
    )
    # Near-duplicates: the share of analysed terms two texts have in common (Jaccard) to count as one memory.
    dedup_jaccard: float = Field(default=0.85, ge=0.5, le=1.0)
    # Caps.
    max_text_chars: int = Field(default=8_000, ge=100, le=200_000)
    max_items_per_call: int = Field(default=100, ge=1, le=10_000)
    max_k: int = Field(default=50, ge=1, le=500)
    max_depth: int = Field(default=4, ge=1, le=10)
    max_neighbors: int = Field(default=200, ge=1, le=10_000)
    max_ttl_days: float = Field(default=3650.0, gt=0)
    max_tags: int = Field(default=20, ge=0, le=200)
    # Expired items are purged at most this often (seconds), on the next write or recall.
    purge_interval: float = Field(default=60.0, ge=0)
