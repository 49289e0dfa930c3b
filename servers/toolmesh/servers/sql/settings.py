"""Settings of the sql server (env prefix ``TOOLMESH_SQL_``), plus named connections from a TOML file.

Connections come from ``TOOLMESH_SQL_CONNECTIONS`` (JSON), ``TOOLMESH_SQL_CONNECTIONS__NAME__URL=...`` or a
TOML
file (``TOOLMESH_SQL_CONFIG_FILE``)::

    [connections.warehouse]
    url = "postgresql://reader:${WAREHOUSE_PASSWORD}@db.internal/warehouse"
    description = "Sales warehouse"

``${NAME}`` in a URL is replaced from the environment when the connection opens, so secrets never sit in
files; a connection whose variable is not set is unavailable (its calls say which variable to set), the
others work. A relative ``sqlite:///file.db`` in the TOML file is taken from the file's folder.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from toolmesh.protocols.errors import ToolmeshError
from toolmesh.protocols.settings import ServingSettings, override, resolve_sqlite_url
from toolmesh.servers.sql.errors import SqlConfigError
from toolmesh.servers.sql.guard import MAX_SQL_CHARS

__all__ = [
    "SAMPLE_CONNECTION",
    "ConnectionSettings",
    "SqlSettings",
    "default_sample_path",
    "expand_secrets",
    "load_connections_file",
    "missing_secrets",
]

SAMPLE_CONNECTION = "shop"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
_SECRET = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def default_sample_path() -> Path:
    """Where the generated sample database lives: ``$XDG_CACHE_HOME/toolmesh/sql/shop.sqlite``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "toolmesh" / "sql" / "shop.sqlite"


def missing_secrets(url: str) -> list[str]:
    """The ``${NAME}`` variables of ``url`` that the environment does not set, in order."""
    return list(dict.fromkeys(m.group(1) for m in _SECRET.finditer(url) if m.group(1) not in os.environ))


def missing_secret_error(url: str, connection: str | None = None) -> SqlConfigError | None:
    """What to tell the user when ``url`` needs variables the environment does not set (None: it does not)."""
    missing = missing_secrets(url)
    if not missing:
        return None
    names = " and ".join(missing)
    whose = f"connection `{connection}`" if connection else "the connection URL"
    return SqlConfigError(
        f"{whose} needs the environment variable{'s' if len(missing) > 1 else ''} {names}, "
        f"which {'are' if len(missing) > 1 else 'is'} not set",
        hint=f"Set {names} in the server's environment (the `env` block of the MCP client's config, or "
        "export it before `toolmesh serve sql`) and restart the server; the other connections work "
        "meanwhile.",
    )


def expand_secrets(url: str, connection: str | None = None) -> str:
    """Replace every ``${NAME}`` in ``url`` with the environment variable ``NAME`` (an error naming the
    variables and ``connection`` when one is not set)."""
    problem = missing_secret_error(url, connection)
    if problem is not None:
        raise problem
    return _SECRET.sub(lambda match: os.environ[match.group(1)], url)


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

    def problems(self) -> list[ToolmeshError]:
        """What stops a connection from working, found without connecting: an unreadable connections file,
        unset ``${NAME}`` variables, missing SQLite files (the sample is generated, so never missing)."""
        try:
            connections = self.all_connections()
        except SqlConfigError as exc:
            return [exc]
        found: list[ToolmeshError] = []
        for name, connection in connections.items():
            problem = missing_secret_error(connection.url, name)
            if problem is not None:
                found.append(problem)
                continue
            is_sample = self.sample and name == SAMPLE_CONNECTION and name not in self.connections
            if connection.url.split(":", 1)[0].lower().startswith("sqlite") and not is_sample:
                from toolmesh.servers.sql.sqlite import sqlite_path

                try:
                    path = sqlite_path(connection.url)
                except SqlConfigError as exc:
                    found.append(exc)
                    continue
                if not path.is_file():
                    found.append(
                        SqlConfigError(
                            f"connection `{name}`: the SQLite database {path} does not exist",
                            hint="Create it, or fix the URL (a relative sqlite:///file in the connections "
                            "file is taken from that file's folder; elsewhere, from the working directory).",
                        )
                    )
        return found


def load_connections_file(path: Path) -> dict[str, ConnectionSettings]:
    """The ``[connections.NAME]`` tables of a TOML file; relative ``sqlite:///`` files are taken from the
    file's folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        where = (
            "" if path.is_absolute() else f" (relative, so looked for in the working directory {Path.cwd()})"
        )
        raise SqlConfigError(
            f"the connections file {path} does not exist{where}",
            hint="Give TOOLMESH_SQL_CONFIG_FILE as an absolute path: MCP clients choose the server's "
            "working directory (Claude Desktop starts it in /); VS Code and Cursor expand "
            "${workspaceFolder}/file.toml.",
        ) from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SqlConfigError(f"cannot read the connections file {path}: {exc}") from exc
    base = path.resolve().parent
    raw = data.get("connections", {})
    if not isinstance(raw, dict):
        raise SqlConfigError(f"{path}: [connections] must be a table of named connections")
    out: dict[str, ConnectionSettings] = {}
    for name, body in raw.items():
        if not _NAME.match(name):
            raise SqlConfigError(f"{path}: connection name {name!r} must be letters, digits, '_' or '-'")
        try:
            connection = ConnectionSettings.model_validate(body)
        except ValidationError as exc:
            raise SqlConfigError(f"{path}: connection {name!r} is invalid: {exc}") from exc
        out[name] = override(connection, url=resolve_sqlite_url(connection.url, base))
    return out
