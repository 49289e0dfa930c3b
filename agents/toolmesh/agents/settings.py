"""Settings of the agents (env prefix ``TOOLMESH_AGENTS_``), read at the edge only (the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from toolmesh.agents.approvals import Decision, check_rules
from toolmesh.agents.identity import check_agent_id
from toolmesh.agents.model import ModelSettings
from toolmesh.protocols.settings import ServingSettings

__all__ = ["AgentSettings", "peer_headers"]

_DEFAULT_APPROVALS: dict[str, Decision] = {"memory.remember": "allow"}


class AgentSettings(ServingSettings):
    """Serving, discovery, task store, execution limits, model and tracing of one agent.

    ``TOOLMESH_AGENTS_REGISTRY_URL`` points every agent at the registry; ``TOOLMESH_AGENTS_MODEL__BASE_URL``
    and ``TOOLMESH_AGENTS_MODEL__MODEL`` turn the model seam on.
    """

    model_config = SettingsConfigDict(
        env_prefix="TOOLMESH_AGENTS_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    transport: Any = "http"
    port: int = Field(default=0, ge=0, le=65535)
    # The base URL peers use (the card's interface URLs); default http://HOST:PORT of the bound socket.
    public_url: str | None = None
    # A2A over gRPC on its own port (0 picks a free one); the card lists it as host:port. grpc_public_url
    # is the host:port peers use (default: the host of the public URL and the bound port).
    grpc_enabled: bool = True
    grpc_port: int = Field(default=0, ge=0, le=65535)
    grpc_public_url: str | None = None
    registry_url: str | None = None
    registry_token: SecretStr | None = None
    # Bearer token this agent sends to its peers (when their auth is on).
    peer_token: SecretStr | None = None
    # Identity: the agent's stable id (stamps and owns its tasks; survives restarts and port changes).
    # Unset: generated once and kept in <workdir>/<role>/agent-id. The agent's folder is
    # <workdir>/<agent_id> when the id is set, <workdir>/<role> otherwise.
    agent_id: str | None = None
    workdir: Path = Path(".toolmesh/agents")
    # Task store: default <agent folder>/tasks.db (SQLite); PostgreSQL (postgresql+asyncpg://...) to
    # scale; "memory://" for none. A store shared by several agents still shows each only its own tasks.
    task_db_url: str | None = None
    # Push-notification webhooks on loopback, private or link-local addresses are refused (SSRF) unless set.
    allow_private_push: bool = False
    # Execution.
    call_timeout: float = Field(default=30.0, gt=0, le=3600)
    retries: int = Field(default=2, ge=0, le=10)
    backoff: float = Field(default=0.2, ge=0, le=60)
    max_parallel: int = Field(default=8, ge=1, le=256)
    breaker_threshold: int = Field(default=3, ge=1, le=100)
    breaker_cooldown: float = Field(default=15.0, gt=0, le=3600)
    cache_ttl: float = Field(default=60.0, ge=0, le=86400)
    cache_entries: int = Field(default=1024, ge=0, le=1_000_000)
    catalog_ttl: float = Field(default=30.0, ge=0, le=86400)
    # Planning: review rounds, the reasoning loop's budget per request, the conversation memory's budget.
    max_rounds: int = Field(default=3, ge=1, le=10)
    loop_rounds: int = Field(default=8, ge=1, le=50)
    loop_seconds: float = Field(default=120.0, gt=0, le=3600)
    loop_tokens: int = Field(default=60_000, ge=0)
    memory_tokens: int = Field(default=1500, ge=0, le=100_000)
    # A glossary (TOML, JSON or "term = canonical" lines): the planner rewrites questions with it first.
    glossary: Path | None = None
    handoff_timeout: float = Field(default=600.0, gt=0)
    # Approvals for tools that are not read-only: "server.tool" | "server.*" | "*" -> ask | allow | deny
    # (most specific wins; no rule: ask). The planner's own memory records are allowed by default; a value
    # set here replaces the default, e.g. TOOLMESH_AGENTS_APPROVALS='{"code.reindex": "allow", "*": "ask"}'.
    approvals: dict[str, Decision] = Field(default_factory=lambda: dict(_DEFAULT_APPROVALS))
    # Model seam (OpenAI-compatible); unset means deterministic planning and review.
    model: ModelSettings = Field(default_factory=ModelSettings)
    # Tracing.
    trace_console: bool = False
    otlp_endpoint: str | None = None
    # Registry presence.
    heartbeat_interval: float | None = Field(default=None, gt=0)

    @field_validator("approvals", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        if isinstance(value, dict):
            check_rules({str(k): v for k, v in value.items()})
        return value

    @field_validator("agent_id")
    @classmethod
    def _agent_id(cls, value: str | None) -> str | None:
        return check_agent_id(value) if value is not None else None

    @field_validator("public_url")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


def peer_headers(settings: AgentSettings) -> dict[str, str]:
    """Headers for calls to other agents (the bearer token, when one is configured)."""
    token = settings.peer_token.get_secret_value() if settings.peer_token else None
    return {"authorization": f"Bearer {token}"} if token else {}
