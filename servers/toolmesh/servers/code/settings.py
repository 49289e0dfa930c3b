"""Settings of the code server (env prefix ``TOOLMESH_CODE_``).

The repository root defaults to the working directory; the index file defaults to a cache directory outside
the tree (``$XDG_CACHE_HOME/toolmesh/code/<hash-of-root>.sqlite``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from toolmesh.protocols.settings import ServingSettings

__all__ = ["DEFAULT_EXCLUDES", "CodeSettings", "default_index_path"]

# Directories and files that are never worth indexing, on top of .gitignore.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    "node_modules/",
    "__pycache__/",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".pytest_cache/",
    "dist/",
    "build/",
    "target/",
    ".idea/",
    ".vscode/",
    "*.min.js",
    "*.map",
    "*.lock",
    "package-lock.json",
)


def default_index_path(root: Path) -> Path:
    """``$XDG_CACHE_HOME/toolmesh/code/<sha256(root)[:16]>.sqlite`` (outside the indexed tree)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:16]
    return Path(base) / "toolmesh" / "code" / f"{digest}.sqlite"


class CodeSettings(ServingSettings):
    """Where the repository is, where its index lives, and the caps on what a client can ask for."""

    model_config = SettingsConfigDict(
        env_prefix="TOOLMESH_CODE_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    root: Path = Field(default_factory=Path.cwd, description="Repository root (default: working directory).")
    index_path: Path | None = Field(default=None, description="SQLite index file (default: a cache dir).")
    allow_index_in_tree: bool = Field(default=False, description="Allow the index file inside the root.")
    exclude: list[str] = Field(default_factory=list, description="Extra gitignore-style patterns to skip.")
    use_default_excludes: bool = True
    respect_gitignore: bool = True
    serve_secrets: bool = Field(default=False, description="Serve .env*, private keys and .git internals.")
    max_file_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="Larger files are skipped.")
    allow_hardlinks: bool = Field(
        default=False, description="Serve and index files with more than one hard link (refused by default)."
    )
    max_depth: int = Field(default=2048, ge=1, description="Deeper directories are skipped, with a reason.")
    max_files: int = Field(default=200_000, ge=1)
    max_read_lines: int = Field(default=2000, ge=10)
    max_read_bytes: int = Field(default=256 * 1024, ge=1024)
    max_search_matches: int = Field(default=5000, ge=10, description="Matches collected per search.")
    search_timeout: float = Field(default=10.0, gt=0, description="Seconds a text search may run.")
    max_pattern_length: int = Field(default=1000, ge=1)
    # Index freshness: tools re-scan (stat only; changed files re-parsed) at most this often.
    refresh_interval: float = Field(default=2.0, ge=0)
    # A tool waits at most this long for the first index; after that it answers from what is indexed so far.
    first_index_wait: float = Field(default=30.0, ge=0)
    # ... and at most this long for a due incremental refresh (0: answer at once from the current index).
    fresh_wait: float = Field(default=2.0, ge=0)
    index_references: bool = True
    # Keep the index fresh from file-system events (watchfiles) as well as on use.
    watch: bool = False

    def resolved_root(self) -> Path:
        return Path(os.path.realpath(self.root))

    def resolved_index_path(self) -> Path:
        return self.index_path if self.index_path is not None else default_index_path(self.resolved_root())
