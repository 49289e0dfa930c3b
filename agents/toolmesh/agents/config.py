"""``toolmesh.toml``: what ``toolmesh up`` runs, read into each deployable's own Settings class.

```toml
workdir = ".toolmesh"      # registry, task stores, indexes, the join token
[registry]                 # TOOLMESH_REGISTRY_* settings by name, plus `token` (the mesh's join token)
[servers.NAME]             # one table per MCP server to run: its TOOLMESH_NAME_* settings by name
[agents]                   # TOOLMESH_AGENTS_* settings the agents share
[agents.planner]           # one table per agent to run: its own settings, over the shared ones
```

A key is a setting's name in lowercase without its prefix (``TOOLMESH_SQL_SAMPLE_PATH`` is ``sample_path``
under ``[servers.sql]``); each table is validated by building that deployable's Settings, and the environment
still fills in what the file leaves out. ``${NAME}`` in any string is replaced from the environment, except in
SQL connection URLs: the sql server reads those when the connection opens, so one unset variable costs one
connection. Relative paths — path settings and the file of a ``sqlite:///`` URL — are relative to the file's
folder. Every error names the file, the key and what to write.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from toolmesh.agents.errors import MeshConfigError
from toolmesh.agents.settings import AgentSettings
from toolmesh.agents.tables import build_table, resolve, unknown_key
from toolmesh.protocols.errors import NotFoundError
from toolmesh.protocols.plugins import load_server
from toolmesh.protocols.settings import ServingSettings, resolve_sqlite_url
from toolmesh.registry.settings import RegistrySettings

__all__ = [
    "CONFIG_NAME",
    "ROLE_NAMES",
    "SAMPLES",
    "MeshConfig",
    "load_config",
    "parse_config",
    "sample_config",
]

CONFIG_NAME = "toolmesh.toml"
ROLE_NAMES = ("planner", "executor", "reviewer")
# The sample handbook (docs) and shop code (code), shipped in the wheel; the sql sample is generated.
SAMPLES = Path(__file__).resolve().parent / "samples"
_TOP = ("workdir", "registry", "servers", "agents")
_SECRET = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MIN_TOKEN = 16
_NOT_IN_MESH = frozenset({"transport", "path", "auth"})


class MeshConfig(BaseModel):
    """A validated ``toolmesh.toml``: the registry's, each listed server's and each listed agent's
    settings."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    source: Path | None  # the file read; None for the built-in samples
    workdir: Path
    registry: RegistrySettings
    token: SecretStr | None = None  # the join token from the file; None: generated once into the workdir
    servers: dict[str, ServingSettings]
    agents: dict[str, AgentSettings]
    # The keys the file sets, per table ("registry", "agents.planner", ...): they override the mesh's
    # defaults (a task store per agent in the workdir, ...), which override the environment.
    keys: dict[str, frozenset[str]]

    def given(self, table: str) -> dict[str, Any]:
        """The validated values of the keys ``table`` sets in the file (``"registry"``, ``"agents.ROLE"``)."""
        settings = self.registry if table == "registry" else self.agents[table.removeprefix("agents.")]
        return {key: getattr(settings, key) for key in self.keys.get(table, frozenset())}


def load_config(path: Path, *, workdir: Path | None = None) -> MeshConfig:
    """Read and validate ``path`` (a ``toolmesh.toml``); ``workdir`` replaces the file's."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise MeshConfigError(
            f"no config file at {path}",
            hint="Run `toolmesh init` there to write one, or leave out --config to serve the samples.",
        ) from exc
    except OSError as exc:
        raise MeshConfigError(f"cannot read {path}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MeshConfigError(
            f"{path} is not valid TOML: {exc}",
            hint='Fix the line it names (strings need quotes: root = ".", numbers do not: port = 8700).',
        ) from exc
    if workdir is not None:
        data["workdir"] = str(workdir)
    return parse_config(data, source=path, base=path.resolve().parent)


def sample_config(workdir: Path, samples: Path = SAMPLES) -> MeshConfig:
    """What ``toolmesh up`` runs without a config file: every server over the samples, the three agents."""
    data = {
        "workdir": str(workdir),
        # free ports: the demo and the tests must not clash with a running mesh (`toolmesh up` pins its own)
        "registry": {"port": 0},
        "servers": {
            "docs": {"roots": [str(samples / "handbook")], "embedder": "none"},
            "sql": {},
            "code": {"root": str(samples / "shop"), "index_path": str(workdir / "code.sqlite")},
            "memory": {"embedder": "none"},  # BM25 recall: no model to load
        },
        "agents": {role: {} for role in ROLE_NAMES},
    }
    return parse_config(data, source=None, base=Path.cwd())


def parse_config(data: Mapping[str, Any], *, source: Path | None, base: Path) -> MeshConfig:
    """Validate parsed TOML (``source`` names it in errors; relative paths are taken from ``base``)."""
    file = str(source) if source is not None else "the sample config"
    data = _expand(data, (), file, base)
    for key in data:
        if key not in _TOP:
            unknown_key(
                file,
                key,
                _TOP,
                "The top level has workdir and the [registry], [servers.NAME], [agents] tables",
            )
    workdir = resolve(Path(str(data.get("workdir", ".toolmesh"))), base)
    registry = dict(_table(data, "registry", file))
    token = registry.pop("token", None)
    if token is not None and (not isinstance(token, str) or len(token) < _MIN_TOKEN):
        raise MeshConfigError(
            f"{file}: registry.token must be a string of {_MIN_TOKEN} or more characters",
            hint='Write token = "${TOOLMESH_MESH_TOKEN}" and export a long random value, or leave it out '
            "to have one generated once into the workdir.",
        )
    servers: dict[str, ServingSettings] = {}
    for name, table in _table(data, "servers", file).items():
        spec = _spec(file, name)
        for key in _NOT_IN_MESH & set(table):
            raise MeshConfigError(
                f"{file}: `servers.{name}.{key}` cannot be set for a server in the mesh",
                hint="The mesh serves each MCP server over HTTP at /mcp, without auth (its executors call "
                f"them directly). Remove the key, or run the server on its own: `toolmesh serve {name}`.",
            )
        # over the environment too: the mesh reaches each server at /mcp with no token
        mesh_defaults = {"transport": "http", "path": "/mcp", "auth": {}, "port": 0}
        mesh_defaults.update(_server_defaults(name, workdir))
        servers[name] = build_table(spec.settings_type, table, f"servers.{name}", file, base, mesh_defaults)
    agents_table = dict(_table(data, "agents", file))
    roles = {role: agents_table.pop(role) for role in ROLE_NAMES if role in agents_table}
    if "agent_id" in agents_table:
        raise MeshConfigError(
            f"{file}: `agents.agent_id` would give every agent the same id",
            hint="Set agent_id under [agents.planner], [agents.executor] or [agents.reviewer], or leave it "
            "out (each agent gets one, kept in its folder under the workdir).",
        )
    agents: dict[str, AgentSettings] = {}
    # the shared keys alone first, so their errors name [agents] rather than a role
    build_table(AgentSettings, agents_table, "agents", file, base, {})
    for role, table in roles.items():
        if not isinstance(table, dict):
            raise MeshConfigError(f"{file}: agents.{role} must be a table", hint=f"Write [agents.{role}].")
        agents[role] = build_table(AgentSettings, {**agents_table, **table}, f"agents.{role}", file, base, {})
    keys = {f"agents.{role}": frozenset(agents_table) | frozenset(table) for role, table in roles.items()}
    return MeshConfig(
        source=source,
        workdir=workdir,
        registry=build_table(RegistrySettings, registry, "registry", file, base, {}),
        token=SecretStr(token) if token else None,
        servers=servers,
        agents=agents,
        keys={"registry": frozenset(registry), **keys},
    )


def _server_defaults(name: str, workdir: Path) -> dict[str, Any]:
    """Each server's files in the workdir unless the file says otherwise (not the user-wide caches)."""
    defaults: dict[str, dict[str, Any]] = {
        "docs": {"index_path": workdir / "docs.sqlite"},
        "sql": {"sample_path": workdir / "shop.sqlite"},
        "memory": {"store": f"sqlite:///{workdir / 'memory.sqlite'}"},
    }
    return defaults.get(name, {})


def _spec(file: str, name: str) -> Any:
    try:
        return load_server(name)
    except NotFoundError as exc:
        raise MeshConfigError(
            f"{file}: [servers.{name}] names no installed MCP server",
            hint=f"{exc.hint} Rename the table, or remove it.",
        ) from exc


def _table(data: Mapping[str, Any], key: str, file: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise MeshConfigError(
            f"{file}: `{key}` must be a table", hint=f"Write [{key}] and its keys below it."
        )
    for name, body in value.items():
        if key == "servers" and not isinstance(body, dict):
            raise MeshConfigError(f"{file}: servers.{name} must be a table", hint=f"Write [servers.{name}].")
    return value


def _expand(value: Any, where: tuple[str, ...], file: str, base: Path) -> Any:
    """``${NAME}`` from the environment in every string; relative ``sqlite:///`` files from ``base``."""
    if isinstance(value, dict):
        return {k: _expand(v, (*where, str(k)), file, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*where, str(i)), file, base) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if found is None:
            raise MeshConfigError(
                f"{file}: `{'.'.join(where)}` needs the environment variable {match.group(1)}, "
                "which is not set",
                hint=f"Export {match.group(1)} before `toolmesh up`, or write the value itself.",
            )
        return found

    if where[:3] == ("servers", "sql", "connections") and where[4:] == ("url",):
        return resolve_sqlite_url(value, base)  # the sql server reads these when the connection opens
    return resolve_sqlite_url(_SECRET.sub(replace, value), base)
