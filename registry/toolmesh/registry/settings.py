"""Registry settings (``TOOLMESH_REGISTRY_*``), read at the edge only (the CLI, ``__main__``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from toolmesh.protocols.settings import ServingSettings

__all__ = ["RegistrySettings"]


def _is_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


class RegistrySettings(ServingSettings):
    """Storage, auth, TTL, probing and limits of the agent-card registry.

    Tokens are configured only as SHA-256 hex digests (``toolmesh token hash``):
    ``publishers`` maps a digest to the publisher name that owns what it registers;
    ``admin_tokens`` may change every entry; ``reader_tokens`` may only read (when ``open_reads`` is off).
    """

    model_config = SettingsConfigDict(
        env_prefix="TOOLMESH_REGISTRY_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    transport: Literal["stdio", "http"] = "http"
    port: int = Field(default=8700, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///toolmesh-registry.db"
    table_prefix: str = Field(default="registry_", pattern=r"^[a-z][a-z0-9_]{0,30}$")
    open_reads: bool = True
    publishers: dict[str, str] = Field(default_factory=dict)
    admin_tokens: list[str] = Field(default_factory=list)
    reader_tokens: list[str] = Field(default_factory=list)
    ttl_seconds: float = Field(default=90.0, gt=0, le=86400)
    # Entries whose TTL lapsed this long ago are deleted (0 keeps them, shown as down, forever).
    purge_after_seconds: float = Field(default=86400.0, ge=0)
    history_limit: int = Field(default=20, ge=1, le=1000)
    probe_interval: float = Field(default=30.0, ge=0, description="Seconds between probe rounds; 0 disables.")
    probe_concurrency: int = Field(default=16, ge=1, le=512)
    probe_timeout: float = Field(default=5.0, gt=0, le=120)
    probe_batch: int = Field(default=1000, ge=1)
    degraded_latency: float = Field(default=2.0, gt=0, description="Slower answers than this are degraded.")
    down_after_failures: int = Field(default=2, ge=1, le=100)
    allow_private_targets: bool = False
    max_card_bytes: int = Field(default=64 * 1024, ge=1024, le=4 * 1024 * 1024)
    # MCP server entries carry a tools snapshot with input schemas, so they may be larger than cards.
    max_server_entry_bytes: int = Field(default=512 * 1024, ge=1024, le=4 * 1024 * 1024)
    fetch_timeout: float = Field(default=5.0, gt=0, le=120)
    # JWS keys trusted to sign cards: key id -> PEM public key, JWK JSON, or HMAC secret.
    signing_keys: dict[str, str] = Field(default_factory=dict)
    require_signed_cards: bool = False
    max_page_size: int = Field(default=100, ge=1, le=1000)
    # Entries one publisher may own (admins are exempt): a leaked publisher token cannot flood the registry.
    max_entries_per_publisher: int = Field(default=1000, ge=1)
    # Search answers are cached this long (writes and health changes invalidate at once; heartbeats that
    # only renew a live entry do not, so last_heartbeat in results may lag by this much). 0 disables.
    search_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    @field_validator("publishers")
    @classmethod
    def _publisher_digests(cls, value: dict[str, str]) -> dict[str, str]:
        for digest, name in value.items():
            if not _is_digest(digest):
                raise ValueError(
                    "publisher tokens must be lowercase SHA-256 hex digests "
                    "(run `toolmesh token hash`), not raw tokens"
                )
            if not name or len(name) > 200:
                raise ValueError("publisher names must be 1-200 characters")
        return value

    @field_validator("admin_tokens", "reader_tokens")
    @classmethod
    def _digests(cls, value: list[str]) -> list[str]:
        if any(not _is_digest(v) for v in value):
            raise ValueError(
                "tokens must be lowercase SHA-256 hex digests (run `toolmesh token hash`), not raw tokens"
            )
        return value

    @model_validator(mode="after")
    def _transport_http(self) -> RegistrySettings:
        if self.transport != "http":
            raise ValueError("the registry is an HTTP service; transport must be 'http'")
        return self
