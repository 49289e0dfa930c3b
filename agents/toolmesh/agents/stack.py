"""The stack a :class:`~toolmesh.agents.config.MeshConfig` describes, running: what ``toolmesh up`` starts.

- :func:`launch_stack` starts the registry, the listed MCP servers and agents (:func:`launch_mesh`) and
  indexes the docs server's roots.
- :func:`mesh_token` is the token members join with: the config's, or one generated once into the workdir.
- :func:`join_command` is the shell line that starts another executor in the running mesh.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from toolmesh.agents.config import MeshConfig
from toolmesh.agents.errors import MeshConfigError
from toolmesh.agents.mesh import AgentRole, MeshHandle, launch_mesh
from toolmesh.agents.settings import AgentSettings

__all__ = ["TOKEN_FILE", "join_command", "launch_stack", "mesh_token"]

TOKEN_FILE = "mesh-token"  # noqa: S105 (a file name, not a token)
# Settings that belong to one agent process, not to the mesh: a joining executor picks its own.
_OWN = frozenset(
    {"transport", "host", "port", "public_url", "grpc_port", "grpc_public_url", "model"}
    | {"agent_id", "workdir", "task_db_url", "registry_url", "registry_token"}
)


def mesh_token(config: MeshConfig) -> tuple[str, str]:
    """The join token and where it comes from: ``registry.token`` of the file, else ``WORKDIR/mesh-token``
    (written once, readable by its owner only, so every ``toolmesh up`` in that folder keeps it)."""
    if config.token is not None:
        return config.token.get_secret_value(), f"registry.token in {config.source}"
    config.workdir.mkdir(parents=True, exist_ok=True)
    ignore = config.workdir / ".gitignore"
    if not ignore.exists():  # the workdir holds databases and this token: never commit it
        ignore.write_text("*\n", encoding="utf-8")
    path = config.workdir / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < 16:
            raise MeshConfigError(
                f"the join token in {path} is empty or too short",
                hint="Delete the file to have a new one generated, or set registry.token in toolmesh.toml.",
            ) from None
        return token, f"kept in {path}"
    token = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token, f"generated once, kept in {path}"


@contextlib.asynccontextmanager
async def launch_stack(
    config: MeshConfig, *, token: str | None = None, **launch: Any
) -> AsyncIterator[MeshHandle]:
    """Everything ``config`` lists, registered, with the docs roots indexed, until the block exits.

    ``token`` is the join token (default: a random one for this run); ``launch`` goes to
    :func:`~toolmesh.agents.mesh.launch_mesh` (``model=``, ``agent_settings=``, ...).
    """
    roles: tuple[AgentRole, ...] = tuple(r for r in ("executor", "reviewer", "planner") if r in config.agents)
    async with launch_mesh(
        config.workdir,
        server_names=tuple(config.servers),
        server_settings=config.servers,
        registry_port=config.registry.port,
        registry_overrides=config.given("registry"),
        registry_token=token,
        roles=roles,
        role_settings={role: config.given(f"agents.{role}") for role in config.agents},
        **launch,
    ) as mesh:
        docs = config.servers.get("docs")
        if docs is not None:
            await _index(mesh.servers["docs"], list(getattr(docs, "roots", [])))
        yield mesh


async def _index(url: str, roots: list[Path]) -> None:
    """Index each docs root into a collection named after its folder (unchanged files are skipped)."""
    from fastmcp import Client
    from fastmcp.exceptions import ToolError

    async with Client(url) as client:
        for root in roots:
            name = "".join(c if c.isalnum() or c in "-_." else "-" for c in root.name)[:64] or "docs"
            try:
                await client.call_tool("index", {"paths": [str(root)], "collection": name})
            except ToolError as exc:
                raise MeshConfigError(
                    f"the docs server could not index the root {root}: {exc}",
                    hint="Fix servers.docs.roots in toolmesh.toml (each root must be a readable folder).",
                ) from exc


def join_command(config: MeshConfig, mesh: MeshHandle) -> str:
    """``toolmesh agents serve executor`` with the environment that makes it join ``mesh``.

    It names an agent id of its own: started from the mesh's folder, an executor without one would take
    the id (and the task store) of the mesh's executor (see :mod:`toolmesh.agents.identity`).
    """
    env = {
        "TOOLMESH_AGENTS_REGISTRY_URL": mesh.registry_url,
        "TOOLMESH_AGENTS_REGISTRY_TOKEN": mesh.registry_token,
        "TOOLMESH_AGENTS_AGENT_ID": f"executor-{secrets.token_hex(3)}",
    }
    role = "executor" if "executor" in config.agents else next(iter(config.agents), None)
    if role is not None:
        given = config.given(f"agents.{role}")
        env.update(_mesh_env(config.agents[role], set(given) - _OWN))
    pairs = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    return f"{pairs} toolmesh agents serve executor"


def _mesh_env(settings: AgentSettings, keys: set[str]) -> dict[str, str]:
    """Settings the file gives the agents (auth, peer token, approvals, limits) as environment variables."""
    out: dict[str, str] = {}
    dumped = settings.model_dump(mode="json")
    for key in sorted(keys):
        value = getattr(settings, key)
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, str | int | float | Path) and not isinstance(value, bool):
            text = str(value)
        else:
            text = json.dumps(dumped[key])
        out[f"TOOLMESH_AGENTS_{key.upper()}"] = text
    return out
