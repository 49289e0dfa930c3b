"""Settings of the docs server (env prefix ``TOOLMESH_DOCS_``), read at the edge only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from toolmesh.protocols.errors import ToolmeshError
from toolmesh.protocols.settings import ServingSettings
from toolmesh.servers.docs.errors import DocsConfigError

__all__ = ["DocsSettings", "default_index_path"]

Strategy = Literal["fixed", "sliding", "sentence", "heading", "semantic", "book"]


def default_index_path() -> Path:
    """``$XDG_CACHE_HOME/toolmesh/docs/index.sqlite`` (``~/.cache/...`` when unset)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "toolmesh" / "docs" / "index.sqlite"


class DocsSettings(ServingSettings):
    """Where documents may come from, where the index lives, how text is chunked and searched."""

    model_config = SettingsConfigDict(
        env_prefix="TOOLMESH_DOCS_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    # Folders the `index` tool may read; any other path is refused. Empty: the current directory.
    roots: list[Path] = Field(default_factory=list)
    # Index the configured roots when the server starts (in the background: it answers at once, and
    # index_status says how far it is), each into a collection named after its folder; then, with `watch`,
    # re-index what changes under them. Only roots configured here are indexed, never the current directory.
    index_on_start: bool = True
    watch: bool = True
    # Storage backend: "sqlite" (one file, FTS5 + vectors) or "qdrant" (qdrant-client: local path or
    # server URL).
    store: Literal["sqlite", "qdrant"] = "sqlite"
    index_path: Path = Field(default_factory=default_index_path)
    qdrant_url: str | None = None
    qdrant_path: Path | None = None
    qdrant_api_key: SecretStr | None = None
    # Embedding model: "auto" (the packaged all-MiniLM-L6-v2 when installed), "multilingual" (the packaged
    # multilingual-e5-small), "none" (BM25 only), a hub model name (`toolmesh docs models`; fetched once),
    # or a model directory holding model.onnx (or onnx/model.onnx) and tokenizer.json.
    embedder: str = "auto"
    embed_batch_size: int = Field(default=32, ge=1, le=512)
    # Check the packaged models' sha256 before loading them; false only for a model file you replaced and
    # trust (a mismatch otherwise means a corrupt or tampered install: BM25 only, or an error).
    verify_model_hash: bool = True
    # BLAS threads for the exact vector scan. Unset: one thread when the embedder is the OpenMP engine of
    # the packaged multilingual model (idle BLAS workers spin on the cores it needs next), BLAS's own default
    # otherwise. A number applies to every model; 0 leaves BLAS as it is.
    blas_threads: int | None = Field(default=None, ge=0, le=256)
    # Where hub models by name are cached (default: the Hugging Face cache, ~/.cache/huggingface/hub).
    model_cache: Path | None = None
    # Chunking defaults for new collections.
    strategy: Strategy = "heading"
    chunk_tokens: int = Field(default=256, ge=16, le=4096)
    chunk_overlap: int = Field(default=48, ge=0, le=2048)
    # Retrieval. Fusion of the BM25 and dense lists: "dbsf" (distribution-based score fusion: scores scaled by
    # mean ± 3σ; nDCG@10 0.739 on SciFact, 0.907 on CMRC), "minmax" (0.731 / 0.903) or "rrf" (reciprocal rank
    # fusion, k=rrf_k; 0.715 / 0.878; server-side on Qdrant at dense_weight 0.5).
    fusion: Literal["dbsf", "minmax", "rrf"] = "dbsf"
    rrf_k: int = Field(default=60, ge=1, le=1000)
    dense_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    candidates: int = Field(default=100, ge=10, le=1000)
    # Optional cross-encoder reranker: a hub model name or a model directory with model.onnx + tokenizer.json.
    reranker: str | None = None
    rerank_top: int = Field(default=30, ge=1, le=200)
    # Glossary file (TOML, JSON or "term = canonical" lines) applied to queries before search.
    glossary: Path | None = None
    # Caps.
    max_file_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_files: int = Field(default=20_000, ge=1)
    max_query_chars: int = Field(default=2_000, ge=16)
    max_document_chars: int = Field(default=40_000, ge=1_000)
    max_k: int = Field(default=50, ge=1, le=500)
    exclude: list[str] = Field(
        default_factory=lambda: [
            ".git",
            ".hg",
            ".svn",
            "node_modules",
            "__pycache__",
            ".venv",
            "venv",
            ".tox",
            ".mypy_cache",
            ".ruff_cache",
            ".pytest_cache",
            "dist",
            "build",
            ".DS_Store",
        ]
    )
    # Secrets (.env*, private keys, credential files, VCS internals: the shared list of
    # toolmesh.protocols.sandbox) are never indexed unless this is set, whatever EXCLUDE says.
    serve_secrets: bool = False
    # Files with more than one hard link are refused unless this is set (a hard link can give a file from
    # outside the roots, or a secret, an innocent name inside them).
    allow_hardlinks: bool = False
    # Directories deeper than this are skipped with a reason.
    max_depth: int = Field(default=2048, ge=1)

    def problems(self) -> list[ToolmeshError]:
        """Roots that are not folders and a glossary that is not a file (found without indexing)."""
        found: list[ToolmeshError] = []
        for root in self.roots:
            if not root.expanduser().is_dir():
                found.append(
                    DocsConfigError(
                        f"the docs root {root} is not a folder"
                        + (
                            "" if root.is_absolute() else f" (relative to the working directory {Path.cwd()})"
                        ),
                        hint="Fix TOOLMESH_DOCS_ROOTS: a JSON list of absolute folder paths.",
                    )
                )
        if self.glossary is not None and not self.glossary.expanduser().is_file():
            found.append(
                DocsConfigError(
                    f"the glossary {self.glossary} does not exist",
                    hint="Fix TOOLMESH_DOCS_GLOSSARY (an absolute path to a TOML, JSON or text file).",
                )
            )
        return found
