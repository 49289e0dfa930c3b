"""Settings of the sql server (env prefix ``TOOLMESH_SQL_``), plus named connections from a TOML file.

Connections come from ``TOOLMESH_SQL_CONNECTIONS`` (JSON), ``TOOLMESH_SQL_CONNECTIONS__NAME__URL=...`` or a
TOML
file (``TOOLMESH_SQL_CONFIG_FILE``)::

    [connections.warehouse]
    url = "postgresql://reader:${WAREHOUSE_PASSWORD}@db.internal/warehouse"
    description = "Sales warehouse"

``${NAME}`` in a URL is replaced from the environment when the connection opens, so secrets never sit in
files.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from toolmesh.protocols.settings import ServingSettings
from toolmesh.servers.sql.errors import SqlConfigError
from toolmesh.servers.sql.guard import MAX_SQL_CHARS

__all__ = ["SAMPLE_CONNECTION", "ConnectionSettings", "SqlSettings", "default_sample_path", "expand_secrets"]

SAMPLE_CONNECTION = "shop"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
_SECRET = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def default_sample_path() -> Path:
    """Where the generated sample database lives: ``$XDG_CACHE_HOME/toolmesh/sql/shop.sqlite``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "toolmesh" / "sql" / "shop.sqlite"


def expand_secrets(url: str) -> str:
    """Replace every ``${NAME}`` in ``url`` with the environment variable ``NAME``."""

    def replace(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise SqlConfigError(
                f"the connection URL needs the environment variable {match.group(1)}, which is not set",
                hint=f"Export {match.group(1)} before starting the server.",
            )
        return value

    return _SECRET.sub(replace, url)


class ConnectionSettings(BaseModel):
    """One named database connection."""

    url: str = Field(description="sqlite:///path.db, postgresql://user@host/db or mysql://user@host/db")
    description: str = ""
    # Writes are refused unless this is set; even then they go through the separate, destructive write tool.
    allow_writes: bool = False
    # Schemas to show (PostgreSQL/MySQL; also the PostgreSQL search_path). Empty: every schema the role can
    # see
    # (PostgreSQL) or the URL's database (MySQL).
    schemas: list[str] = Field(default_factory=list)
    # PostgreSQL: run every statement under SET LOCAL ROLE <reader_role> (needed when the login role is a
    # superuser or holds pg_read_server_files, pg_write_server_files, pg_execute_server_program or
    # pg_signal_backend), or accept such a login with allow_privileged = true. See docs/sql.md.
    reader_role: str | None = Field(default=None, min_length=1, max_length=63)
    allow_privileged: bool = False
    pool_size: int = Field(default=5, ge=1, le=100)
    timeout_seconds: float | None = Field(default=None, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].lower()
        if scheme.split("+", 1)[0] not in {"sqlite", "postgresql", "postgres", "mysql", "mariadb"}:
            raise ValueError("url must start with sqlite:, postgresql:, postgres:, mysql: or mariadb:")
        return value


class SqlSettings(ServingSettings):
    """Serving settings plus connections, caps and the embedded sample database."""

    model_config = SettingsConfigDict(
        env_prefix="TOOLMESH_SQL_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    connections: dict[str, ConnectionSettings] = Field(default_factory=dict)
    config_file: Path | None = None
    # The generated sample shop database, served as the connection "shop" (read-only).
    sample: bool = True
    sample_path: Path | None = None
    default_max_rows: int = Field(default=200, ge=1)
    max_rows_limit: int = Field(default=10_000, ge=1)
    max_bytes: int = Field(default=1_000_000, ge=1024)
    timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Each new database connection: TCP connect, TLS and login handshake (a peer that accepts and never
    # answers is given up on after this long).
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # The longest SQL text accepted (the tools' schema also caps it at 100,000 characters).
    max_query_chars: int = Field(default=MAX_SQL_CHARS, ge=100, le=MAX_SQL_CHARS)
    sample_rows: int = Field(default=3, ge=0, le=50)

    @field_validator("connections")
    @classmethod
    def _valid_names(cls, value: dict[str, ConnectionSettings]) -> dict[str, ConnectionSettings]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"connection name {name!r} must be letters, digits, '_' or '-' (max 63)")
        return value

    def all_connections(self) -> dict[str, ConnectionSettings]:
        """The configured connections, those of the TOML file, and the sample (unless disabled or
        overridden).
        """
        merged: dict[str, ConnectionSettings] = {}
        if self.sample:
            path = self.sample_path or default_sample_path()
            merged[SAMPLE_CONNECTION] = ConnectionSettings(
                url=f"sqlite:///{path}", description="Generated sample shop database (read-only)."
            )
        if self.config_file is not None:
            merged.update(load_connections_file(self.config_file))
        merged.update(self.connections)
        return merged


def load_connections_file(path: Path) -> dict[str, ConnectionSettings]:
    """The ``[connections.NAME]`` tables of a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SqlConfigError(f"cannot read the connections file {path}: {exc}") from exc
    raw = data.get("connections", {})
    if not isinstance(raw, dict):
        raise SqlConfigError(f"{path}: [connections] must be a table of named connections")
    out: dict[str, ConnectionSettings] = {}
    for name, body in raw.items():
        if not _NAME.match(name):
            raise SqlConfigError(f"{path}: connection name {name!r} must be letters, digits, '_' or '-'")
        try:
            out[name] = ConnectionSettings.model_validate(body)
        except ValidationError as exc:
            raise SqlConfigError(f"{path}: connection {name!r} is invalid: {exc}") from exc
    return out
